/*-------------------------------------------------------------------------
 *
 * bd_rmgr.c
 *	  The block-device backend's WAL resource manager: registration, redo
 *	  (redo/bd_redo.c applies the records), and the descriptions pg_walinspect
 *	  shows.
 *
 * The resource manager id is RM_EXPERIMENTAL_ID (128) until an id is
 * reserved on the PostgreSQL wiki; another extension using the
 * experimental id cannot be loaded alongside (PostgreSQL refuses to start
 * and says which two collide).  Stock pg_waldump cannot load an
 * extension's resource manager: it prints these records as "custom128"
 * with their length; pg_walinspect inside the server names and describes
 * them.
 *
 * src/blockdev/redo/bd_rmgr.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog_internal.h"

#include "pgrac/bd_wal.h"
#include "blockdev/redo/bd_redo.h"

static void
bd_rm_redo(XLogReaderState *record)
{
	if (((XLogRecGetInfo(record) & ~XLR_INFO_MASK) >> 4) == BD_WAL_RECLAIM)
		bd_reclaim_redo(record);
	bd_redo_record(record);
}

static void
bd_rm_desc(StringInfo buf, XLogReaderState *record)
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

static const char *
bd_rm_identify(uint8 info)
{
	int			op = (info & ~XLR_INFO_MASK) >> 4;

	if (op < 1 || op > BD_WAL_MAX_OP)
		return NULL;
	return bd_wal_op_name((BdWalOp) op);
}

static void
bd_rm_cleanup(void)
{
	bd_redo_cleanup();
}

static const RmgrData bd_rmgr = {
	.rm_name = "pgrac_block_device",
	.rm_redo = bd_rm_redo,
	.rm_desc = bd_rm_desc,
	.rm_identify = bd_rm_identify,
	.rm_startup = NULL,
	.rm_cleanup = bd_rm_cleanup,
	.rm_mask = NULL,
	.rm_decode = NULL,
};

void
bd_rmgr_register(void)
{
	RegisterCustomRmgr(PGRAC_RMGR_ID, &bd_rmgr);
}
