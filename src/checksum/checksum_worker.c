/*-------------------------------------------------------------------------
 *
 * checksum_worker.c
 *	  The checksum-state worker: moves inprogress-on to on after sweeping
 *	  every page of the cluster, and finishes an interrupted disable.
 *
 * A launcher (a static background worker, connected to no database) does
 * the steps that concern the whole cluster; for each database it starts a
 * database worker, which can connect there (even where datallowconn is
 * false: template0 is a template for later copies) and sweeps its
 * relations.  The sweep, for the state word W that made the state
 * inprogress-on:
 *
 *	1. waits until every transaction that was running when it started has
 *	   ended.  A transaction that began before inprogress-on may have
 *	   written a new relation's pages without checksums (CREATE INDEX,
 *	   CREATE DATABASE, ALTER TABLE SET TABLESPACE write around shared
 *	   buffers), and that relation becomes visible to the sweep only once
 *	   it commits; after this wait every such relation is in the catalogs.
 *	   Prepared transactions are waited for too.
 *	2. for every database, then once more for databases that appeared
 *	   meanwhile: the database worker reads every block of every fork of
 *	   every relation with storage (shared catalogs once), except
 *	   temporary ones, into shared buffers, marks each non-new page dirty
 *	   and logs a full-page image of it where the relation is WAL-logged
 *	   (and for init forks), throttled by cost_delay/cost_limit; then once
 *	   more for relations that appeared meanwhile.  Relations and databases
 *	   created after inprogress-on need no sweep (every write to them sets
 *	   the checksum); sweeping the ones that appear is cheap insurance.
 *	3. requests an immediate checkpoint and waits for it: every page
 *	   dirtied by the sweep is now on storage with its checksum, and a
 *	   crash recovery starts after the sweep's images;
 *	4. moves the state to on, if it is still W (a disable and a new enable
 *	   in between start over) and the settings still allow it.
 *
 * A crash or a restart anywhere in this loses the sweep: the state is
 * still inprogress-on, and the restarted launcher sweeps from the start.
 * A failure (a database that cannot be read) is reported in
 * pgrac_checksum_status and retried after a while; the state never moves
 * on without a complete sweep.
 *
 * src/checksum/checksum_worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xloginsert.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/bgwriter.h"
#include "postmaster/interrupt.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/procarray.h"
#include "storage/smgr.h"
#include "tcop/tcopprot.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "checksum/checksum_server.h"
#include "util/pgrac_util.h"

PGDLLEXPORT void pgrac_checksum_launcher_main(Datum arg);
PGDLLEXPORT void pgrac_checksum_db_main(Datum arg);

/* how long the launcher waits before it tries a failed sweep again */
#define CHECKSUM_RETRY_MS	10000

typedef enum SweepResult
{
	SWEEP_ON,					/* swept, checkpointed, state on */
	SWEEP_ABORTED,				/* the state left W */
	SWEEP_REFUSED,				/* swept, but a setting forbids on: retry the
								 * last steps later */
	SWEEP_FAILED,				/* sweep again later */
} SweepResult;

typedef struct SweptDatabase
{
	Oid			oid;
	char		name[NAMEDATALEN];
} SweptDatabase;

static uint32 wait_event_throttle = 0;
static uint32 wait_event_wait_xact = 0;

/* the word that made the state inprogress-on, in the database worker */
static uint64 sweep_word = 0;

/* in a database worker: its slot, and how many share the database */
static int	my_slot = 0;
static int	my_nworkers = 1;

#define MY_PROGRESS (checksum_shared->progress.workers[my_slot])

/* ---- progress ---- */

static void
set_phase(ChecksumSweepPhase phase)
{
	SpinLockAcquire(&checksum_shared->mutex);
	if (checksum_shared->progress.phase == CHECKSUM_PHASE_IDLE && phase != CHECKSUM_PHASE_IDLE)
	{
		memset(&checksum_shared->progress, 0, sizeof(checksum_shared->progress));
		checksum_shared->progress.started = GetCurrentTimestamp();
	}
	checksum_shared->progress.phase = phase;
	SpinLockRelease(&checksum_shared->mutex);
}

