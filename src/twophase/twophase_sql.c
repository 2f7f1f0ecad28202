/*-------------------------------------------------------------------------
 *
 * twophase_sql.c
 *	  SQL of the 2PC coordinator: the live transactions
 *	  (pgrac_twophase_in_doubt), the log's status, and the operator's
 *	  pgrac_twophase_resolve().
 *
 * src/twophase/twophase_sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/xid8.h"
#include "utils/timestamp.h"

#include "twophase/twophase_server.h"

static void
require_on(void)
{
	if (!pgrac_twophase)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("distributed transactions are off"),
				 errhint("Set pgrac.twophase = on (ALTER SYSTEM SET pgrac.twophase = on) and restart the server.")));
}

static const char *
part_state_name(const TwophaseEntry *e, int p)
{
	if (e->owner_pid != 0)
		return "in session";
	switch ((TwophasePartState) e->part_state[p])
	{
		case TWOPHASE_PART_UNKNOWN:
			return "unknown";
		case TWOPHASE_PART_PREPARED:
			return "prepared";
		case TWOPHASE_PART_DONE:
			return "done";
	}
	return "?";
}

static Datum
text_array(const char **items, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array_builtin(d, n, TEXTOID));
}

PG_FUNCTION_INFO_V1(pgrac_twophase_in_doubt);

/* Every live distributed transaction of this coordinator. */
Datum
pgrac_twophase_in_doubt(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (!pgrac_twophase)
		return (Datum) 0;
	for (int i = 0; i < twophase_shared->nentries; i++)
	{
		TwophaseEntry e;
		Datum		values[12];
		bool		nulls[12] = {0};
		const char *names[PGRAC_2PC_MAX_PARTICIPANTS];
		const char *states[PGRAC_2PC_MAX_PARTICIPANTS];
		PgracTwophaseOutcome outcome;
		TimestampTz next = 0;
		char	   *dbname;

		LWLockAcquire(twophase_shared->insert_lock, LW_SHARED);
		e = twophase_shared->entries[i];
		LWLockRelease(twophase_shared->insert_lock);
		if (!e.in_use || e.live.begin.txn == 0)
			continue;
		outcome = twophase_entry_outcome(&e);
		for (int p = 0; p < e.live.begin.nparticipants; p++)
		{
			names[p] = e.live.begin.participants[p].server_name;
			states[p] = part_state_name(&e, p);
			if (e.part_state[p] != TWOPHASE_PART_DONE && (next == 0 || e.next_try[p] < next))
				next = e.next_try[p];
		}
		values[0] = CStringGetTextDatum(e.live.begin.gid);
		dbname = get_database_name(e.live.begin.dboid);
		if (dbname)
			values[1] = CStringGetDatum(dbname);
		else
			nulls[1] = true;
		values[2] = CStringGetTextDatum(e.live.committing ? "commit" : "none");
		if (e.live.committing && e.live.local_xid != 0)
			values[3] = FullTransactionIdGetDatum(FullTransactionIdFromU64(e.live.local_xid));
		else
			nulls[3] = true;
		values[4] = CStringGetTextDatum(pgrac_twophase_outcome_name(outcome));
		values[5] = text_array(names, e.live.begin.nparticipants);
		values[6] = text_array(states, e.live.begin.nparticipants);
		if (e.owner_pid != 0)
			values[7] = Int32GetDatum(e.owner_pid);
		else
			nulls[7] = true;
		values[8] = TimestampTzGetDatum(e.since);
		if (e.live.committing && e.live.decided_at != 0)
			values[9] = TimestampTzGetDatum(e.live.decided_at);
		else
			nulls[9] = true;
		if (e.owner_pid == 0 && next != 0)
			values[10] = TimestampTzGetDatum(next);
		else
			nulls[10] = true;
		if (e.last_error[0])
			values[11] = CStringGetTextDatum(e.last_error);
		else
			nulls[11] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgrac_twophase_log_status);

/* The log: one row. */
Datum
pgrac_twophase_log_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[12];
	bool		nulls[12] = {0};
	PgracTwophaseStore *st;
	int			nlive = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	require_on();
	st = &twophase_shared->store;

	LWLockAcquire(twophase_shared->write_lock, LW_SHARED);
	LWLockAcquire(twophase_shared->insert_lock, LW_SHARED);
	for (int i = 0; i < twophase_shared->nentries; i++)
		if (twophase_shared->entries[i].in_use && twophase_shared->entries[i].live.begin.txn != 0)
			nlive++;
	values[0] = BoolGetDatum(twophase_shared->available);
	if (twophase_shared->available)
		nulls[1] = true;
	else
		values[1] = CStringGetTextDatum(twophase_shared->unavailable_reason);
	values[2] = Int32GetDatum(st->nsegments);
	values[3] = Int64GetDatum((int64) st->seg_start);
	values[4] = Int64GetDatum((int64) twophase_shared->inserted);
	values[5] = Int64GetDatum((int64) pg_atomic_read_u64(&twophase_shared->flushed));
	values[6] = Int64GetDatum((int64) twophase_shared->nappends);
	values[7] = Int64GetDatum((int64) twophase_shared->nbatches);
	values[8] = Int64GetDatum((int64) twophase_shared->nrotations);
	values[9] = Int32GetDatum(twophase_shared->ncorrupt);
	if (twophase_shared->corrupt_before != 0)
		values[10] = Int64GetDatum((int64) twophase_shared->corrupt_before);
	else
		nulls[10] = true;
	values[11] = Int32GetDatum(nlive);
	LWLockRelease(twophase_shared->insert_lock);
	LWLockRelease(twophase_shared->write_lock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

PG_FUNCTION_INFO_V1(pgrac_twophase_resolve);

/*
 * pgrac_twophase_resolve(global_id, 'commit' | 'rollback'): an operator
 * finishes a transaction the resolver cannot decide (or does not want to
 * wait for).  A decided transaction can only be finished its own way.
 * Commit writes a Committing record first (durable), so that the decision
 * survives a crash; rollback needs none (an undecided transaction stays
 * undecided, and is asked about again after a restart).
 */
Datum
pgrac_twophase_resolve(PG_FUNCTION_ARGS)
{
	char	   *gid = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *action = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		commit;
	TwophaseEntry *e;
	int			slot;
	uint64		txn;
	PgracTwophaseOutcome outcome;
	char		status[512];
	volatile bool ended = false;

	require_on();
	if (strcmp(action, "commit") == 0)
		commit = true;
	else if (strcmp(action, "rollback") == 0)
		commit = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("action must be 'commit' or 'rollback', not \"%s\"", action)));
	if (IsTransactionBlock())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("pgrac_twophase_resolve() cannot run inside a transaction block")));

	LWLockAcquire(twophase_shared->insert_lock, LW_EXCLUSIVE);
	e = twophase_find_gid(gid, &slot);
	if (e == NULL || e->owner_pid != 0 || e->busy)
	{
		bool		missing = e == NULL;

		LWLockRelease(twophase_shared->insert_lock);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 missing ?
				 errmsg("distributed transaction \"%s\" is not live on this coordinator", gid) :
				 errmsg("distributed transaction \"%s\" is being worked on by another process", gid),
				 errhint("pgrac.pgrac_twophase_in_doubt lists the live ones.")));
	}
	if (e->live.begin.dboid != MyDatabaseId)
	{
		Oid			db = e->live.begin.dboid;

		LWLockRelease(twophase_shared->insert_lock);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("distributed transaction \"%s\" belongs to database \"%s\"", gid,
						get_database_name(db) ? get_database_name(db) : "?"),
				 errhint("Connect to that database: its foreign servers and user mappings reach the participants.")));
	}
	e->busy = true;
	txn = e->live.begin.txn;
	LWLockRelease(twophase_shared->insert_lock);

	PG_TRY();
	{
		outcome = twophase_entry_outcome(e);
		if ((outcome == PGRAC_2PC_OUTCOME_COMMIT && !commit) ||
			(outcome == PGRAC_2PC_OUTCOME_ROLLBACK && commit) ||
			outcome == PGRAC_2PC_OUTCOME_WAIT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
					 errmsg("distributed transaction \"%s\" is decided: %s", gid,
							pgrac_twophase_outcome_name(outcome)),
					 errdetail("Only a transaction whose outcome is \"operator\" can be decided by hand; this one can only be finished its own way."),
					 errhint("Call pgrac_twophase_resolve('%s', '%s') to finish it now.", gid,
							 outcome == PGRAC_2PC_OUTCOME_COMMIT ? "commit" : "rollback")));
		if (outcome == PGRAC_2PC_OUTCOME_OPERATOR && commit)
		{
			PgracTwophaseRecord rec = {.kind = PGRAC_2PC_COMMITTING};

			/* a commit needs every participant prepared: nothing may be lost */
			for (int p = 0; p < e->live.begin.nparticipants; p++)
			{
				const PgracTwophaseParticipant *part = &e->live.begin.participants[p];
				char		pgid[PGRAC_2PC_GID_MAX + 8];
				TwophaseConnError err;
				bool		has;

				if (e->part_state[p] == TWOPHASE_PART_DONE && e->live.committing)
					continue;
				pgrac_twophase_participant_gid(pgid, sizeof(pgid), gid, p + 1);
				if (!twophase_has_prepared(part->server_oid, part->user_oid, pgid, &has, &err))
					ereport(ERROR,
							(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
							 errmsg("cannot commit \"%s\": participant \"%s\" could not be asked whether it holds \"%s\"",
									gid, part->server_name, pgid),
							 errdetail("%s", err.message)));
				if (!has && !e->live.committing)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
							 errmsg("cannot commit \"%s\": participant \"%s\" does not hold \"%s\" prepared",
									gid, part->server_name, pgid),
							 errdetail("Its part was never prepared or is already rolled back, so a commit would lose it; only a rollback keeps the participants alike."),
							 errhint("Call pgrac_twophase_resolve('%s', 'rollback').", gid)));
			}

			/* local xid 0: committed by the log alone */
			rec.u.committing.txn = txn;
			rec.u.committing.local_xid = 0;
			rec.u.committing.decided_at = GetCurrentTimestamp();
			twophase_flush(twophase_insert(&rec, slot));
		}
		else if (outcome == PGRAC_2PC_OUTCOME_OPERATOR)
		{
			LWLockAcquire(twophase_shared->insert_lock, LW_EXCLUSIVE);
			e->operator_rollback = true;
			LWLockRelease(twophase_shared->insert_lock);
		}
		ended = twophase_resolve_entry(slot, true, status, sizeof(status));
	}
	PG_FINALLY();
	{
		LWLockAcquire(twophase_shared->insert_lock, LW_EXCLUSIVE);
		if (e->in_use && e->live.begin.txn == txn)
			e->busy = false;
		LWLockRelease(twophase_shared->insert_lock);
	}
	PG_END_TRY();
	if (!ended)
		ereport(WARNING,
				(errmsg("distributed transaction \"%s\" is not finished: %s", gid, status),
				 errhint("The resolver goes on trying; pgrac.pgrac_twophase_in_doubt shows it.")));
	PG_RETURN_TEXT_P(cstring_to_text(status));
}

