/*
 * Unit tests of the checksum layer's state machine, its state file and
 * its WAL record (src/checksum/checksum_state.c).
 */
#include "c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "pgrac/byte_order.h"
#include "pgrac/checksum_state.h"
#include "port/pg_crc32c.h"

static const PgracChecksumSettings good = {.wal_log_hints = true,.full_page_writes = true,
.core_data_checksums = false};

static const PgracChecksumState all_states[] = {
	PGRAC_CHECKSUMS_OFF, PGRAC_CHECKSUMS_INPROGRESS_ON, PGRAC_CHECKSUMS_ON,
	PGRAC_CHECKSUMS_INPROGRESS_OFF, PGRAC_CHECKSUMS_UNKNOWN
};

static void
expect_move(PgracChecksumState from, PgracChecksumEvent event, PgracChecksumState to)
{
	PgracChecksumDecision d = pgrac_checksum_decide(from, event, &good);

	assert_int_equal(d.verdict, PGRAC_CHECKSUM_MOVE);
	assert_int_equal(d.from, from);
	assert_int_equal(d.to, to);
	/* every move the machine makes is an edge of the graph */
	if (event != PGRAC_CHECKSUM_DISABLE_UNSAFE)
		assert_true(pgrac_checksum_transition_allowed(from, to));
}

static void
expect_nothing(PgracChecksumState state, PgracChecksumEvent event)
{
	PgracChecksumDecision d = pgrac_checksum_decide(state, event, &good);

	assert_int_equal(d.verdict, PGRAC_CHECKSUM_NOTHING);
	assert_int_equal(d.to, state);
}

static void
expect_refusal(PgracChecksumState state, PgracChecksumEvent event,
			   const PgracChecksumSettings *settings, PgracChecksumRefusal refusal)
{
	PgracChecksumDecision d = pgrac_checksum_decide(state, event, settings);

	assert_int_equal(d.verdict, PGRAC_CHECKSUM_REFUSED);
	assert_int_equal(d.refusal, refusal);
	assert_int_equal(d.to, state);
}

static void
test_every_transition(void **unused)
{
	(void) unused;
	expect_move(PGRAC_CHECKSUMS_OFF, PGRAC_CHECKSUM_ENABLE, PGRAC_CHECKSUMS_INPROGRESS_ON);
	expect_move(PGRAC_CHECKSUMS_INPROGRESS_ON, PGRAC_CHECKSUM_SWEEP_DONE, PGRAC_CHECKSUMS_ON);
	expect_move(PGRAC_CHECKSUMS_ON, PGRAC_CHECKSUM_DISABLE, PGRAC_CHECKSUMS_INPROGRESS_OFF);
	expect_move(PGRAC_CHECKSUMS_INPROGRESS_OFF, PGRAC_CHECKSUM_DISABLE_DONE, PGRAC_CHECKSUMS_OFF);
	/* abort and cancel */
	expect_move(PGRAC_CHECKSUMS_INPROGRESS_ON, PGRAC_CHECKSUM_DISABLE, PGRAC_CHECKSUMS_OFF);
	expect_move(PGRAC_CHECKSUMS_INPROGRESS_OFF, PGRAC_CHECKSUM_ENABLE, PGRAC_CHECKSUMS_ON);
	/* already there, or on the way */
	expect_nothing(PGRAC_CHECKSUMS_INPROGRESS_ON, PGRAC_CHECKSUM_ENABLE);
	expect_nothing(PGRAC_CHECKSUMS_ON, PGRAC_CHECKSUM_ENABLE);
	expect_nothing(PGRAC_CHECKSUMS_OFF, PGRAC_CHECKSUM_DISABLE);
	expect_nothing(PGRAC_CHECKSUMS_INPROGRESS_OFF, PGRAC_CHECKSUM_DISABLE);
	/* the unsafe test event skips inprogress-off */
	expect_move(PGRAC_CHECKSUMS_ON, PGRAC_CHECKSUM_DISABLE_UNSAFE, PGRAC_CHECKSUMS_OFF);
	assert_false(pgrac_checksum_transition_allowed(PGRAC_CHECKSUMS_ON, PGRAC_CHECKSUMS_OFF));
}

