/*
 * Unit tests of the backup history file's lines (backup_history.c): both
 * kinds read back as written, texts with every character that needs an
 * escape, and a line with any byte changed or any field wrong is refused.
 */
#include "c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "pgrac/backup_history.h"
#include "pgrac/bd_format.h"

static void
sample_backup(PgracHistoryEntry *e)
{
	memset(e, 0, sizeof(*e));
	e->kind = PGRAC_HISTORY_BACKUP;
	e->id = 7;
	e->result = PGRAC_BACKUP_COMPLETED;
	e->incremental = true;
	e->start_lsn = UINT64CONST(0x10810C418);
	e->stop_lsn = UINT64CONST(0x108EED6D8);
	e->timeline = 2;
	e->started_at = INT64CONST(849000000000000);
	e->stopped_at = INT64CONST(849000012345678);
	e->device_bytes = INT64CONST(1610612736);
	e->pid = 4242;
	e->postmaster_start = INT64CONST(848999000000000);
	strcpy(e->text, "nightly \\ with\ttab and\nnewline");
}

static void
expect_round_trip(const PgracHistoryEntry *e)
{
	char		line[PGRAC_HISTORY_LINE_MAX];
	char		error[256];
	PgracHistoryEntry back;
	size_t		len = pgrac_history_encode(e, line, sizeof(line));

	assert_true(len > 10);
	assert_int_equal(line[len - 1], '\n');
	assert_null(memchr(line, '\n', len - 1));	/* one line */
	if (!pgrac_history_decode(line, len - 1, &back, error, sizeof(error)))
		fail_msg("refused its own line: %s", error);
	assert_memory_equal(&back, e, sizeof(back));
}

static void
test_backup_round_trip(void **state)
{
	PgracHistoryEntry e;
	char		line[PGRAC_HISTORY_LINE_MAX];

	(void) state;
	sample_backup(&e);
	expect_round_trip(&e);
	assert_true(pgrac_history_encode(&e, line, sizeof(line)) > 0);
	assert_non_null(strstr(line, " backup 7 completed incremental 1/810C418 1/8EED6D8 2 849000000000000 849000012345678 1610612736 4242 848999000000000 nightly \\\\ with\\ttab and\\nnewline\n"));

	/* running: no stop, no size */
	e.result = PGRAC_BACKUP_IN_PROGRESS;
	e.incremental = false;
	e.stop_lsn = 0;
	e.stopped_at = 0;
	e.device_bytes = -1;
	memset(e.text, 0, sizeof(e.text));
	expect_round_trip(&e);
	assert_true(pgrac_history_encode(&e, line, sizeof(line)) > 0);
	assert_non_null(strstr(line, " backup 7 in-progress full 1/810C418 - 2 849000000000000 - - 4242 "));
	e.result = PGRAC_BACKUP_ABORTED;
	expect_round_trip(&e);
}

static void
test_restore_point_round_trip(void **state)
{
	PgracHistoryEntry e;
	char		line[PGRAC_HISTORY_LINE_MAX];

	(void) state;
	memset(&e, 0, sizeof(e));
	e.kind = PGRAC_HISTORY_RESTORE_POINT;
	e.id = 3;
	e.start_lsn = UINT64CONST(0x3000028);
	e.timeline = 1;
	e.started_at = INT64CONST(849000000000001);
	strcpy(e.text, "before the migration");
	expect_round_trip(&e);
	assert_true(pgrac_history_encode(&e, line, sizeof(line)) > 0);
	assert_non_null(strstr(line, " restore-point 3 0/3000028 1 849000000000001 before the migration\n"));
}

/* a text of the longest length fits; a buffer too small gives 0 */
static void
test_lengths(void **state)
{
	PgracHistoryEntry e;
	char		line[PGRAC_HISTORY_LINE_MAX];

	(void) state;
	sample_backup(&e);
	memset(e.text, '\n', PGRAC_HISTORY_TEXT_MAX);	/* every byte escaped */
	e.text[PGRAC_HISTORY_TEXT_MAX] = '\0';
	expect_round_trip(&e);
	assert_int_equal(pgrac_history_encode(&e, line, 100), 0);
}

