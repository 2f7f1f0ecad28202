/*-------------------------------------------------------------------------
 *
 * fsync_checker.c
 *	  The fsync checker layer: feeds what the storage manager, transaction
 *	  end and checkpoints see into the rule engine (fsync_rules.c), and keeps
 *	  the findings in shared memory for pgrac_fsync_report().
 *
 * The layer overrides only the callbacks that write, sync, truncate, create
 * or remove storage; reads and everything else go straight to the layer
 * below.  Temporary relations are never looked at: they are never synced.
 *
 * Obligations live in one shared hash table under one LWLock.  Unbuffered
 * writes (skipFsync) are rare (bulk writes: index builds, table rewrites,
 * copies between tablespaces), so they take the lock per page; buffered
 * writes, the hot path, only read an atomic counter and return while no
 * obligation is open, which is nearly always.
 *
 * Findings are reported where they are detected: by the committing backend
 * (its client sees the WARNING), by the backend registering a sync too late,
 * or by the checkpointer.  Each is logged once and kept in a bounded log
 * with a counter of findings dropped when it is full.
 *
 * src/fsync_checker/fsync_checker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/twophase.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_database.h"
#include "common/relpath.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/bufpage.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "pgrac/fsync_checker.h"
#include "pgrac/fsync_rules.h"
#include "pgrac/smgr_layer.h"

/* settings: pgrac_storage.c defines them (DefineCustom*Variable) */
bool		pgrac_fsync_checker = false;
int			pgrac_fsync_checker_max_obligations = 4096;
int			pgrac_fsync_checker_max_findings = 1000;

typedef struct FsyncCheckerShared
{
	LWLock	   *lock;
	pg_atomic_uint32 nobligations;	/* table->used, readable without lock */
	bool		overflow_warned;
	FsrTable   *table;
	FsrFindingLog *log;

	/*
	 * Per process slot: the local transaction id of a transaction between its
	 * pre-commit step and its commit callback.  ProcArrayEndTransaction()
	 * clears the PGPROC's lxid before the commit callback runs, and in that
	 * window a checkpoint must still treat the transaction as running.
	 */
	uint32	   *committing_lxid;
	int			nprocs;
} FsyncCheckerShared;

static FsyncCheckerShared *checker = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static checkpoint_hook_type prev_checkpoint_hook = NULL;
static object_access_hook_type prev_object_access_hook = NULL;

/* This backend opened an obligation in its current transaction, as owner */
static bool xact_wrote_unbuffered = false;
static FsrOwner xact_owner;

/*
 * Relations created by the current transaction, tracked only under
 * wal_level = minimal, where they may skip WAL (see fsr_end_of_xact).
 */
static HTAB *created_in_xact = NULL;

static PgracSmgrLayer checker_layer;

#define BELOW (checker_layer.below)


/* ---- helpers ---- */

static FsrKey
make_key(RelFileLocator loc, ForkNumber forknum, BlockNumber blocknum)
{
	FsrKey		key;

	key.spcoid = loc.spcOid;
	key.dboid = loc.dbOid;
	key.relnumber = loc.relNumber;
	key.fork = forknum;
	key.segno = blocknum / RELSEG_SIZE;
	return key;
}

static FsrOwner
current_owner(void)
{
	FsrOwner	owner = FSR_NO_OWNER;

	if (MyProc != NULL && LocalTransactionIdIsValid(MyProc->vxid.lxid))
	{
		owner.procno = MyProcNumber;
		owner.lxid = MyProc->vxid.lxid;
	}
	return owner;
}

static XLogRecPtr
current_wal_position(void)
{
	return RecoveryInProgress() ? GetXLogReplayRecPtr(NULL) : GetXLogInsertRecPtr();
}

/*
 * Findings of one event, collected under the lock and logged after it is
 * released (each one, however many: the log is the record of last resort
 * when the shared log is full).
 */
typedef struct FindingBatch
{
	int			n;
	int			size;
	FsrFinding *items;
} FindingBatch;

