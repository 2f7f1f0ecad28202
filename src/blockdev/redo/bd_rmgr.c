/*-------------------------------------------------------------------------
 *
 * bd_rmgr.c
 *	  The block-device backend's records in the product's resource
 *	  manager (src/wal/pgrac_rmgr.c): their redo (redo/bd_redo.c applies
 *	  them), description and names.
 *
 * src/blockdev/redo/bd_rmgr.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog_internal.h"

#include "pgrac/bd_wal.h"
#include "blockdev/redo/bd_redo.h"

void
bd_rmgr_redo(XLogReaderState *record)
{
	if (PGRAC_WAL_KIND(XLogRecGetInfo(record)) == BD_WAL_RECLAIM)
		bd_reclaim_redo(record);
	bd_redo_record(record);
}

void
bd_rmgr_desc(StringInfo buf, XLogReaderState *record)
{
	BdWalRecord *rec = palloc(sizeof(BdWalRecord));
	char		error[256];
	char text[	512];

	if (!bd_wal_decode((const uint8 *) XLogRecGetData(record), XLogRecGetDataLen(record),
					   rec, error, sizeof(error)))
		appendStringInfo(buf, "invalid record: %s", error);
	else
	{
		bd_wal_describe(rec, text, sizeof(text));
		appendStringInfoString(buf, text);
	}
	pfree(rec);
}

/* The name of a block-device record kind, NULL for another kind. */
const char *
bd_rmgr_identify(uint8 info)
{
	int			op = PGRAC_WAL_KIND(info);

	if (op < 1 || op > BD_WAL_MAX_OP)
		return NULL;
	return bd_wal_op_name((BdWalOp) op);
}

bool
bd_rmgr_is_block_device_kind(uint8 info)
{
	int			op = PGRAC_WAL_KIND(info);

	return op >= 1 && op <= BD_WAL_MAX_OP;
}

void
bd_rmgr_cleanup(void)
{
	bd_redo_cleanup();
}
