/*
 * Unit tests of pd_checksum as the checksum layer computes it
 * (src/checksum/checksum_page.c): against PostgreSQL's pg_checksum_page()
 * on sample pages, against values a server's pageinspect computed, on a
 * copy that leaves the source alone, and new pages left as they are.
 */
#include "c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

/* PostgreSQL's page headers are not written for -Wextra */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "storage/bufpage.h"
#include "storage/checksum.h"
#include "storage/checksum_impl.h"
#pragma GCC diagnostic pop

#include "pgrac/checksum_page.h"

/* byte i is (i * 31 + 7) % 256, but pd_upper = 4096: not a new page */
static void
sample_page(char *page)
{
	for (int i = 0; i < BLCKSZ; i++)
		page[i] = (char) ((i * 31 + 7) % 256);
	page[14] = 0;
	page[15] = 0x10;
}

/*
 * page_checksum() of pageinspect on PostgreSQL 17.11 for the sample page,
 * at blocks 0, 1 and 123456 (it returns smallint: -22991, -22992, 18416).
 */
static void
test_known_values(void **unused)
{
	PGAlignedBlock page;

	(void) unused;
	sample_page(page.data);
	assert_int_equal(pgrac_page_checksum(page.data, 0), 42545);
	assert_int_equal(pgrac_page_checksum(page.data, 1), 42544);
	assert_int_equal(pgrac_page_checksum(page.data, 123456), 18416);
}

/* the same as core's function, on many pages and blocks */
static void
test_against_pg_checksum_page(void **unused)
{
	PGAlignedBlock page,
				copy;
	uint32		seed = 12345;

	(void) unused;
	for (int round = 0; round < 200; round++)
	{
		BlockNumber blkno = (BlockNumber) (seed % 1000000);

		for (int i = 0; i < BLCKSZ; i++)
		{
			seed = seed * 1103515245 + 12345;
			page.data[i] = (char) (seed >> 16);
		}
		((PageHeader) page.data)->pd_upper = 2048 + round;
		memcpy(copy.data, page.data, BLCKSZ);
		assert_int_equal(pgrac_page_checksum(page.data, blkno), pg_checksum_page(copy.data, blkno));
		/* the page it was given is unchanged */
		assert_memory_equal(page.data, copy.data, BLCKSZ);
	}
}

static void
test_copy_sets_and_verifies(void **unused)
{
	PGAlignedBlock page,
				before,
				copy;
	uint16		computed,
				stored;

	(void) unused;
	sample_page(page.data);
	memcpy(before.data, page.data, BLCKSZ);
	pgrac_page_copy_set_checksum(copy.data, page.data, 77);
	assert_memory_equal(page.data, before.data, BLCKSZ);
	assert_int_equal(((PageHeader) copy.data)->pd_checksum, pg_checksum_page(before.data, 77));
	/* everything but pd_checksum is the source's */
	assert_memory_equal(copy.data, page.data, 8);
	assert_memory_equal(copy.data + 10, page.data + 10, BLCKSZ - 10);

	assert_int_equal(pgrac_page_verify(copy.data, 77, &computed, &stored), PGRAC_PAGE_VALID);
	assert_int_equal(computed, stored);
	/* the block number is part of it */
	assert_int_equal(pgrac_page_verify(copy.data, 78, &computed, &stored), PGRAC_PAGE_MISMATCH);
	/* so is every byte */
	for (int i = 0; i < BLCKSZ; i += 97)
	{
		if (i == 8 || i == 9)
			continue;
		copy.data[i] ^= 1;
		assert_int_equal(pgrac_page_verify(copy.data, 77, &computed, &stored), PGRAC_PAGE_MISMATCH);
		copy.data[i] ^= 1;
	}
	assert_int_equal(pgrac_page_verify(copy.data, 77, &computed, &stored), PGRAC_PAGE_VALID);
}

static void
test_new_pages_untouched(void **unused)
{
	PGAlignedBlock zero,
				copy;
	uint16		computed = 1,
				stored = 1;

	(void) unused;
	memset(zero.data, 0, BLCKSZ);
	memset(copy.data, 0x55, BLCKSZ);
	pgrac_page_copy_set_checksum(copy.data, zero.data, 5);
	assert_memory_equal(copy.data, zero.data, BLCKSZ);
	assert_true(pgrac_page_is_new(copy.data));
	assert_int_equal(pgrac_page_verify(copy.data, 5, &computed, &stored), PGRAC_PAGE_NEW);
}

static void
test_header_sanity(void **unused)
{
	PGAlignedBlock page;
	PageHeader	h = (PageHeader) page.data;

	(void) unused;
	memset(page.data, 0, BLCKSZ);
	h->pd_lower = SizeOfPageHeaderData;
	h->pd_upper = BLCKSZ;
	h->pd_special = BLCKSZ;
	assert_true(pgrac_page_header_sane(page.data));
	h->pd_lower = BLCKSZ + 1;
	assert_false(pgrac_page_header_sane(page.data));
	h->pd_lower = SizeOfPageHeaderData;
	h->pd_flags = 0x8000;
	assert_false(pgrac_page_header_sane(page.data));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_values),
		cmocka_unit_test(test_against_pg_checksum_page),
		cmocka_unit_test(test_copy_sets_and_verifies),
		cmocka_unit_test(test_new_pages_untouched),
		cmocka_unit_test(test_header_sanity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
