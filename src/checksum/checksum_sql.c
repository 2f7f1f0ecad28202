/*-------------------------------------------------------------------------
 *
 * checksum_sql.c
 *	  SQL functions of the checksum layer: enable, disable, state and
 *	  progress (sql/pgrac_storage--1.2.sql; docs/checksums.md).
 *
 * src/checksum/checksum_sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "checksum/checksum_server.h"

PG_FUNCTION_INFO_V1(pgrac_enable_checksums);
PG_FUNCTION_INFO_V1(pgrac_disable_checksums);
PG_FUNCTION_INFO_V1(pgrac_checksum_state);
PG_FUNCTION_INFO_V1(pgrac_checksum_sweep_progress);

static void
require_superuser_and_layer(const char *function)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", function),
				 errdetail("Only superusers may change the checksum state.")));
	if (!pgrac_checksum_layer)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the pgrac checksum layer is not in the storage stack"),
				 errhint("Set pgrac.checksum_layer = on and restart the server.")));
}

static Datum
state_text(void)
{
	return CStringGetTextDatum(pgrac_checksum_state_name(checksum_current_state()));
}

/*
 * Start turning checksums on (off -> inprogress-on; the worker sweeps and
 * moves on), or cancel a disable (inprogress-off -> on).  Returns the
 * state it leaves.
 */