static bool
sweep_still_current(void)
{
	return pg_atomic_read_u64(&checksum_shared->word) == sweep_word;
}

/* ---- the database worker ---- */

static void
throttle(int *cost)
{
	int			delay,
				limit;

	SpinLockAcquire(&checksum_shared->mutex);
	delay = checksum_shared->cost_delay;
	limit = checksum_shared->cost_limit;
	SpinLockRelease(&checksum_shared->mutex);
	if (delay <= 0 || ++(*cost) < limit)
		return;
	*cost = 0;
	if (wait_event_throttle == 0)
		wait_event_throttle = WaitEventExtensionNew("PgracChecksumThrottle");
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, delay,
					 wait_event_throttle);
	ResetLatch(MyLatch);
}

/* Is chunk c of this relation's forks this worker's (checksum_server.h)? */
static bool
owns_chunk(Relation rel, BlockNumber c)
{
	return (c + RelationGetRelid(rel)) % my_nworkers == my_slot;
}

/*
 * Dirty every non-new page of this worker's share of one fork, logging a
 * full-page image where the fork is WAL-logged.  False when the state left
 * the sweep's word.  The size is read once: a block added later was
 * written by a process that had absorbed inprogress-on (the launcher
 * waited for every transaction older than it), so it has its checksum.
 */
