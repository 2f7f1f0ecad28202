/*-------------------------------------------------------------------------
 *
 * checksum_transition.c
 *	  Moving the checksum state: the rules of the state machine
 *	  (checksum_state.c) applied under the transition lock, the WAL record
 *	  and the state file, publication to every process, and redo.
 *
 * A transition from S to T:
 *
 *	1. waits until no process is still doing I/O with a state older than
 *	   S (the previous transition's wait may have been cancelled);
 *	2. under the transition lock, decides with the settings as they are
 *	   now, logs the record and flushes it, appends it to the state file
 *	   and renames that into place, all inside one critical section with
 *	   the checkpoint's redo pointer held back (DELAY_CHKPT_START), so that
 *	   a checkpoint either precedes the record (and recovery replays it,
 *	   rewriting the file) or follows the file;
 *	3. publishes T with a new epoch;
 *	4. waits until every process that sampled an older word has finished
 *	   the I/O it sampled it for (checksum_server.h, the windows).
 *
 * Only after step 4 may the next transition begin: that is what makes
 * "no I/O that sampled an old state still runs when the next step begins"
 * true, for processes that existed before, processes started during it
 * (they sample the new word), and the startup process.  A process that is
 * not doing I/O holds no slot and is never waited for.
 *
 * Redo applies a record the same way (publish, wait), so a standby's
 * backends and its checkpointer follow the primary's steps in order.  A
 * recovery begins in the state that held at its redo pointer, looked up in
 * the state file's history (checksum_redo_startup).
 *
 * src/checksum/checksum_transition.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xloginsert.h"
#include "access/xlogrecovery.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pgrac/pgrac_wal.h"
#include "checksum/checksum_server.h"

static uint32 wait_event_drain = 0;

PgracChecksumSettings
checksum_settings_now(void)
{
	PgracChecksumSettings s;

	s.wal_log_hints = wal_log_hints;
	s.full_page_writes = fullPageWrites;
	s.core_data_checksums = DataChecksumsEnabled();
	return s;
}

/* Is some process still in a window older than epoch?  (No lock needed.) */
static bool
older_window_exists(uint64 epoch)
{
	for (int i = 0; i < checksum_shared->nslots; i++)
	{
		uint64		w = pg_atomic_read_u64(&checksum_shared->slots[i]);

		if (w != 0 && CHECKSUM_WORD_EPOCH(w) < epoch)
			return true;
	}
	return false;
}

/*
 * Wait until no process is in a window of I/O older than epoch.  Windows
 * last one smgr call, so this waits for I/O, never for a transaction.
 */
void
checksum_wait_for_drain(uint64 epoch)
{
	pg_memory_barrier();
	if (wait_event_drain == 0)
		wait_event_drain = WaitEventExtensionNew("PgracChecksumStateDrain");
	while (older_window_exists(epoch))
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1,
						 wait_event_drain);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Publish a state with a new epoch; caller holds the transition lock. */
static uint64
publish_locked(PgracChecksumState state, TimestampTz since)
{
	uint64		epoch = CHECKSUM_WORD_EPOCH(pg_atomic_read_u64(&checksum_shared->word)) + 1;

	pg_atomic_write_u64(&checksum_shared->word, CHECKSUM_WORD(epoch, state));
	/* the new word is visible before we look at anyone's slot */
	pg_memory_barrier();
	SpinLockAcquire(&checksum_shared->mutex);
	checksum_shared->since = since;
	SpinLockRelease(&checksum_shared->mutex);
	return epoch;
}

/* Publish a state outside any transition (startup, end of recovery). */
void
checksum_publish(PgracChecksumState state)
{
	uint64		epoch;

	LWLockAcquire(checksum_shared->transition_lock, LW_EXCLUSIVE);
	epoch = publish_locked(state, GetCurrentTimestamp());
	LWLockRelease(checksum_shared->transition_lock);
	checksum_wait_for_drain(epoch);
}

/*
 * Log the transition, flush it, and make the state file say so, as one
 * step that a checkpoint cannot split (see the file header).
 */
