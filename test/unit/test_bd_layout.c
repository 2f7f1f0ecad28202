/*
 * Unit tests of the block-device extent allocator, its allocation-map pages
 * and the layout verifier.
 */
#include "c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "pgrac/bd_layout.h"

#define MAXE 200000

static uint64 words[MAXE / 64 + 1];

static void
test_reserved_extents(void **state)
{
	(void) state;
	/* pages 0..directory_root must fit */
	assert_int_equal(bd_reserved_extents(128, 18), 1);
	assert_int_equal(bd_reserved_extents(128, 127), 1);
	assert_int_equal(bd_reserved_extents(128, 128), 2);
	assert_int_equal(bd_reserved_extents(8, 260), 33);
}

static void
test_emergency_reserve(void **state)
{
	(void) state;
	/* 16, and one per 32672 extents (a visibility-map extent's reach) */
	assert_int_equal(bd_emergency_reserve(0), 16);
	assert_int_equal(bd_emergency_reserve(1280), 17);	/* 160 MB at 128 kB */
	assert_int_equal(bd_emergency_reserve(32672), 17);
	assert_int_equal(bd_emergency_reserve(32673), 18);
	assert_int_equal(bd_emergency_reserve(524288), 33); /* 64 GB at 128 kB */
	/* no overflow at the largest count */
	assert_int_equal(bd_emergency_reserve(UINT32_MAX), 16 + 131458);
}

static void
test_alloc_next_fit_and_full(void **state)
{
	BdAllocator a;
	uint32		got[10];

	(void) state;
	bd_allocator_init(&a, words, MAXE, 10, 2);
	assert_int_equal(a.nfree, 8);
	for (int i = 0; i < 8; i++)
	{
		got[i] = bd_allocator_alloc(&a);
		assert_int_equal(got[i], 2 + i);	/* consecutive: sequential layout */
	}
	assert_int_equal(bd_allocator_alloc(&a), BD_NO_EXTENT);
	assert_int_equal(a.nfree, 0);

	/* freeing makes room; the freed extent is found again */
	assert_true(bd_allocator_free(&a, 5));
	assert_int_equal(bd_allocator_alloc(&a), 5);
	assert_int_equal(bd_allocator_alloc(&a), BD_NO_EXTENT);
}

static void
test_free_refuses_bad_frees(void **state)
{
	BdAllocator a;

	(void) state;
	bd_allocator_init(&a, words, MAXE, 100, 3);
	assert_false(bd_allocator_free(&a, 1)); /* reserved */
	assert_false(bd_allocator_free(&a, 50));	/* not allocated */
	assert_false(bd_allocator_free(&a, 100));	/* out of range */
	assert_int_equal(bd_allocator_alloc(&a), 3);
	assert_true(bd_allocator_free(&a, 3));
	assert_false(bd_allocator_free(&a, 3)); /* double free */
	assert_int_equal(a.nfree, 97);
}

static void
test_mark_detects_double_ownership(void **state)
{
	BdAllocator a;

	(void) state;
	bd_allocator_init(&a, words, MAXE, 100, 1);
	assert_true(bd_allocator_mark(&a, 40));
	assert_false(bd_allocator_mark(&a, 40));
	assert_false(bd_allocator_mark(&a, 0)); /* reserved: already set */
	assert_false(bd_allocator_mark(&a, 100));
	assert_int_equal(a.nfree, 98);
}

/* the allocator skips whole full words and wraps around to find holes */
static void
test_alloc_scans_large_map(void **state)
{
	BdAllocator a;
	uint32		last = 0;

	(void) state;
	bd_allocator_init(&a, words, MAXE, MAXE, 1);
	for (uint32 i = 1; i < MAXE; i++)
		last = bd_allocator_alloc(&a);
	assert_int_equal(last, MAXE - 1);
	assert_int_equal(bd_allocator_alloc(&a), BD_NO_EXTENT);
	assert_true(bd_allocator_free(&a, 77));
	assert_true(bd_allocator_free(&a, MAXE - 3));
	assert_int_equal(bd_allocator_alloc(&a), 77);
	assert_int_equal(bd_allocator_alloc(&a), MAXE - 3);
	assert_int_equal(bd_allocator_alloc(&a), BD_NO_EXTENT);
}

static void
test_grow(void **state)
{
	BdAllocator a;

	(void) state;
	bd_allocator_init(&a, words, 64, 4, 1);
	for (int i = 0; i < 3; i++)
		assert_int_not_equal(bd_allocator_alloc(&a), BD_NO_EXTENT);
	assert_int_equal(bd_allocator_alloc(&a), BD_NO_EXTENT);
	assert_false(bd_allocator_grow(&a, 65));	/* beyond capacity */
	assert_false(bd_allocator_grow(&a, 3)); /* shrinking */
	assert_true(bd_allocator_grow(&a, 6));
	assert_int_equal(bd_allocator_alloc(&a), 4);
	assert_int_equal(bd_allocator_alloc(&a), 5);
	assert_int_equal(bd_allocator_alloc(&a), BD_NO_EXTENT);
}

