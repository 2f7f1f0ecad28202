/*-------------------------------------------------------------------------
 *
 * pgrac_rmgr.c
 *	  The product's WAL resource manager: one id for every record the
 *	  product writes (pgrac/pgrac_wal.h), each kind handed to the
 *	  subsystem that logged it.
 *
 * It is registered on every server that loads the library, whatever the
 * base backend and whether or not the checksum layer is in the stack:
 * WAL may hold records of any kind (a standby of a primary that enabled
 * checksums, a data directory that moved off the block device), and a
 * record without its resource manager stops recovery.  A block-device
 * record on a server whose base backend is md cannot be applied: recovery
 * stops there and says so, instead of skipping metadata changes.
 *
 * Stock pg_waldump cannot load an extension's resource manager: it prints
 * these records as "custom128" with their length; pg_walinspect inside
 * the server names and describes them.
 *
 * src/wal/pgrac_rmgr.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog_internal.h"

#include "pgrac/bd_wal.h"
#include "pgrac/pgrac_wal.h"
#include "blockdev/redo/bd_redo.h"
#include "checksum/checksum_server.h"
#include "wal/pgrac_rmgr.h"

static bool block_device_base = false;

static void
pgrac_rm_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record);

	if (PGRAC_WAL_KIND(info) == PGRAC_WAL_KIND_CHECKSUM_STATE)
		checksum_redo(record);
	else if (PGRAC_WAL_KIND(info) == PGRAC_WAL_KIND_TWOPHASE_DECIDING)
	{
		/* its header's xid is what counts: recovery advances past it */
	}
	else if (bd_rmgr_is_block_device_kind(info) && block_device_base)
		bd_rmgr_redo(record);
	else if (bd_rmgr_is_block_device_kind(info))
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("WAL at %X/%X changes block-device metadata, and pgrac.storage_backend is not block_device",
						LSN_FORMAT_ARGS(record->ReadRecPtr)),
				 errhint("Start this data directory with the settings it was written with: pgrac.storage_backend = 'block_device' and its pgrac.device.")));
	else
		ereport(PANIC,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("unknown pgrac WAL record kind %d at %X/%X",
						PGRAC_WAL_KIND(info), LSN_FORMAT_ARGS(record->ReadRecPtr))));
}

static void
pgrac_rm_desc(StringInfo buf, XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record);

	if (PGRAC_WAL_KIND(info) == PGRAC_WAL_KIND_CHECKSUM_STATE)
		checksum_desc(buf, record);
	else if (PGRAC_WAL_KIND(info) == PGRAC_WAL_KIND_TWOPHASE_DECIDING &&
			 XLogRecGetDataLen(record) == sizeof(uint64))
	{
		uint64		txn;

		memcpy(&txn, XLogRecGetData(record), sizeof(txn));
		appendStringInfo(buf, "distributed transaction %llu, local xid %u",
						 (unsigned long long) txn, XLogRecGetXid(record));
	}
	else if (bd_rmgr_is_block_device_kind(info))
		bd_rmgr_desc(buf, record);
	else
		appendStringInfo(buf, "unknown record kind %d", PGRAC_WAL_KIND(info));
}

static const char *
pgrac_rm_identify(uint8 info)
{
	if (PGRAC_WAL_KIND(info) == PGRAC_WAL_KIND_CHECKSUM_STATE)
		return "CHECKSUM_STATE";
	if (PGRAC_WAL_KIND(info) == PGRAC_WAL_KIND_TWOPHASE_DECIDING)
		return "TWOPHASE_DECIDING";
	return bd_rmgr_identify(info);
}

static void
pgrac_rm_startup(void)
{
	checksum_redo_startup();
}

static void
pgrac_rm_cleanup(void)
{
	if (block_device_base)
		bd_rmgr_cleanup();
	checksum_redo_cleanup();
}

static const RmgrData pgrac_rmgr = {
	.rm_name = PGRAC_RMGR_NAME,
	.rm_redo = pgrac_rm_redo,
	.rm_desc = pgrac_rm_desc,
	.rm_identify = pgrac_rm_identify,
	.rm_startup = pgrac_rm_startup,
	.rm_cleanup = pgrac_rm_cleanup,
	.rm_mask = NULL,
	.rm_decode = NULL,
};

/* From _PG_init, on every server. */
void
pgrac_rmgr_register(bool block_device)
{
	StaticAssertStmt(PGRAC_RMGR_ID == RM_EXPERIMENTAL_ID,
					 "the product's resource manager id is RM_EXPERIMENTAL_ID");
	StaticAssertStmt(PGRAC_WAL_KIND_CHECKSUM_STATE > BD_WAL_MAX_OP,
					 "record kinds of two subsystems overlap");
	block_device_base = block_device;
	RegisterCustomRmgr(PGRAC_RMGR_ID, &pgrac_rmgr);
}