static void
log_and_persist(PgracChecksumState from, PgracChecksumState to, int cost_delay,
				int cost_limit, TimestampTz now)
{
	PgracChecksumWalRecord rec;
	PgracChecksumTransition t;
	uint8		data[PGRAC_CHECKSUM_WAL_SIZE];
	XLogRecPtr	end;

	rec.from = from;
	rec.to = to;
	rec.cost_delay = cost_delay;
	rec.cost_limit = cost_limit;
	rec.time = now;
	pgrac_checksum_wal_encode(&rec, data);

	START_CRIT_SECTION();
	Assert((MyProc->delayChkptFlags & DELAY_CHKPT_START) == 0);
	MyProc->delayChkptFlags |= DELAY_CHKPT_START;

	XLogBeginInsert();
	XLogRegisterData((char *) data, sizeof(data));
	end = XLogInsert(PGRAC_RMGR_ID, PGRAC_WAL_KIND_CHECKSUM_STATE << 4);
	XLogFlush(end);

	t.lsn = ProcLastRecPtr;
	t.time = now;
	t.from = from;
	t.to = to;
	checksum_shared->file.cost_delay = cost_delay;
	checksum_shared->file.cost_limit = cost_limit;
	pgrac_checksum_file_append(&checksum_shared->file, &t);
	checksum_write_file(&checksum_shared->file, PANIC);

	MyProc->delayChkptFlags &= ~DELAY_CHKPT_START;
	END_CRIT_SECTION();
}

/*
 * Ask for a transition.  Returns the decision: MOVE when it happened (and
 * every process has absorbed it), NOTHING, or REFUSED with the reason;
 * the caller reports a refusal (checksum_report_refusal).  With an
 * expected word, nothing happens unless the state is still the one that
 * word published: the worker's sweep completes the inprogress-on it
 * swept for, never a later one.
 */
PgracChecksumDecision
checksum_transition(PgracChecksumEvent event, int cost_delay, int cost_limit,
					uint64 expected_word)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("the checksum state cannot change during recovery"),
				 errhint("A standby follows the primary's transitions; change the state on the primary.")));

	for (;;)
	{
		uint64		w = pg_atomic_read_u64(&checksum_shared->word);
		PgracChecksumSettings settings;
		PgracChecksumDecision d;
		TimestampTz now;
		uint64		epoch;

		checksum_wait_for_drain(CHECKSUM_WORD_EPOCH(w));

		LWLockAcquire(checksum_shared->transition_lock, LW_EXCLUSIVE);
		w = pg_atomic_read_u64(&checksum_shared->word);
		if (older_window_exists(CHECKSUM_WORD_EPOCH(w)))
		{
			/* another transition got in between: wait for it too */
			LWLockRelease(checksum_shared->transition_lock);
			continue;
		}
		if (expected_word != 0 && w != expected_word)
		{
			LWLockRelease(checksum_shared->transition_lock);
			d.verdict = PGRAC_CHECKSUM_NOTHING;
			d.from = d.to = CHECKSUM_WORD_STATE(w);
			d.refusal = PGRAC_CHECKSUM_REFUSAL_NONE;
			return d;
		}
		settings = checksum_settings_now();
		d = pgrac_checksum_decide(CHECKSUM_WORD_STATE(w), event, &settings);
		if (d.verdict != PGRAC_CHECKSUM_MOVE)
		{
			LWLockRelease(checksum_shared->transition_lock);
			return d;
		}
		now = GetCurrentTimestamp();
		log_and_persist(d.from, d.to, cost_delay, cost_limit, now);
		SpinLockAcquire(&checksum_shared->mutex);
		checksum_shared->cost_delay = cost_delay;
		checksum_shared->cost_limit = cost_limit;
		SpinLockRelease(&checksum_shared->mutex);
		epoch = publish_locked(d.to, now);
		LWLockRelease(checksum_shared->transition_lock);

		ereport(LOG,
				(errmsg("pgrac checksum state changed from \"%s\" to \"%s\"",
						pgrac_checksum_state_name(d.from), pgrac_checksum_state_name(d.to))));
		checksum_wait_for_drain(epoch);
		return d;
	}
}

/* Report a refused transition at elevel, naming what to change. */
void
checksum_report_refusal(PgracChecksumDecision d, int elevel)
{
	switch (d.refusal)
	{
		case PGRAC_CHECKSUM_REFUSAL_WAL_LOG_HINTS:
			ereport(elevel,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("pgrac checksums cannot be turned on while wal_log_hints is off"),
					 errdetail("A page torn by a crash during a write that changed only hint bits would fail verification; with wal_log_hints, recovery restores such a page from a full-page image."),
					 errhint("Run ALTER SYSTEM SET wal_log_hints = on and restart the server.")));
			break;
		case PGRAC_CHECKSUM_REFUSAL_FULL_PAGE_WRITES:
			ereport(elevel,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("pgrac checksums cannot be turned on while full_page_writes is off"),
					 errdetail("A page torn by a crash would fail verification, with no full-page image to repair it."),
					 errhint("Run ALTER SYSTEM SET full_page_writes = on and reload the configuration.")));
			break;
		case PGRAC_CHECKSUM_REFUSAL_CORE_CHECKSUMS:
			ereport(elevel,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("pgrac checksums cannot be turned on while data checksums are on"),
					 errdetail("PostgreSQL already sets and verifies the checksum of every page."),
					 errhint("Set pgrac.checksum_layer = off.")));
			break;
		default:
			ereport(elevel,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("pgrac checksum state \"%s\" does not allow that step: %s",
							pgrac_checksum_state_name(d.from),
							pgrac_checksum_refusal_text(d.refusal))));
			break;
	}
}

