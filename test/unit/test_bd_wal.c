/*
 * Unit tests of the block-device WAL records: building, decoding, redo,
 * idempotence, full images repairing torn pages, and a decoder that
 * refuses every malformed record without reading outside it.
 */
#include "c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "pgrac/bd_directory.h"
#include "pgrac/bd_wal.h"

static uint8 *recbuf;
static char error[256];
static const BdWalKey key = {1663, 5, 16384, 0, 12};

static int
setup(void **state)
{
	(void) state;
	recbuf = malloc(bd_wal_max_size());
	return 0;
}

static int
teardown(void **state)
{
	(void) state;
	free(recbuf);
	return 0;
}

/* a sealed directory page at LSN lsn with one live entry */
static void
directory_page(uint8 *page, uint64 lsn, uint32 nblocks)
{
	BdDirEntry	e;

	memset(&e, 0, sizeof(e));
	e.spcoid = 1663;
	e.dboid = 5;
	e.relnumber = 16384;
	e.state = BD_ENTRY_LIVE;
	e.nextents = 2;
	e.inline_extents[0] = 10;
	e.inline_extents[1] = 11;
	e.nblocks = nblocks;
	bd_dir_page_init(page, 3, lsn, 0);
	bd_dir_entry_encode(page, 4, &e);
	bd_page_seal(page);
}

static size_t
build_one(const uint8 *before, const uint8 *after, bool full, BdWalOp op)
{
	BdWalBuilder b;

	bd_wal_begin(&b, recbuf, bd_wal_max_size(), op, &key);
	assert_true(bd_wal_add_page(&b, 3, before, after, full));
	return bd_wal_finish(&b);
}

static void
test_patch_round_trip_and_idempotent_redo(void **state)
{
	uint8		before[BD_PAGE_SIZE];
	uint8		after[BD_PAGE_SIZE];
	uint8		page[BD_PAGE_SIZE];
	BdWalRecord rec;
	size_t		len;

	(void) state;
	directory_page(before, 10, 100);
	directory_page(after, 10, 228);
	len = build_one(before, after, false, BD_WAL_SET_EOF);
	assert_true(len > 0 && len < 100);	/* a few bytes, not a page */
	assert_true(bd_wal_decode(recbuf, len, &rec, error, sizeof(error)));
	assert_int_equal(rec.op, BD_WAL_SET_EOF);
	assert_int_equal(rec.key.relnumber, 16384);
	assert_int_equal(rec.key.arg, 12);
	assert_int_equal(rec.npages, 1);
	assert_false(rec.pages[0].full_image);
	assert_int_equal(rec.pages[0].npatches, 1);

	memcpy(page, before, BD_PAGE_SIZE);
	assert_int_equal(bd_wal_apply(&rec.pages[0], page, 20), BD_WAL_APPLIED);
	assert_int_equal(bd_page_check(page, BD_PAGE_DIRECTORY, 3), BD_PAGE_OK);
	bd_page_set_lsn(after, 20);
	bd_page_seal(after);
	assert_memory_equal(page, after, BD_PAGE_SIZE);

	/* replaying the same record again changes nothing */
	assert_int_equal(bd_wal_apply(&rec.pages[0], page, 20), BD_WAL_ALREADY_APPLIED);
	assert_memory_equal(page, after, BD_PAGE_SIZE);
}

static void
test_full_image_repairs_torn_page(void **state)
{
	uint8		before[BD_PAGE_SIZE];
	uint8		after[BD_PAGE_SIZE];
	uint8		page[BD_PAGE_SIZE];
	BdWalRecord rec;
	size_t		len;

	(void) state;
	directory_page(before, 10, 100);
	directory_page(after, 10, 228);

	/* patches cannot be applied to a torn page */
	len = build_one(before, after, false, BD_WAL_SET_EOF);
	assert_true(bd_wal_decode(recbuf, len, &rec, error, sizeof(error)));
	memcpy(page, before, BD_PAGE_SIZE);
	memcpy(page + 4096, after + 4096, 512);
	page[5000] ^= 0xff;
	assert_int_equal(bd_wal_apply(&rec.pages[0], page, 20), BD_WAL_PAGE_INVALID);

	/* a full image restores it */
	len = build_one(before, after, true, BD_WAL_SET_EOF);
	assert_true(bd_wal_decode(recbuf, len, &rec, error, sizeof(error)));
	assert_true(rec.pages[0].full_image);
	assert_int_equal(bd_wal_apply(&rec.pages[0], page, 20), BD_WAL_APPLIED);
	bd_page_set_lsn(after, 20);
	bd_page_seal(after);
	assert_memory_equal(page, after, BD_PAGE_SIZE);
}