/* allocation-map pages round-trip, and refuse what cannot be */
static void
test_alloc_pages_round_trip(void **state)
{
	static uint64 words2[MAXE / 64 + 1];
	BdAllocator a;
	BdAllocator b;
	uint8		page[BD_PAGE_SIZE];

	(void) state;
	bd_allocator_init(&a, words, MAXE, 150000, 2);
	for (uint32 e = 2; e < 150000; e += 3)
		assert_true(bd_allocator_mark(&a, e));
	bd_allocator_init(&b, words2, MAXE, 150000, 2);
	for (uint32 p = 0; p < bd_alloc_map_pages(150000); p++)
	{
		bd_alloc_page_encode(&a, p, 0x100 + p, page);
		assert_int_equal(bd_alloc_page_decode(&b, p, page), BD_PAGE_OK);
	}
	assert_int_equal(b.nfree, a.nfree);
	for (uint32 e = 0; e < 150000; e++)
		assert_int_equal(bd_allocator_is_allocated(&a, e),
						 bd_allocator_is_allocated(&b, e));

	/* a page read from the wrong map slot is refused */
	bd_alloc_page_encode(&a, 1, 0, page);
	assert_int_equal(bd_alloc_page_decode(&b, 0, page), BD_PAGE_WRONG_ADDRESS);

	/* a bit for an extent the device does not have */
	bd_alloc_page_encode(&a, 2, 0, page);
	page[BD_HEADER_SIZE + (150000 - 2 * BD_ALLOC_BITS_PER_PAGE + 10) / 8] |= 0xff;
	bd_page_seal(page);
	assert_int_equal(bd_alloc_page_decode(&b, 2, page), BD_PAGE_INCONSISTENT);

	/* and a torn one */
	bd_alloc_page_encode(&a, 0, 0, page);
	page[4000] ^= 0x10;
	assert_int_equal(bd_alloc_page_decode(&b, 0, page), BD_PAGE_BAD_CHECKSUM);
}

/* ---- verification ---- */

static int32 owners[MAXE];
static BdProblem problems[16];

static int
verify_with_gaps(BdForkLayout *forks, int nforks, const uint32 *meta, int nmeta,
				 const BdAllocator *a, const BdLayoutGaps *gaps)
{
	memset(problems, 0, sizeof(problems));
	return bd_verify_layout(forks, nforks, meta, nmeta, a, 128, gaps, owners,
							problems, 16);
}

static int
verify(BdForkLayout *forks, int nforks, const uint32 *meta, int nmeta,
	   const BdAllocator *a)
{
	return verify_with_gaps(forks, nforks, meta, nmeta, a, NULL);
}

static void
test_verify_clean_layout(void **state)
{
	BdAllocator a;
	uint32		e1[] = {3, 4, 5};
	uint32		e2[] = {6};
	uint32		meta[] = {2};
	BdForkLayout forks[2] = {
		{1663, 5, 16384, 0, 3 * 128, 3, e1, false},
		{1663, 5, 16384, 1, 1, 1, e2, false},
	};

	(void) state;
	bd_allocator_init(&a, words, MAXE, 20, 2);
	for (uint32 e = 2; e <= 6; e++)
		bd_allocator_mark(&a, e);
	assert_int_equal(verify(forks, 2, meta, 1, &a), 0);
}

static void
test_verify_finds_each_violation(void **state)
{
	BdAllocator a;
	uint32		e1[] = {3, 4};
	uint32		e2[] = {4, 25, 1, 7};
	uint32		meta[] = {2};
	BdForkLayout forks[2] = {
		{1663, 5, 100, 0, 2 * 128 + 1, 2, e1, false},	/* EOF past its extents */
		{1663, 5, 200, 0, 0, 4, e2, false},
	};
	int			n;

	(void) state;
	bd_allocator_init(&a, words, MAXE, 20, 2);
	bd_allocator_mark(&a, 2);
	bd_allocator_mark(&a, 3);
	bd_allocator_mark(&a, 4);
	bd_allocator_mark(&a, 9);	/* leaked */
	/* 7 mapped but free */
	n = verify(forks, 2, meta, 1, &a);
	assert_int_equal(n, 6);
	assert_int_equal(problems[0].kind, BD_PROBLEM_EOF_BEYOND_EXTENTS);
	assert_int_equal(problems[0].fork, 0);
	assert_int_equal(problems[1].kind, BD_PROBLEM_EXTENT_OWNED_TWICE);
	assert_int_equal(problems[1].extent, 4);
	assert_int_equal(problems[1].fork, 1);
	assert_int_equal(problems[1].other_fork, 0);
	assert_int_equal(problems[2].kind, BD_PROBLEM_EXTENT_OUT_OF_RANGE);
	assert_int_equal(problems[2].extent, 25);
	assert_int_equal(problems[3].kind, BD_PROBLEM_EXTENT_IN_METADATA);
	assert_int_equal(problems[3].extent, 1);
	assert_int_equal(problems[4].kind, BD_PROBLEM_EXTENT_NOT_ALLOCATED);
	assert_int_equal(problems[4].extent, 7);
	assert_int_equal(problems[5].kind, BD_PROBLEM_EXTENT_LEAKED);
	assert_int_equal(problems[5].extent, 9);
}

