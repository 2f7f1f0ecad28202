/*
 * Unit tests of the choice of extents an incremental backup copies
 * (bd_incremental.c): each rule on its own, and that nothing is left out
 * when the metadata copies cannot say who owns an extent.
 */
#include "c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <cmocka.h>

#include "pgrac/bd_incremental.h"

#define NEXTENTS	64
#define BPE			16			/* blocks per extent: 128 kB extents */

/* a layout of up to 8 forks, each with its extents */
typedef struct Layout
{
	BdLoadedLayout l;
	BdLoadedFork forks[8];
	uint32		extents[8][16];
} Layout;

static void
layout_init(Layout *x)
{
	memset(x, 0, sizeof(*x));
	x->l.sb.nextents = NEXTENTS;
	x->l.sb.extent_pages = BPE;
	x->l.forks = x->forks;
}

/* add fork (relnumber, fork) owning the n extents that follow, in order */
static BdLoadedFork *
add_fork(Layout *x, uint32 relnumber, uint8 forknum, int n,...)
{
	int			f = x->l.nforks++;
	BdLoadedFork *fork = &x->forks[f];
	va_list		ap;

	fork->entry.spcoid = 1663;
	fork->entry.dboid = 5;
	fork->entry.relnumber = relnumber;
	fork->entry.fork = forknum;
	fork->entry.nextents = n;
	fork->entry.nblocks = n * BPE;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		x->extents[f][i] = va_arg(ap, uint32);
	va_end(ap);
	fork->extents = x->extents[f];
	fork->nextents_read = n;
	return fork;
}

/* the plan for every extent in allocated[] */
static uint32
plan(Layout *cur, Layout *parent, const BdForkChanges *changes, int nchanges,
	 const uint32 *allocated, uint32 nallocated, uint8 *reasons)
{
	void	   *scratch = malloc(bd_incremental_scratch_size(&cur->l, &parent->l));
	uint32		n;

	n = bd_incremental_plan(&cur->l, &parent->l, changes, nchanges,
							allocated, nallocated, scratch, reasons);
	free(scratch);
	return n;
}

static BdForkChanges
change(uint32 relnumber, uint8 forknum, uint32 limit, int nblocks, const uint32 *blocks)
{
	BdForkChanges c = {1663, 5, relnumber, forknum, limit, (uint32) nblocks, blocks};

	return c;
}

