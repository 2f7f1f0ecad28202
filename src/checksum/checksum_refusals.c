/*-------------------------------------------------------------------------
 *
 * checksum_refusals.c
 *	  Statements refused while the checksum state is in transition:
 *	  CREATE DATABASE ... STRATEGY FILE_COPY and ALTER DATABASE ... SET
 *	  TABLESPACE copy a database's files with copydir(), so the pages they
 *	  write never pass through the layer.
 *
 * During inprogress-on such a copy could land pages without checksums
 * after the sweep passed (or in a database the sweep already did); during
 * inprogress-off it would be harmless but is refused too, so that the
 * rule is one rule: no file copies while a transition runs.  A copy that
 * began before the transition is covered by the worker's wait for older
 * transactions (checksum_worker.c, step 1).
 *
 * src/checksum/checksum_refusals.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "tcop/utility.h"

#include "checksum/checksum_server.h"
#include "util/pgrac_util.h"

static ProcessUtility_hook_type prev_process_utility = NULL;

static void
checksum_process_utility(PlannedStmt *pstmt, const char *queryString,
						 bool readOnlyTree, ProcessUtilityContext context,
						 ParamListInfo params, QueryEnvironment *queryEnv,
						 DestReceiver *dest, QueryCompletion *qc)
{
	PgracFileCopyStatement copy = pgrac_file_copy_statement(pstmt->utilityStmt);
	PgracChecksumState state = checksum_current_state();

	if (copy != PGRAC_NO_FILE_COPY &&
		state != PGRAC_CHECKSUMS_OFF && state != PGRAC_CHECKSUMS_ON)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s is not allowed while the pgrac checksum state is \"%s\"",
						copy == PGRAC_CREATE_DATABASE_FILE_COPY ?
						"CREATE DATABASE ... STRATEGY FILE_COPY" : "ALTER DATABASE ... SET TABLESPACE",
						pgrac_checksum_state_name(state)),
				 errdetail("It copies files around the storage manager, so the copied pages would not get checksums."),
				 copy == PGRAC_CREATE_DATABASE_FILE_COPY ?
				 errhint("Use STRATEGY WAL_LOG (the default), or wait until pgrac.pgrac_checksum_status says \"on\" or \"off\".") :
				 errhint("Wait until pgrac.pgrac_checksum_status says \"on\" or \"off\".")));

	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
							 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

void
checksum_refusals_install(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = checksum_process_utility;
}