static bool
sweep_fork(Relation rel, ForkNumber fork, BufferAccessStrategy strategy, int *cost)
{
	BlockNumber nblocks = RelationGetNumberOfBlocksInFork(rel, fork);
	bool		needs_wal = RelationNeedsWAL(rel) || fork == INIT_FORKNUM;

	/*
	 * Heap pages keep pd_lower and pd_upper honest, so their image may leave
	 * out the hole; other forks and access methods keep data where a standard
	 * page has its hole (the visibility map and free space map do), so their
	 * image is taken whole.
	 */
	bool		page_std = fork == MAIN_FORKNUM && rel->rd_rel->relam == HEAP_TABLE_AM_OID;

	int64		owned = 0;
	int64		done = 0;

	for (BlockNumber c = 0; c * (uint64) CHECKSUM_SWEEP_CHUNK < nblocks; c++)
		if (owns_chunk(rel, c))
			owned += Min(CHECKSUM_SWEEP_CHUNK, nblocks - c * CHECKSUM_SWEEP_CHUNK);
	SpinLockAcquire(&checksum_shared->mutex);
	MY_PROGRESS.blocks_total = owned;
	MY_PROGRESS.blocks_done = 0;
	SpinLockRelease(&checksum_shared->mutex);

	for (BlockNumber blkno = 0; blkno < nblocks; blkno++)
	{
		Buffer		buf;

		/* to the next chunk of this worker's */
		if (!owns_chunk(rel, blkno / CHECKSUM_SWEEP_CHUNK))
		{
			uint64		next = ((uint64) blkno / CHECKSUM_SWEEP_CHUNK + 1) * CHECKSUM_SWEEP_CHUNK;

			if (next >= nblocks)
				break;
			blkno = (BlockNumber) next - 1;
			continue;
		}
		CHECK_FOR_INTERRUPTS();
		if (!sweep_still_current())
			return false;

		buf = ReadBufferExtended(rel, fork, blkno, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		if (!PageIsNew(BufferGetPage(buf)))
		{
			START_CRIT_SECTION();
			MarkBufferDirty(buf);
			if (needs_wal)
				log_newpage_buffer(buf, page_std);
			END_CRIT_SECTION();
		}
		UnlockReleaseBuffer(buf);

		SpinLockAcquire(&checksum_shared->mutex);
		MY_PROGRESS.blocks_done = ++done;
		SpinLockRelease(&checksum_shared->mutex);
		throttle(cost);
	}
	return true;
}

/* One relation, in its own transaction.  False when the sweep is over. */
static bool
sweep_relation(Oid relid, BufferAccessStrategy strategy, int *cost)
{
	Relation	rel;
	bool		current = true;

	StartTransactionCommand();
	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
	{
		/* dropped since it was listed */
		CommitTransactionCommand();
		return true;
	}
	if (RELKIND_HAS_STORAGE(rel->rd_rel->relkind) &&
		rel->rd_rel->relpersistence != RELPERSISTENCE_TEMP)
	{
		char	   *nspname = get_namespace_name(RelationGetNamespace(rel));

		SpinLockAcquire(&checksum_shared->mutex);
		MY_PROGRESS.current_relation = relid;
		snprintf(MY_PROGRESS.current_relation_name, sizeof(MY_PROGRESS.current_relation_name),
				 "%s.%s", nspname ? nspname : "?", RelationGetRelationName(rel));
		SpinLockRelease(&checksum_shared->mutex);

		for (ForkNumber fork = MAIN_FORKNUM; fork <= MAX_FORKNUM && current; fork++)
			if (smgrexists(RelationGetSmgr(rel), fork))
				current = sweep_fork(rel, fork, strategy, cost);
	}
	relation_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return current;
}

/*
 * Scan a catalog in a transaction of its own, calling collect for each
 * tuple with CurrentMemoryContext the caller's, so that what it keeps
 * outlives the transaction.
 */
static void
scan_catalog(Oid catalog, void (*collect) (HeapTuple tup, void *arg), void *arg)
{
	MemoryContext caller = CurrentMemoryContext;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(catalog, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		MemoryContext old = MemoryContextSwitchTo(caller);

		collect(tup, arg);
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);
}

typedef struct RelationListing
{
	bool		do_shared;
	List	   *done;
	List	   *rels;
} RelationListing;

static void
collect_relation(HeapTuple tup, void *arg)
{
	RelationListing *l = arg;
	Form_pg_class form = (Form_pg_class) GETSTRUCT(tup);

	if (!RELKIND_HAS_STORAGE(form->relkind) ||
		form->relpersistence == RELPERSISTENCE_TEMP ||
		(form->relisshared && !l->do_shared) ||
		list_member_oid(l->done, form->oid))
		return;
	l->rels = lappend_oid(l->rels, form->oid);
}

/* Relations with storage to sweep, except the ones in done. */
static List *
list_relations(bool do_shared, List *done)
{
	RelationListing l = {.do_shared = do_shared,.done = done,.rels = NIL};

	scan_catalog(RelationRelationId, collect_relation, &l);
	return l.rels;
}

static ChecksumDbResult
sweep_database_relations(bool do_shared)
{
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKWRITE);
	List	   *done = NIL;
	int			cost = 0;

	for (int pass = 0; pass < 2; pass++)
	{
		List	   *rels = list_relations(do_shared, done);

		SpinLockAcquire(&checksum_shared->mutex);
		MY_PROGRESS.relations_total += list_length(rels);
		SpinLockRelease(&checksum_shared->mutex);

		foreach_oid(relid, rels)
		{
			if (!sweep_relation(relid, strategy, &cost))
				return CHECKSUM_DB_ABORTED;
			done = lappend_oid(done, relid);
			SpinLockAcquire(&checksum_shared->mutex);
			MY_PROGRESS.relations_done++;
			SpinLockRelease(&checksum_shared->mutex);
		}
		if (rels == NIL)
			break;
	}
	return CHECKSUM_DB_DONE;
}

void
pgrac_checksum_db_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	bool		do_shared;
	ChecksumDbResult result;

	memcpy(&my_slot, MyBgworkerEntry->bgw_extra, sizeof(int));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, BGWORKER_BYPASS_ALLOWCONN);

	SpinLockAcquire(&checksum_shared->mutex);
	do_shared = checksum_shared->db_do_shared;
	sweep_word = checksum_shared->sweep_word;
	my_nworkers = checksum_shared->progress.nworkers;
	MY_PROGRESS.pid = MyProcPid;
	SpinLockRelease(&checksum_shared->mutex);
	Assert(my_slot >= 0 && my_slot < my_nworkers);

	result = sweep_database_relations(do_shared);

	SpinLockAcquire(&checksum_shared->mutex);
	MY_PROGRESS.result = result;
	MY_PROGRESS.pid = 0;
	SpinLockRelease(&checksum_shared->mutex);
}

