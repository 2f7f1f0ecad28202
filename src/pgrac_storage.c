/*-------------------------------------------------------------------------
 *
 * pgrac_storage.c
 *	  Entry point of the pgrac_storage extension: settings, and the
 *	  composition of the storage manager layer stack.
 *
 * Everything here happens once, in the postmaster, while
 * shared_preload_libraries load: the settings that shape the stack are
 * PGC_POSTMASTER, the stack is composed from them, registered with the
 * (patched) server as a storage manager and made the default for every
 * relation.  Child processes inherit it.
 *
 * Where a block read goes: smgrreadv() -> the "pgrac" f_smgr composed in
 * src/smgr/layer_stack.c -> the top-most layer overriding smgr_readv (the
 * checksum layer, src/checksum/checksum_layer.c, when pgrac.checksum_layer
 * is on) -> the base backend (md.c for pgrac.storage_backend = 'md', or
 * src/blockdev/forks/bd_smgr.c for 'block_device').
 *
 * src/pgrac_storage.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"

#include "access/xlog.h"

#include "backup/backup_server.h"
#include "blockdev/bd_server.h"
#include "checksum/checksum_server.h"
#include "pgrac/fsync_checker.h"
#include "pgrac/smgr_layer.h"
#include "twophase/twophase_server.h"
#include "wal/pgrac_rmgr.h"

PG_MODULE_MAGIC;

typedef enum PgracStorageBackend
{
	PGRAC_BACKEND_MD,
	PGRAC_BACKEND_BLOCK_DEVICE,
} PgracStorageBackend;

static const struct config_enum_entry storage_backend_options[] = {
	{"md", PGRAC_BACKEND_MD, false},
	{"block_device", PGRAC_BACKEND_BLOCK_DEVICE, false},
	{NULL, 0, false}
};

static int	pgrac_storage_backend = PGRAC_BACKEND_MD;

static const struct config_enum_entry io_method_options[] = {
	{"sync", BD_IO_METHOD_SYNC, false},
	{"io_uring", BD_IO_METHOD_IO_URING, false},
	{NULL, 0, false}
};

/* md.c as a base backend: PostgreSQL already initializes it as entry 0. */
static f_smgr md_base_ops;
static PgracSmgrBase md_base = {.name = "md",.ops = &md_base_ops};

/* the block-device backend */
static PgracSmgrBase block_device_base = {.name = "block_device"};
static checkpoint_hook_type prev_checkpoint_hook = NULL;
static checkpoint_start_hook_type prev_checkpoint_start_hook = NULL;
static shutdown_checkpoint_prepare_hook_type prev_shutdown_checkpoint_prepare_hook = NULL;

static bool
check_extent_size(int *newval, void **extra, GucSource source)
{
	if (*newval == 0)
		return true;			/* chosen from pgrac.image_max_size */
	if (*newval < 64 || (*newval & (*newval - 1)) != 0)
	{
		GUC_check_errdetail("The extent size must be 0 (chosen from pgrac.image_max_size) or a power of two from 64kB to 1GB.");
		return false;
	}
	return true;
}

static bool
check_read_ahead(int *newval, void **extra, GucSource source)
{
	if (*newval != 0 && *newval < 16)
	{
		GUC_check_errdetail("pgrac.read_ahead is 0 (off) or at least 128kB, the size of one read-ahead.");
		return false;
	}
	return true;
}

static bool
check_write_behind(int *newval, void **extra, GucSource source)
{
	if (*newval != 0 && (*newval < 1024 || *newval % 128 != 0))
	{
		GUC_check_errdetail("pgrac.write_behind is 0 (off) or a multiple of 128kB of at least 1MB.");
		return false;
	}
	return true;
}

static void
block_device_checkpoint_start(int flags)
{
	bd_checkpoint_start(flags);
	if (prev_checkpoint_start_hook)
		prev_checkpoint_start_hook(flags);
}