/* every byte changed, and every cut, is refused */
static void
test_damage_refused(void **state)
{
	PgracHistoryEntry e,
				back;
	char		line[PGRAC_HISTORY_LINE_MAX];
	char		error[256];
	size_t		len;

	(void) state;
	sample_backup(&e);
	len = pgrac_history_encode(&e, line, sizeof(line)) - 1;
	for (size_t i = 0; i < len; i++)
	{
		char		saved = line[i];

		line[i] ^= 0x04;
		if (pgrac_history_decode(line, len, &back, error, sizeof(error)))
			fail_msg("accepted with byte %zu changed", i);
		line[i] = saved;
	}
	for (size_t cut = 0; cut < len; cut++)
		if (pgrac_history_decode(line, cut, &back, error, sizeof(error)))
			fail_msg("accepted cut to %zu bytes", cut);
}

/* well-formed lines with a wrong field, resealed with a right CRC */
static void
expect_refused(const char *payload, const char *message)
{
	char		line[PGRAC_HISTORY_LINE_MAX];
	char		error[256];
	char		hex[9];
	PgracHistoryEntry back;
	size_t		len;

	snprintf(line, sizeof(line), "00000000 %s", payload);
	len = strlen(line);
	snprintf(hex, sizeof(hex), "%08x", bd_crc32c(line + 9, len - 9));
	memcpy(line, hex, 8);
	if (pgrac_history_decode(line, len, &back, error, sizeof(error)))
		fail_msg("accepted \"%s\"", payload);
	if (strstr(error, message) == NULL)
		fail_msg("\"%s\" refused with \"%s\", expected \"%s\"", payload, error, message);
}

static void
test_wrong_fields_refused(void **state)
{
	(void) state;
	expect_refused("backup 1 done full 0/1 - 1 5 - - 1 1 x", "result \"done\" is unknown");
	expect_refused("backup 1 in-progress partial 0/1 - 1 5 - - 1 1 x", "backup kind \"partial\" is unknown");
	expect_refused("backup 1 completed full 0/10 - 1 5 - - 1 1 x", "a completed backup has a stop LSN");
	expect_refused("backup 1 in-progress full 0/10 0/20 1 5 9 - 1 1 x", "a completed backup has a stop LSN, and only it");
	expect_refused("backup 1 completed full 0/10 0/20 1 5 - - 1 1 x", "stop LSN and stop time do not agree");
	expect_refused("backup 1 completed full 0/30 0/20 1 5 9 - 1 1 x", "stop LSN and stop time do not agree");
	expect_refused("backup 1 in-progress full 0/0 - 1 5 - - 1 1 x", "is not an LSN");
	expect_refused("backup 1 in-progress full 0/01 - 1 5 - - 1 1 x", "is not an LSN");
	expect_refused("backup 01 in-progress full 0/1 - 1 5 - - 1 1 x", "id \"01\" is not a number");
	expect_refused("backup 1 in-progress full 0/1 - 1 5 - - 99999999999 1 x", "pid");
	expect_refused("backup 1 in-progress full 0/1 - 1 5 - -", "pid is missing");
	expect_refused("backup 1 in-progress full 0/1 - 1 5 - - 1 1", "label is missing");
	expect_refused("backup 1 in-progress full 0/1 - 1 5 - - 1 1 a\\qb", "unknown escape");
	expect_refused("backup 1 in-progress full 0/1 - 1 5 - - 1 1 a\\", "lone backslash");
	expect_refused("backup 1 in-progress full 0/1 - 1 5 - - 1 1 a\tb", "unescaped control character");
	expect_refused("restore-point 1 0/1 1", "time is missing");
	expect_refused("checkpoint 1 0/1 1 5 x", "kind \"checkpoint\" is unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backup_round_trip),
		cmocka_unit_test(test_restore_point_round_trip),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_damage_refused),
		cmocka_unit_test(test_wrong_fields_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