Datum
pgrac_enable_checksums(PG_FUNCTION_ARGS)
{
	int32		cost_delay = PG_GETARG_INT32(0);
	int32		cost_limit = PG_GETARG_INT32(1);
	PgracChecksumDecision d;

	require_superuser_and_layer("pgrac_enable_checksums");
	if (cost_delay < 0 || cost_delay > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cost_delay must be between 0 and 100 milliseconds, not %d", cost_delay)));
	if (cost_limit < 1 || cost_limit > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cost_limit must be between 1 and 10000 pages, not %d", cost_limit)));

	d = checksum_transition(PGRAC_CHECKSUM_ENABLE, cost_delay, cost_limit, 0);
	if (d.verdict == PGRAC_CHECKSUM_REFUSED)
		checksum_report_refusal(d, ERROR);
	if (d.verdict == PGRAC_CHECKSUM_NOTHING)
	{
		if (d.from == PGRAC_CHECKSUMS_INPROGRESS_ON)
		{
			/* a new throttle for the sweep under way, from its next page */
			SpinLockAcquire(&checksum_shared->mutex);
			checksum_shared->cost_delay = cost_delay;
			checksum_shared->cost_limit = cost_limit;
			SpinLockRelease(&checksum_shared->mutex);
			ereport(NOTICE,
					(errmsg("pgrac checksums are being turned on; the sweep continues with cost_delay %d and cost_limit %d",
							cost_delay, cost_limit)));
		}
		else
			ereport(NOTICE, (errmsg("pgrac checksums are already on")));
	}
	checksum_worker_wake();
	PG_RETURN_DATUM(state_text());
}

/*
 * Turn checksums off: on -> inprogress-off -> off, or abort a sweep
 * (inprogress-on -> off).  Returns the state it leaves.
 */
Datum
pgrac_disable_checksums(PG_FUNCTION_ARGS)
{
	PgracChecksumEvent event = PGRAC_CHECKSUM_DISABLE;
	PgracChecksumDecision d;

	require_superuser_and_layer("pgrac_disable_checksums");
#ifdef PGRAC_TEST_HOOKS
	if (pgrac_checksum_test_skip_inprogress_off)
		event = PGRAC_CHECKSUM_DISABLE_UNSAFE;
#endif
	d = checksum_transition(event, checksum_shared->cost_delay, checksum_shared->cost_limit, 0);
	if (d.verdict == PGRAC_CHECKSUM_REFUSED)
		checksum_report_refusal(d, ERROR);
	/* the second step, also for a disable that stopped half-way */
	if (checksum_current_state() == PGRAC_CHECKSUMS_INPROGRESS_OFF)
	{
		d = checksum_transition(PGRAC_CHECKSUM_DISABLE_DONE, checksum_shared->cost_delay,
								checksum_shared->cost_limit, 0);
		if (d.verdict == PGRAC_CHECKSUM_REFUSED)
			checksum_report_refusal(d, ERROR);
	}
	else if (d.verdict == PGRAC_CHECKSUM_NOTHING)
		ereport(NOTICE, (errmsg("pgrac checksums are already off")));
	checksum_worker_wake();
	PG_RETURN_DATUM(state_text());
}

static Datum
timestamp_or_null(TimestampTz t, bool *isnull)
{
	*isnull = t == 0;
	return TimestampTzGetDatum(t);
}

/* One row: the state and what happened to it. */
Datum
pgrac_checksum_state(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[10];
	bool		nulls[10] = {0};
	ChecksumShared copy;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	SpinLockAcquire(&checksum_shared->mutex);
	memcpy(&copy, checksum_shared, offsetof(ChecksumShared, slots));
	SpinLockRelease(&checksum_shared->mutex);

	values[0] = state_text();
	values[1] = timestamp_or_null(copy.since, &nulls[1]);
	values[2] = Int64GetDatum((int64) copy.failures);
	values[3] = timestamp_or_null(copy.last_failure_at, &nulls[3]);
	values[4] = CStringGetTextDatum(copy.last_failure);
	nulls[4] = copy.last_failure[0] == '\0';
	values[5] = Int32GetDatum(copy.cost_delay);
	values[6] = Int32GetDatum(copy.cost_limit);
	values[7] = Int32GetDatum(copy.launcher_pid);
	nulls[7] = copy.launcher_pid == 0;
	values[8] = CStringGetTextDatum(copy.last_error);
	nulls[8] = copy.last_error[0] == '\0';
	values[9] = BoolGetDatum(pgrac_checksum_layer);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

static const char *
phase_name(ChecksumSweepPhase phase)
{
	switch (phase)
	{
		case CHECKSUM_PHASE_IDLE:
			return "idle";
		case CHECKSUM_PHASE_WAITING_FOR_TRANSACTIONS:
			return "waiting for older transactions";
		case CHECKSUM_PHASE_SWEEPING:
			return "sweeping";
		case CHECKSUM_PHASE_CHECKPOINT:
			return "waiting for checkpoint";
		case CHECKSUM_PHASE_WAITING_FOR_SETTINGS:
			return "waiting for settings";
		case CHECKSUM_PHASE_RETRY_WAIT:
			return "waiting to retry";
	}
	return "unknown";
}

/*
 * The sweep, in the style of pg_stat_progress_*: while one runs, a row per
 * database worker sweeping (pgrac.checksum_sweep_workers of them, each
 * with its share of every fork), or one row without worker columns
 * between databases and in the other phases.
 */
Datum
pgrac_checksum_sweep_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ChecksumProgress *p = palloc(sizeof(ChecksumProgress));
	int			launcher;
	int			rows = 0;

	InitMaterializedSRF(fcinfo, 0);
	SpinLockAcquire(&checksum_shared->mutex);
	*p = checksum_shared->progress;
	launcher = checksum_shared->launcher_pid;
	SpinLockRelease(&checksum_shared->mutex);
	if (p->phase == CHECKSUM_PHASE_IDLE)
		return (Datum) 0;

	for (int i = 0; i <= CHECKSUM_MAX_SWEEP_WORKERS; i++)
	{
		ChecksumWorkerProgress none = {0};
		ChecksumWorkerProgress *w = i < CHECKSUM_MAX_SWEEP_WORKERS ? &p->workers[i] : &none;
		Datum		values[13];
		bool		nulls[13] = {0};

		/* the worker-less row only when no worker has one */
		if (i < CHECKSUM_MAX_SWEEP_WORKERS ? w->pid == 0 : rows > 0)
			continue;
		rows++;
		values[0] = Int32GetDatum(launcher);
		values[1] = Int32GetDatum(w->pid);
		nulls[1] = w->pid == 0;
		values[2] = CStringGetTextDatum(phase_name(p->phase));
		values[3] = timestamp_or_null(p->started, &nulls[3]);
		values[4] = Int64GetDatum(p->databases_total);
		values[5] = Int64GetDatum(p->databases_done);
		values[6] = Int64GetDatum(w->relations_total);
		values[7] = Int64GetDatum(w->relations_done);
		values[8] = Int64GetDatum(w->blocks_total);
		values[9] = Int64GetDatum(w->blocks_done);
		values[10] = CStringGetTextDatum(p->current_database_name);
		nulls[10] = p->current_database_name[0] == '\0';
		values[11] = ObjectIdGetDatum(w->current_relation);
		nulls[11] = w->current_relation == InvalidOid;
		values[12] = CStringGetTextDatum(w->current_relation_name);
		nulls[12] = w->current_relation_name[0] == '\0';
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
