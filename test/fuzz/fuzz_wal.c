/*
 * Fuzz target: a record of the block device's WAL resource manager, as
 * redo and pg_walinspect receive it.  A record that decodes is described
 * and each of its page changes applied to a valid page of the type and
 * address it names; every patch must lie inside the page, and a page the
 * record changed must still pass its own checks.
 */
#include "fuzz_device.h"

#include "pgrac/bd_wal.h"

int			LLVMFuzzerTestOneInput(const uint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	static BdWalRecord rec;
	static uint8 page[BD_PAGE_SIZE];
	char		error[256];
	char		desc[2048];

	if (!bd_wal_decode(data, size, &rec, error, sizeof(error)))
		return 0;
	bd_wal_describe(&rec, desc, sizeof(desc));
	(void) bd_wal_op_name(rec.op);
	FUZZ_REQUIRE(rec.npages >= 0 && rec.npages <= BD_WAL_MAX_PAGES, "record with %d pages", rec.npages);
	for (int i = 0; i < rec.npages; i++)
	{
		const BdWalPage *part = &rec.pages[i];
		BdWalApplyResult r;

		FUZZ_REQUIRE(part->npatches >= 0 && part->npatches <= BD_WAL_MAX_PATCHES,
					 "page change with %d patches", part->npatches);
		for (int p = 0; p < part->npatches; p++)
			FUZZ_REQUIRE((uint32) part->patches[p].offset + part->patches[p].length <= BD_PAGE_SIZE,
						 "patch %u+%u beyond the page", part->patches[p].offset, part->patches[p].length);
		bd_page_init(page, part->type, part->address, 0);
		bd_page_seal(page);
		r = bd_wal_apply(part, page, 1000);
		if (r == BD_WAL_APPLIED)
			FUZZ_REQUIRE(bd_page_check(page, part->type, part->address) == BD_PAGE_OK,
						 "redo left page %llu failing its checks",
						 (unsigned long long) part->address);
	}
	return 0;
}
