/*
 * Unit tests of when the write-behind writer takes a queued slot.
 */
#include "c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "pgrac/bd_wb_policy.h"

/* a look at a slot that is not full, without "take everything" */
static bool
ready(BdWbLook *look, uint64 seq, uint64 version)
{
	return bd_wb_ready(look, seq, version, false, false);
}

static void
test_full_or_all_at_once(void **state)
{
	BdWbLook	look = {0};

	(void) state;
	/* never looked at, yet taken: full, or everything must go */
	assert_true(bd_wb_ready(&look, 7, 3, true, false));
	assert_true(bd_wb_ready(&look, 7, 3, false, true));
	/* neither counted as a look */
	assert_false(ready(&look, 7, 3));
	assert_true(ready(&look, 7, 3));
}

static void
test_growing_slot_is_held(void **state)
{
	BdWbLook	look = {0};

	(void) state;
	/* first look: held; it grew since: held again; it stopped: taken */
	assert_false(ready(&look, 1, 0));
	assert_false(ready(&look, 1, 1));
	assert_false(ready(&look, 1, 2));
	assert_true(ready(&look, 1, 2));
}

static void
test_changing_slot_is_taken_after_max_looks(void **state)
{
	BdWbLook	look = {0};
	uint64		version = 0;
	int			looks = 0;

	(void) state;
	/* a block rewritten at every look: taken at the BD_WB_MAX_LOOKS-th */
	while (!ready(&look, 5, version++))
	{
		looks++;
		assert_true(looks < 100);
	}
	assert_int_equal(looks + 1, BD_WB_MAX_LOOKS);
}

static void
test_new_queueing_starts_over(void **state)
{
	BdWbLook	look = {0};

	(void) state;
	assert_false(ready(&look, 1, 0));

	/*
	 * The slot was written and queued again (a new seq) with the same version
	 * number: that is a first look, not an unchanged slot.
	 */
	assert_false(ready(&look, 2, 0));
	assert_true(ready(&look, 2, 0));
	/* the count of looks starts over too */
	assert_false(ready(&look, 3, 0));
	for (int i = 1; i < BD_WB_MAX_LOOKS - 1; i++)
		assert_false(ready(&look, 3, (uint64) i));
	assert_true(ready(&look, 3, 99));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_or_all_at_once),
		cmocka_unit_test(test_growing_slot_is_held),
		cmocka_unit_test(test_changing_slot_is_taken_after_max_looks),
		cmocka_unit_test(test_new_queueing_starts_over),
	};

	return cmocka_run_group_tests_name("bd_wb_policy", tests, NULL, NULL);
}
