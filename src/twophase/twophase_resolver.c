/*-------------------------------------------------------------------------
 *
 * twophase_resolver.c
 *	  The resolver: a background worker that finishes every live
 *	  distributed transaction without an owner (after a restart, or handed
 *	  over by a session whose participants did not answer).
 *
 * The launcher (no database) wakes every pgrac.twophase_resolver_interval,
 * or when a session hands a transaction over, and starts one worker per
 * database with work, one database after the other: participants are
 * reached through that database's foreign servers and user mappings.  The
 * worker decides each transaction by the log and core's commit log
 * (pgrac_twophase_outcome()), sends COMMIT PREPARED or ROLLBACK PREPARED
 * for the exact participant ids, takes "does not exist" as done, and
 * appends End when every participant is done.  A participant that fails
 * gets a backoff of its own (1 s, doubling, up to the interval), so the
 * others are not held up.
 *
 * src/twophase/twophase_resolver.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/clog.h"
#include "access/transam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "twophase/twophase_server.h"
#include "util/pgrac_util.h"

PGDLLEXPORT void pgrac_twophase_resolver_main(Datum arg);
PGDLLEXPORT void pgrac_twophase_resolver_db_main(Datum arg);

#define MAX_DATABASES_PER_ROUND 64

/*
 * The status of a local transaction by its full xid, as pg_xact_status()
 * reads it: never guessed for an xid the commit log no longer (or not
 * yet) covers.
 */
PgracLocalXidStatus
twophase_local_xid_status(uint64 fxid_value)
{
	FullTransactionId fxid = FullTransactionIdFromU64(fxid_value);
	FullTransactionId next = ReadNextFullTransactionId();
	TransactionId xid = XidFromFullTransactionId(fxid);
	PgracLocalXidStatus status;

	if (fxid_value == 0)
		return PGRAC_LOCAL_NONE;
	if (!FullTransactionIdPrecedes(fxid, next) ||
		U64FromFullTransactionId(next) - fxid_value >= (uint64) 1 << 31)
		return PGRAC_LOCAL_UNKNOWN;
	LWLockAcquire(XactTruncationLock, LW_SHARED);
	if (TransactionIdPrecedes(xid, TransamVariables->oldestClogXid))
		status = PGRAC_LOCAL_UNKNOWN;
	else if (TransactionIdIsCurrentTransactionId(xid) || TransactionIdIsInProgress(xid))
		status = PGRAC_LOCAL_RUNNING;
	else if (TransactionIdDidCommit(xid))
		status = PGRAC_LOCAL_COMMITTED;
	else
		status = PGRAC_LOCAL_ABORTED;	/* aborted, or running at a crash */
	LWLockRelease(XactTruncationLock);
	return status;
}

/* What is to become of a live transaction (insert_lock held or a copy). */
PgracTwophaseOutcome
twophase_entry_outcome(const TwophaseEntry *e)
{
	PgracLocalXidStatus local = PGRAC_LOCAL_NONE;
	PgracTwophaseOutcome o;

	if (e->live.committing && e->live.local_xid != 0)
		local = twophase_local_xid_status(e->live.local_xid);
	o = pgrac_twophase_outcome(&e->live, e->owner_pid != 0, local,
							   twophase_shared->corrupt_before);
	if (o == PGRAC_2PC_OUTCOME_OPERATOR && e->operator_rollback)
		o = PGRAC_2PC_OUTCOME_ROLLBACK;
	return o;
}

static void
set_entry_error(int slot, uint64 txn, const char *msg)
{
	TwophaseEntry *e = &twophase_shared->entries[slot];

	LWLockAcquire(twophase_shared->insert_lock, LW_EXCLUSIVE);
	if (e->in_use && e->live.begin.txn == txn)
		strlcpy(e->last_error, msg, sizeof(e->last_error));
	LWLockRelease(twophase_shared->insert_lock);
}

/* come back to every participant of the entry after the interval */
static void
postpone_entry(int slot, uint64 txn)
{
	TwophaseEntry *e = &twophase_shared->entries[slot];
	TimestampTz later = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													pgrac_twophase_resolver_interval_ms);

	LWLockAcquire(twophase_shared->insert_lock, LW_EXCLUSIVE);
	if (e->in_use && e->live.begin.txn == txn)
		for (int p = 0; p < e->live.begin.nparticipants; p++)
			e->next_try[p] = later;
	LWLockRelease(twophase_shared->insert_lock);
}

/*
 * Finish the entry of slot, claimed (busy) by the caller, in a transaction
 * of its database.  True when it is ended; status says what happened.
 * by_operator: every participant now, whatever its backoff.
 */
