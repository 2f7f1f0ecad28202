/*-------------------------------------------------------------------------
 *
 * zeroextend.c
 *	  Test-only: grow a relation's main fork to a given number of blocks
 *	  with one smgrzeroextend() call, writing nothing.  On the block device
 *	  the new extents read as zeroes, so a fork of many extent-map pages
 *	  (TAP 017) or of tens of gigabytes (test/bench/read-path.sh) costs its
 *	  metadata only.
 *
 * test/modules/zeroextend/zeroextend.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "fmgr.h"
#include "storage/lmgr.h"
#include "storage/smgr.h"
#include "utils/rel.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(zeroextend);

Datum
zeroextend(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	int64		target = PG_GETARG_INT64(1);
	Relation	rel;
	BlockNumber cur;

	if (target < 0 || target > MaxBlockNumber)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("block count %lld is out of range", (long long) target)));
	rel = relation_open(relid, AccessExclusiveLock);
	cur = smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM);
	if ((BlockNumber) target > cur)
		smgrzeroextend(RelationGetSmgr(rel), MAIN_FORKNUM, cur,
					   (int) ((BlockNumber) target - cur), false);
	cur = smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM);
	relation_close(rel, NoLock);
	PG_RETURN_INT64((int64) cur);
}
