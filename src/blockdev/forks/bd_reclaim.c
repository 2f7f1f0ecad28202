/*-------------------------------------------------------------------------
 *
 * bd_reclaim.c
 *	  Forks of transactions that never committed: deciding, from the
 *	  commit log, whether a relation's creator committed (settle), is
 *	  still running (wait), or never will (reclaim its space).
 *
 * PostgreSQL removes a new relation's storage when its transaction
 * aborts, but a crash in the middle (a kill -9 during CREATE TABLE AS)
 * runs no abort: md leaves orphan files in PGDATA, and on a device the
 * forks would stay allocated for good with nothing naming them.  So the
 * main fork of every relation created in a transaction records that
 * transaction's top-level xid in its directory entry (bd_smgr.c), in the
 * same WAL-logged change that creates it.
 *
 * A pass (at every checkpoint once recovery is over, and on demand with
 * pgrac_reclaim_uncommitted_forks()) looks at each such relation:
 *
 *   still in progress (prepared transactions included) -> nothing;
 *   committed -> SETTLE: the entry forgets the xid;
 *   neither   -> RECLAIM: its buffers are dropped, every fork becomes a
 *                tombstone in one record (freed by the next checkpoint
 *                like any unlinked fork), its free-space map file goes.
 *
 * Why this cannot remove a live relation: the xid is the creator's, the
 * commit log is the authority on its fate, and whether it is still running
 * is asked (of a snapshot of the proc array) before whether it committed:
 * a transaction commits in the log before it leaves the proc array.  Nothing else can reach a
 * relation whose creator is gone: its relfilenumber is not in any
 * committed catalog and, while the entry exists, cannot be handed out
 * again (bd_relfilenumber_in_use).  The pass runs only when recovery is
 * over: prepared transactions are back in the proc array by then.  Xids
 * are settled at every checkpoint, so one older than the commit log's
 * horizon can only be one that was skipped; it is reported, never
 * guessed at.
 *
 * src/blockdev/forks/bd_reclaim.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "catalog/storage.h"
#include "common/relpath.h"
#include "storage/bufmgr.h"
#include "storage/md.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/standby.h"
#include "storage/smgr.h"

#include "pgrac/bd_wal.h"
#include "blockdev/forks/bd_forks.h"

/*
 * What became of each creator in list[0..n), into status[].
 *
 * In progress is asked of one snapshot of the running transactions
 * (GetRunningTransactionData, prepared transactions included), taken after
 * the list: every xid in the list was assigned before it, so one not in
 * the snapshot had ended by then, and the commit log says how.
 * (TransactionIdIsInProgress cannot be used: the checkpointer, where a
 * pass runs, is not in the proc array, and that function skips the slot
 * it takes to be its caller's.)
 */
void
bd_creator_statuses(const BdUnsettled *list, int n, BdCreatorStatus *status)
{
	RunningTransactions running;
	TransactionId *xids;
	int			nxids;
	TransactionId next_xid;

	if (n == 0)
		return;
	running = GetRunningTransactionData();
	LWLockRelease(ProcArrayLock);
	LWLockRelease(XidGenLock);
	/* top-level xids first; subtransactions never create (top xid recorded) */
	nxids = running->xcnt;
	xids = palloc(sizeof(TransactionId) * Max(nxids, 1));
	memcpy(xids, running->xids, sizeof(TransactionId) * nxids);
	next_xid = running->nextXid;

	/* the commit log must not be truncated under the lookups */
	LWLockAcquire(XactTruncationLock, LW_SHARED);
	for (int i = 0; i < n; i++)
	{
		TransactionId xid = (TransactionId) list[i].create_xid;
		bool		running_now = false;

		for (int k = 0; k < nxids && !running_now; k++)
			running_now = TransactionIdEquals(xids[k], xid);
		if (running_now)
			status[i] = BD_CREATOR_IN_PROGRESS;
		else if (!TransactionIdIsNormal(xid) ||
				 TransactionIdPrecedes(xid, TransamVariables->oldestClogXid) ||
				 TransactionIdFollowsOrEquals(xid, next_xid))
			status[i] = BD_CREATOR_UNKNOWN;
		else if (TransactionIdDidCommit(xid))
			status[i] = BD_CREATOR_COMMITTED;
		else
			status[i] = BD_CREATOR_NEVER_COMMITTED;
	}
	LWLockRelease(XactTruncationLock);
	pfree(xids);
}