/*
 * At shutdown, before WAL senders stop: log what the shutdown checkpoint
 * would, so that it is streamed and confirmed like any other WAL and the
 * checkpoint's own call finds nothing left to log.
 */
static void
block_device_shutdown_checkpoint_prepare(void)
{
	bd_checkpoint_start(CHECKPOINT_IS_SHUTDOWN | CHECKPOINT_IMMEDIATE);
	if (prev_shutdown_checkpoint_prepare_hook)
		prev_shutdown_checkpoint_prepare_hook();
}

static void
block_device_checkpoint(XLogRecPtr redo, int flags)
{
	/*
	 * Forks of transactions that never committed (bd_reclaim.c): after the
	 * buffers are written, outside any critical section, and never where WAL
	 * may not be written (shutdown, end of recovery, restartpoints).
	 */
	if ((flags & (CHECKPOINT_IS_SHUTDOWN | CHECKPOINT_END_OF_RECOVERY)) == 0)
	{
		int			settled,
					reclaimed,
					waiting;

		bd_reclaim_pass(&settled, &reclaimed, &waiting);
	}
	bd_checkpoint(redo, flags);
	if (prev_checkpoint_hook)
		prev_checkpoint_hook(redo, flags);
}

/*
 * What postgresql.conf, postgresql.auto.conf or the command line said for
 * a pgrac.* name before the library defined it.  PostgreSQL keeps such a
 * value as a placeholder; defining the setting applies it, and an invalid
 * value is only warned about and replaced by the default.  For settings
 * that decide where relation data lives that is not acceptable: each is
 * checked again below, and a bad one stops the server.
 */
typedef struct PendingSetting
{
	char	   *name;
	char	   *value;
	GucSource	source;
	GucContext	scontext;
	Oid			srole;
	char	   *sourcefile;
	int			sourceline;
} PendingSetting;

static List *
collect_pending_settings(void)
{
	int			n;
	struct config_generic **vars = get_guc_variables(&n);
	List	   *pending = NIL;

	for (int i = 0; i < n; i++)
	{
		struct config_generic *v = vars[i];
		PendingSetting *p;
		char	   *value;

		if ((v->flags & GUC_CUSTOM_PLACEHOLDER) == 0 || strncmp(v->name, "pgrac.", 6) != 0)
			continue;
		value = *((struct config_string *) v)->variable;
		if (value == NULL || v->source == PGC_S_DEFAULT)
			continue;
		p = palloc0(sizeof(PendingSetting));
		p->name = pstrdup(v->name);
		p->value = pstrdup(value);
		p->source = v->source;
		p->scontext = v->scontext;
		p->srole = v->srole;
		p->sourcefile = v->sourcefile ? pstrdup(v->sourcefile) : NULL;
		p->sourceline = v->sourceline;
		pending = lappend(pending, p);
	}
	return pending;
}

static void
pending_setting_context(void *arg)
{
	PendingSetting *p = (PendingSetting *) arg;

	if (p->sourcefile)
		errcontext("setting \"%s\" in file \"%s\" line %d", p->name, p->sourcefile, p->sourceline);
	else
		errcontext("setting \"%s\" (%s)", p->name, GucSource_Names[p->source]);
}

/* Stop startup on an unknown pgrac.* name or an invalid value. */
static void
refuse_bad_settings(List *pending)
{
	foreach_ptr(PendingSetting, p, pending)
	{
		ErrorContextCallback ctx = {.callback = pending_setting_context,.arg = p,
		.previous = error_context_stack};
		struct config_generic *rec = find_option(p->name, false, true, LOG);

		error_context_stack = &ctx;
		if (rec == NULL || (rec->flags & GUC_CUSTOM_PLACEHOLDER) != 0)
			ereport(FATAL,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("unrecognized configuration parameter \"%s\"", p->name),
					 errdetail("pgrac_storage has no setting of that name; a misspelt setting would leave its default in force."),
					 errhint("docs/settings.md lists the settings.  Remove or correct the line.")));
		/* validates only (changeVal = false); an invalid value is FATAL */
		(void) set_config_option_ext(p->name, p->value, p->scontext, p->source,
									 p->srole, GUC_ACTION_SET, false, FATAL, false);
		error_context_stack = ctx.previous;
	}
}

