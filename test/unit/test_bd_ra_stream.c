/*
 * Unit tests of which reads form a read-ahead stream and where reading
 * ahead of it stops (src/blockdev/bd_ra_stream.c).
 */
#include "c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "pgrac/bd_ra_stream.h"

#define GAP		128				/* pgrac.read_ahead's default */
#define WINDOW	128

/* a read of the stream's fork */
static bool
read_of(BdRaStream *s, BlockNumber blocknum, BlockNumber nblocks)
{
	return bd_ra_stream_read(s, true, blocknum, nblocks, GAP);
}

static BlockNumber
end_of(const BdRaStream *s)
{
	return bd_ra_stream_window_end(s, WINDOW, InvalidBlockNumber);
}

static void
test_serial_scan(void **state)
{
	BdRaStream	s = {0};

	(void) state;
	/* the first read begins a stream; contiguous reads continue it */
	assert_false(read_of(&s, 0, 16));
	for (BlockNumber b = 16; b < 100000; b += 16)
	{
		assert_true(read_of(&s, b, 16));
		assert_int_equal(end_of(&s), b + 16 + WINDOW);
	}
	assert_int_equal(s.chunk, 0);
}

static void
test_new_stream(void **state)
{
	BdRaStream	s = {0};

	(void) state;
	assert_false(read_of(&s, 100, 16));
	assert_true(read_of(&s, 116, 16));
	/* backwards, or a re-read: a new stream */
	assert_false(read_of(&s, 50, 16));
	assert_false(read_of(&s, 60, 16));
	/* another fork */
	assert_true(read_of(&s, 76, 16));
	assert_false(bd_ra_stream_read(&s, false, 92, 16, GAP));
	assert_true(read_of(&s, 108, 16));
	/* a jump of max_gap blocks or more breaks it (no chunk is known) */
	assert_true(read_of(&s, 124 + GAP - 1, 16));
	assert_false(read_of(&s, 124 + GAP - 1 + 16 + GAP, 16));
	assert_int_equal(s.chunk, 0);
}

static void
test_limit_caps_the_window(void **state)
{
	BdRaStream	s = {0};

	(void) state;
	read_of(&s, 0, 16);
	read_of(&s, 16, 16);
	assert_int_equal(bd_ra_stream_window_end(&s, WINDOW, 40), 40);
	assert_int_equal(bd_ra_stream_window_end(&s, WINDOW, 10000), 32 + WINDOW);
	/* no overflow near the largest block number */
	s.next = MaxBlockNumber - 5;
	assert_int_equal(bd_ra_stream_window_end(&s, WINDOW, InvalidBlockNumber),
					 InvalidBlockNumber);
}

/*
 * One process of a parallel scan with three processes: chunks of 32
 * blocks, read 16 at a time, every third chunk.
 */
static void
test_parallel_scan_learns_the_chunk(void **state)
{
	BdRaStream	s = {0};
	BlockNumber c;

	(void) state;
	assert_false(read_of(&s, 0, 16));
	assert_true(read_of(&s, 16, 16));
	/* before two runs agree, the window reaches into the others' chunks */
	assert_int_equal(end_of(&s), 32 + WINDOW);
	assert_true(read_of(&s, 96, 16));	/* first jump: one run of 32 seen */
	assert_int_equal(s.chunk, 0);
	assert_true(read_of(&s, 112, 16));
	assert_true(read_of(&s, 192, 16));	/* second run of 32: the chunk */
	assert_int_equal(s.chunk, 32);
	/* from now on read-ahead stops at the end of the chunk being read */
	assert_int_equal(end_of(&s), 224);
	assert_true(read_of(&s, 208, 16));
	assert_int_equal(end_of(&s), 224);
	for (c = 288; c < 10000; c += 96)
	{
		assert_true(read_of(&s, c, 16));
		assert_int_equal(end_of(&s), c + 32);
		assert_true(read_of(&s, c + 16, 16));
		assert_int_equal(end_of(&s), c + 32);
	}
	/* two chunks in a row: the second is read ahead too */
	assert_true(read_of(&s, c, 16));
	assert_true(read_of(&s, c + 16, 16));
	assert_true(read_of(&s, c + 32, 16));
	assert_int_equal(end_of(&s), c + 64);
	assert_int_equal(s.chunk, 32);
}

static void
test_long_jumps_continue_once_a_chunk_is_known(void **state)
{
	BdRaStream	s = {0};

	(void) state;
	/* eight processes: each jumps over seven chunks of 32 */
	read_of(&s, 0, 16);
	read_of(&s, 16, 16);
	/* the jump is past max_gap: the slots go, but the run is learned */
	assert_false(read_of(&s, 256, 16));
	read_of(&s, 272, 16);
	assert_true(read_of(&s, 512, 16));
	assert_int_equal(s.chunk, 32);
	read_of(&s, 528, 16);
	assert_true(read_of(&s, 768, 16));
	assert_int_equal(end_of(&s), 768 + 32);
}

static void
test_irregular_run_forgets_the_chunk(void **state)
{
	BdRaStream	s = {0};

	(void) state;
	read_of(&s, 0, 16);
	read_of(&s, 16, 16);
	read_of(&s, 96, 16);
	read_of(&s, 112, 16);
	read_of(&s, 192, 16);
	assert_int_equal(s.chunk, 32);
	/* the last 8 blocks of this chunk were in shared buffers: a run of 24 */
	read_of(&s, 208, 8);
	assert_true(read_of(&s, 288, 16));
	assert_int_equal(s.chunk, 0);
	assert_int_equal(end_of(&s), 304 + WINDOW);
	/* relearned once two runs agree again */
	read_of(&s, 304, 16);
	read_of(&s, 384, 16);
	assert_int_equal(s.chunk, 0);	/* runs of 24, then 32 */
	read_of(&s, 400, 16);
	read_of(&s, 480, 16);
	assert_int_equal(s.chunk, 32);
}

static void
test_single_block_reads_read_nothing_ahead(void **state)
{
	BdRaStream	s = {0};

	(void) state;
	/* an index or bitmap scan: single blocks, forward, with gaps */
	read_of(&s, 10, 1);
	read_of(&s, 13, 1);
	read_of(&s, 20, 1);
	assert_int_equal(s.chunk, 1);
	assert_true(read_of(&s, 22, 1));
	assert_int_equal(end_of(&s), 23);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serial_scan),
		cmocka_unit_test(test_new_stream),
		cmocka_unit_test(test_limit_caps_the_window),
		cmocka_unit_test(test_parallel_scan_learns_the_chunk),
		cmocka_unit_test(test_long_jumps_continue_once_a_chunk_is_known),
		cmocka_unit_test(test_irregular_run_forgets_the_chunk),
		cmocka_unit_test(test_single_block_reads_read_nothing_ahead),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