/* never on except from inprogress-on after a sweep, or as a cancel */
static void
test_graph_has_six_edges(void **unused)
{
	int			edges = 0;

	(void) unused;
	for (size_t i = 0; i < lengthof(all_states); i++)
		for (size_t j = 0; j < lengthof(all_states); j++)
			if (pgrac_checksum_transition_allowed(all_states[i], all_states[j]))
				edges++;
	assert_int_equal(edges, 6);
	assert_false(pgrac_checksum_transition_allowed(PGRAC_CHECKSUMS_OFF, PGRAC_CHECKSUMS_ON));
	assert_false(pgrac_checksum_transition_allowed(PGRAC_CHECKSUMS_OFF, PGRAC_CHECKSUMS_INPROGRESS_OFF));
	assert_false(pgrac_checksum_transition_allowed(PGRAC_CHECKSUMS_ON, PGRAC_CHECKSUMS_INPROGRESS_ON));
	for (size_t i = 0; i < lengthof(all_states); i++)
		assert_false(pgrac_checksum_transition_allowed(all_states[i], PGRAC_CHECKSUMS_UNKNOWN));
}

static void
test_refusals(void **unused)
{
	PgracChecksumSettings no_hints = good;
	PgracChecksumSettings no_fpw = good;
	PgracChecksumSettings core_on = good;
	PgracChecksumSettings nothing_right = {false, false, true};

	(void) unused;
	no_hints.wal_log_hints = false;
	no_fpw.full_page_writes = false;
	core_on.core_data_checksums = true;

	/* each move towards verification checks each setting */
	expect_refusal(PGRAC_CHECKSUMS_OFF, PGRAC_CHECKSUM_ENABLE, &no_hints, PGRAC_CHECKSUM_REFUSAL_WAL_LOG_HINTS);
	expect_refusal(PGRAC_CHECKSUMS_OFF, PGRAC_CHECKSUM_ENABLE, &no_fpw, PGRAC_CHECKSUM_REFUSAL_FULL_PAGE_WRITES);
	expect_refusal(PGRAC_CHECKSUMS_OFF, PGRAC_CHECKSUM_ENABLE, &core_on, PGRAC_CHECKSUM_REFUSAL_CORE_CHECKSUMS);
	expect_refusal(PGRAC_CHECKSUMS_INPROGRESS_ON, PGRAC_CHECKSUM_SWEEP_DONE, &no_hints, PGRAC_CHECKSUM_REFUSAL_WAL_LOG_HINTS);
	expect_refusal(PGRAC_CHECKSUMS_INPROGRESS_ON, PGRAC_CHECKSUM_SWEEP_DONE, &no_fpw, PGRAC_CHECKSUM_REFUSAL_FULL_PAGE_WRITES);
	expect_refusal(PGRAC_CHECKSUMS_INPROGRESS_OFF, PGRAC_CHECKSUM_ENABLE, &no_fpw, PGRAC_CHECKSUM_REFUSAL_FULL_PAGE_WRITES);
	/* core's checksums are named first: no setting would help then */
	expect_refusal(PGRAC_CHECKSUMS_OFF, PGRAC_CHECKSUM_ENABLE, &nothing_right, PGRAC_CHECKSUM_REFUSAL_CORE_CHECKSUMS);

	/* turning off is never refused for settings */
	{
		PgracChecksumDecision d = pgrac_checksum_decide(PGRAC_CHECKSUMS_ON, PGRAC_CHECKSUM_DISABLE, &nothing_right);

		assert_int_equal(d.verdict, PGRAC_CHECKSUM_MOVE);
		d = pgrac_checksum_decide(PGRAC_CHECKSUMS_INPROGRESS_OFF, PGRAC_CHECKSUM_DISABLE_DONE, &nothing_right);
		assert_int_equal(d.verdict, PGRAC_CHECKSUM_MOVE);
		d = pgrac_checksum_decide(PGRAC_CHECKSUMS_INPROGRESS_ON, PGRAC_CHECKSUM_DISABLE, &nothing_right);
		assert_int_equal(d.verdict, PGRAC_CHECKSUM_MOVE);
	}

	/*
	 * a sweep ends only in inprogress-on; a disable completes only from
	 * inprogress-off
	 */
	expect_refusal(PGRAC_CHECKSUMS_OFF, PGRAC_CHECKSUM_SWEEP_DONE, &good, PGRAC_CHECKSUM_REFUSAL_NOT_SWEEPING);
	expect_refusal(PGRAC_CHECKSUMS_ON, PGRAC_CHECKSUM_SWEEP_DONE, &good, PGRAC_CHECKSUM_REFUSAL_NOT_SWEEPING);
	expect_refusal(PGRAC_CHECKSUMS_INPROGRESS_OFF, PGRAC_CHECKSUM_SWEEP_DONE, &good, PGRAC_CHECKSUM_REFUSAL_NOT_SWEEPING);
	expect_refusal(PGRAC_CHECKSUMS_ON, PGRAC_CHECKSUM_DISABLE_DONE, &good, PGRAC_CHECKSUM_REFUSAL_NOT_DISABLING);
	expect_refusal(PGRAC_CHECKSUMS_OFF, PGRAC_CHECKSUM_DISABLE_DONE, &good, PGRAC_CHECKSUM_REFUSAL_NOT_DISABLING);

	/* nothing moves while recovery does not know the state */
	expect_refusal(PGRAC_CHECKSUMS_UNKNOWN, PGRAC_CHECKSUM_ENABLE, &good, PGRAC_CHECKSUM_REFUSAL_UNKNOWN_STATE);
	expect_refusal(PGRAC_CHECKSUMS_UNKNOWN, PGRAC_CHECKSUM_DISABLE, &good, PGRAC_CHECKSUM_REFUSAL_UNKNOWN_STATE);
	for (int r = PGRAC_CHECKSUM_REFUSAL_NONE; r <= PGRAC_CHECKSUM_REFUSAL_UNKNOWN_STATE; r++)
		assert_string_not_equal(pgrac_checksum_refusal_text(r), "invalid refusal");
}

