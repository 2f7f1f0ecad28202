/*-------------------------------------------------------------------------
 *
 * checksum_shared.c
 *	  Shared memory of the checksum layer, and its state file,
 *	  pg_pgrac/checksum_state.
 *
 * The shared memory exists whether or not the layer is in the stack: the
 * resource manager replays transitions on every server, and a server
 * whose layer is off must still notice a primary enabling checksums
 * (checksum_transition.c).
 *
 * The state file is read once, in the postmaster, while shared memory is
 * initialised; afterwards only a transition (or its redo) writes it, under
 * the transition lock, as a new file renamed over the old with
 * durable_rename(), so that a crash leaves the old file or the new, never
 * a mix.  A file that does not decode stops the server: guessing a state
 * would either verify pages that never got a checksum, or stop setting
 * checksums on pages that are verified.
 *
 * src/checksum/checksum_shared.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "checksum/checksum_server.h"

#define CHECKSUM_DIR		"pg_pgrac"
#define CHECKSUM_FILE		"pg_pgrac/checksum_state"
#define CHECKSUM_FILE_TMP	"pg_pgrac/checksum_state.tmp"

ChecksumShared *checksum_shared = NULL;

/* settings (pgrac_storage.c defines them) */
bool		pgrac_checksum_layer = false;
int			pgrac_checksum_sweep_workers = 1;
#ifdef PGRAC_TEST_HOOKS
bool		pgrac_checksum_test_skip_inprogress_off = false;
int			pgrac_checksum_test_pause_ms = 0;
int			pgrac_checksum_test_pause_relfilenode = 0;
#endif

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static int
checksum_nslots(void)
{
	/* every process that can do I/O has a ProcNumber below this */
	return MaxBackends + NUM_AUXILIARY_PROCS;
}

static Size
checksum_shmem_size(void)
{
	return add_size(offsetof(ChecksumShared, slots),
					mul_size(checksum_nslots(), sizeof(pg_atomic_uint64)));
}

static void
checksum_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(checksum_shmem_size());
	RequestNamedLWLockTranche("pgrac_checksum_state", 1);
}

void
checksum_make_directory(void)
{
	if (MakePGDirectory(CHECKSUM_DIR) < 0 && errno != EEXIST)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", CHECKSUM_DIR)));
}

/* Read the state file; a missing one is state off with no history. */
static void
checksum_read_file(PgracChecksumFile *file)
{
	uint8		buf[PGRAC_CHECKSUM_FILE_MAX_SIZE + 1];
	char		error[256];
	int			fd;
	ssize_t		len;

	fd = OpenTransientFile(CHECKSUM_FILE, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno != ENOENT)
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not open checksum state file \"%s\": %m", CHECKSUM_FILE)));
		pgrac_checksum_file_init(file);
		return;
	}
	len = read(fd, buf, sizeof(buf));
	if (len < 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not read checksum state file \"%s\": %m", CHECKSUM_FILE)));
	CloseTransientFile(fd);
	if (!pgrac_checksum_file_decode(buf, (size_t) len, file, error, sizeof(error)))
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("checksum state file \"%s\" is invalid: %s", CHECKSUM_FILE, error),
				 errdetail("The file says whether pages carry checksums that must be verified; no state is assumed without it."),
				 errhint("Restore the file from a backup of this data directory, or remove it: the state becomes off, in which checksums are neither set nor verified until pgrac_enable_checksums() runs again.")));
}

/*
 * Write the state file durably.  Called with the transition lock held
 * (or, in the postmaster, before any other process exists); elevel is
 * PANIC inside a transition's critical section, where the WAL record is
 * already flushed and a file that disagrees with it must not survive.
 */
void
checksum_write_file(const PgracChecksumFile *file, int elevel)
{
	uint8		buf[PGRAC_CHECKSUM_FILE_MAX_SIZE];
	size_t		len = pgrac_checksum_file_encode(file, buf);
	int			fd;

	fd = OpenTransientFile(CHECKSUM_FILE_TMP, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", CHECKSUM_FILE_TMP)));
	errno = 0;
	if (write(fd, buf, len) != (ssize_t) len)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", CHECKSUM_FILE_TMP)));
	}
	if (pg_fsync(fd) != 0)
		ereport(data_sync_elevel(elevel),
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", CHECKSUM_FILE_TMP)));
	if (CloseTransientFile(fd) != 0)
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", CHECKSUM_FILE_TMP)));
	(void) durable_rename(CHECKSUM_FILE_TMP, CHECKSUM_FILE, elevel);
}

static void
checksum_shmem_startup(void)
{
	bool		found;
	PgracChecksumState state;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	checksum_shared = ShmemInitStruct("pgrac checksum state", checksum_shmem_size(), &found);
	if (!found)
	{
		memset(checksum_shared, 0, offsetof(ChecksumShared, slots));
		checksum_shared->transition_lock = &(GetNamedLWLockTranche("pgrac_checksum_state"))->lock;
		SpinLockInit(&checksum_shared->mutex);
		checksum_shared->nslots = checksum_nslots();
		for (int i = 0; i < checksum_shared->nslots; i++)
			pg_atomic_init_u64(&checksum_shared->slots[i], 0);
		checksum_shared->launcher_proc = INVALID_PROC_NUMBER;

		checksum_make_directory();
		checksum_read_file(&checksum_shared->file);
		state = pgrac_checksum_file_state(&checksum_shared->file);
		checksum_startup_checks(state);
		pg_atomic_init_u64(&checksum_shared->word, CHECKSUM_WORD(1, state));
		checksum_shared->cost_delay = checksum_shared->file.cost_delay;
		checksum_shared->cost_limit = checksum_shared->file.cost_limit;
		checksum_shared->since = checksum_shared->file.nentries > 0 ?
			checksum_shared->file.entries[checksum_shared->file.nentries - 1].time : 0;
	}
	LWLockRelease(AddinShmemInitLock);
}

void
checksum_shmem_install(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = checksum_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = checksum_shmem_startup;
}

/* Why the worker is not moving on, for pgrac_checksum_status. */
void
checksum_set_error(const char *fmt,...)
{
	char text[	256];
	TimestampTz now = GetCurrentTimestamp();
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	SpinLockAcquire(&checksum_shared->mutex);
	strlcpy(checksum_shared->last_error, text, sizeof(checksum_shared->last_error));
	checksum_shared->last_error_at = now;
	SpinLockRelease(&checksum_shared->mutex);
}

void
checksum_clear_error(void)
{
	SpinLockAcquire(&checksum_shared->mutex);
	checksum_shared->last_error[0] = '\0';
	checksum_shared->last_error_at = 0;
	SpinLockRelease(&checksum_shared->mutex);
}
