/*-------------------------------------------------------------------------
 *
 * bd_bypass.c
 *	  The places where PostgreSQL handles relation storage as files behind
 *	  the storage manager's back (docs/block-device.md, "Bypasses of the
 *	  storage manager"), and what the block-device backend does about
 *	  each:
 *
 * - CREATE DATABASE ... STRATEGY FILE_COPY and ALTER DATABASE ... SET
 *   TABLESPACE copy directories with copydir(): on the device there is
 *   nothing in them to copy.  Refused with a message naming the way that
 *   works (WAL_LOG, the default; ALTER TABLE ... SET TABLESPACE).
 * - DROP DATABASE removes directories with rmtree() and never calls the
 *   storage manager: the database's forks become tombstones when the
 *   dropping transaction commits (logged before its commit record).
 * - DROP TABLESPACE decides "empty" by looking at directories: refused
 *   while the device still holds forks in the tablespace, at the point
 *   where PostgreSQL would find files (after its dependency checks).
 * - pg_relation_size() and friends, and GetNewRelFileNumber()'s check for
 *   a relfilenumber in use, ask the storage manager since core patch 0003
 *   (smgrexists, smgrnblocks): bd_smgr.c answers from the device.
 *
 * The utility hook also marks the TRUNCATE statements this backend runs,
 * whose allocations may use the emergency reserve of a full device.
 *
 * src/blockdev/forks/bd_bypass.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_database.h"
#include "catalog/pg_tablespace.h"
#include "commands/tablespace.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/memutils.h"

#include "blockdev/forks/bd_forks.h"
#include "util/pgrac_util.h"

static ProcessUtility_hook_type prev_process_utility = NULL;
static object_access_hook_type prev_object_access = NULL;

/* databases dropped by the current transaction */
static List *dropped_databases = NIL;

static void
check_utility(Node *parsetree)
{
	switch (pgrac_file_copy_statement(parsetree))
	{
		case PGRAC_CREATE_DATABASE_FILE_COPY:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("CREATE DATABASE with STRATEGY FILE_COPY is not supported on the block device"),
					 errdetail("FILE_COPY copies the template's files, and relation data lives in the block device, not in files."),
					 errhint("Use STRATEGY WAL_LOG, the default.")));
			break;
		case PGRAC_ALTER_DATABASE_SET_TABLESPACE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("ALTER DATABASE ... SET TABLESPACE is not supported on the block device"),
					 errdetail("It copies the database's files, and relation data lives in the block device, not in files."),
					 errhint("Move relations one by one with ALTER TABLE ... SET TABLESPACE, or ALTER TABLE ALL IN TABLESPACE ... SET TABLESPACE.")));
			break;
		case PGRAC_NO_FILE_COPY:
			break;
	}
}

static void
bd_process_utility(PlannedStmt *pstmt, const char *queryString,
				   bool readOnlyTree, ProcessUtilityContext context,
				   ParamListInfo params, QueryEnvironment *queryEnv,
				   DestReceiver *dest, QueryCompletion *qc)
{
	bool		was_truncating = bd_truncate_running;

	check_utility(pstmt->utilityStmt);

	/*
	 * TRUNCATE frees space, but maps an extent for each new index first: it
	 * may use the emergency reserve (meta/bd_alloc.c, may_use_reserve()).
	 */
	if (IsA(pstmt->utilityStmt, TruncateStmt))
		bd_truncate_running = true;
	PG_TRY();
	{
		if (prev_process_utility)
			prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
								 queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
									queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		bd_truncate_running = was_truncating;
	}
	PG_END_TRY();
}

static void
bd_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				 int subId, void *arg)
{
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);
	/* DropTableSpace() calls this after its dependency checks */
	if (access == OAT_DROP && classId == TableSpaceRelationId &&
		bd_tablespace_in_use(objectId))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tablespace \"%s\" is not empty", get_tablespace_name(objectId))));
	if (access == OAT_DROP && classId == DatabaseRelationId)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		dropped_databases = lappend_oid(dropped_databases, objectId);
		MemoryContextSwitchTo(old);
	}
}

static void
bd_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			/* dropdb() has removed the directories: the forks go too */
			foreach_oid(dboid, dropped_databases)
				bd_drop_database(dboid);
			dropped_databases = NIL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			dropped_databases = NIL;
			break;
		default:
			break;
	}
}

void
bd_bypass_install(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = bd_process_utility;
	prev_object_access = object_access_hook;
	object_access_hook = bd_object_access;
	RegisterXactCallback(bd_xact_callback, NULL);
}