/* a fork mapping a directory extent is a double owner too */
static void
test_verify_fork_over_metadata_extent(void **state)
{
	BdAllocator a;
	uint32		e1[] = {2};
	uint32		meta[] = {2};
	BdForkLayout fork = {1663, 5, 300, 0, 1, 1, e1, false};

	(void) state;
	bd_allocator_init(&a, words, MAXE, 20, 2);
	bd_allocator_mark(&a, 2);
	assert_int_equal(verify(&fork, 1, meta, 1, &a), 1);
	assert_int_equal(problems[0].kind, BD_PROBLEM_EXTENT_OWNED_TWICE);
	assert_int_equal(problems[0].other_fork, -1);
}

/*
 * What could not be read is not judged: an extent whose allocation-map page
 * is unknown is neither free in the map nor leaked, a partial fork's EOF is
 * not checked, and with owners unknown there are no leaks; everything that
 * needs none of it is still found.
 */
static void
test_verify_leaves_out_the_gaps(void **state)
{
	BdAllocator a;
	uint32		e1[] = {3, 4};
	uint32		e2[] = {4, 70000};
	bool		unknown[2] = {false, true};
	BdLayoutGaps gaps = {unknown, false};
	BdForkLayout forks[2] = {
		{1663, 5, 100, 0, 9 * 128, 2, e1, true},	/* partial: EOF not judged */
		{1663, 5, 200, 0, 0, 2, e2, false},
	};
	int			n;

	(void) state;
	bd_allocator_init(&a, words, MAXE, 140000, 2);
	bd_allocator_mark(&a, 3);
	bd_allocator_mark(&a, 4);
	bd_allocator_mark(&a, 9);	/* leaked, on a known page */
	bd_allocator_mark(&a, 70001);	/* "leaked", on the unknown page */
	/* 70000 mapped and "free", on the unknown page */
	n = verify_with_gaps(forks, 2, NULL, 0, &a, &gaps);
	assert_int_equal(n, 2);
	assert_int_equal(problems[0].kind, BD_PROBLEM_EXTENT_OWNED_TWICE);
	assert_int_equal(problems[0].extent, 4);
	assert_int_equal(problems[1].kind, BD_PROBLEM_EXTENT_LEAKED);
	assert_int_equal(problems[1].extent, 9);

	/* with the same layout fully known, all five are found */
	forks[0].partial = false;
	n = verify(forks, 2, NULL, 0, &a);
	assert_int_equal(n, 5);
	assert_int_equal(problems[0].kind, BD_PROBLEM_EOF_BEYOND_EXTENTS);
	assert_int_equal(problems[2].kind, BD_PROBLEM_EXTENT_NOT_ALLOCATED);
	assert_int_equal(problems[2].extent, 70000);
	assert_int_equal(problems[4].kind, BD_PROBLEM_EXTENT_LEAKED);
	assert_int_equal(problems[4].extent, 70001);

	/* owners unknown: no leak at all */
	gaps.alloc_pages_unknown = NULL;
	gaps.owners_unknown = true;
	n = verify_with_gaps(forks, 2, NULL, 0, &a, &gaps);
	assert_int_equal(n, 3);
	assert_int_equal(problems[0].kind, BD_PROBLEM_EOF_BEYOND_EXTENTS);
	assert_int_equal(problems[1].kind, BD_PROBLEM_EXTENT_OWNED_TWICE);
	assert_int_equal(problems[2].kind, BD_PROBLEM_EXTENT_NOT_ALLOCATED);
}

/* only max_problems are stored, all are counted */
static void
test_verify_counts_beyond_storage(void **state)
{
	BdAllocator a;

	(void) state;
	bd_allocator_init(&a, words, MAXE, 100, 1);
	for (uint32 e = 1; e < 100; e++)
		bd_allocator_mark(&a, e);
	assert_int_equal(verify(NULL, 0, NULL, 0, &a), 99);
	assert_int_equal(problems[15].kind, BD_PROBLEM_EXTENT_LEAKED);
	assert_int_equal(problems[15].extent, 16);
	assert_string_equal(bd_problem_text(BD_PROBLEM_EXTENT_LEAKED),
						"allocated extent is owned by nobody");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reserved_extents),
		cmocka_unit_test(test_emergency_reserve),
		cmocka_unit_test(test_alloc_next_fit_and_full),
		cmocka_unit_test(test_free_refuses_bad_frees),
		cmocka_unit_test(test_mark_detects_double_ownership),
		cmocka_unit_test(test_alloc_scans_large_map),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_alloc_pages_round_trip),
		cmocka_unit_test(test_verify_clean_layout),
		cmocka_unit_test(test_verify_finds_each_violation),
		cmocka_unit_test(test_verify_fork_over_metadata_extent),
		cmocka_unit_test(test_verify_counts_beyond_storage),
		cmocka_unit_test(test_verify_leaves_out_the_gaps),
	};

	return cmocka_run_group_tests_name("bd_layout", tests, NULL, NULL);
}