static void
batch_emit(void *arg, const FsrFinding *finding)
{
	FindingBatch *batch = (FindingBatch *) arg;
	FsrFinding	f = *finding;

	f.reported_at = GetCurrentTimestamp();
	fsr_log_add(checker->log, &f);
	if (batch->n == batch->size)
	{
		batch->size = Max(16, batch->size * 2);
		batch->items = batch->items == NULL ?
			palloc(sizeof(FsrFinding) * batch->size) :
			repalloc(batch->items, sizeof(FsrFinding) * batch->size);
	}
	batch->items[batch->n++] = f;
}

/* The finding's segment file, relative to PGDATA, as md.c names it (palloc'd). */
static char *
finding_path(const FsrFinding *f)
{
	RelFileLocator loc = {f->key.spcoid, f->key.dboid, f->key.relnumber};
	char	   *path = relpathperm(loc, f->key.fork);
	char	   *segpath;

	if (f->key.segno == 0)
		return path;
	segpath = psprintf("%s.%u", path, f->key.segno);
	pfree(path);
	return segpath;
}

/* Log each finding once, as a WARNING, and free the batch. */
static void
report_batch(FindingBatch *batch)
{
	for (int i = 0; i < batch->n; i++)
	{
		const FsrFinding *f = &batch->items[i];
		char	   *segpath = finding_path(f);

		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("fsync checker: data in \"%s\" would not survive an operating system crash",
						segpath),
				 errdetail("Relation %u/%u/%u, fork %s, segment %u: %s; first unsynced write at WAL position %X/%X, checkpoint redo %X/%X.",
						   f->key.spcoid, f->key.dboid, f->key.relnumber,
						   fsr_fork_name(f->key.fork), f->key.segno,
						   fsr_reason_text(f->reason),
						   LSN_FORMAT_ARGS(f->first_unsynced_lsn),
						   LSN_FORMAT_ARGS(f->checkpoint_redo))));
		pfree(segpath);
	}
	if (batch->items != NULL)
		pfree(batch->items);
}

static void
sync_count(void)
{
	pg_atomic_write_u32(&checker->nobligations, checker->table->used);
}

/* ---- oracle for the rules ---- */

static bool
oracle_is_unlogged(void *arg, const FsrKey *key)
{
	RelFileLocator loc = {key->spcoid, key->dboid, key->relnumber};
	SMgrRelation reln = smgropen(loc, INVALID_PROC_NUMBER);

	return BELOW->smgr_exists(reln, INIT_FORKNUM);
}

static bool
oracle_created_in_xact(void *arg, const FsrKey *key)
{
	RelFileLocator loc = {key->spcoid, key->dboid, key->relnumber};

	return created_in_xact != NULL &&
		hash_search(created_in_xact, &loc, HASH_FIND, NULL) != NULL;
}

static bool
oracle_owner_running(void *arg, FsrOwner owner)
{
	PGPROC	   *proc = GetPGProcByNumber(owner.procno);

	/*
	 * Called with the checker lock held, which the committing backend took to
	 * set committing_lxid; the PGPROC field is a plain 32-bit read.
	 */
	return ((volatile PGPROC *) proc)->vxid.lxid == owner.lxid ||
		(owner.procno < checker->nprocs &&
		 checker->committing_lxid[owner.procno] == owner.lxid);
}

static const FsrOracle checker_oracle = {
	.is_unlogged = oracle_is_unlogged,
	.created_in_xact = oracle_created_in_xact,
	.owner_running = oracle_owner_running,
};

/* ---- events ---- */