bool
twophase_resolve_entry(int slot, bool by_operator, char *status, size_t len)
{
	TwophaseEntry *e = &twophase_shared->entries[slot];
	TwophaseEntry copy;
	PgracTwophaseOutcome outcome;
	TimestampTz now = GetCurrentTimestamp();
	int			unfinished = 0;
	char		last[300] = "";

	LWLockAcquire(twophase_shared->insert_lock, LW_SHARED);
	copy = *e;
	LWLockRelease(twophase_shared->insert_lock);

	outcome = twophase_entry_outcome(&copy);
	if (outcome != PGRAC_2PC_OUTCOME_COMMIT && outcome != PGRAC_2PC_OUTCOME_ROLLBACK)
	{
		snprintf(status, len, "%s", outcome == PGRAC_2PC_OUTCOME_WAIT ?
				 "waiting: the local transaction is still running" :
				 "needs an operator: the decision may have been in a corrupt part of the log, or the local transaction is too old for the commit log (pgrac.pgrac_twophase_resolve())");
		set_entry_error(slot, copy.live.begin.txn, status);
		postpone_entry(slot, copy.live.begin.txn);
		return false;
	}

	for (int p = 0; p < copy.live.begin.nparticipants; p++)
	{
		const PgracTwophaseParticipant *part = &copy.live.begin.participants[p];
		char		pgid[PGRAC_2PC_GID_MAX + 8];
		TwophaseConnError err;
		bool		done;

		if (copy.part_state[p] == TWOPHASE_PART_DONE)
			continue;
		if (!by_operator && copy.next_try[p] > now)
		{
			unfinished++;
			continue;
		}
		pgrac_twophase_participant_gid(pgid, sizeof(pgid), copy.live.begin.gid, p + 1);
		twophase_finish_prepared(part->server_oid, part->user_oid, pgid,
								 outcome == PGRAC_2PC_OUTCOME_COMMIT,
								 pgrac_twophase_finish_timeout_ms, &done, &err);
		LWLockAcquire(twophase_shared->insert_lock, LW_EXCLUSIVE);
		if (e->in_use && e->live.begin.txn == copy.live.begin.txn)
		{
			if (done)
			{
				e->part_state[p] = TWOPHASE_PART_DONE;
				e->backoff_ms[p] = 0;
			}
			else
			{
				e->backoff_ms[p] = Min(Max(e->backoff_ms[p] * 2, 1000),
									   pgrac_twophase_resolver_interval_ms);
				e->next_try[p] = TimestampTzPlusMilliseconds(now, e->backoff_ms[p]);
				snprintf(e->last_error, sizeof(e->last_error), "participant \"%s\": %s",
						 part->server_name, err.message);
				strlcpy(last, e->last_error, sizeof(last));
			}
		}
		LWLockRelease(twophase_shared->insert_lock);
		if (!done)
			unfinished++;
	}
	if (unfinished > 0)
	{
		snprintf(status, len, "%s pending on %d participants%s%s",
				 pgrac_twophase_outcome_name(outcome), unfinished, last[0] ? ": " : "", last);
		return false;
	}

	{
		PgracTwophaseRecord rec = {.kind = PGRAC_2PC_END};
		uint64		end;

		rec.u.end.txn = copy.live.begin.txn;
		rec.u.end.outcome = outcome == PGRAC_2PC_OUTCOME_COMMIT ?
			PGRAC_2PC_ENDED_COMMITTED : PGRAC_2PC_ENDED_ROLLED_BACK;
		end = twophase_insert(&rec, slot);
		twophase_flush(end);
	}
	ereport(LOG,
			(errmsg("distributed transaction %s %s on every participant",
					copy.live.begin.gid,
					outcome == PGRAC_2PC_OUTCOME_COMMIT ? "committed" : "rolled back")));
	snprintf(status, len, "%s",
			 outcome == PGRAC_2PC_OUTCOME_COMMIT ? "committed" : "rolled back");
	return true;
}

/* Has the entry a participant due now?  (insert_lock held) */
static bool
entry_due(const TwophaseEntry *e, TimestampTz now)
{
	if (!e->in_use || e->live.begin.txn == 0 || e->owner_pid != 0 || e->busy)
		return false;
	for (int p = 0; p < e->live.begin.nparticipants; p++)
		if (e->part_state[p] != TWOPHASE_PART_DONE && e->next_try[p] <= now)
			return true;
	return false;
}

/* The worker of one database: every due entry of it. */
void
pgrac_twophase_resolver_db_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	TimestampTz now;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	now = GetCurrentTimestamp();

	for (int i = 0; i < twophase_shared->nentries; i++)
	{
		TwophaseEntry *e = &twophase_shared->entries[i];
		char		status[512];
		bool		claimed = false;
		uint64		txn = 0;

		LWLockAcquire(twophase_shared->insert_lock, LW_EXCLUSIVE);
		if (entry_due(e, now) && e->live.begin.dboid == dboid)
		{
			e->busy = true;
			claimed = true;
			txn = e->live.begin.txn;
		}
		LWLockRelease(twophase_shared->insert_lock);
		if (!claimed)
			continue;

		PG_TRY();
		{
			StartTransactionCommand();
			(void) twophase_resolve_entry(i, false, status, sizeof(status));
			CommitTransactionCommand();
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			/* this transaction waits; the others go on */
			MemoryContextSwitchTo(TopMemoryContext);
			edata = CopyErrorData();
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
			set_entry_error(i, txn, edata->message);
			postpone_entry(i, txn);
			FreeErrorData(edata);
		}
		PG_END_TRY();
		LWLockAcquire(twophase_shared->insert_lock, LW_EXCLUSIVE);
		if (e->in_use && e->live.begin.txn == txn)
			e->busy = false;
		LWLockRelease(twophase_shared->insert_lock);
		CHECK_FOR_INTERRUPTS();
	}
	(void) twophase_remove_unneeded_segments();
}

