/*
 * Fuzz target: the checkpoint journal file (pg_pgrac/metadata.journal) as
 * the postmaster reads it before it loads the device.  The first input
 * byte's low bit recomputes the journal's CRC over the fuzzed pages (and
 * its second bit reseals every page), so that the checks behind the CRC
 * are exercised too; the rest is the file.  A journal accepted must be
 * safe to apply: every page whole and of its own address, inside the
 * metadata area where its type belongs, the superblock last and of the
 * header's generation and device.
 */
#include "fuzz_device.h"

#include "pgrac/bd_journal.h"

#define MAX_PAGES 8

int			LLVMFuzzerTestOneInput(const uint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	static uint8 file[(MAX_PAGES + 1) * BD_PAGE_SIZE];
	uint8		flag = size > 0 ? data[0] : 0;
	size_t		len = size > 0 ? Min(size - 1, sizeof(file)) : 0;
	uint32		navail;
	BdJournalHeader h;
	BdSuperblock sb;
	uint32		bad = 0;
	BdJournalError error;

	memset(file, 0, sizeof(file));
	memcpy(file, data + (size > 0), len);
	navail = len <= BD_PAGE_SIZE ? 0 : (uint32) ((len - BD_PAGE_SIZE) / BD_PAGE_SIZE);
	if (bd_journal_decode_header(file, &h) != BD_JOURNAL_OK)
		return 0;
	if ((flag & 1) && h.npages >= 1 && h.npages <= navail)
	{
		const uint8 *pages[MAX_PAGES];

		for (uint32 i = 0; i < h.npages; i++)
		{
			if (flag & 2)
				bd_page_seal(file + (size_t) (i + 1) * BD_PAGE_SIZE);
			pages[i] = file + (size_t) (i + 1) * BD_PAGE_SIZE;
		}
		bd_journal_encode(file, h.device_uuid, h.generation, pages, h.npages);
	}
	error = bd_journal_check(file, file + BD_PAGE_SIZE, navail, &sb, &bad);
	(void) bd_journal_error_text(error);
	if (error != BD_JOURNAL_OK)
		return 0;

	FUZZ_REQUIRE(h.npages >= 1 && h.npages <= navail, "a journal longer than its file accepted");
	FUZZ_REQUIRE(sb.generation == h.generation && memcmp(sb.device_uuid, h.device_uuid, 16) == 0,
				 "a journal whose superblock is not the one its header names accepted");
	FUZZ_REQUIRE(bd_superblock_validate(&sb) == BD_SB_OK, "a journal with an invalid superblock accepted");
	for (uint32 i = 0; i + 1 < h.npages; i++)
	{
		const uint8 *page = file + (size_t) (i + 1) * BD_PAGE_SIZE;
		BdPageHeader ph;

		bd_page_read_header(page, &ph);
		FUZZ_REQUIRE(bd_page_check(page, ph.type, ph.address) == BD_PAGE_OK,
					 "journal page %u accepted though it fails its own checks", i);
		FUZZ_REQUIRE(ph.address >= BD_FIRST_ALLOC_MAP_PAGE && ph.address < bd_metadata_end(&sb),
					 "journal page %u at address %llu outside the metadata area accepted",
					 i, (unsigned long long) ph.address);
		FUZZ_REQUIRE((ph.type == BD_PAGE_ALLOC_MAP) == (ph.address < sb.directory_root),
					 "journal page %u of type %u at address %llu accepted",
					 i, ph.type, (unsigned long long) ph.address);
		FUZZ_REQUIRE(ph.type != BD_PAGE_SUPERBLOCK, "a superblock before the last journal page accepted");
	}
	return 0;
}