const char *
bd_creator_status_name(BdCreatorStatus status)
{
	switch (status)
	{
		case BD_CREATOR_IN_PROGRESS:
			return "in progress";
		case BD_CREATOR_COMMITTED:
			return "committed";
		case BD_CREATOR_NEVER_COMMITTED:
			return "never committed";
		case BD_CREATOR_UNKNOWN:
			return "unknown";
	}
	return "unknown";
}

/* The relations that still name their creator; palloc'd, count in *n. */
BdUnsettled *
bd_unsettled_list(int *n)
{
	int			max = 64;
	BdUnsettled *list;

	for (;;)
	{
		list = palloc(sizeof(BdUnsettled) * max);
		*n = bd_unsettled_relations(list, max);
		if (*n <= max)
			return list;
		max = *n + 64;
		pfree(list);
	}
}

static void
reclaim_relation(const BdUnsettled *u)
{
	RelFileLocator loc = {.spcOid = u->key.spcoid,.dbOid = u->key.dboid,
	.relNumber = u->key.relnumber};
	SMgrRelation srel = smgropen(loc, INVALID_PROC_NUMBER);
	int			nforks;

	/* no buffer may be written to a fork once it is a tombstone */
	DropRelationsAllBuffers(&srel, 1);
	nforks = bd_relation_reclaim(&u->key, u->create_xid);
	if (nforks == 0)
		return;
	/* the free-space map file, and every backend's smgr handle */
	smgrdounlinkall(&srel, 1, false);
	ereport(LOG,
			(errmsg("reclaimed %d forks (%llu kB) of relation \"%s\" on the block device: its creating transaction %u never committed",
					nforks, (unsigned long long) u->nblocks * BLCKSZ / 1024,
					relpathperm(loc, MAIN_FORKNUM), u->create_xid)));
}

/*
 * One pass over the unsettled relations; see the file header.  Does
 * nothing during recovery (a standby follows the primary's records).
 */
void
bd_reclaim_pass(int *settled, int *reclaimed, int *waiting)
{
	BdUnsettled *list;
	BdCreatorStatus *status;
	int			n;

	*settled = *reclaimed = *waiting = 0;
	if (!bd_meta_active() || RecoveryInProgress())
		return;
	list = bd_unsettled_list(&n);
	status = palloc(sizeof(BdCreatorStatus) * Max(n, 1));
	bd_creator_statuses(list, n, status);
	for (int i = 0; i < n; i++)
	{
		BdUnsettled *u = &list[i];
		RelFileLocator loc = {u->key.spcoid, u->key.dboid, u->key.relnumber};

		switch (status[i])
		{
			case BD_CREATOR_IN_PROGRESS:
				(*waiting)++;
				break;
			case BD_CREATOR_COMMITTED:
				bd_relation_settle(&u->key, u->create_xid);
				(*settled)++;
				break;
			case BD_CREATOR_NEVER_COMMITTED:
				reclaim_relation(u);
				(*reclaimed)++;
				break;
			case BD_CREATOR_UNKNOWN:
				(*waiting)++;
				ereport(WARNING,
						(errmsg("cannot tell whether transaction %u, which created relation \"%s\" on the block device, committed",
								u->create_xid,
								relpathperm(loc, MAIN_FORKNUM)),
						 errdetail("The xid is outside the range the commit log still covers; its forks are kept."),
						 errhint("If no table or index uses relfilenode %u in database %u, report this as a bug.",
								 u->key.relnumber, u->key.dboid)));
				break;
		}
	}
	pfree(status);
	pfree(list);
}

/*
 * Redo of a RECLAIM record on a standby or in crash recovery, before its
 * pages are applied: the relation's buffers go (they may be dirty from
 * the creator's records) and so does its free-space map file, as core's
 * redo of a dropped relation does.
 */
void
bd_reclaim_redo(XLogReaderState *record)
{
	BdWalRecord *rec = palloc(sizeof(BdWalRecord));
	char		error[256];
	RelFileLocator loc;

	if (!bd_wal_decode((const uint8 *) XLogRecGetData(record), XLogRecGetDataLen(record),
					   rec, error, sizeof(error)))
		elog(PANIC, "invalid block-device WAL record at %X/%X: %s",
			 LSN_FORMAT_ARGS(record->ReadRecPtr), error);
	loc.spcOid = rec->key.spcoid;
	loc.dbOid = rec->key.dboid;
	loc.relNumber = rec->key.relnumber;
	DropRelationFiles(&loc, 1, true);
	pfree(rec);
}
