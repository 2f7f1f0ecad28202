/*-------------------------------------------------------------------------
 *
 * backup_functions.c
 *	  pgrac_backup_start(), pgrac_backup_stop(), pgrac_create_restore_point()
 *	  and the views of their history (docs/backup.md, "Backup history and
 *	  restore points").
 *
 * The functions call core's pg_backup_start(), pg_backup_stop() and
 * pg_create_restore_point() through SPI, with the caller's privileges, so
 * the backup label and tablespace map are exactly core's; around them they
 * keep one line per backup and restore point in pg_pgrac/backup_history
 * (lines: include/pgrac/backup_history.h), rewritten whole through a
 * temporary file and durable_rename() under one LWLock.  A backup whose
 * session ends without pgrac_backup_stop() is marked aborted by an exit
 * callback, and one that core's own pg_backup_stop() ended when this
 * session next calls ours; one left in progress by a crash reads as
 * aborted because the server it ran in is gone.
 *
 * src/backup/backup_functions.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "pgrac/backup_history.h"
#include "backup/backup_server.h"
#include "blockdev/meta/bd_meta.h"

#define HISTORY_FILE		"pg_pgrac/backup_history"
#define HISTORY_FILE_TMP	"pg_pgrac/backup_history.tmp"
#define HISTORY_TRANCHE		"pgrac_backup_history"

/* the backup this session started with pgrac_backup_start(), 0 if none */
static uint32 session_backup_id = 0;
static bool exit_callback_registered = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;

static void
backup_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestNamedLWLockTranche(HISTORY_TRANCHE, 1);
}

/* From _PG_init, on every server. */
void
backup_shmem_install(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = backup_shmem_request;
}

static LWLock *
history_lock(void)
{
	return &GetNamedLWLockTranche(HISTORY_TRANCHE)->lock;
}

typedef struct History
{
	int			n;
	PgracHistoryEntry *entries;
} History;

/* Read the file (a missing one is an empty history); corruption is an ERROR. */
static void
history_read(History *h)
{
	int			fd = OpenTransientFile(HISTORY_FILE, O_RDONLY | PG_BINARY);
	StringInfoData buf;
	char		chunk[8192];
	ssize_t		got;
	int			lineno = 0;
	char	   *line;
	int			capacity = 0;

	h->n = 0;
	h->entries = NULL;
	if (fd < 0)
	{
		if (errno == ENOENT)
			return;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open backup history file \"%s\": %m", HISTORY_FILE)));
	}
	initStringInfo(&buf);
	while ((got = read(fd, chunk, sizeof(chunk))) > 0)
		appendBinaryStringInfo(&buf, chunk, got);
	if (got < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read backup history file \"%s\": %m", HISTORY_FILE)));
	CloseTransientFile(fd);

	line = buf.data;
	while (line < buf.data + buf.len)
	{
		char	   *nl = memchr(line, '\n', buf.data + buf.len - line);
		char		error[256];

		lineno++;
		if (nl == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("backup history file \"%s\" ends in the middle of line %d", HISTORY_FILE, lineno),
					 errhint("Move the file away to start a new history; backups and restore points do not depend on it.")));
		if (h->n == capacity)
		{
			capacity = Max(64, capacity * 2);
			h->entries = h->entries ? repalloc(h->entries, sizeof(PgracHistoryEntry) * capacity) :
				palloc(sizeof(PgracHistoryEntry) * capacity);
		}
		if (!pgrac_history_decode(line, nl - line, &h->entries[h->n], error, sizeof(error)))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("backup history file \"%s\" is corrupt at line %d: %s", HISTORY_FILE, lineno, error),
					 errhint("Move the file away to start a new history; backups and restore points do not depend on it.")));
		h->n++;
		line = nl + 1;
	}
	pfree(buf.data);
}