/* ---- the launcher ---- */

static void
collect_database(HeapTuple tup, void *arg)
{
	List	  **dbs = arg;
	Form_pg_database form = (Form_pg_database) GETSTRUCT(tup);
	SweptDatabase *db;

	/* partly dropped: never read again, only dropped */
	if (database_is_invalid_form(form))
		return;
	db = palloc(sizeof(SweptDatabase));
	db->oid = form->oid;
	strlcpy(db->name, NameStr(form->datname), sizeof(db->name));
	*dbs = lappend(*dbs, db);
}

static List *
list_databases(void)
{
	List	   *dbs = NIL;

	scan_catalog(DatabaseRelationId, collect_database, &dbs);
	return dbs;
}

static bool
database_listed(List *dbs, Oid oid)
{
	foreach_ptr(SweptDatabase, db, dbs)
		if (db->oid == oid)
		return true;
	return false;
}

/* Step 1: wait for the transactions running when the sweep began. */
static bool
wait_for_older_transactions(void)
{
	TransactionId *xids;
	int			n;
	Snapshot	snap;

	StartTransactionCommand();
	snap = GetLatestSnapshot();
	n = snap->xcnt;
	xids = MemoryContextAlloc(TopMemoryContext, sizeof(TransactionId) * Max(n, 1));
	memcpy(xids, snap->xip, sizeof(TransactionId) * n);
	CommitTransactionCommand();

	if (wait_event_wait_xact == 0)
		wait_event_wait_xact = WaitEventExtensionNew("PgracChecksumOlderTransactions");
	for (int i = 0; i < n; i++)
	{
		while (TransactionIdIsInProgress(xids[i]))
		{
			if (!sweep_still_current())
			{
				pfree(xids);
				return false;
			}
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100,
							 wait_event_wait_xact);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	pfree(xids);
	return true;
}

/* A handle's worker gone, whatever happens to the launcher meanwhile. */
static void
wait_for_worker(BackgroundWorkerHandle *handle)
{
	pid_t		pid;

	if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
		return;
	PG_TRY();
	{
		(void) WaitForBackgroundWorkerShutdown(handle);
	}
	PG_CATCH();
	{
		/* the launcher is going away: so are its workers */
		TerminateBackgroundWorker(handle);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * Start the database workers for one database (pgrac.checksum_sweep_workers
 * of them, each sweeping its share) and wait for their results: done only
 * if every one is done.
 */
static ChecksumDbResult
sweep_one_database(SweptDatabase *db, bool do_shared)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handles[CHECKSUM_MAX_SWEEP_WORKERS];
	int			nworkers = pgrac_checksum_sweep_workers;
	int			started = 0;
	ChecksumDbResult result = CHECKSUM_DB_DONE;

	SpinLockAcquire(&checksum_shared->mutex);
	checksum_shared->db_oid = db->oid;
	checksum_shared->db_do_shared = do_shared;
	checksum_shared->progress.current_database = db->oid;
	strlcpy(checksum_shared->progress.current_database_name, db->name, NAMEDATALEN);
	checksum_shared->progress.nworkers = nworkers;
	memset(checksum_shared->progress.workers, 0, sizeof(checksum_shared->progress.workers));
	for (int i = 0; i < nworkers; i++)
		checksum_shared->progress.workers[i].result = CHECKSUM_DB_RUNNING;
	SpinLockRelease(&checksum_shared->mutex);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	pgrac_library_path(worker.bgw_library_name, sizeof(worker.bgw_library_name));
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgrac_checksum_db_main");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pgrac checksum worker");
	worker.bgw_main_arg = ObjectIdGetDatum(db->oid);
	worker.bgw_notify_pid = MyProcPid;

	for (int i = 0; i < nworkers; i++)
	{
		snprintf(worker.bgw_name, BGW_MAXLEN, "pgrac checksum worker %d of %d for database %s",
				 i + 1, nworkers, db->name);
		memcpy(worker.bgw_extra, &i, sizeof(int));
		if (!RegisterDynamicBackgroundWorker(&worker, &handles[i]))
		{
			checksum_set_error("could not start checksum worker %d of %d for database \"%s\": no background worker slot is free (raise max_worker_processes or lower pgrac.checksum_sweep_workers)",
							   i + 1, nworkers, db->name);
			/* the ones started cannot finish the database alone */
			for (int k = 0; k < started; k++)
				TerminateBackgroundWorker(handles[k]);
			for (int k = 0; k < started; k++)
				wait_for_worker(handles[k]);
			return CHECKSUM_DB_FAILED;
		}
		started++;
	}
	for (int i = 0; i < nworkers; i++)
		wait_for_worker(handles[i]);

	/* one worker that did not finish fails the database; aborted wins */
	SpinLockAcquire(&checksum_shared->mutex);
	for (int i = 0; i < nworkers; i++)
	{
		ChecksumDbResult r = checksum_shared->progress.workers[i].result;

		if (r == CHECKSUM_DB_ABORTED)
			result = CHECKSUM_DB_ABORTED;
		else if (r != CHECKSUM_DB_DONE && result != CHECKSUM_DB_ABORTED)
			result = CHECKSUM_DB_FAILED;
	}
	SpinLockRelease(&checksum_shared->mutex);
	return result;
}

static void
get_costs(int *cost_delay, int *cost_limit)
{
	SpinLockAcquire(&checksum_shared->mutex);
	*cost_delay = checksum_shared->cost_delay;
	*cost_limit = checksum_shared->cost_limit;
	SpinLockRelease(&checksum_shared->mutex);
}

/* Steps 3 and 4 (see the file header). */
static SweepResult
finish_sweep(void)
{
	PgracChecksumDecision d;
	int			cost_delay,
				cost_limit;

	set_phase(CHECKSUM_PHASE_CHECKPOINT);
	RequestCheckpoint(CHECKPOINT_IMMEDIATE | CHECKPOINT_FORCE | CHECKPOINT_WAIT);

	get_costs(&cost_delay, &cost_limit);
	d = checksum_transition(PGRAC_CHECKSUM_SWEEP_DONE, cost_delay, cost_limit, sweep_word);
	if (d.verdict == PGRAC_CHECKSUM_MOVE)
		return SWEEP_ON;
	if (d.verdict == PGRAC_CHECKSUM_NOTHING || !sweep_still_current())
		return SWEEP_ABORTED;
	set_phase(CHECKSUM_PHASE_WAITING_FOR_SETTINGS);
	checksum_set_error("the sweep is complete, but %s: the state stays inprogress-on",
					   pgrac_checksum_refusal_text(d.refusal));
	checksum_report_refusal(d, WARNING);
	return SWEEP_REFUSED;
}

/* Steps 1 to 4 (see the file header). */
static SweepResult
sweep_cluster(void)
{
	List	   *swept = NIL;
	bool		first = true;

	set_phase(CHECKSUM_PHASE_WAITING_FOR_TRANSACTIONS);
	if (!wait_for_older_transactions())
		return SWEEP_ABORTED;

	set_phase(CHECKSUM_PHASE_SWEEPING);
	for (int pass = 0; pass < 2; pass++)
	{
		List	   *dbs = list_databases();
		int			fresh = 0;

		foreach_ptr(SweptDatabase, db, dbs)
			if (!database_listed(swept, db->oid))
			fresh++;
		SpinLockAcquire(&checksum_shared->mutex);
		checksum_shared->progress.databases_total = list_length(swept) + fresh;
		SpinLockRelease(&checksum_shared->mutex);
		if (fresh == 0)
			break;

		foreach_ptr(SweptDatabase, db, dbs)
		{
			ChecksumDbResult r;

			if (database_listed(swept, db->oid))
				continue;
			r = sweep_one_database(db, first);
			if (r == CHECKSUM_DB_ABORTED || !sweep_still_current())
				return SWEEP_ABORTED;
			if (r != CHECKSUM_DB_DONE)
			{
				/* dropped while we were at it: nothing left to sweep */
				if (!database_listed(list_databases(), db->oid))
					continue;
				checksum_set_error("the sweep of database \"%s\" did not complete (the server log says why); it starts again in %d s",
								   db->name, CHECKSUM_RETRY_MS / 1000);
				return SWEEP_FAILED;
			}
			first = false;
			swept = lappend(swept, db);
			SpinLockAcquire(&checksum_shared->mutex);
			checksum_shared->progress.databases_done = list_length(swept);
			SpinLockRelease(&checksum_shared->mutex);
		}
	}
	return finish_sweep();
}

static void
launcher_exit(int code, Datum arg)
{
	SpinLockAcquire(&checksum_shared->mutex);
	checksum_shared->launcher_pid = 0;
	checksum_shared->launcher_proc = INVALID_PROC_NUMBER;
	checksum_shared->progress.phase = CHECKSUM_PHASE_IDLE;
	SpinLockRelease(&checksum_shared->mutex);
}

void
pgrac_checksum_launcher_main(Datum arg)
{
	/* the word of a sweep that completed but could not yet move on */
	uint64		swept_word = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	SpinLockAcquire(&checksum_shared->mutex);
	checksum_shared->launcher_pid = MyProcPid;
	checksum_shared->launcher_proc = MyProcNumber;
	SpinLockRelease(&checksum_shared->mutex);
	before_shmem_exit(launcher_exit, 0);

	for (;;)
	{
		uint64		word;
		long		timeout = -1;
		int			cost_delay,
					cost_limit;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		word = pg_atomic_read_u64(&checksum_shared->word);
		if (CHECKSUM_WORD_STATE(word) == PGRAC_CHECKSUMS_INPROGRESS_ON)
		{
			SweepResult r;

			sweep_word = word;
			SpinLockAcquire(&checksum_shared->mutex);
			checksum_shared->sweep_word = word;
			SpinLockRelease(&checksum_shared->mutex);
			if (swept_word != word)
				checksum_clear_error();
			r = swept_word == word ? finish_sweep() : sweep_cluster();
			if (r == SWEEP_ON || r == SWEEP_ABORTED)
			{
				if (r == SWEEP_ON)
					checksum_clear_error();
				set_phase(CHECKSUM_PHASE_IDLE);
				continue;
			}
			if (r == SWEEP_REFUSED)
				swept_word = word;
			else
				set_phase(CHECKSUM_PHASE_RETRY_WAIT);
			timeout = CHECKSUM_RETRY_MS;
		}
		else if (CHECKSUM_WORD_STATE(word) == PGRAC_CHECKSUMS_INPROGRESS_OFF)
		{
			/* a disable whose caller went away before it finished */
			get_costs(&cost_delay, &cost_limit);
			if (checksum_transition(PGRAC_CHECKSUM_DISABLE_DONE, cost_delay, cost_limit,
									word).verdict != PGRAC_CHECKSUM_REFUSED)
				continue;
			timeout = CHECKSUM_RETRY_MS;
		}
		else
			set_phase(CHECKSUM_PHASE_IDLE);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (timeout >= 0 ? WL_TIMEOUT : 0),
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* From _PG_init when the layer is on. */
void
checksum_worker_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* a standby follows the primary's records; after promotion it sweeps */
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	pgrac_library_path(worker.bgw_library_name, sizeof(worker.bgw_library_name));
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgrac_checksum_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pgrac checksum launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pgrac checksum launcher");
	RegisterBackgroundWorker(&worker);
}

/* Tell the launcher the state changed. */
void
checksum_worker_wake(void)
{
	ProcNumber	proc;

	SpinLockAcquire(&checksum_shared->mutex);
	proc = checksum_shared->launcher_proc;
	SpinLockRelease(&checksum_shared->mutex);
	if (proc != INVALID_PROC_NUMBER)
		SetLatch(&GetPGProcByNumber(proc)->procLatch);
}
