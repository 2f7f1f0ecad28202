/*-------------------------------------------------------------------------
 *
 * bd_sql.c
 *	  SQL functions of the block-device backend: its status, the extents
 *	  of one relation fork, this backend's read-ahead counters and the
 *	  write-behind queue's.
 *
 * src/blockdev/sql/bd_sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xlog.h"
#include "common/relpath.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "blockdev/bd_server.h"

static void
require_block_device(void)
{
	if (!bd_meta_active())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the block-device backend is not in use"),
				 errhint("Set pgrac.storage_backend = 'block_device' and restart the server.")));
}

/* The one-row result of a function returning record (no nulls). */
static Datum
one_row(FunctionCallInfo fcinfo, Datum *values)
{
	TupleDesc	tupdesc;
	bool		nulls[16] = {0};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	Assert(tupdesc->natts <= lengthof(nulls));
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

PG_FUNCTION_INFO_V1(pgrac_block_device_status);

Datum
pgrac_block_device_status(PG_FUNCTION_ARGS)
{
	Datum		values[12];
	BdStatus	st;

	require_block_device();
	bd_status(&st);
	values[0] = CStringGetTextDatum("block_device");
	values[1] = CStringGetTextDatum(bd_dev->path);
	values[2] = BoolGetDatum(bd_device_embedded());
	values[3] = Int64GetDatum((int64) st.size_bytes);
	values[4] = Int64GetDatum((int64) st.max_bytes);
	values[5] = Int64GetDatum((int64) st.extent_pages * BLCKSZ);
	values[6] = Int64GetDatum(st.extents_total - st.extents_free);
	values[7] = Int64GetDatum(st.extents_free);
	values[8] = Int64GetDatum(st.forks);
	values[9] = Int64GetDatum(st.metadata_pages_used);
	values[10] = BoolGetDatum(bd_dev->direct);
	values[11] = CStringGetTextDatum(pgrac_io_method == BD_IO_METHOD_IO_URING ? "io_uring" : "sync");
	PG_RETURN_DATUM(one_row(fcinfo, values));
}

PG_FUNCTION_INFO_V1(pgrac_read_ahead_stats);

Datum
pgrac_read_ahead_stats(PG_FUNCTION_ARGS)
{
	Datum		values[7];
	BdReadAheadStats st;

	require_block_device();
	bd_readahead_stats(&st);
	values[0] = BoolGetDatum(st.active);
	values[1] = Int64GetDatum(st.slots_read);
	values[2] = Int64GetDatum(st.blocks_read);
	values[3] = Int64GetDatum(st.blocks_served);
	values[4] = Int64GetDatum(st.slots_stale);
	values[5] = Int64GetDatum(st.slots_failed);
	values[6] = Int64GetDatum(st.slots_unused);
	PG_RETURN_DATUM(one_row(fcinfo, values));
}

PG_FUNCTION_INFO_V1(pgrac_write_behind_stats);

Datum
pgrac_write_behind_stats(PG_FUNCTION_ARGS)
{
	Datum		values[11];
	BdWriteBehindStats st;

	require_block_device();
	if (!bd_writebehind_enabled())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("write-behind is off"),
				 errhint("Set pgrac.write_behind (for example to 16MB) and restart the server.")));
	bd_writebehind_stats(&st);
	values[0] = BoolGetDatum(st.running);
	values[1] = Int32GetDatum(st.writer_pid);
	values[2] = Int32GetDatum(st.slots);
	values[3] = Int32GetDatum(st.slots_in_use);
	values[4] = Int64GetDatum(st.blocks_queued);
	values[5] = Int64GetDatum(st.blocks_replaced);
	values[6] = Int64GetDatum(st.writes);
	values[7] = Int64GetDatum(st.blocks_written);
	values[8] = Int64GetDatum(st.full_waits);
	values[9] = Int64GetDatum(st.overlap_waits);
	values[10] = Int64GetDatum(st.read_waits);
	PG_RETURN_DATUM(one_row(fcinfo, values));
}

PG_FUNCTION_INFO_V1(pgrac_relation_extents);

Datum
pgrac_relation_extents(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *forkname = text_to_cstring(PG_GETARG_TEXT_PP(1));
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ForkNumber	fork = forkname_to_number(forkname);
	Relation	rel;
	BdForkKey	key;
	BdStatus	st;
	uint32	   *extents;
	uint32		nblocks = 0;
	int			n;
	int			max = 1024 * 1024;

	require_block_device();
	rel = relation_open(relid, AccessShareLock);
	if (!RELKIND_HAS_STORAGE(rel->rd_rel->relkind))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" has no storage", RelationGetRelationName(rel))));
	if (RelationUsesLocalBuffers(rel) || fork == FSM_FORKNUM)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s of \"%s\" is kept in files, not on the block device",
						fork == FSM_FORKNUM ? "the free-space map" : "a temporary relation",
						RelationGetRelationName(rel))));
	bd_fork_key(&key, rel->rd_locator, fork);
	relation_close(rel, AccessShareLock);

	bd_status(&st);
	InitMaterializedSRF(fcinfo, 0);
	extents = palloc_extended(sizeof(uint32) * max, MCXT_ALLOC_HUGE);
	n = bd_fork_extent_list(&key, extents, max, &nblocks);
	for (int i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {0};
		uint32		first = (uint32) i * st.extent_pages;

		values[0] = Int32GetDatum(i);
		values[1] = Int64GetDatum(extents[i]);
		values[2] = Int64GetDatum((int64) extents[i] * st.extent_pages * BLCKSZ);
		values[3] = Int32GetDatum(nblocks <= first ? 0 : Min(nblocks - first, st.extent_pages));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgrac_uncommitted_forks);

/*
 * The relations on the device whose creating transaction a checkpoint has
 * not yet seen commit, with what a pass would do about each.
 */
Datum
pgrac_uncommitted_forks(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BdUnsettled *list;
	int			n;
	BdCreatorStatus *status;

	require_block_device();
	InitMaterializedSRF(fcinfo, 0);
	list = bd_unsettled_list(&n);
	status = palloc(sizeof(BdCreatorStatus) * Max(n, 1));
	bd_creator_statuses(list, n, status);
	for (int i = 0; i < n; i++)
	{
		BdUnsettled *u = &list[i];
		Datum		values[7];
		bool		nulls[7] = {0};

		values[0] = ObjectIdGetDatum(u->key.spcoid);
		values[1] = ObjectIdGetDatum(u->key.dboid);
		values[2] = ObjectIdGetDatum(u->key.relnumber);
		values[3] = TransactionIdGetDatum((TransactionId) u->create_xid);
		values[4] = CStringGetTextDatum(bd_creator_status_name(status[i]));
		values[5] = Int32GetDatum(u->nforks);
		values[6] = Int64GetDatum((int64) u->nblocks * BLCKSZ);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pfree(list);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgrac_reclaim_uncommitted_forks);

/* Run a pass now, as a checkpoint would (bd_reclaim.c). */
Datum
pgrac_reclaim_uncommitted_forks(PG_FUNCTION_ARGS)
{
	Datum		values[3];
	int			settled,
				reclaimed,
				waiting;

	require_block_device();
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("recovery is in progress"),
				 errhint("A standby follows the primary's reclaims; run this on the primary.")));
	bd_reclaim_pass(&settled, &reclaimed, &waiting);
	values[0] = Int32GetDatum(settled);
	values[1] = Int32GetDatum(reclaimed);
	values[2] = Int32GetDatum(waiting);
	PG_RETURN_DATUM(one_row(fcinfo, values));
}
