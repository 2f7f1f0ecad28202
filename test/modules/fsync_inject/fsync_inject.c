/*-------------------------------------------------------------------------
 *
 * fsync_inject.c
 *	  Test-only functions that commit the missing-fsync bugs the fsync
 *	  checker must catch, by calling the storage manager the way a buggy
 *	  caller in core or an extension would.
 *
 * This library is built by the test suite only, never installed, and
 * loaded by absolute path from the TAP tests.  It is not part of the
 * pgrac_storage extension.
 *
 * test/modules/fsync_inject/fsync_inject.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xloginsert.h"
#include "catalog/pg_class.h"
#include "common/relpath.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgwriter.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/smgr.h"
#include "utils/builtins.h"
#include "utils/rel.h"

PG_MODULE_MAGIC;

static Relation
open_target(Oid relid, ForkNumber forknum)
{
	Relation	rel = relation_open(relid, AccessExclusiveLock);

	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		elog(ERROR, "fsync_inject: temporary relations are never synced");
	if (!smgrexists(RelationGetSmgr(rel), forknum))
		elog(ERROR, "fsync_inject: fork \"%s\" does not exist", forkNames[forknum]);
	return rel;
}

/* Write one empty, valid page at blkno with skipFsync, optionally WAL-logged. */
static void
write_unsynced_page(Relation rel, ForkNumber forknum, int64 blkno,
					bool wal_log)
{
	SMgrRelation smgr = RelationGetSmgr(rel);
	PGIOAlignedBlock buf;
	Page		page = (Page) buf.data;

	if (blkno < 0 || blkno >= MaxBlockNumber)
		elog(ERROR, "fsync_inject: block number out of range");

	PageInit(page, BLCKSZ, 0);
	if (wal_log)
		log_newpage(&rel->rd_locator, forknum, blkno, page, true);
	PageSetChecksumInplace(page, blkno);
	if (blkno >= smgrnblocks(smgr, forknum))
		smgrextend(smgr, forknum, blkno, page, true);
	else
		smgrwrite(smgr, forknum, blkno, page, true);
}

PG_FUNCTION_INFO_V1(fsync_inject_unsynced_write);

/*
 * fsync_inject_unsynced_write(rel regclass, fork text, blkno bigint,
 *                             wal_log bool)
 *
 * An unbuffered write that nobody ever syncs.
 */
Datum
fsync_inject_unsynced_write(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ForkNumber	forknum = forkname_to_number(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	int64		blkno = PG_GETARG_INT64(2);
	bool		wal_log = PG_GETARG_BOOL(3);
	Relation	rel = open_target(relid, forknum);

	write_unsynced_page(rel, forknum, blkno, wal_log);
	relation_close(rel, NoLock);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(fsync_inject_late_registration);

/*
 * fsync_inject_late_registration(rel regclass)
 *
 * A WAL-logged unbuffered write, then a checkpoint, then the sync request:
 * what bulk_write.c would do without its check of the redo pointer.
 */
Datum
fsync_inject_late_registration(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel = open_target(relid, MAIN_FORKNUM);

	write_unsynced_page(rel, MAIN_FORKNUM,
						smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM), true);
	RequestCheckpoint(CHECKPOINT_IMMEDIATE | CHECKPOINT_FORCE | CHECKPOINT_WAIT);
	smgrregistersync(RelationGetSmgr(rel), MAIN_FORKNUM);
	relation_close(rel, NoLock);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(fsync_inject_copy_init_fork);

/*
 * fsync_inject_copy_init_fork(src regclass, dst regclass)
 *
 * Copy src's init fork over dst's, WAL-logged page by page but never
 * synced: RelationCopyStorage() without its final sync.
 */
Datum
fsync_inject_copy_init_fork(PG_FUNCTION_ARGS)
{
	Relation	src = open_target(PG_GETARG_OID(0), INIT_FORKNUM);
	Relation	dst = open_target(PG_GETARG_OID(1), INIT_FORKNUM);
	BlockNumber nblocks = smgrnblocks(RelationGetSmgr(src), INIT_FORKNUM);
	PGIOAlignedBlock buf;

	if (nblocks == 0)
		elog(ERROR, "fsync_inject: source init fork is empty");
	for (BlockNumber blkno = 0; blkno < nblocks; blkno++)
	{
		Page		page = (Page) buf.data;

		smgrread(RelationGetSmgr(src), INIT_FORKNUM, blkno, page);
		log_newpage(&dst->rd_locator, INIT_FORKNUM, blkno, page, true);
		PageSetChecksumInplace(page, blkno);
		if (blkno >= smgrnblocks(RelationGetSmgr(dst), INIT_FORKNUM))
			smgrextend(RelationGetSmgr(dst), INIT_FORKNUM, blkno, page, true);
		else
			smgrwrite(RelationGetSmgr(dst), INIT_FORKNUM, blkno, page, true);
	}
	relation_close(src, NoLock);
	relation_close(dst, NoLock);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(fsync_inject_synced_write);

/*
 * fsync_inject_synced_write(rel regclass, blkno bigint)
 *
 * The correct counterpart of fsync_inject_unsynced_write(): the same
 * unbuffered write followed by an immediate sync.  Must not be reported.
 */
Datum
fsync_inject_synced_write(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	int64		blkno = PG_GETARG_INT64(1);
	Relation	rel = open_target(relid, MAIN_FORKNUM);

	write_unsynced_page(rel, MAIN_FORKNUM, blkno, true);
	smgrimmedsync(RelationGetSmgr(rel), MAIN_FORKNUM);
	relation_close(rel, NoLock);
	PG_RETURN_VOID();
}