/* what each state does with pages */
static void
test_set_and_verify(void **unused)
{
	(void) unused;
	assert_false(pgrac_checksum_state_sets(PGRAC_CHECKSUMS_OFF));
	assert_false(pgrac_checksum_state_verifies(PGRAC_CHECKSUMS_OFF));
	assert_true(pgrac_checksum_state_sets(PGRAC_CHECKSUMS_INPROGRESS_ON));
	assert_false(pgrac_checksum_state_verifies(PGRAC_CHECKSUMS_INPROGRESS_ON));
	assert_true(pgrac_checksum_state_sets(PGRAC_CHECKSUMS_ON));
	assert_true(pgrac_checksum_state_verifies(PGRAC_CHECKSUMS_ON));
	assert_true(pgrac_checksum_state_sets(PGRAC_CHECKSUMS_INPROGRESS_OFF));
	assert_false(pgrac_checksum_state_verifies(PGRAC_CHECKSUMS_INPROGRESS_OFF));
	assert_true(pgrac_checksum_state_sets(PGRAC_CHECKSUMS_UNKNOWN));
	assert_false(pgrac_checksum_state_verifies(PGRAC_CHECKSUMS_UNKNOWN));
	assert_string_equal(pgrac_checksum_state_name(PGRAC_CHECKSUMS_INPROGRESS_ON), "inprogress-on");
	assert_string_equal(pgrac_checksum_state_name(PGRAC_CHECKSUMS_INPROGRESS_OFF), "inprogress-off");
}

static PgracChecksumTransition
tr(uint64 lsn, PgracChecksumState from, PgracChecksumState to)
{
	PgracChecksumTransition t = {.lsn = lsn,.time = (int64) lsn * 1000,.from = from,.to = to};

	return t;
}

static void
fill_enable_disable(PgracChecksumFile *f)
{
	PgracChecksumTransition t;

	pgrac_checksum_file_init(f);
	t = tr(100, PGRAC_CHECKSUMS_OFF, PGRAC_CHECKSUMS_INPROGRESS_ON);
	pgrac_checksum_file_append(f, &t);
	t = tr(200, PGRAC_CHECKSUMS_INPROGRESS_ON, PGRAC_CHECKSUMS_ON);
	pgrac_checksum_file_append(f, &t);
	t = tr(300, PGRAC_CHECKSUMS_ON, PGRAC_CHECKSUMS_INPROGRESS_OFF);
	pgrac_checksum_file_append(f, &t);
}