/* Start the worker of a database and wait until it is gone. */
static void
resolve_database(Oid dboid, TimestampTz round_start)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;
	bool		ran = false;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	pgrac_library_path(worker.bgw_library_name, sizeof(worker.bgw_library_name));
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgrac_twophase_resolver_db_main");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pgrac 2PC resolver worker");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pgrac 2PC resolver worker for database %u", dboid);
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;
	if (RegisterDynamicBackgroundWorker(&worker, &handle) &&
		WaitForBackgroundWorkerStartup(handle, &pid) == BGWH_STARTED)
	{
		ran = true;
		PG_TRY();
		{
			(void) WaitForBackgroundWorkerShutdown(handle);
		}
		PG_CATCH();
		{
			TerminateBackgroundWorker(handle);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}

	/* what the worker did not get to (it could not start, or connect) */
	for (int i = 0; i < twophase_shared->nentries; i++)
	{
		TwophaseEntry *e = &twophase_shared->entries[i];
		bool		stuck;
		uint64		txn;

		LWLockAcquire(twophase_shared->insert_lock, LW_SHARED);
		stuck = entry_due(e, round_start) && e->live.begin.dboid == dboid;
		txn = e->live.begin.txn;
		LWLockRelease(twophase_shared->insert_lock);
		if (stuck)
		{
			char		msg[200];

			snprintf(msg, sizeof(msg), ran ?
					 "the resolver could not work in database OID %u (the server log says why)" :
					 "no background worker slot for the resolver in database OID %u (raise max_worker_processes)",
					 dboid);
			set_entry_error(i, txn, msg);
			postpone_entry(i, txn);
		}
	}
}

void
pgrac_twophase_resolver_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("pgrac 2PC resolver");

	LWLockAcquire(twophase_shared->insert_lock, LW_EXCLUSIVE);
	twophase_shared->resolver_pid = MyProcPid;
	twophase_shared->resolver_proc = MyProcNumber;
	LWLockRelease(twophase_shared->insert_lock);

	for (;;)
	{
		Oid			dbs[MAX_DATABASES_PER_ROUND];
		int			ndbs = 0;
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz next = TimestampTzPlusMilliseconds(now, pgrac_twophase_resolver_interval_ms);
		long		timeout;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		LWLockAcquire(twophase_shared->insert_lock, LW_SHARED);
		for (int i = 0; i < twophase_shared->nentries; i++)
		{
			TwophaseEntry *e = &twophase_shared->entries[i];
			bool		known = false;

			if (!e->in_use || e->live.begin.txn == 0 || e->owner_pid != 0)
				continue;
			if (entry_due(e, now))
			{
				for (int k = 0; k < ndbs; k++)
					known |= dbs[k] == e->live.begin.dboid;
				if (!known && ndbs < MAX_DATABASES_PER_ROUND)
					dbs[ndbs++] = e->live.begin.dboid;
			}
			else
				for (int p = 0; p < e->live.begin.nparticipants; p++)
					if (e->part_state[p] != TWOPHASE_PART_DONE && e->next_try[p] < next)
						next = Max(e->next_try[p], now);
		}
		LWLockRelease(twophase_shared->insert_lock);

		for (int k = 0; k < ndbs; k++)
			resolve_database(dbs[k], now);
		if (ndbs > 0)
			continue;

		timeout = Max(TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next), 10);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* From _PG_init when pgrac.twophase is on. */
void
twophase_resolver_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	pgrac_library_path(worker.bgw_library_name, sizeof(worker.bgw_library_name));
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgrac_twophase_resolver_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pgrac 2PC resolver");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pgrac 2PC resolver");
	RegisterBackgroundWorker(&worker);
}

/* A transaction was handed over: look now. */
void
twophase_wake_resolver(void)
{
	ProcNumber	proc;

	LWLockAcquire(twophase_shared->insert_lock, LW_SHARED);
	proc = twophase_shared->resolver_pid != 0 ? twophase_shared->resolver_proc :
		INVALID_PROC_NUMBER;
	LWLockRelease(twophase_shared->insert_lock);
	if (proc != INVALID_PROC_NUMBER)
		SetLatch(&GetPGProcByNumber(proc)->procLatch);
}
