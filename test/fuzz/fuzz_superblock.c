/*
 * Fuzz target: the two superblock copies as read from a device.  The first
 * input byte's low bit reseals both pages (a valid checksum over fuzzed
 * contents) so that decoding is exercised beyond the checksum; the rest is
 * copy A then copy B.  Whatever is chosen must survive an encode/decode
 * round trip unchanged, and validation must not crash.
 */
#include "fuzz_device.h"

int			LLVMFuzzerTestOneInput(const uint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	static uint8 pages[2 * BD_PAGE_SIZE];
	uint8		again[BD_PAGE_SIZE];
	BdSuperblock best;
	BdSuperblock back;
	BdPageError ea;
	BdPageError eb;
	int			chosen;
	bool		reseal = size > 0 && (data[0] & 1);

	memset(pages, 0, sizeof(pages));
	if (size > 1)
		memcpy(pages, data + 1, Min(size - 1, sizeof(pages)));
	if (reseal)
	{
		bd_page_seal(pages);
		bd_page_seal(pages + BD_PAGE_SIZE);
	}
	chosen = bd_superblock_choose(pages, pages + BD_PAGE_SIZE, &best, &ea, &eb);
	(void) bd_page_error_text(ea);
	(void) bd_page_error_text(eb);
	if (chosen < 0)
		return 0;
	(void) bd_superblock_error_text(bd_superblock_validate(&best));
	if (bd_superblock_validate(&best) == BD_SB_OK)
		(void) bd_metadata_end(&best);

	bd_superblock_encode(&best, chosen == 0 ? BD_SUPERBLOCK_A : BD_SUPERBLOCK_B, again);
	FUZZ_REQUIRE(bd_superblock_decode(again, chosen == 0 ? BD_SUPERBLOCK_A : BD_SUPERBLOCK_B, &back) == BD_PAGE_OK,
				 "a chosen superblock does not decode after re-encoding");
	FUZZ_REQUIRE(back.generation == best.generation && back.extent_pages == best.extent_pages &&
				 back.max_extents == best.max_extents && back.nextents == best.nextents &&
				 back.alloc_map_pages == best.alloc_map_pages &&
				 back.directory_root == best.directory_root &&
				 back.metadata_pages == best.metadata_pages &&
				 back.system_identifier == best.system_identifier &&
				 back.checkpoint_redo == best.checkpoint_redo && back.clean == best.clean,
				 "superblock fields change across an encode/decode round trip");
	return 0;
}