static void
test_new_page_needs_no_before_image(void **state)
{
	uint8		after[BD_PAGE_SIZE];
	uint8		page[BD_PAGE_SIZE];
	BdWalBuilder b;
	BdWalRecord rec;
	size_t		len;

	(void) state;
	bd_map_page_init(after, 320, 0, 0);
	bd_map_page_set(after, 0, 99);
	bd_wal_begin(&b, recbuf, bd_wal_max_size(), BD_WAL_EXTEND, &key);
	assert_true(bd_wal_add_page(&b, 320, NULL, after, false));
	len = bd_wal_finish(&b);
	assert_true(bd_wal_decode(recbuf, len, &rec, error, sizeof(error)));
	assert_true(rec.pages[0].full_image);
	memset(page, 0, sizeof(page));
	assert_int_equal(bd_wal_apply(&rec.pages[0], page, 7), BD_WAL_APPLIED);
	assert_int_equal(bd_page_check(page, BD_PAGE_EXTENT_MAP, 320), BD_PAGE_OK);
	assert_int_equal(bd_map_page_get(page, 0), 99);
}

static void
test_scattered_change_falls_back_to_full_image(void **state)
{
	uint8		before[BD_PAGE_SIZE];
	uint8		after[BD_PAGE_SIZE];
	BdWalRecord rec;
	size_t		len;

	(void) state;
	directory_page(before, 10, 1);
	memcpy(after, before, BD_PAGE_SIZE);
	for (int i = 0; i < 100; i++)
		after[100 + i * 64] ^= 1;	/* 100 far-apart changes */
	len = build_one(before, after, false, BD_WAL_EXTEND);
	assert_true(bd_wal_decode(recbuf, len, &rec, error, sizeof(error)));
	assert_true(rec.pages[0].full_image);
}

static void
test_unchanged_page_and_limits(void **state)
{
	uint8		page[BD_PAGE_SIZE];
	uint8		other[BD_PAGE_SIZE];
	uint8		small[64];
	BdWalBuilder b;

	(void) state;
	directory_page(page, 10, 1);
	directory_page(other, 10, 2);

	/* nothing changed: no page, so no record */
	bd_wal_begin(&b, recbuf, bd_wal_max_size(), BD_WAL_SET_EOF, &key);
	assert_true(bd_wal_add_page(&b, 3, page, page, false));
	assert_int_equal(bd_wal_finish(&b), 0);

	/* more pages than a record may carry */
	bd_wal_begin(&b, recbuf, bd_wal_max_size(), BD_WAL_FREE, &key);
	for (int i = 0; i < BD_WAL_MAX_PAGES; i++)
		assert_true(bd_wal_add_page(&b, 100 + i, page, other, false));
	assert_false(bd_wal_add_page(&b, 200, page, other, false));
	assert_int_equal(bd_wal_finish(&b), 0);

	/* a buffer too small */
	bd_wal_begin(&b, small, sizeof(small), BD_WAL_SET_EOF, &key);
	assert_false(bd_wal_add_page(&b, 3, page, other, true));
	assert_int_equal(bd_wal_finish(&b), 0);
}

