/*
 * Unit tests of the block-device directory and extent-map pages.
 */
#include "c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "pgrac/bd_directory.h"

static BdDirEntry
live_entry(uint32 rel, uint8 fork, uint32 nextents, uint32 nblocks)
{
	BdDirEntry	e;

	memset(&e, 0, sizeof(e));
	e.spcoid = 1663;
	e.dboid = 5;
	e.relnumber = rel;
	e.fork = fork;
	e.state = BD_ENTRY_LIVE;
	e.nextents = nextents;
	e.nblocks = nblocks;
	for (uint32 i = 0; i < BD_DIR_INLINE_EXTENTS && i < nextents; i++)
		e.inline_extents[i] = 100 + i;
	e.extent_map = nextents > BD_DIR_INLINE_EXTENTS ? 4242 : 0;
	return e;
}

static void
test_geometry(void **state)
{
	(void) state;
	assert_int_equal(BD_DIR_ENTRIES_PER_PAGE, 127);
	assert_int_equal(BD_MAP_EXTENTS_PER_PAGE, 2036);
}

static void
test_directory_page_round_trip(void **state)
{
	uint8		page[BD_PAGE_SIZE];

	(void) state;
	bd_dir_page_init(page, 19, 0x777, 900);
	for (int slot = 0; slot < BD_DIR_ENTRIES_PER_PAGE; slot++)
	{
		BdDirEntry	e = live_entry(16384 + (uint32) slot, (uint8) (slot % 4),
								   (uint32) slot % 12, 0);

		if (slot % 5 == 0)
			e.state = BD_ENTRY_TOMBSTONE;
		bd_dir_entry_encode(page, slot, &e);
	}
	bd_page_seal(page);
	assert_int_equal(bd_page_check(page, BD_PAGE_DIRECTORY, 19), BD_PAGE_OK);
	assert_true(bd_dir_page_next(page) == 900);
	for (int slot = 0; slot < BD_DIR_ENTRIES_PER_PAGE; slot++)
	{
		BdDirEntry	want = live_entry(16384 + (uint32) slot, (uint8) (slot % 4),
									  (uint32) slot % 12, 0);
		BdDirEntry	got;

		if (slot % 5 == 0)
			want.state = BD_ENTRY_TOMBSTONE;
		bd_dir_entry_decode(page, slot, &got);
		assert_int_equal(got.relnumber, want.relnumber);
		assert_int_equal(got.fork, want.fork);
		assert_int_equal(got.state, want.state);
		assert_int_equal(got.nextents, want.nextents);
		assert_memory_equal(got.inline_extents, want.inline_extents,
							sizeof(want.inline_extents));
		assert_true(got.extent_map == want.extent_map);
		assert_int_equal(bd_dir_entry_validate(&got, 128, 1000), BD_ENTRY_OK);
	}
}

/* freeing a slot zeroes it entirely, so nothing of the old fork remains */
static void
test_free_slot_is_zeroed(void **state)
{
	uint8		page[BD_PAGE_SIZE];
	BdDirEntry	e = live_entry(1, 0, 3, 10);
	BdDirEntry	got;

	(void) state;
	bd_dir_page_init(page, 19, 0, 0);
	bd_dir_entry_encode(page, 7, &e);
	e.state = BD_ENTRY_FREE;
	bd_dir_entry_encode(page, 7, &e);
	for (int i = 0; i < BD_DIR_ENTRY_SIZE; i++)
		assert_int_equal(page[BD_DIR_ENTRIES_OFFSET + 7 * BD_DIR_ENTRY_SIZE + i], 0);
	bd_dir_entry_decode(page, 7, &got);
	assert_int_equal(bd_dir_entry_validate(&got, 128, 1000), BD_ENTRY_OK);
}

static void
test_entry_validation(void **state)
{
	BdDirEntry	e;

	(void) state;
	e = live_entry(1, 0, 3, 3 * 128);
	assert_int_equal(bd_dir_entry_validate(&e, 128, 1000), BD_ENTRY_OK);
	e.nblocks++;
	assert_int_equal(bd_dir_entry_validate(&e, 128, 1000), BD_ENTRY_EOF_BEYOND_EXTENTS);

	e = live_entry(1, 4, 1, 0);
	assert_int_equal(bd_dir_entry_validate(&e, 128, 1000), BD_ENTRY_BAD_FORK);

	e = live_entry(1, 0, 1, 0);
	e.state = 9;
	assert_int_equal(bd_dir_entry_validate(&e, 128, 1000), BD_ENTRY_BAD_STATE);

	e = live_entry(1, 0, 9, 0);
	e.extent_map = 0;
	assert_int_equal(bd_dir_entry_validate(&e, 128, 1000), BD_ENTRY_MAP_MISMATCH);
	e = live_entry(1, 0, 8, 0);
	e.extent_map = 77;
	assert_int_equal(bd_dir_entry_validate(&e, 128, 1000), BD_ENTRY_MAP_MISMATCH);

	e = live_entry(1, 0, 2000, 0);
	assert_int_equal(bd_dir_entry_validate(&e, 128, 1000), BD_ENTRY_TOO_MANY_EXTENTS);

	memset(&e, 0, sizeof(e));
	e.relnumber = 5;			/* free, but not empty */
	assert_int_equal(bd_dir_entry_validate(&e, 128, 1000), BD_ENTRY_FREE_NOT_EMPTY);
	assert_string_equal(bd_entry_error_text(BD_ENTRY_FREE_NOT_EMPTY),
						"free entry is not empty");
}