static void
note_unbuffered_pages(SMgrRelation reln, ForkNumber forknum,
					  BlockNumber blocknum, const void **buffers,
					  BlockNumber nblocks)
{
	FsrOwner	owner = current_owner();
	XLogRecPtr	redo = GetRedoRecPtr();
	XLogRecPtr	insert = current_wal_position();
	bool		overflow = false;

	LWLockAcquire(checker->lock, LW_EXCLUSIVE);
	for (BlockNumber i = 0; i < nblocks; i++)
	{
		Page		page = (Page) buffers[i];
		FsrKey		key = make_key(reln->smgr_rlocator.locator, forknum,
								   blocknum + i);

		if (fsr_note_unbuffered_write(checker->table, &key,
									  PageIsNew(page) ? InvalidXLogRecPtr : PageGetLSN(page),
									  PageIsNew(page), redo, insert,
									  owner) == FSR_WRITE_UNTRACKED)
			overflow = true;
	}
	sync_count();
	if (overflow && !checker->overflow_warned)
		checker->overflow_warned = true;
	else
		overflow = false;
	LWLockRelease(checker->lock);

	if (owner.procno >= 0)
	{
		xact_wrote_unbuffered = true;
		xact_owner = owner;
	}
	if (overflow)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("fsync checker: too many open sync obligations, checking is incomplete"),
				 errhint("Increase pgrac.fsync_checker_max_obligations (now %d) and restart.",
						 pgrac_fsync_checker_max_obligations)));
}

/* A buffered write: md.c registered each segment touched. */
static void
note_buffered_range(SMgrRelation reln, ForkNumber forknum,
					BlockNumber blocknum, BlockNumber nblocks)
{
	XLogRecPtr	redo;

	if (nblocks == 0 || pg_atomic_read_u32(&checker->nobligations) == 0)
		return;
	redo = GetRedoRecPtr();
	LWLockAcquire(checker->lock, LW_EXCLUSIVE);
	for (BlockNumber seg = blocknum / RELSEG_SIZE;
		 seg <= (blocknum + nblocks - 1) / RELSEG_SIZE; seg++)
	{
		FsrKey		key = make_key(reln->smgr_rlocator.locator, forknum,
								   seg * RELSEG_SIZE);

		fsr_note_segment_registered(checker->table, &key, redo);
	}
	sync_count();
	LWLockRelease(checker->lock);
}

/* ---- the layer's callbacks ---- */