/* every proper prefix of a valid record, and any extra byte, is refused */
static void
test_decode_refuses_truncation_and_trailing_bytes(void **state)
{
	uint8		before[BD_PAGE_SIZE];
	uint8		after[BD_PAGE_SIZE];
	uint8		map[BD_PAGE_SIZE];
	BdWalBuilder b;
	BdWalRecord rec;
	size_t		len;

	(void) state;
	directory_page(before, 10, 1);
	directory_page(after, 10, 2);
	bd_map_page_init(map, 4, 0, 0);
	bd_wal_begin(&b, recbuf, bd_wal_max_size(), BD_WAL_EXTEND, &key);
	assert_true(bd_wal_add_page(&b, 3, before, after, false));
	assert_true(bd_wal_add_page(&b, 4, NULL, map, true));
	len = bd_wal_finish(&b);
	assert_true(len > BD_PAGE_SIZE);
	assert_true(bd_wal_decode(recbuf, len, &rec, error, sizeof(error)));
	for (size_t cut = 0; cut < len; cut++)
		assert_false(bd_wal_decode(recbuf, cut, &rec, error, sizeof(error)));
	recbuf[len] = 0;
	assert_false(bd_wal_decode(recbuf, len + 1, &rec, error, sizeof(error)));
	assert_string_equal(error, "1 trailing bytes");
}

static void
test_decode_refuses_malformed_fields(void **state)
{
	uint8		before[BD_PAGE_SIZE];
	uint8		after[BD_PAGE_SIZE];
	BdWalRecord rec;
	uint8		saved[64];
	size_t		len;

	(void) state;
	directory_page(before, 10, 1);
	directory_page(after, 10, 2);
	len = build_one(before, after, false, BD_WAL_SET_EOF);
	memcpy(saved, recbuf, sizeof(saved));

#define EXPECT_REFUSED(mutation, message) \
	do { \
		memcpy(recbuf, saved, sizeof(saved)); \
		mutation; \
		assert_false(bd_wal_decode(recbuf, len, &rec, error, sizeof(error))); \
		assert_string_equal(error, message); \
	} while (0)

	EXPECT_REFUSED(recbuf[0] = 2, "unknown record format 2");
	EXPECT_REFUSED(recbuf[1] = 0, "unknown operation 0");
	EXPECT_REFUSED(recbuf[1] = 99, "unknown operation 99");
	EXPECT_REFUSED(recbuf[2] = 0, "invalid page count 0");
	EXPECT_REFUSED(recbuf[3] = 4, "invalid fork number 4");
	EXPECT_REFUSED(recbuf[20 + 8] = 9, "page 0: invalid page type 9");
	EXPECT_REFUSED(recbuf[20 + 10] = 0x80, "page 0: unknown flags 0x80");
	EXPECT_REFUSED(recbuf[20 + 11] = 0, "page 0: invalid patch count 0");
	/* a patch aimed at the page header (LSN, checksum) */
	EXPECT_REFUSED(pgrac_put16(recbuf + 32, 16), "page 0, patch 0: range 16+1 is outside the page body or overlaps");
	/* a patch running past the end of the page */
	EXPECT_REFUSED(pgrac_put16(recbuf + 32, 8192), "page 0, patch 0: range 8192+1 is outside the page body or overlaps");
	/* a patch of no bytes */
	EXPECT_REFUSED(pgrac_put16(recbuf + 34, 0), "page 0, patch 0: range 336+0 is outside the page body or overlaps");
	/* claims a full image it does not carry */
	EXPECT_REFUSED((recbuf[20 + 10] = 1, recbuf[20 + 11] = 0), "page 0: malformed full image");
#undef EXPECT_REFUSED
}

static void
test_decode_refuses_full_image_of_another_page(void **state)
{
	uint8		after[BD_PAGE_SIZE];
	BdWalBuilder b;
	BdWalRecord rec;
	size_t		len;

	(void) state;
	directory_page(after, 10, 2);	/* page 3 */
	bd_wal_begin(&b, recbuf, bd_wal_max_size(), BD_WAL_EXTEND, &key);
	assert_true(bd_wal_add_page(&b, 7, NULL, after, true));
	len = bd_wal_finish(&b);
	assert_false(bd_wal_decode(recbuf, len, &rec, error, sizeof(error)));
	assert_string_equal(error, "page 0: full image does not describe page 7 of type 3");
}

/*
 * Valid records with random bytes changed: the decoder must never read
 * outside the record, and whatever it accepts must stay within bounds.
 * (The real fuzzing, with libFuzzer, comes with the fuzz suite.)
 */
