/*-------------------------------------------------------------------------
 *
 * smgr_api_test.c
 *	  Test-only library exercising the core patchset's registration API the
 *	  way a misbehaving extension would.  Loaded from shared_preload_libraries
 *	  by absolute path in the TAP tests; never installed.
 *
 * smgr_api_test.mode (read at load time) selects the misbehaviour:
 *   second_default    register a copy of md.c and make it the default
 *   missing_callback  register a storage manager without smgr_readv
 *   duplicate_name    register a manager called "md"
 *
 * test/modules/smgr_api_test/smgr_api_test.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/md.h"
#include "storage/smgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

static char *mode = NULL;

void
_PG_init(void)
{
	f_smgr		ops;

	/* loaded by CREATE FUNCTION to test late registration: nothing to do */
	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomStringVariable("smgr_api_test.mode", "Misbehaviour to test.",
							   NULL, &mode, "", PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);

	ops = *smgr_get(MdSMgrId);
	ops.smgr_init = NULL;
	ops.name = "test_md";

	if (strcmp(mode, "second_default") == 0)
		smgr_set_default(smgr_register(&ops));
	else if (strcmp(mode, "missing_callback") == 0)
	{
		ops.smgr_readv = NULL;
		smgr_register(&ops);
	}
	else if (strcmp(mode, "duplicate_name") == 0)
	{
		ops.name = "md";
		smgr_register(&ops);
	}
}

PG_FUNCTION_INFO_V1(smgr_api_test_register_late);

/* Registration outside shared_preload_libraries must fail. */
Datum
smgr_api_test_register_late(PG_FUNCTION_ARGS)
{
	f_smgr		ops = *smgr_get(MdSMgrId);

	ops.name = "late";
	smgr_register(&ops);
	PG_RETURN_VOID();
}