static void
checker_create(SMgrRelation reln, ForkNumber forknum, bool isRedo)
{
	BELOW->smgr_create(reln, forknum, isRedo);

	if (!isRedo && !SmgrIsTemp(reln) && wal_level == WAL_LEVEL_MINIMAL)
	{
		if (created_in_xact == NULL)
		{
			HASHCTL		ctl;

			ctl.keysize = sizeof(RelFileLocator);
			ctl.entrysize = sizeof(RelFileLocator);
			ctl.hcxt = TopMemoryContext;
			created_in_xact = hash_create("pgrac fsync checker created relations",
										  64, &ctl,
										  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		}
		(void) hash_search(created_in_xact, &reln->smgr_rlocator.locator,
						   HASH_ENTER, NULL);
	}
}

static void
checker_extend(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
			   const void *buffer, bool skipFsync)
{
	BELOW->smgr_extend(reln, forknum, blocknum, buffer, skipFsync);

	if (SmgrIsTemp(reln))
		return;
	if (skipFsync)
		note_unbuffered_pages(reln, forknum, blocknum, &buffer, 1);
	else
		note_buffered_range(reln, forknum, blocknum, 1);
}

static void
checker_zeroextend(SMgrRelation reln, ForkNumber forknum,
				   BlockNumber blocknum, int nblocks, bool skipFsync)
{
	BELOW->smgr_zeroextend(reln, forknum, blocknum, nblocks, skipFsync);

	/* zero pages never open an obligation */
	if (!SmgrIsTemp(reln) && !skipFsync)
		note_buffered_range(reln, forknum, blocknum, nblocks);
}

static void
checker_writev(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
			   const void **buffers, BlockNumber nblocks, bool skipFsync)
{
	BELOW->smgr_writev(reln, forknum, blocknum, buffers, nblocks, skipFsync);

	if (SmgrIsTemp(reln))
		return;
	if (skipFsync)
		note_unbuffered_pages(reln, forknum, blocknum, buffers, nblocks);
	else
		note_buffered_range(reln, forknum, blocknum, nblocks);
}

static void
checker_registersync(SMgrRelation reln, ForkNumber forknum)
{
	FindingBatch batch = {0};
	FsrFindingSink sink = {batch_emit, &batch};
	FsrKey		key;

	BELOW->smgr_registersync(reln, forknum);

	if (SmgrIsTemp(reln) || pg_atomic_read_u32(&checker->nobligations) == 0)
		return;
	key = make_key(reln->smgr_rlocator.locator, forknum, 0);
	LWLockAcquire(checker->lock, LW_EXCLUSIVE);
	fsr_note_fork_registered(checker->table, &key, GetRedoRecPtr(),
							 (MyProc->delayChkptFlags & DELAY_CHKPT_START) != 0,
							 &sink);
	sync_count();
	LWLockRelease(checker->lock);
	report_batch(&batch);
}

static void
checker_immedsync(SMgrRelation reln, ForkNumber forknum)
{
	FsrKey		key;

	BELOW->smgr_immedsync(reln, forknum);

	if (SmgrIsTemp(reln) || pg_atomic_read_u32(&checker->nobligations) == 0)
		return;
	key = make_key(reln->smgr_rlocator.locator, forknum, 0);
	LWLockAcquire(checker->lock, LW_EXCLUSIVE);
	fsr_note_fork_synced(checker->table, &key);
	sync_count();
	LWLockRelease(checker->lock);
}

static void
checker_truncate(SMgrRelation reln, ForkNumber forknum,
				 BlockNumber old_blocks, BlockNumber nblocks)
{
	FsrKey		key;
	uint32		first_gone;

	BELOW->smgr_truncate(reln, forknum, old_blocks, nblocks);

	if (SmgrIsTemp(reln) || pg_atomic_read_u32(&checker->nobligations) == 0)
		return;

	/*
	 * Segments past the new end are gone; a partly kept last segment is
	 * registered for the next checkpoint by the truncation itself.
	 */
	first_gone = nblocks / RELSEG_SIZE + (nblocks % RELSEG_SIZE != 0 ? 1 : 0);
	key = make_key(reln->smgr_rlocator.locator, forknum, 0);
	LWLockAcquire(checker->lock, LW_EXCLUSIVE);
	fsr_forget(checker->table, &key, first_gone);
	if (nblocks % RELSEG_SIZE != 0)
	{
		key.segno = nblocks / RELSEG_SIZE;
		fsr_note_segment_registered(checker->table, &key, GetRedoRecPtr());
	}
	sync_count();
	LWLockRelease(checker->lock);
}

static void
checker_unlink(RelFileLocatorBackend rlocator, ForkNumber forknum, bool isRedo)
{
	FsrKey		key;

	/* must not ERROR: this runs after commit */
	BELOW->smgr_unlink(rlocator, forknum, isRedo);

	if (RelFileLocatorBackendIsTemp(rlocator) ||
		pg_atomic_read_u32(&checker->nobligations) == 0)
		return;
	key = make_key(rlocator.locator, forknum, 0);	/* InvalidForkNumber: all */
	LWLockAcquire(checker->lock, LW_EXCLUSIVE);
	fsr_forget(checker->table, &key, 0);
	sync_count();
	LWLockRelease(checker->lock);
}

/* ---- transaction end, checkpoints, DROP DATABASE ---- */

static void
checker_xact_callback(XactEvent event, void *arg)
{
	bool		committed;
	FindingBatch batch = {0};
	FsrFindingSink sink = {batch_emit, &batch};

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (xact_wrote_unbuffered && xact_owner.procno < checker->nprocs)
			{
				LWLockAcquire(checker->lock, LW_EXCLUSIVE);
				checker->committing_lxid[xact_owner.procno] = xact_owner.lxid;
				LWLockRelease(checker->lock);
			}
			return;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			committed = true;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			committed = false;
			break;
		default:
			return;
	}

	if (xact_wrote_unbuffered)
	{
		LWLockAcquire(checker->lock, LW_EXCLUSIVE);
		fsr_end_of_xact(checker->table, xact_owner, committed,
						wal_level == WAL_LEVEL_MINIMAL, &checker_oracle,
						GetRedoRecPtr(), &sink);
		if (xact_owner.procno < checker->nprocs)
			checker->committing_lxid[xact_owner.procno] = InvalidLocalTransactionId;
		sync_count();
		LWLockRelease(checker->lock);
		xact_wrote_unbuffered = false;
	}
	if (created_in_xact != NULL)
	{
		hash_destroy(created_in_xact);
		created_in_xact = NULL;
	}
	report_batch(&batch);
}