/* the same forks in both copies and no change: nothing is copied */
static void
test_nothing_changed(void **state)
{
	static Layout cur,
				parent;
	uint32		a[] = {10, 11, 12, 20};
	uint8		r[4];

	(void) state;
	layout_init(&cur);
	layout_init(&parent);
	add_fork(&cur, 100, 0, 3, 10u, 11u, 12u);
	add_fork(&cur, 101, 0, 1, 20u);
	add_fork(&parent, 101, 0, 1, 20u);	/* order does not matter */
	add_fork(&parent, 100, 0, 3, 10u, 11u, 12u);
	assert_int_equal(plan(&cur, &parent, NULL, 0, a, 4, r), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(r[i], BD_INCR_UNCHANGED);
}

/* a modified block: its extent only, found by fork, not by relation */
static void
test_modified_block(void **state)
{
	static Layout cur,
				parent;
	uint32		a[] = {10, 11, 12, 20};
	uint8		r[4];
	uint32		blocks[] = {BPE + 3, 5000}; /* extent 1; past the fork */
	static const uint32 zero[] = {0};
	BdForkChanges c[] = {
		change(100, 0, BD_NO_LIMIT_BLOCK, 2, blocks),
		change(100, 1, BD_NO_LIMIT_BLOCK, 1, zero), /* the FSM: not here */
		change(999, 0, BD_NO_LIMIT_BLOCK, 1, zero), /* dropped since */
	};

	(void) state;
	layout_init(&cur);
	layout_init(&parent);
	add_fork(&cur, 100, 0, 3, 10u, 11u, 12u);
	add_fork(&cur, 101, 0, 1, 20u);
	add_fork(&parent, 100, 0, 3, 10u, 11u, 12u);
	add_fork(&parent, 101, 0, 1, 20u);
	assert_int_equal(plan(&cur, &parent, c, lengthof(c), a, 4, r), 1);
	assert_int_equal(r[0], BD_INCR_UNCHANGED);
	assert_int_equal(r[1], BD_INCR_MODIFIED);
	assert_int_equal(r[2], BD_INCR_UNCHANGED);
	assert_int_equal(r[3], BD_INCR_UNCHANGED);
}

/* a limit block: every extent holding blocks at or past it */
static void
test_limit_block(void **state)
{
	static Layout cur,
				parent;
	uint32		a[] = {10, 11, 12};
	uint8		r[3];
	BdForkChanges c[] = {change(100, 0, BPE + 1, 0, NULL)};

	(void) state;
	layout_init(&cur);
	layout_init(&parent);
	add_fork(&cur, 100, 0, 3, 10u, 11u, 12u);
	add_fork(&parent, 100, 0, 3, 10u, 11u, 12u);
	assert_int_equal(plan(&cur, &parent, c, 1, a, 3, r), 2);
	assert_int_equal(r[0], BD_INCR_UNCHANGED);
	assert_int_equal(r[1], BD_INCR_LIMIT);
	assert_int_equal(r[2], BD_INCR_LIMIT);

	/* a fork created since (limit 0): all of it */
	c[0].limit_block = 0;
	assert_int_equal(plan(&cur, &parent, c, 1, a, 3, r), 3);
}

/*
 * Owners that differ: an extent free in the parent, owned by another
 * fork there, or by the same fork at another place
 */
static void
test_new_owner(void **state)
{
	static Layout cur,
				parent;
	uint32		a[] = {10, 11, 12, 13, 30};
	uint8		r[5];

	(void) state;
	layout_init(&cur);
	layout_init(&parent);
	add_fork(&cur, 100, 0, 4, 10u, 11u, 12u, 13u);
	add_fork(&cur, 102, 0, 1, 30u);
	add_fork(&parent, 100, 0, 2, 10u, 12u); /* 11 elsewhere, 12 moved */
	add_fork(&parent, 200, 0, 1, 13u);	/* dropped; 13 reused */
	assert_int_equal(plan(&cur, &parent, NULL, 0, a, 5, r), 4);
	assert_int_equal(r[0], BD_INCR_UNCHANGED);	/* 10: same fork, index 0 */
	assert_int_equal(r[1], BD_INCR_NEW_OWNER);	/* 11: free in the parent */
	assert_int_equal(r[2], BD_INCR_NEW_OWNER);	/* 12: index 1 there, 2 here */
	assert_int_equal(r[3], BD_INCR_NEW_OWNER);	/* 13: another fork */
	assert_int_equal(r[4], BD_INCR_NEW_OWNER);	/* 30: a new fork */
}

/* what the metadata copies cannot say is copied */
static void
test_unknown_owners_copied(void **state)
{
	static Layout cur,
				parent;
	uint32		a[] = {10, 11, 12, 40, 41};
	uint8		r[5];
	BdLoadedFork *f;

	(void) state;
	layout_init(&cur);
	layout_init(&parent);
	add_fork(&cur, 100, 0, 3, 10u, 11u, 12u);
	add_fork(&cur, 101, 0, 1, 41u);
	add_fork(&cur, 103, 0, 1, 41u); /* owned twice here */
	f = add_fork(&parent, 100, 0, 3, 10u, 11u, 12u);
	f->nextents_read = 1;		/* the parent's map of it was damaged */
	add_fork(&parent, 101, 0, 1, 41u);
	assert_int_equal(plan(&cur, &parent, NULL, 0, a, 5, r), 4);
	assert_int_equal(r[0], BD_INCR_UNCHANGED);
	assert_int_equal(r[1], BD_INCR_NEW_OWNER);	/* unread in the parent */
	assert_int_equal(r[2], BD_INCR_NEW_OWNER);
	assert_int_equal(r[3], BD_INCR_OWNER_UNKNOWN);	/* 40: allocated, no owner */
	assert_int_equal(r[4], BD_INCR_OWNER_UNKNOWN);	/* 41: two owners */

	/* a damaged map here: the extents it could not list have no owner */
	layout_init(&cur);
	f = add_fork(&cur, 100, 0, 3, 10u, 11u, 12u);
	f->nextents_read = 2;
	assert_int_equal(plan(&cur, &parent, NULL, 0, a, 3, r), 2);
	assert_int_equal(r[2], BD_INCR_OWNER_UNKNOWN);
}

/* an extent number a damaged map gives beyond the device is ignored */
static void
test_extent_beyond_device(void **state)
{
	static Layout cur,
				parent;
	uint32		a[] = {10};
	uint8		r[1];

	(void) state;
	layout_init(&cur);
	layout_init(&parent);
	add_fork(&cur, 100, 0, 1, 10u);
	add_fork(&parent, 100, 0, 2, 10u, 100000u);
	assert_int_equal(plan(&cur, &parent, NULL, 0, a, 1, r), 0);
	assert_string_equal(bd_incremental_reason_text(BD_INCR_MODIFIED), "modified");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_changed),
		cmocka_unit_test(test_modified_block),
		cmocka_unit_test(test_limit_block),
		cmocka_unit_test(test_new_owner),
		cmocka_unit_test(test_unknown_owners_copied),
		cmocka_unit_test(test_extent_beyond_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
