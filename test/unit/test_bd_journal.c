/*
 * Unit tests of the checkpoint journal (bd_journal.c): a journal is
 * trusted only whole, only with its superblock last, and only with pages
 * that belong to the metadata area.
 *
 * The attacks: a journal cut while it was written (torn at any page, or
 * shorter than its header says), bit rot anywhere, a journal whose pages
 * would land outside the metadata area or whose superblock is missing or
 * of another generation.
 */
#include "c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "pgrac/bd_journal.h"
#include "bd_sample.h"

#define NPAGES 4				/* alloc map, directory, extent map,
								 * superblock */

typedef struct Journal
{
	uint8		header[BD_PAGE_SIZE];
	uint8		pages[NPAGES][BD_PAGE_SIZE];
	BdSuperblock sb;
} Journal;


static void
metadata_page(uint8 *page, uint16 type, uint64 address, uint8 fill)
{
	memset(page, 0, BD_PAGE_SIZE);
	bd_page_init(page, type, address, UINT64CONST(0x5000100) + address);
	/* every sector differs between fills, so that tears show */
	memset(page + 64, fill, BD_PAGE_SIZE - 64);
	bd_page_seal(page);
}

static void
encode(Journal *j)
{
	const uint8 *ptrs[NPAGES];

	for (int i = 0; i < NPAGES; i++)
		ptrs[i] = j->pages[i];
	bd_journal_encode(j->header, j->sb.device_uuid, j->sb.generation, ptrs, NPAGES);
}

/* a valid journal of generation 7: three metadata pages and the superblock */
static void
make_journal(Journal *j)
{
	memset(j, 0, sizeof(*j));
	j->sb = sample_superblock(7);
	j->sb.clean = false;
	j->sb.metadata_pages = 16;	/* room for the extent-map page below */
	metadata_page(j->pages[0], BD_PAGE_ALLOC_MAP, BD_FIRST_ALLOC_MAP_PAGE, 0x11);
	metadata_page(j->pages[1], BD_PAGE_DIRECTORY, j->sb.directory_root, 0x22);
	metadata_page(j->pages[2], BD_PAGE_EXTENT_MAP, j->sb.directory_root + 5, 0x33);
	bd_superblock_encode(&j->sb, bd_superblock_address_for(7), j->pages[3]);
	encode(j);
}

static BdJournalError
check(const Journal *j, uint32 navail, uint32 *bad)
{
	BdSuperblock sb;

	return bd_journal_check(j->header, &j->pages[0][0], navail, &sb, bad);
}

static void
test_valid_journal(void **state)
{
	Journal		j;
	BdSuperblock sb;
	BdJournalHeader h;
	uint32		bad = 99;

	(void) state;
	make_journal(&j);
	assert_int_equal(bd_journal_decode_header(j.header, &h), BD_JOURNAL_OK);
	assert_int_equal(h.npages, NPAGES);
	assert_int_equal(h.generation, 7);
	assert_memory_equal(h.device_uuid, j.sb.device_uuid, 16);
	assert_int_equal(bd_journal_check(j.header, &j.pages[0][0], NPAGES, &sb, &bad), BD_JOURNAL_OK);
	assert_int_equal(sb.generation, 7);
	assert_int_equal(sb.system_identifier, j.sb.system_identifier);
	assert_int_equal(sb.directory_root, j.sb.directory_root);
}

/* every single-bit error in the header fields or any page is refused */
static void
test_every_bit_flip_refused(void **state)
{
	Journal		j;
	uint32		bad;

	(void) state;
	make_journal(&j);
	for (int byte = 0; byte < 44; byte++)
		for (int bit = 0; bit < 8; bit++)
		{
			j.header[byte] ^= (uint8) (1 << bit);
			assert_int_not_equal(check(&j, NPAGES, &bad), BD_JOURNAL_OK);
			j.header[byte] ^= (uint8) (1 << bit);
		}
	for (int p = 0; p < NPAGES; p++)
		for (int byte = 0; byte < BD_PAGE_SIZE; byte += 61)
		{
			j.pages[p][byte] ^= 0x04;
			assert_int_equal(check(&j, NPAGES, &bad), BD_JOURNAL_BAD_CHECKSUM);
			j.pages[p][byte] ^= 0x04;
		}
	assert_int_equal(check(&j, NPAGES, &bad), BD_JOURNAL_OK);
}

/*
 * A journal cut while it was written: some sectors of a page are new, the
 * rest still the previous journal's, at every 512-byte boundary, in both
 * orders.
 */
static void
test_torn_journal_refused(void **state)
{
	Journal		j;
	Journal		old;
	uint32		bad;
	int			tears = 0;

	(void) state;
	make_journal(&old);
	old.sb.generation = 5;
	for (int p = 0; p < NPAGES - 1; p++)
		metadata_page(old.pages[p], p == 0 ? BD_PAGE_ALLOC_MAP : p == 1 ? BD_PAGE_DIRECTORY : BD_PAGE_EXTENT_MAP,
					  p == 0 ? BD_FIRST_ALLOC_MAP_PAGE : old.sb.directory_root + (p == 1 ? 0 : 5), 0x70 + p);
	bd_superblock_encode(&old.sb, bd_superblock_address_for(5), old.pages[NPAGES - 1]);
	for (int p = 0; p < NPAGES; p++)
		for (int k = 1; k < BD_PAGE_SIZE / 512; k++)
			for (int order = 0; order < 2; order++)
			{
				const uint8 *first = order == 0 ? old.pages[p] : NULL;
				uint8		page[BD_PAGE_SIZE];

				make_journal(&j);
				if (first == NULL)
					first = j.pages[p];
				memcpy(page, first, (size_t) k * 512);
				memcpy(page + k * 512, (order == 0 ? j.pages[p] : old.pages[p]) + k * 512,
					   BD_PAGE_SIZE - (size_t) k * 512);
				if (memcmp(page, j.pages[p], BD_PAGE_SIZE) == 0)
					continue;	/* the sectors that differ were not torn */
				memcpy(j.pages[p], page, BD_PAGE_SIZE);
				assert_int_equal(check(&j, NPAGES, &bad), BD_JOURNAL_BAD_CHECKSUM);
				tears++;
			}
	assert_true(tears > NPAGES * 8);
	/* and shorter than the header says */
	make_journal(&j);
	assert_int_equal(check(&j, NPAGES - 1, &bad), BD_JOURNAL_BAD_LENGTH);
	assert_int_equal(check(&j, 0, &bad), BD_JOURNAL_BAD_LENGTH);
}