/*
 * The postmaster's checks of the state it read, before any process runs
 * (checksum_shared.c calls this while it initialises shared memory).
 */
void
checksum_startup_checks(PgracChecksumState state)
{
	if (pgrac_checksum_layer && DataChecksumsEnabled())
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pgrac.checksum_layer cannot be on in a cluster with data checksums"),
				 errdetail("PostgreSQL already sets and verifies the checksum of every page; the layer would have nothing to do."),
				 errhint("Set pgrac.checksum_layer = off.")));

	if (!pgrac_checksum_layer && state != PGRAC_CHECKSUMS_OFF)
	{
		/*
		 * pg_checksums --enable rewrote every page with core's checksum: the
		 * layer's state no longer means anything.
		 */
		if (DataChecksumsEnabled())
		{
			PgracChecksumTransition t = {.lsn = checksum_shared->file.nentries > 0 ?
				checksum_shared->file.entries[checksum_shared->file.nentries - 1].lsn + 1 : 1,
			.time = GetCurrentTimestamp(),.from = state,.to = PGRAC_CHECKSUMS_OFF};

			pgrac_checksum_file_append(&checksum_shared->file, &t);
			checksum_write_file(&checksum_shared->file, FATAL);
			ereport(LOG,
					(errmsg("pgrac checksum state \"%s\" is now \"off\": the cluster has data checksums",
							pgrac_checksum_state_name(state))));
			return;
		}
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pgrac checksum state is \"%s\" but pgrac.checksum_layer is off",
						pgrac_checksum_state_name(state)),
				 errdetail("Without the layer, pages would be written without checksums while the state says they carry one."),
				 errhint("Set pgrac.checksum_layer = on; to stop using the layer, run pgrac.pgrac_disable_checksums() first and wait for state \"off\".")));
	}

	if ((state == PGRAC_CHECKSUMS_ON || state == PGRAC_CHECKSUMS_INPROGRESS_ON) && !wal_log_hints)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wal_log_hints must be on while the pgrac checksum state is \"%s\"",
						pgrac_checksum_state_name(state)),
				 errdetail("A page torn by a crash during a write that changed only hint bits would fail verification."),
				 errhint("Set wal_log_hints = on.")));

	if (state == PGRAC_CHECKSUMS_ON && !fullPageWrites)
		ereport(WARNING,
				(errmsg("full_page_writes is off while the pgrac checksum state is \"on\""),
				 errdetail("A page torn by a crash will fail verification, with no full-page image to repair it."),
				 errhint("Set full_page_writes = on.")));
}

/* ---- redo ---- */

static void
decode_record(XLogReaderState *record, PgracChecksumWalRecord *rec)
{
	char		error[256];

	if (!pgrac_checksum_wal_decode((const uint8 *) XLogRecGetData(record),
								   XLogRecGetDataLen(record), rec, error, sizeof(error)))
		ereport(PANIC,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid pgrac checksum state record at %X/%X: %s",
						LSN_FORMAT_ARGS(record->ReadRecPtr), error)));
}