static void
define_settings(void)
{
	List	   *pending = collect_pending_settings();

	DefineCustomEnumVariable("pgrac.storage_backend",
							 "Base storage backend holding relation data.",
							 "\"md\" keeps PostgreSQL's own files; \"block_device\" keeps relation forks in extents of pgrac.device.",
							 &pgrac_storage_backend,
							 PGRAC_BACKEND_MD,
							 storage_backend_options,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("pgrac.device",
							   "Block device or image file of the block_device backend.",
							   "Empty: an image file inside the data directory (pg_pgrac/device.img), created on first start.",
							   &pgrac_device,
							   "",
							   PGC_POSTMASTER,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("pgrac.direct_io",
							 "Read and write the block device with direct I/O (O_DIRECT).",
							 "Bypasses the kernel page cache for relation data on the device; alignment is checked at startup.",
							 &pgrac_direct_io,
							 false,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("pgrac.io_method",
							 "How the block_device backend issues relation reads and writes.",
							 "\"sync\": preadv/pwritev, one extent range after the other; \"io_uring\": the ranges of a request that crosses extents submitted at once through io_uring, and read-ahead under direct I/O.",
							 &pgrac_io_method,
							 BD_IO_METHOD_SYNC,
							 io_method_options,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("pgrac.read_ahead",
							"How far ahead of a sequential read the block_device backend reads, with direct I/O and io_uring.",
							"Only with pgrac.direct_io = on and pgrac.io_method = 'io_uring' (otherwise the kernel reads ahead, or nothing can be in flight).  0 turns it off.",
							&pgrac_read_ahead_blocks,
							128, 0, BD_READ_AHEAD_MAX_BLOCKS,
							PGC_USERSET,
							GUC_UNIT_BLOCKS,
							check_read_ahead, NULL, NULL);

	DefineCustomIntVariable("pgrac.write_behind",
							"Shared memory for block_device writes a writer process puts on the device in the background.",
							"Meant for pgrac.direct_io = on, where each write otherwise waits for the device.  Slots of 128kB; 0 turns it off.",
							&pgrac_write_behind_kb,
							0, 0, 64 * 1024,
							PGC_POSTMASTER,
							GUC_UNIT_KB,
							check_write_behind, NULL, NULL);

#ifdef PGRAC_POWERLOSS_SIM
	DefineCustomStringVariable("pgrac.powerloss_log",
							   "Test builds only: log of device writes for the power-loss simulation.",
							   "See docs/power-loss.md.  Empty: nothing is logged.",
							   &pgrac_powerloss_log,
							   "",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("pgrac.powerloss_checkpoint_pause",
							"Test builds only: how long a checkpoint waits between its in-place metadata writes and its device flush.",
							"So that a simulated power cut can land there (docs/power-loss.md).  0: no wait.",
							&pgrac_powerloss_checkpoint_pause_ms,
							0, 0, 10000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("pgrac.powerloss_cut_in_window",
							 "Test builds only: a checkpoint kills the postmaster between its in-place metadata writes and its device flush.",
							 "A simulated power cut aimed at that window (docs/power-loss.md).",
							 &pgrac_powerloss_cut_in_window,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);
#endif

	DefineCustomIntVariable("pgrac.image_max_size",
							"Largest size the embedded image may grow to.",
							"Read when the image is created; its metadata is sized for it.",
							&pgrac_image_max_size_mb,
							64 * 1024, 64, 2 * 1024 * 1024,
							PGC_POSTMASTER,
							GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgrac.image_extent_size",
							"Extent size of the embedded image.",
							"Read when the image is created: a power of two from 64kB to 1GB, or 0 to choose it from pgrac.image_max_size (128kB up to 128GB).",
							&pgrac_image_extent_kb,
							0, 0, 1024 * 1024,
							PGC_POSTMASTER,
							GUC_UNIT_KB,
							check_extent_size, NULL, NULL);

	DefineCustomBoolVariable("pgrac.fsync_checker",
							 "Report relation data that would not survive an operating system crash.",
							 "Adds the fsync checker layer to the storage stack; see pgrac.pgrac_fsync_report().",
							 &pgrac_fsync_checker,
							 false,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("pgrac.fsync_checker_max_obligations",
							"Relation segments with unsynced unbuffered writes the fsync checker can track at once.",
							"When exceeded, checking is incomplete and a WARNING says so.",
							&pgrac_fsync_checker_max_obligations,
							4096, 64, 1024 * 1024,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgrac.fsync_checker_max_findings",
							"Findings of the fsync checker kept in shared memory.",
							"Further findings are still logged, and counted as dropped.",
							&pgrac_fsync_checker_max_findings,
							1000, 1, 1024 * 1024,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("pgrac.checksum_layer",
							 "Put the checksum layer in the storage stack: data checksums that can be turned on and off while the server runs.",
							 "The state is changed with pgrac.pgrac_enable_checksums() and pgrac.pgrac_disable_checksums(); see docs/checksums.md.",
							 &pgrac_checksum_layer,
							 false,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("pgrac.checksum_sweep_workers",
							"Background workers that share the sweep of each database when checksums are turned on.",
							"Each sweeps its share of every fork (chunks of 16 MB); each takes a max_worker_processes slot. Read when a sweep starts.",
							&pgrac_checksum_sweep_workers,
							1, 1, CHECKSUM_MAX_SWEEP_WORKERS,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("pgrac.twophase",
							 "Coordinate distributed transactions across servers with a 2PC log of this server's own.",
							 "Turns on pgrac.pgrac_remote_exec() and pgrac.pgrac_remote_query(), the log in pg_pgrac/twophase and the resolver; see docs/twophase.md.",
							 &pgrac_twophase,
							 false,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("pgrac.twophase_max_transactions",
							"Distributed transactions that can be live (begun and not ended) at once.",
							"Each takes an entry in shared memory of about 4 kB; a full table refuses new ones.",
							&pgrac_twophase_max_transactions,
							128, 1, PGRAC_2PC_MAX_LIVE,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgrac.twophase_segment_size",
							"Size limit of the segments of the 2PC coordinator log.",
							"Applies to segments created after the change.",
							&pgrac_twophase_segment_size_mb,
							16, PGRAC_2PC_SEGMENT_SIZE_MIN / (1024 * 1024),
							PGRAC_2PC_SEGMENT_SIZE_MAX / (1024 * 1024),
							PGC_SIGHUP,
							GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgrac.twophase_commit_delay",
							"How long the writer of a batch of the 2PC log waits for others to join it, when others are appending.",
							"In the spirit of commit_delay; 0: no wait.",
							&pgrac_twophase_commit_delay_us,
							0, 0, 100000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgrac.twophase_resolver_interval",
							"How often the resolver looks at unfinished distributed transactions, and the longest backoff of a participant that does not answer.",
							NULL,
							&pgrac_twophase_resolver_interval_ms,
							10000, 100, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgrac.twophase_finish_timeout",
							"How long a COMMIT PREPARED or ROLLBACK PREPARED sent at the end of a distributed transaction may take before the resolver is left to finish it.",
							NULL,
							&pgrac_twophase_finish_timeout_ms,
							30000, 100, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

#ifdef PGRAC_TEST_HOOKS
	DefineCustomStringVariable("pgrac.twophase_test_stop_at",
							   "Test builds only: the step of the 2PC commit protocol at which the committing backend kills itself.",
							   "after_begin, after_prepare_1, after_committing, after_local_commit, after_commit_prepared_1, before_end; empty: none.",
							   &pgrac_twophase_test_stop_at,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
	DefineCustomBoolVariable("pgrac.checksum_test_skip_inprogress_off",
							 "Test builds only: pgrac_disable_checksums() goes from on to off directly.",
							 "To show the race that the inprogress-off state closes (docs/checksums.md).",
							 &pgrac_checksum_test_skip_inprogress_off,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("pgrac.checksum_test_pause_ms",
							"Test builds only: how long a read of block 0 of pgrac.checksum_test_pause_relfilenode waits after it sampled the checksum state.",
							"0: no wait.",
							&pgrac_checksum_test_pause_ms,
							0, 0, 600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pgrac.checksum_test_pause_relfilenode",
							"Test builds only: the relfilenode whose block 0 a read pauses on.",
							NULL,
							&pgrac_checksum_test_pause_relfilenode,
							0, 0, INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
#endif

	refuse_bad_settings(pending);
	MarkGUCPrefixReserved("pgrac");
	list_free_deep(pending);
}

void
_PG_init(void)
{
	/*
	 * The storage manager of every relation is chosen at postmaster start;
	 * loaded later (LOAD, CREATE EXTENSION without preloading) the library
	 * could only pretend to be in charge.
	 */
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgrac_storage must be loaded via shared_preload_libraries"),
				 errhint("Add pgrac_storage to shared_preload_libraries in postgresql.conf and restart the server.")));

	define_settings();

	/* relation data on a device: no md, no file-level pg_upgrade/pg_rewind */
	bd_refuse_file_tools();

	/* the base backend */
	if (pgrac_storage_backend == PGRAC_BACKEND_BLOCK_DEVICE)
	{
		block_device_base.ops = bd_smgr_ops();
		pgrac_stack_set_base(&block_device_base);
		bd_shmem_install();
		bd_bypass_install();
		bd_writebehind_register();
		prev_checkpoint_hook = checkpoint_hook;
		checkpoint_hook = block_device_checkpoint;
		prev_checkpoint_start_hook = checkpoint_start_hook;
		checkpoint_start_hook = block_device_checkpoint_start;
		prev_shutdown_checkpoint_prepare_hook = shutdown_checkpoint_prepare_hook;
		shutdown_checkpoint_prepare_hook = block_device_shutdown_checkpoint_prepare;
	}
	else
	{
		bd_refuse_md_with_binding();
		md_base_ops = *smgr_get(MdSMgrId);
		md_base_ops.smgr_init = NULL;
		md_base_ops.smgr_shutdown = NULL;
		pgrac_stack_set_base(&md_base);
	}

	/*
	 * On every server: WAL may hold records of either subsystem, and a server
	 * without the checksum layer must still read the checksum state (to
	 * refuse to run without the layer once the state is not off).
	 */
	pgrac_rmgr_register(pgrac_storage_backend == PGRAC_BACKEND_BLOCK_DEVICE);
	checksum_shmem_install();
	backup_shmem_install();

	/* layers, bottom-up; checksums on top, set on what every layer sees */
	if (pgrac_fsync_checker)
		pgrac_fsync_checker_install();
	if (pgrac_checksum_layer)
	{
		checksum_layer_install();
		checksum_worker_register();
		checksum_refusals_install();
	}

	if (pgrac_twophase)
	{
		twophase_shmem_install();
		twophase_xact_install();
		twophase_resolver_register();
	}

	pgrac_stack_install();
}

PG_FUNCTION_INFO_V1(pgrac_storage_layers);

/* The storage stack, base backend first. */
Datum
pgrac_storage_layers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			depth = pgrac_stack_depth();

	InitMaterializedSRF(fcinfo, 0);
	for (int level = 0; level < depth; level++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int32GetDatum(level);
		values[1] = CStringGetTextDatum(pgrac_stack_layer_name(level));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