/*
 * The creating transaction shares the entry's last 8 bytes with the
 * extent-map address: an entry written before it existed (a u64 address,
 * high half zero) decodes to the same address and no creator, and the two
 * fields never overwrite each other.
 */
static void
test_creator_field(void **state)
{
	uint8		page[BD_PAGE_SIZE];
	BdDirEntry	e,
				got;
	uint8	   *slot = page + BD_DIR_ENTRIES_OFFSET + 3 * BD_DIR_ENTRY_SIZE;

	(void) state;
	bd_dir_page_init(page, 10, 0, 0);
	e = live_entry(7, 0, 9, 9 * 128);
	e.extent_map = 0x12345;
	e.create_xid = 0xfedcba98;
	bd_dir_entry_encode(page, 3, &e);
	bd_dir_entry_decode(page, 3, &got);
	assert_int_equal(got.extent_map, 0x12345);
	assert_int_equal(got.create_xid, 0xfedcba98);
	assert_int_equal(bd_dir_entry_validate(&got, 128, 1000), BD_ENTRY_OK);

	/* the layout of an entry from before: a u64 address at 56 */
	e.create_xid = 0;
	bd_dir_entry_encode(page, 3, &e);
	for (int i = 0; i < 8; i++)
		assert_int_equal(slot[56 + i], (uint8) ((UINT64CONST(0x12345) >> (8 * i)) & 0xff));
	bd_dir_entry_decode(page, 3, &got);
	assert_int_equal(got.create_xid, 0);

	/* only a live main fork may name its creator */
	e = live_entry(7, 1, 1, 0);
	e.create_xid = 100;
	assert_int_equal(bd_dir_entry_validate(&e, 128, 1000), BD_ENTRY_BAD_CREATOR);
	e = live_entry(7, 0, 1, 0);
	e.state = BD_ENTRY_TOMBSTONE;
	e.create_xid = 100;
	assert_int_equal(bd_dir_entry_validate(&e, 128, 1000), BD_ENTRY_BAD_CREATOR);
	memset(&e, 0, sizeof(e));
	e.create_xid = 100;			/* free, but not empty */
	assert_int_equal(bd_dir_entry_validate(&e, 128, 1000), BD_ENTRY_FREE_NOT_EMPTY);
}

static void
test_extent_map_page(void **state)
{
	uint8		page[BD_PAGE_SIZE];

	(void) state;
	bd_map_page_init(page, 5000, 0x10, 0);
	assert_int_equal(bd_map_page_count(page), 0);
	for (uint32 i = 0; i < BD_MAP_EXTENTS_PER_PAGE; i++)
		bd_map_page_set(page, i, 1000000 + i);
	assert_int_equal(bd_map_page_count(page), BD_MAP_EXTENTS_PER_PAGE);
	/* redo sets absolute values: applying again changes nothing */
	bd_map_page_set(page, 10, 1000010);
	assert_int_equal(bd_map_page_count(page), BD_MAP_EXTENTS_PER_PAGE);
	bd_page_seal(page);
	assert_int_equal(bd_page_check(page, BD_PAGE_EXTENT_MAP, 5000), BD_PAGE_OK);
	assert_int_equal(bd_map_page_get(page, 2035), 1002035);
	assert_true(bd_map_page_next(page) == 0);
	/* the last slot ends exactly at the end of the page */
	assert_int_equal(BD_MAP_EXTENTS_OFFSET + 4 * BD_MAP_EXTENTS_PER_PAGE, BD_PAGE_SIZE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geometry),
		cmocka_unit_test(test_directory_page_round_trip),
		cmocka_unit_test(test_free_slot_is_zeroed),
		cmocka_unit_test(test_entry_validation),
		cmocka_unit_test(test_creator_field),
		cmocka_unit_test(test_extent_map_page),
	};

	return cmocka_run_group_tests_name("bd_directory", tests, NULL, NULL);
}