static void
test_decode_survives_mutations(void **state)
{
	uint8		before[BD_PAGE_SIZE];
	uint8		after[BD_PAGE_SIZE];
	uint8		map[BD_PAGE_SIZE];
	uint8	   *valid = malloc(bd_wal_max_size());
	uint8	   *data = malloc(bd_wal_max_size());
	BdWalBuilder b;
	BdWalRecord rec;
	uint32		seed = 42;
	size_t		len;
	int			accepted = 0;

	(void) state;
	directory_page(before, 10, 1);
	directory_page(after, 10, 300);
	after[2000] = 7;
	bd_map_page_init(map, 4, 0, 0);
	bd_wal_begin(&b, valid, bd_wal_max_size(), BD_WAL_EXTEND, &key);
	assert_true(bd_wal_add_page(&b, 3, before, after, false));
	assert_true(bd_wal_add_page(&b, 4, NULL, map, true));
	len = bd_wal_finish(&b);

	for (int round = 0; round < 20000; round++)
	{
		size_t		cut;

		memcpy(data, valid, len);
		for (int flips = 0; flips < 1 + round % 4; flips++)
		{
			seed = seed * 1103515245u + 12345u;
			/* mostly in the headers, where the structure is */
			data[(seed >> 8) % (round % 3 == 0 ? len : 60)] ^= (uint8) (1 << (seed % 8));
		}
		seed = seed * 1103515245u + 12345u;
		cut = round % 5 == 0 ? (seed >> 8) % len : len;
		if (bd_wal_decode(data, cut, &rec, error, sizeof(error)))
		{
			accepted++;
			assert_true(rec.npages >= 1 && rec.npages <= BD_WAL_MAX_PAGES);
			for (int p = 0; p < rec.npages; p++)
			{
				if (rec.pages[p].full_image)
					assert_true(rec.pages[p].image + BD_PAGE_SIZE <= data + cut);
				for (int i = 0; i < rec.pages[p].npatches; i++)
				{
					assert_true(rec.pages[p].patches[i].bytes + rec.pages[p].patches[i].length <= data + cut);
					assert_true(rec.pages[p].patches[i].offset >= BD_HEADER_SIZE);
				}
			}
		}
	}
	free(valid);
	free(data);
	/* flips in page bodies are legitimate data: some must pass */
	assert_true(accepted > 0);
	print_message("mutated records still well-formed: %d of 20000\n", accepted);
}

static void
test_describe(void **state)
{
	uint8		before[BD_PAGE_SIZE];
	uint8		after[BD_PAGE_SIZE];
	uint8		map[BD_PAGE_SIZE];
	BdWalBuilder b;
	BdWalRecord rec;
	char text[	200];
	size_t		len;

	(void) state;
	directory_page(before, 10, 1);
	directory_page(after, 10, 2);
	bd_map_page_init(map, 320, 0, 0);
	bd_map_page_set(map, 0, 12);
	bd_wal_begin(&b, recbuf, bd_wal_max_size(), BD_WAL_EXTEND, &key);
	assert_true(bd_wal_add_page(&b, 3, before, after, false));
	assert_true(bd_wal_add_page(&b, 320, NULL, map, false));
	len = bd_wal_finish(&b);
	assert_true(bd_wal_decode(recbuf, len, &rec, error, sizeof(error)));
	bd_wal_describe(&rec, text, sizeof(text));
	assert_string_equal(text, "rel 1663/5/16384 fork 0 arg 12; pages 3 (1 patch), 320 (full image)");
	assert_string_equal(bd_wal_op_name(rec.op), "EXTEND");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_patch_round_trip_and_idempotent_redo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_image_repairs_torn_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_page_needs_no_before_image, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scattered_change_falls_back_to_full_image, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unchanged_page_and_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decode_refuses_truncation_and_trailing_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decode_refuses_malformed_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decode_refuses_full_image_of_another_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decode_survives_mutations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
	};

	return cmocka_run_group_tests_name("bd_wal", tests, NULL, NULL);
}