/* Write the history whole, keeping the newest PGRAC_HISTORY_KEEP of each kind. */
static void
history_write(const History *h)
{
	int			kept[3] = {0, 0, 0};
	bool	   *keep = palloc0(sizeof(bool) * Max(h->n, 1));
	StringInfoData out;
	int			fd;

	for (int i = h->n - 1; i >= 0; i--)
		if (kept[h->entries[i].kind]++ < PGRAC_HISTORY_KEEP)
			keep[i] = true;
	initStringInfo(&out);
	for (int i = 0; i < h->n; i++)
	{
		char		line[PGRAC_HISTORY_LINE_MAX];
		size_t		len;

		if (!keep[i])
			continue;
		len = pgrac_history_encode(&h->entries[i], line, sizeof(line));
		Assert(len > 0);
		appendBinaryStringInfo(&out, line, len);
	}
	fd = OpenTransientFile(HISTORY_FILE_TMP, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", HISTORY_FILE_TMP)));
	errno = 0;
	if (write(fd, out.data, out.len) != out.len)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", HISTORY_FILE_TMP)));
	}
	if (pg_fsync(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", HISTORY_FILE_TMP)));
	CloseTransientFile(fd);
	(void) durable_rename(HISTORY_FILE_TMP, HISTORY_FILE, ERROR);
	pfree(out.data);
	pfree(keep);
}

static uint32
next_id(const History *h, PgracHistoryKind kind)
{
	uint32		id = 0;

	for (int i = 0; i < h->n; i++)
		if (h->entries[i].kind == kind)
			id = Max(id, h->entries[i].id);
	return id + 1;
}

/* Add e to the history, giving it the next id of its kind. */
static void
history_append(PgracHistoryEntry *e)
{
	History		h;

	LWLockAcquire(history_lock(), LW_EXCLUSIVE);
	history_read(&h);
	e->id = next_id(&h, e->kind);
	h.entries = h.n == 0 ? palloc(sizeof(*e)) : repalloc(h.entries, sizeof(*e) * (h.n + 1));
	h.entries[h.n++] = *e;
	history_write(&h);
	LWLockRelease(history_lock());
}

static PgracHistoryEntry *
find_backup(const History *h, uint32 id)
{
	for (int i = 0; i < h->n; i++)
		if (h->entries[i].kind == PGRAC_HISTORY_BACKUP && h->entries[i].id == id)
			return &h->entries[i];
	return NULL;
}

static TimeLineID
current_timeline(void)
{
	TimeLineID	tli;

	if (!RecoveryInProgress())
		return GetWALInsertionTimeLine();
	(void) GetXLogReplayRecPtr(&tli);
	return tli;
}

/* the device's allocated bytes (metadata included), -1 on md */
static int64
device_bytes(void)
{
	BdStatus	st;

	if (!bd_meta_active())
		return -1;
	bd_status(&st);
	return (int64) (st.extents_total - st.extents_free) * st.extent_pages * BLCKSZ;
}

/* Mark the session's backup aborted, if it is still in progress. */
static void
mark_session_backup_aborted(void)
{
	History		h;
	PgracHistoryEntry *e;

	LWLockAcquire(history_lock(), LW_EXCLUSIVE);
	history_read(&h);
	if ((e = find_backup(&h, session_backup_id)) != NULL &&
		e->result == PGRAC_BACKUP_IN_PROGRESS)
	{
		e->result = PGRAC_BACKUP_ABORTED;
		history_write(&h);
	}
	LWLockRelease(history_lock());
	session_backup_id = 0;
}

/*
 * The session's backup, if core's pg_backup_stop() (called directly) has
 * ended it behind our back: aborted, as far as the history can tell.
 */
static void
forget_backup_core_stopped(void)
{
	if (session_backup_id != 0 && get_backup_status() != SESSION_BACKUP_RUNNING)
		mark_session_backup_aborted();
}

/* A session that ends with its backup running: core aborts it, and so do we. */
static void
mark_aborted_at_exit(int code, Datum arg)
{
	if (session_backup_id == 0)
		return;
	PG_TRY();
	{
		mark_session_backup_aborted();
	}
	PG_CATCH();
	{
		/* the history says "aborted" anyway once this backend is gone */
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
	session_backup_id = 0;
}

/* The history as it is now, read under the shared lock. */
static void
history_snapshot(History *h)
{
	LWLockAcquire(history_lock(), LW_SHARED);
	history_read(h);
	LWLockRelease(history_lock());
}

/*
 * Read the history before core's function acts, so that a damaged file
 * refuses the call before a backup starts or a restore point is made.
 */
static void
history_check(void)
{
	History		h;

	history_snapshot(&h);
	if (h.entries)
		pfree(h.entries);
}

/* run one query through SPI with the caller's privileges; one row expected */
static void
spi_one_row(const char *query, int nargs, Oid *types, Datum *values)
{
	int			rc;

	rc = SPI_execute_with_args(query, nargs, types, values, NULL, false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "\"%s\" returned %d (%llu rows)", query, rc,
			 (unsigned long long) SPI_processed);
}

PG_FUNCTION_INFO_V1(pgrac_backup_start);

/* pgrac_backup_start(label text, fast boolean, incremental boolean) */
Datum
pgrac_backup_start(PG_FUNCTION_ARGS)
{
	text	   *label = PG_GETARG_TEXT_PP(0);
	bool		fast = PG_GETARG_BOOL(1);
	bool		incremental = PG_GETARG_BOOL(2);
	char	   *label_str = text_to_cstring(label);
	Oid			types[2] = {TEXTOID, BOOLOID};
	Datum		values[2] = {PointerGetDatum(label), BoolGetDatum(fast)};
	XLogRecPtr	start;
	bool		isnull;
	PgracHistoryEntry e;

	forget_backup_core_stopped();
	if (session_backup_id != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a backup started with pgrac_backup_start() is already running in this session"),
				 errhint("Stop it with pgrac.pgrac_backup_stop() first.")));
	if (strlen(label_str) > PGRAC_HISTORY_TEXT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backup label too long (max %d bytes)", PGRAC_HISTORY_TEXT_MAX)));

	history_check();
	SPI_connect();
	spi_one_row("SELECT pg_catalog.pg_backup_start($1, $2)", 2, types, values);
	start = DatumGetLSN(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();

	memset(&e, 0, sizeof(e));
	e.kind = PGRAC_HISTORY_BACKUP;
	e.result = PGRAC_BACKUP_IN_PROGRESS;
	e.incremental = incremental;
	e.start_lsn = start;
	e.timeline = current_timeline();
	e.started_at = GetCurrentTimestamp();
	e.device_bytes = -1;
	e.pid = MyProcPid;
	e.postmaster_start = PgStartTime;
	strlcpy(e.text, label_str, sizeof(e.text));

	history_append(&e);

	session_backup_id = e.id;
	if (!exit_callback_registered)
	{
		before_shmem_exit(mark_aborted_at_exit, 0);
		exit_callback_registered = true;
	}
	PG_RETURN_LSN(start);
}

PG_FUNCTION_INFO_V1(pgrac_backup_stop);

/* pgrac_backup_stop(wait_for_archive boolean) -> (lsn, labelfile, spcmapfile) */
Datum
pgrac_backup_stop(PG_FUNCTION_ARGS)
{
	bool		wait = PG_GETARG_BOOL(0);
	Oid			types[1] = {BOOLOID};
	Datum		values[1] = {BoolGetDatum(wait)};
	TupleDesc	tupdesc;
	Datum		result[3];
	bool		nulls[3] = {false, false, false};
	History		h;
	PgracHistoryEntry *e;
	MemoryContext caller = CurrentMemoryContext;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	forget_backup_core_stopped();
	if (session_backup_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no backup started with pgrac_backup_start() is running in this session"),
				 errhint("Start one with pgrac.pgrac_backup_start(); a backup started with pg_backup_start() is stopped with pg_backup_stop().")));

	SPI_connect();
	spi_one_row("SELECT lsn, labelfile, spcmapfile FROM pg_catalog.pg_backup_stop($1)", 1, types, values);
	for (int i = 0; i < 3; i++)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &nulls[i]);
		MemoryContext spi = MemoryContextSwitchTo(caller);

		result[i] = nulls[i] ? (Datum) 0 : i == 0 ? d : PointerGetDatum(DatumGetTextPCopy(d));
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();

	LWLockAcquire(history_lock(), LW_EXCLUSIVE);
	history_read(&h);
	if ((e = find_backup(&h, session_backup_id)) != NULL)
	{
		e->result = PGRAC_BACKUP_COMPLETED;
		e->stop_lsn = DatumGetLSN(result[0]);
		e->stopped_at = GetCurrentTimestamp();
		e->device_bytes = device_bytes();
		history_write(&h);
	}
	LWLockRelease(history_lock());
	session_backup_id = 0;

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, result, nulls)));
}