static void
test_file_round_trip(void **unused)
{
	PgracChecksumFile f,
				g;
	uint8		buf[PGRAC_CHECKSUM_FILE_MAX_SIZE];
	char		error[256];
	size_t		len;

	(void) unused;
	pgrac_checksum_file_init(&f);
	assert_int_equal(pgrac_checksum_file_state(&f), PGRAC_CHECKSUMS_OFF);
	fill_enable_disable(&f);
	f.cost_delay = 7;
	f.cost_limit = -3;
	len = pgrac_checksum_file_encode(&f, buf);
	assert_int_equal(len, PGRAC_CHECKSUM_FILE_HEADER + 3 * PGRAC_CHECKSUM_FILE_ENTRY + 4);
	assert_true(pgrac_checksum_file_decode(buf, len, &g, error, sizeof(error)));
	assert_int_equal(g.nentries, 3);
	assert_int_equal(g.cost_delay, 7);
	assert_int_equal(g.cost_limit, -3);
	assert_false(g.truncated);
	assert_int_equal(pgrac_checksum_file_state(&g), PGRAC_CHECKSUMS_INPROGRESS_OFF);
	assert_int_equal(g.entries[1].lsn, 200);
	assert_int_equal(g.entries[1].time, 200000);
	/* little-endian, at the documented offsets */
	assert_memory_equal(buf, "PGRACCKS", 8);
	assert_int_equal(buf[8], 1);
	assert_int_equal(buf[16], 7);
	assert_int_equal(buf[32 + 24], 200);
	assert_int_equal(buf[32 + 24 + 16], PGRAC_CHECKSUMS_INPROGRESS_ON);
	assert_int_equal(buf[32 + 24 + 17], PGRAC_CHECKSUMS_ON);
}

/* every single-byte change and every truncation is refused */
static void
test_file_damage_refused(void **unused)
{
	PgracChecksumFile f,
				g;
	uint8		buf[PGRAC_CHECKSUM_FILE_MAX_SIZE];
	char		error[256];
	size_t		len;

	(void) unused;
	fill_enable_disable(&f);
	len = pgrac_checksum_file_encode(&f, buf);
	for (size_t i = 0; i < len; i++)
		for (int bit = 0; bit < 8; bit++)
		{
			buf[i] ^= (uint8) (1 << bit);
			assert_false(pgrac_checksum_file_decode(buf, len, &g, error, sizeof(error)));
			assert_true(strlen(error) > 0);
			buf[i] ^= (uint8) (1 << bit);
		}
	for (size_t cut = 0; cut < len; cut++)
		assert_false(pgrac_checksum_file_decode(buf, cut, &g, error, sizeof(error)));
	assert_true(pgrac_checksum_file_decode(buf, len, &g, error, sizeof(error)));

	/*
	 * a reserved byte of a transition set, with the CRC made to match (the
	 * fuzzer's finding of 2026-12-02): refused, so that a file has one
	 * encoding
	 */
	for (int b = 18; b < PGRAC_CHECKSUM_FILE_ENTRY; b++)
	{
		uint8		copy[PGRAC_CHECKSUM_FILE_MAX_SIZE];
		pg_crc32c	crc;

		memcpy(copy, buf, len);
		copy[PGRAC_CHECKSUM_FILE_HEADER + PGRAC_CHECKSUM_FILE_ENTRY + b] = 0x5a;
		INIT_CRC32C(crc);
		COMP_CRC32C(crc, copy, len - 4);
		FIN_CRC32C(crc);
		pgrac_put32(copy + len - 4, crc);
		assert_false(pgrac_checksum_file_decode(copy, len, &g, error, sizeof(error)));
		assert_string_equal(error, "reserved bytes of a transition are not zero");
	}
}

static void
test_state_at_redo_pointer(void **unused)
{
	PgracChecksumFile f;

	(void) unused;
	pgrac_checksum_file_init(&f);
	assert_int_equal(pgrac_checksum_state_at(&f, 5), PGRAC_CHECKSUMS_OFF);
	fill_enable_disable(&f);
	/* before the first transition: its "from" */
	assert_int_equal(pgrac_checksum_state_at(&f, 50), PGRAC_CHECKSUMS_OFF);
	/* a record at the redo pointer is replayed: the state before it */
	assert_int_equal(pgrac_checksum_state_at(&f, 100), PGRAC_CHECKSUMS_OFF);
	assert_int_equal(pgrac_checksum_state_at(&f, 101), PGRAC_CHECKSUMS_INPROGRESS_ON);
	assert_int_equal(pgrac_checksum_state_at(&f, 200), PGRAC_CHECKSUMS_INPROGRESS_ON);
	assert_int_equal(pgrac_checksum_state_at(&f, 250), PGRAC_CHECKSUMS_ON);
	assert_int_equal(pgrac_checksum_state_at(&f, 1000), PGRAC_CHECKSUMS_INPROGRESS_OFF);
}