void
checksum_redo(XLogReaderState *record)
{
	PgracChecksumWalRecord rec;
	PgracChecksumTransition t;
	uint64		epoch;

	decode_record(record, &rec);

	/*
	 * A server without the layer cannot follow a primary that starts setting
	 * checksums: its own writes would carry none, and once it verifies (or is
	 * promoted and the layer turned on) they would fail.
	 */
	if (!pgrac_checksum_layer && rec.from == PGRAC_CHECKSUMS_OFF && rec.to != PGRAC_CHECKSUMS_OFF)
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("WAL at %X/%X turns pgrac checksums on, and pgrac.checksum_layer is off on this server",
						LSN_FORMAT_ARGS(record->ReadRecPtr)),
				 errhint("Set pgrac.checksum_layer = on, as on the primary, and start the server again.")));

	LWLockAcquire(checksum_shared->transition_lock, LW_EXCLUSIVE);
	t.lsn = record->ReadRecPtr;
	t.time = rec.time;
	t.from = rec.from;
	t.to = rec.to;
	checksum_shared->file.cost_delay = rec.cost_delay;
	checksum_shared->file.cost_limit = rec.cost_limit;
	pgrac_checksum_file_append(&checksum_shared->file, &t);
	checksum_write_file(&checksum_shared->file, ERROR);
	SpinLockAcquire(&checksum_shared->mutex);
	checksum_shared->cost_delay = rec.cost_delay;
	checksum_shared->cost_limit = rec.cost_limit;
	SpinLockRelease(&checksum_shared->mutex);
	epoch = publish_locked(rec.to, rec.time);
	LWLockRelease(checksum_shared->transition_lock);

	ereport(LOG,
			(errmsg("pgrac checksum state changed from \"%s\" to \"%s\" (redo of %X/%X)",
					pgrac_checksum_state_name(rec.from), pgrac_checksum_state_name(rec.to),
					LSN_FORMAT_ARGS(record->ReadRecPtr))));
	checksum_wait_for_drain(epoch);
}

/*
 * Before the first record is replayed: start in the state that held at
 * the redo pointer.  The state file says where things ended, which may be
 * after transitions this recovery will replay (or, after a point-in-time
 * recovery's restore, never reach).
 */
void
checksum_redo_startup(void)
{
	XLogRecPtr	redo = GetRedoRecPtr();
	PgracChecksumState state;

	LWLockAcquire(checksum_shared->transition_lock, LW_SHARED);
	state = pgrac_checksum_state_at(&checksum_shared->file, redo);
	LWLockRelease(checksum_shared->transition_lock);

	if (state != checksum_current_state())
	{
		ereport(LOG,
				(errmsg("pgrac checksum state at the redo point %X/%X is \"%s\"",
						LSN_FORMAT_ARGS(redo), pgrac_checksum_state_name(state))));
		checksum_publish(state);
	}
}

/*
 * At the end of redo: forget transitions that were never replayed (a
 * recovery target before them), and leave a state that is not known.
 */
void
checksum_redo_cleanup(void)
{
	XLogRecPtr	end = GetXLogReplayRecPtr(NULL);
	PgracChecksumState state;
	bool		changed;

	LWLockAcquire(checksum_shared->transition_lock, LW_EXCLUSIVE);
	changed = pgrac_checksum_file_forget_from(&checksum_shared->file, end) > 0;
	state = checksum_current_state();
	if (state == PGRAC_CHECKSUMS_UNKNOWN)
	{
		/*
		 * The recovery began before the oldest transition the file still
		 * remembers and replayed none.  Off is the state that can never fail
		 * a page: nothing is verified until checksums are enabled again, with
		 * a full sweep.
		 */
		PgracChecksumTransition t = {.lsn = end,.time = GetCurrentTimestamp(),
		.from = PGRAC_CHECKSUMS_OFF,.to = PGRAC_CHECKSUMS_OFF};

		checksum_shared->file.nentries = 0;
		pgrac_checksum_file_append(&checksum_shared->file, &t);
		checksum_shared->file.truncated = true;
		changed = true;
		ereport(WARNING,
				(errmsg("pgrac checksum state at the end of recovery is not known; it is now \"off\""),
				 errdetail("Recovery began before the oldest of the %d transitions the state file keeps, and replayed none.",
						   PGRAC_CHECKSUM_HISTORY_MAX),
				 errhint("Run pgrac.pgrac_enable_checksums() to turn checksums on again.")));
		state = PGRAC_CHECKSUMS_OFF;
	}
	if (changed)
		checksum_write_file(&checksum_shared->file, ERROR);
	LWLockRelease(checksum_shared->transition_lock);

	if (state != checksum_current_state())
		checksum_publish(state);

	if (!pgrac_checksum_layer && state != PGRAC_CHECKSUMS_OFF)
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgrac checksum state is \"%s\" at the end of recovery, and pgrac.checksum_layer is off",
						pgrac_checksum_state_name(state)),
				 errhint("Set pgrac.checksum_layer = on and start the server again.")));
}

void
checksum_desc(StringInfo buf, XLogReaderState *record)
{
	PgracChecksumWalRecord rec;
	char		error[256];
	char text[	256];

	if (!pgrac_checksum_wal_decode((const uint8 *) XLogRecGetData(record),
								   XLogRecGetDataLen(record), &rec, error, sizeof(error)))
	{
		appendStringInfo(buf, "invalid record: %s", error);
		return;
	}
	pgrac_checksum_wal_describe(&rec, text, sizeof(text));
	appendStringInfoString(buf, text);
}