PG_FUNCTION_INFO_V1(pgrac_create_restore_point);

/* pgrac_create_restore_point(name text) -> pg_lsn */
Datum
pgrac_create_restore_point(PG_FUNCTION_ARGS)
{
	text	   *name = PG_GETARG_TEXT_PP(0);
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {PointerGetDatum(name)};
	XLogRecPtr	lsn;
	bool		isnull;
	PgracHistoryEntry e;

	history_check();
	SPI_connect();
	spi_one_row("SELECT pg_catalog.pg_create_restore_point($1)", 1, types, values);
	lsn = DatumGetLSN(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();

	memset(&e, 0, sizeof(e));
	e.kind = PGRAC_HISTORY_RESTORE_POINT;
	e.start_lsn = lsn;
	e.timeline = current_timeline();
	e.started_at = GetCurrentTimestamp();
	/* core limits the name to MAXFNAMELEN, well below ours */
	strlcpy(e.text, text_to_cstring(name), sizeof(e.text));

	history_append(&e);
	PG_RETURN_LSN(lsn);
}

/* the result to show: an in-progress backup whose session is gone ended */
static PgracBackupResult
shown_result(const PgracHistoryEntry *e)
{
	if (e->result == PGRAC_BACKUP_IN_PROGRESS &&
		(e->postmaster_start != PgStartTime || BackendPidGetProc(e->pid) == NULL))
		return PGRAC_BACKUP_ABORTED;
	return e->result;
}

/* a row of one of the views from an entry of its kind */
typedef void (*RowFiller) (const PgracHistoryEntry *e, Datum *values, bool *nulls);

/* The entries of one kind as the rows of a set-returning function. */
static Datum
history_rows(FunctionCallInfo fcinfo, PgracHistoryKind kind, int ncolumns, RowFiller fill)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *values = palloc(sizeof(Datum) * ncolumns);
	bool	   *nulls = palloc(sizeof(bool) * ncolumns);
	History		h;

	InitMaterializedSRF(fcinfo, 0);
	history_snapshot(&h);
	for (int i = 0; i < h.n; i++)
	{
		if (h.entries[i].kind != kind)
			continue;
		memset(nulls, 0, sizeof(bool) * ncolumns);
		fill(&h.entries[i], values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

static void
backup_row(const PgracHistoryEntry *e, Datum *v, bool *n)
{
	v[0] = Int64GetDatum(e->id);
	v[1] = CStringGetTextDatum(e->text);
	v[2] = CStringGetTextDatum(e->incremental ? "incremental" : "full");
	v[3] = CStringGetTextDatum(pgrac_backup_result_name(shown_result(e)));
	v[4] = LSNGetDatum(e->start_lsn);
	v[5] = LSNGetDatum(e->stop_lsn);
	n[5] = e->stop_lsn == 0;
	v[6] = Int64GetDatum(e->timeline);
	v[7] = TimestampTzGetDatum(e->started_at);
	v[8] = TimestampTzGetDatum(e->stopped_at);
	n[8] = e->stopped_at == 0;
	if (e->stopped_at != 0)
	{
		Interval   *iv = palloc0(sizeof(Interval));

		iv->time = e->stopped_at - e->started_at;
		v[9] = IntervalPGetDatum(iv);
	}
	else
		n[9] = true;
	v[10] = Int64GetDatum(e->device_bytes);
	n[10] = e->device_bytes < 0;
}

static void
restore_point_row(const PgracHistoryEntry *e, Datum *v, bool *n)
{
	v[0] = Int64GetDatum(e->id);
	v[1] = CStringGetTextDatum(e->text);
	v[2] = LSNGetDatum(e->start_lsn);
	v[3] = Int64GetDatum(e->timeline);
	v[4] = TimestampTzGetDatum(e->started_at);
}

PG_FUNCTION_INFO_V1(pgrac_backup_history_list);

Datum
pgrac_backup_history_list(PG_FUNCTION_ARGS)
{
	return history_rows(fcinfo, PGRAC_HISTORY_BACKUP, 11, backup_row);
}

PG_FUNCTION_INFO_V1(pgrac_restore_points_list);

Datum
pgrac_restore_points_list(PG_FUNCTION_ARGS)
{
	return history_rows(fcinfo, PGRAC_HISTORY_RESTORE_POINT, 5, restore_point_row);
}