static void
test_history_truncation_and_forgetting(void **unused)
{
	PgracChecksumFile f,
				g;
	PgracChecksumTransition t;
	uint8		buf[PGRAC_CHECKSUM_FILE_MAX_SIZE];
	char		error[256];
	PgracChecksumState s = PGRAC_CHECKSUMS_OFF;

	(void) unused;
	pgrac_checksum_file_init(&f);
	/* enable and disable over and over: more than the history holds */
	for (int i = 1; i <= PGRAC_CHECKSUM_HISTORY_MAX + 10; i++)
	{
		PgracChecksumState next = s == PGRAC_CHECKSUMS_OFF ? PGRAC_CHECKSUMS_INPROGRESS_ON : PGRAC_CHECKSUMS_OFF;

		t = tr((uint64) i * 10, s, next);
		pgrac_checksum_file_append(&f, &t);
		s = next;
	}
	assert_int_equal(f.nentries, PGRAC_CHECKSUM_HISTORY_MAX);
	assert_true(f.truncated);
	assert_int_equal(f.entries[0].lsn, 110);
	/* before what is left: not known, never a guess */
	assert_int_equal(pgrac_checksum_state_at(&f, 105), PGRAC_CHECKSUMS_UNKNOWN);
	assert_int_equal(pgrac_checksum_state_at(&f, 115), f.entries[0].to);
	/* the flag survives the file */
	assert_true(pgrac_checksum_file_decode(buf, pgrac_checksum_file_encode(&f, buf), &g, error, sizeof(error)));
	assert_true(g.truncated);
	assert_int_equal(g.nentries, PGRAC_CHECKSUM_HISTORY_MAX);

	/* a transition replayed before the newest ones replaces them */
	fill_enable_disable(&f);
	t = tr(150, PGRAC_CHECKSUMS_INPROGRESS_ON, PGRAC_CHECKSUMS_OFF);
	pgrac_checksum_file_append(&f, &t);
	assert_int_equal(f.nentries, 2);
	assert_int_equal(pgrac_checksum_file_state(&f), PGRAC_CHECKSUMS_OFF);
	/* a recovery that ends before transitions forgets them */
	fill_enable_disable(&f);
	assert_int_equal(pgrac_checksum_file_forget_from(&f, 201), 1);
	assert_int_equal(pgrac_checksum_file_state(&f), PGRAC_CHECKSUMS_ON);
	assert_int_equal(pgrac_checksum_file_forget_from(&f, 1000), 0);
}

static void
test_wal_record(void **unused)
{
	PgracChecksumWalRecord r = {.from = PGRAC_CHECKSUMS_ON,.to = PGRAC_CHECKSUMS_INPROGRESS_OFF,
	.cost_delay = 20,.cost_limit = 200,.time = -12345},
				d;
	uint8		buf[PGRAC_CHECKSUM_WAL_SIZE];
	char		error[256],
	text[		256];

	(void) unused;
	pgrac_checksum_wal_encode(&r, buf);
	assert_true(pgrac_checksum_wal_decode(buf, sizeof(buf), &d, error, sizeof(error)));
	assert_int_equal(d.from, r.from);
	assert_int_equal(d.to, r.to);
	assert_int_equal(d.cost_delay, 20);
	assert_int_equal(d.cost_limit, 200);
	assert_int_equal(d.time, -12345);
	pgrac_checksum_wal_describe(&d, text, sizeof(text));
	assert_string_equal(text, "on -> inprogress-off; cost_delay 20, cost_limit 200");
	/* wrong size, version or state: refused */
	assert_false(pgrac_checksum_wal_decode(buf, sizeof(buf) - 1, &d, error, sizeof(error)));
	buf[0] = 2;
	assert_false(pgrac_checksum_wal_decode(buf, sizeof(buf), &d, error, sizeof(error)));
	buf[0] = 1;
	buf[2] = PGRAC_CHECKSUMS_UNKNOWN;
	assert_false(pgrac_checksum_wal_decode(buf, sizeof(buf), &d, error, sizeof(error)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_transition),
		cmocka_unit_test(test_graph_has_six_edges),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_set_and_verify),
		cmocka_unit_test(test_file_round_trip),
		cmocka_unit_test(test_file_damage_refused),
		cmocka_unit_test(test_state_at_redo_pointer),
		cmocka_unit_test(test_history_truncation_and_forgetting),
		cmocka_unit_test(test_wal_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