static void
test_header_fields_refused(void **state)
{
	Journal		j;
	BdJournalHeader h;
	uint32		bad;

	(void) state;
	make_journal(&j);
	memset(j.header, 0, 8);
	assert_int_equal(bd_journal_decode_header(j.header, &h), BD_JOURNAL_BAD_MAGIC);
	make_journal(&j);
	pgrac_put16(j.header + 4, BD_JOURNAL_VERSION + 1);
	assert_int_equal(bd_journal_decode_header(j.header, &h), BD_JOURNAL_BAD_VERSION);
	/* an empty journal is never valid, even with a matching CRC */
	make_journal(&j);
	{
		const uint8 *none[1] = {NULL};

		bd_journal_encode(j.header, j.sb.device_uuid, 7, none, 0);
	}
	assert_int_equal(check(&j, NPAGES, &bad), BD_JOURNAL_BAD_LENGTH);
}

/* the superblock must be last, of the header's generation and device */
static void
test_superblock_must_match(void **state)
{
	Journal		j;
	uint8		tmp[BD_PAGE_SIZE];
	uint32		bad;

	(void) state;
	/* superblock not last */
	make_journal(&j);
	memcpy(tmp, j.pages[3], BD_PAGE_SIZE);
	memcpy(j.pages[3], j.pages[2], BD_PAGE_SIZE);
	memcpy(j.pages[2], tmp, BD_PAGE_SIZE);
	encode(&j);
	assert_int_equal(check(&j, NPAGES, &bad), BD_JOURNAL_BAD_SUPERBLOCK);

	/* a superblock of another generation than the header names */
	make_journal(&j);
	j.sb.generation = 8;
	bd_superblock_encode(&j.sb, bd_superblock_address_for(8), j.pages[3]);
	j.sb.generation = 7;
	encode(&j);
	assert_int_equal(check(&j, NPAGES, &bad), BD_JOURNAL_BAD_SUPERBLOCK);

	/* of another device than the header names */
	make_journal(&j);
	j.sb.device_uuid[0] ^= 1;
	encode(&j);
	assert_int_equal(check(&j, NPAGES, &bad), BD_JOURNAL_BAD_SUPERBLOCK);
}

/* whole, checksummed pages that would land outside the metadata area */
static void
test_pages_outside_refused(void **state)
{
	Journal		j;
	uint32		bad;

	(void) state;
	/* an allocation-map page at a directory address */
	make_journal(&j);
	metadata_page(j.pages[0], BD_PAGE_ALLOC_MAP, j.sb.directory_root, 0x11);
	encode(&j);
	assert_int_equal(check(&j, NPAGES, &bad), BD_JOURNAL_PAGE_OUTSIDE);
	assert_int_equal(bad, 0);

	/* a directory page past the metadata area (in data extents) */
	make_journal(&j);
	metadata_page(j.pages[1], BD_PAGE_DIRECTORY, bd_metadata_end(&j.sb), 0x22);
	encode(&j);
	assert_int_equal(check(&j, NPAGES, &bad), BD_JOURNAL_PAGE_OUTSIDE);
	assert_int_equal(bad, 1);

	/* an extent-map page over the allocation map */
	make_journal(&j);
	metadata_page(j.pages[2], BD_PAGE_EXTENT_MAP, BD_FIRST_ALLOC_MAP_PAGE, 0x33);
	encode(&j);
	assert_int_equal(check(&j, NPAGES, &bad), BD_JOURNAL_PAGE_OUTSIDE);
	assert_int_equal(bad, 2);

	/* a second superblock in the middle */
	make_journal(&j);
	memcpy(j.pages[1], j.pages[3], BD_PAGE_SIZE);
	encode(&j);
	assert_int_equal(check(&j, NPAGES, &bad), BD_JOURNAL_PAGE_OUTSIDE);
	assert_int_equal(bad, 1);
}

/* a page that fails its own checks, inside a journal with a good CRC */
static void
test_bad_page_refused(void **state)
{
	Journal		j;
	uint32		bad;

	(void) state;
	make_journal(&j);
	j.pages[1][200] ^= 0xff;	/* after sealing: its own CRC fails */
	encode(&j);
	assert_int_equal(check(&j, NPAGES, &bad), BD_JOURNAL_BAD_PAGE);
	assert_int_equal(bad, 1);

	make_journal(&j);
	memset(j.pages[2], 0, BD_PAGE_SIZE);	/* never written */
	encode(&j);
	assert_int_equal(check(&j, NPAGES, &bad), BD_JOURNAL_BAD_PAGE);
	assert_int_equal(bad, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_journal),
		cmocka_unit_test(test_every_bit_flip_refused),
		cmocka_unit_test(test_torn_journal_refused),
		cmocka_unit_test(test_header_fields_refused),
		cmocka_unit_test(test_superblock_must_match),
		cmocka_unit_test(test_pages_outside_refused),
		cmocka_unit_test(test_bad_page_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