static void
checker_checkpoint_hook(XLogRecPtr redo, int flags)
{
	FindingBatch batch = {0};
	FsrFindingSink sink = {batch_emit, &batch};

	if (prev_checkpoint_hook)
		prev_checkpoint_hook(redo, flags);

	/*
	 * Even with no obligation open: the table remembers which checkpoint
	 * synced last, for registrations that held the checkpoint off.
	 */
	LWLockAcquire(checker->lock, LW_EXCLUSIVE);
	fsr_checkpoint(checker->table, redo,
				   (flags & (CHECKPOINT_IS_SHUTDOWN | CHECKPOINT_END_OF_RECOVERY)) != 0,
				   &checker_oracle, &sink);
	sync_count();
	LWLockRelease(checker->lock);
	report_batch(&batch);
}

/*
 * DROP DATABASE removes the database directory without going through the
 * storage manager, so forget its obligations here.
 */
static void
checker_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					  int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access == OAT_DROP && classId == DatabaseRelationId &&
		pg_atomic_read_u32(&checker->nobligations) > 0)
	{
		LWLockAcquire(checker->lock, LW_EXCLUSIVE);
		fsr_forget_database(checker->table, objectId);
		sync_count();
		LWLockRelease(checker->lock);
	}
}

/* ---- shared memory ---- */

/* Every PGPROC slot: backends, auxiliary processes, prepared transactions */
static int
checker_nprocs(void)
{
	return MaxBackends + NUM_AUXILIARY_PROCS + max_prepared_xacts;
}

static Size
checker_shmem_size(void)
{
	Size		size = MAXALIGN(sizeof(FsyncCheckerShared));

	size = add_size(size, MAXALIGN(fsr_table_size(pgrac_fsync_checker_max_obligations)));
	size = add_size(size, MAXALIGN(fsr_log_size(pgrac_fsync_checker_max_findings)));
	size = add_size(size, mul_size(checker_nprocs(), sizeof(uint32)));
	return size;
}

static void
checker_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(checker_shmem_size());
	RequestNamedLWLockTranche("pgrac_fsync_checker", 1);
}