#ifdef PGRAC_TEST_HOOKS
PG_FUNCTION_INFO_V1(pgrac_twophase_test_append);

/*
 * Test builds only (test/bench/twophase.sh): n transactions' worth of log
 * records as the commit protocol appends them (Begin and Committing each
 * waited for, End not), with no participant; the number of records.
 */
Datum
pgrac_twophase_test_append(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);

	uint64		end = 0;

	require_on();
	twophase_check_available();
	for (int i = 0; i < n; i++)
	{
		PgracTwophaseRecord rec = {.kind = PGRAC_2PC_BEGIN};
		int			slot = twophase_reserve_entry();
		uint64		txn;

		rec.u.begin.dboid = MyDatabaseId;
		rec.u.begin.nparticipants = 1;
		/* a valid record (no server behind it: nothing ever resolves it) */
		rec.u.begin.participants[0].server_oid = InvalidOid + 1;
		rec.u.begin.participants[0].user_oid = GetUserId();
		strlcpy(rec.u.begin.participants[0].server_name, "bench",
				sizeof(rec.u.begin.participants[0].server_name));
		twophase_flush(twophase_insert(&rec, slot));
		txn = rec.u.begin.txn;
		rec.kind = PGRAC_2PC_COMMITTING;
		rec.u.committing.txn = txn;
		rec.u.committing.local_xid = 0;
		rec.u.committing.decided_at = GetCurrentTimestamp();
		twophase_flush(twophase_insert(&rec, slot));
		rec.kind = PGRAC_2PC_END;
		rec.u.end.txn = txn;
		rec.u.end.outcome = PGRAC_2PC_ENDED_COMMITTED;
		end = twophase_insert(&rec, slot);
		CHECK_FOR_INTERRUPTS();
	}
	/* no participant could finish the last one after a restart */
	twophase_flush(end);
	PG_RETURN_INT64((int64) n * 3);
}
#endif
