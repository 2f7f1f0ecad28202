/*
 * Unit tests of the mapping of block requests onto device ranges.
 */
#include "c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "pgrac/bd_io.h"

#define EP 128					/* pages per extent */
#define PAGE ((uint64) BD_PAGE_SIZE)

static BdIoRange r[16];

static void
test_block_offset(void **state)
{
	uint32		ext[] = {5, 9};

	(void) state;
	assert_true(bd_block_offset(ext, EP, 0) == 5 * EP * PAGE);
	assert_true(bd_block_offset(ext, EP, 127) == (5 * EP + 127) * PAGE);
	assert_true(bd_block_offset(ext, EP, 128) == 9 * EP * PAGE);
}

static void
test_within_one_extent(void **state)
{
	uint32		ext[] = {5, 9};

	(void) state;
	assert_int_equal(bd_plan_io(ext, 2, EP, 10, 16, r, 16), 1);
	assert_true(r[0].offset == (5 * EP + 10) * PAGE);
	assert_int_equal(r[0].nblocks, 16);
	assert_int_equal(r[0].first, 0);
}

/* adjacent extents: one range across the boundary */
static void
test_adjacent_extents_merge(void **state)
{
	uint32		ext[] = {5, 6, 7};

	(void) state;
	assert_int_equal(bd_plan_io(ext, 3, EP, 120, 16, r, 16), 1);
	assert_true(r[0].offset == (5 * EP + 120) * PAGE);
	assert_int_equal(r[0].nblocks, 16);
	/* the whole fork in one system call */
	assert_int_equal(bd_plan_io(ext, 3, EP, 0, 3 * EP, r, 16), 1);
	assert_int_equal(r[0].nblocks, 3 * EP);
}

/* non-adjacent extents: one range each, first indexes into the request */
static void
test_scattered_extents_split(void **state)
{
	uint32		ext[] = {5, 9, 10, 2};

	(void) state;
	assert_int_equal(bd_plan_io(ext, 4, EP, 120, 2 * EP + 16, r, 16), 3);
	assert_true(r[0].offset == (5 * EP + 120) * PAGE);
	assert_int_equal(r[0].nblocks, 8);
	assert_int_equal(r[0].first, 0);
	assert_true(r[1].offset == 9 * EP * PAGE);	/* 9 and 10 merge */
	assert_int_equal(r[1].nblocks, 2 * EP);
	assert_int_equal(r[1].first, 8);
	assert_true(r[2].offset == 2 * EP * PAGE);
	assert_int_equal(r[2].nblocks, 8);
	assert_int_equal(r[2].first, 8 + 2 * EP);
}

static void
test_refusals(void **state)
{
	uint32		ext[] = {5, 9, 13, 17};

	(void) state;
	/* the last mapped block is fine, one more is not */
	assert_int_equal(bd_plan_io(ext, 4, EP, 4 * EP - 1, 1, r, 16), 1);
	assert_int_equal(bd_plan_io(ext, 4, EP, 4 * EP - 1, 2, r, 16), BD_IO_BEYOND_EXTENTS);
	assert_int_equal(bd_plan_io(ext, 4, EP, UINT32_MAX, 2, r, 16), BD_IO_BEYOND_EXTENTS);
	assert_int_equal(bd_plan_io(ext, 4, EP, 0, 4 * EP, r, 3), BD_IO_TOO_MANY_RANGES);
	assert_int_equal(bd_plan_io(ext, 4, EP, 0, 4 * EP, r, 4), 4);
	assert_int_equal(bd_plan_io(ext, 4, EP, 7, 0, r, 16), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_offset),
		cmocka_unit_test(test_within_one_extent),
		cmocka_unit_test(test_adjacent_extents_merge),
		cmocka_unit_test(test_scattered_extents_split),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests_name("bd_io", tests, NULL, NULL);
}