static void
checker_shmem_startup(void)
{
	bool		found;
	char	   *base;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	base = ShmemInitStruct("pgrac fsync checker", checker_shmem_size(), &found);
	checker = (FsyncCheckerShared *) base;
	if (!found)
	{
		checker->lock = &(GetNamedLWLockTranche("pgrac_fsync_checker"))->lock;
		pg_atomic_init_u32(&checker->nobligations, 0);
		checker->overflow_warned = false;
		checker->table = (FsrTable *) (base + MAXALIGN(sizeof(FsyncCheckerShared)));
		fsr_table_init(checker->table, pgrac_fsync_checker_max_obligations);
		checker->log = (FsrFindingLog *)
			((char *) checker->table +
			 MAXALIGN(fsr_table_size(pgrac_fsync_checker_max_obligations)));
		fsr_log_init(checker->log, pgrac_fsync_checker_max_findings);
		checker->nprocs = checker_nprocs();
		checker->committing_lxid = (uint32 *)
			((char *) checker->log +
			 MAXALIGN(fsr_log_size(pgrac_fsync_checker_max_findings)));
		memset(checker->committing_lxid, 0, sizeof(uint32) * checker->nprocs);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* ---- installation ---- */

/*
 * Called from _PG_init when pgrac.fsync_checker is on: put the layer on the
 * stack and hook into shared memory, transactions and checkpoints.
 */
void
pgrac_fsync_checker_install(void)
{
	checker_layer = (PgracSmgrLayer)
	{
		.name = "fsync_checker",
			.ops =
		{
			.smgr_create = checker_create,
				.smgr_unlink = checker_unlink,
				.smgr_extend = checker_extend,
				.smgr_zeroextend = checker_zeroextend,
				.smgr_writev = checker_writev,
				.smgr_truncate = checker_truncate,
				.smgr_immedsync = checker_immedsync,
				.smgr_registersync = checker_registersync,
		},
	};
	pgrac_stack_push(&checker_layer);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = checker_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = checker_shmem_startup;
	prev_checkpoint_hook = checkpoint_hook;
	checkpoint_hook = checker_checkpoint_hook;
	prev_object_access_hook = object_access_hook;
	object_access_hook = checker_object_access;
	RegisterXactCallback(checker_xact_callback, NULL);
}

/* ---- SQL functions ---- */

static void
require_checker(void)
{
	if (!pgrac_fsync_checker || checker == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the pgrac fsync checker is not enabled"),
				 errhint("Set pgrac.fsync_checker = on (for example with ALTER SYSTEM) and restart the server.")));
}

PG_FUNCTION_INFO_V1(pgrac_fsync_report);

Datum
pgrac_fsync_report(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FsrFinding *copy;
	uint32		n;

	require_checker();
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(checker->lock, LW_SHARED);
	n = checker->log->count;
	copy = palloc(sizeof(FsrFinding) * Max(n, 1));
	memcpy(copy, checker->log->entries, sizeof(FsrFinding) * n);
	LWLockRelease(checker->lock);

	for (uint32 i = 0; i < n; i++)
	{
		const FsrFinding *f = &copy[i];
		Datum		values[10];
		bool		nulls[10] = {0};

		values[0] = ObjectIdGetDatum(f->key.spcoid);
		values[1] = ObjectIdGetDatum(f->key.dboid);
		values[2] = ObjectIdGetDatum(f->key.relnumber);
		values[3] = CStringGetTextDatum(fsr_fork_name(f->key.fork));
		values[4] = Int32GetDatum((int32) f->key.segno);
		values[5] = LSNGetDatum(f->first_unsynced_lsn);
		values[6] = LSNGetDatum(f->checkpoint_redo);
		values[7] = CStringGetTextDatum(fsr_reason_text(f->reason));
		values[8] = TimestampTzGetDatum((TimestampTz) f->reported_at);
		values[9] = CStringGetTextDatum(finding_path(f));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgrac_fsync_checker_stats);

Datum
pgrac_fsync_checker_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {0};

	require_checker();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	LWLockAcquire(checker->lock, LW_SHARED);
	values[0] = Int64GetDatum((int64) checker->log->count);
	values[1] = Int64GetDatum((int64) checker->log->dropped);
	values[2] = Int32GetDatum((int32) checker->table->used);
	values[3] = Int64GetDatum((int64) checker->table->tracked_writes);
	values[4] = Int64GetDatum((int64) checker->table->untracked_writes);
	values[5] = Int32GetDatum(pgrac_fsync_checker_max_obligations);
	LWLockRelease(checker->lock);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

PG_FUNCTION_INFO_V1(pgrac_fsync_report_reset);

Datum
pgrac_fsync_report_reset(PG_FUNCTION_ARGS)
{
	require_checker();
	LWLockAcquire(checker->lock, LW_EXCLUSIVE);
	fsr_log_reset(checker->log);
	LWLockRelease(checker->lock);
	PG_RETURN_VOID();
}
