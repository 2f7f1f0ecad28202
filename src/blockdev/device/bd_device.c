/*-------------------------------------------------------------------------
 *
 * bd_device.c
 *	  The device under the block-device backend, as the server sees it: the
 *	  transport (include/pgrac/transport.h) that pgrac.device names, opened
 *	  once by the postmaster and inherited by every child, with the
 *	  server's policy on top: errors become ereports with SQLSTATEs, waits
 *	  are reported as wait events, direct I/O alignment is checked against
 *	  what this backend issues.
 *
 * This is the lowest layer of the server: it calls nothing above it.
 * Ordering against write-behind and read-ahead is the job of the layer
 * above (bd_dataio.c); write-behind's writer and read-ahead call this one
 * directly.  All I/O is positional, so sharing the descriptor between
 * processes is safe; exclusion between backends is by LWLocks in
 * bd_meta.c, never by the device lock.  A short transfer is continued
 * where it stopped (the transport does that), never returned short.
 *
 * src/blockdev/device/bd_device.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "common/file_perm.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "utils/wait_event.h"

#include "blockdev/device/bd_device.h"

PgracTransport *bd_dev = NULL;

/* settings (pgrac_storage.c defines them) */
char	   *pgrac_device = NULL;
bool		pgrac_direct_io = false;
int			pgrac_io_method = BD_IO_METHOD_SYNC;

/* The embedded image lives here, relative to PGDATA. */
#define EMBEDDED_IMAGE	"pg_pgrac/device.img"

/* the transport's queue: read-ahead's slots plus one request's ranges */
#define BD_QUEUE_DEPTH	(BD_READ_AHEAD_QUEUE + BD_MAX_TRANSFERS)

bool
bd_device_embedded(void)
{
	return pgrac_device == NULL || pgrac_device[0] == '\0';
}

void
bd_device_path(char *path)
{
	if (bd_device_embedded())
		snprintf(path, MAXPGPATH, "%s/%s", DataDir, EMBEDDED_IMAGE);
	else
		strlcpy(path, pgrac_device, MAXPGPATH);
}

bool
bd_device_is_block(void)
{
	return bd_dev->kind == PGRAC_DEVICE_BLOCK;
}

/* The SQLSTATE of a transport failure. */
static int
error_code(const PgracTransport *t)
{
	switch (t->error.kind)
	{
		case PGRAC_TE_IO:
		case PGRAC_TE_NOT_FOUND:
			errno = t->error.errnum;
			return errcode_for_file_access();
		case PGRAC_TE_END:
			return errcode(ERRCODE_DATA_CORRUPTED);
		case PGRAC_TE_IN_USE:
			return errcode(ERRCODE_OBJECT_IN_USE);
		case PGRAC_TE_UNSUPPORTED:
			return errcode(ERRCODE_FEATURE_NOT_SUPPORTED);
		case PGRAC_TE_INVALID:
		case PGRAC_TE_NONE:
			break;
	}
	return errcode(ERRCODE_INTERNAL_ERROR);
}

/* Report the transport's last failure at elevel. */
static void
device_failed(int elevel)
{
	ereport(elevel, (error_code(bd_dev), errmsg("%s", bd_dev->error.message)));
}

/*
 * Direct I/O: refuse to start when what this backend issues does not meet
 * the device's alignment.  Every transfer is of whole 8 kB pages at
 * page-aligned offsets, from buffers aligned to PG_IO_ALIGN_SIZE (shared
 * buffers, the metadata cache, palloc_aligned), so a device is usable when
 * its offset alignment divides the page size and its memory alignment
 * divides PG_IO_ALIGN_SIZE.
 */
static void
check_direct_io_alignment(void)
{
	if (bd_dev->offset_align == 0 || bd_dev->mem_align == 0 ||
		BD_PAGE_SIZE % bd_dev->offset_align != 0 ||
		PG_IO_ALIGN_SIZE % bd_dev->mem_align != 0)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("direct I/O on \"%s\" needs offsets aligned to %u bytes and buffers aligned to %u bytes",
						bd_dev->path, bd_dev->offset_align, bd_dev->mem_align),
				 errdetail("pgrac_storage transfers %d-byte pages from buffers aligned to %d bytes.",
						   BD_PAGE_SIZE, PG_IO_ALIGN_SIZE),
				 errhint("Set pgrac.direct_io = off, or use a device whose logical block size is at most %d bytes.",
						 PG_IO_ALIGN_SIZE)));
	ereport(LOG,
			(errmsg("block device \"%s\" uses direct I/O (offset alignment %u, buffer alignment %u bytes)",
					bd_dev->path, bd_dev->offset_align, bd_dev->mem_align)));
}

/*
 * Open the device.  The embedded image is created (empty) when missing and
 * create_embedded is set; an explicitly named device must exist.  Returns
 * true when the file was created here (it then needs formatting).
 */
bool
bd_device_open(bool create_embedded)
{
	PgracTransportOptions options = {0};
	PgracTransportError error;
	char		path[MAXPGPATH];
	struct stat st;

	bd_device_path(path);
	options.writable = true;
	options.direct = pgrac_direct_io;

	/*
	 * Read-ahead under direct I/O needs the asynchronous engine whatever
	 * pgrac.io_method says (that setting is about the reads and writes a
	 * backend waits for): with io_method = sync the engine is opened for it
	 * when the kernel allows, and only read-ahead uses it.
	 */
	options.async = (pgrac_io_method == BD_IO_METHOD_IO_URING) || pgrac_direct_io;
	options.queue_depth = BD_QUEUE_DEPTH;
	if (bd_device_embedded())
	{
		char		dir[MAXPGPATH];

		snprintf(dir, sizeof(dir), "%s/pg_pgrac", DataDir);
		if (MakePGDirectory(dir) < 0 && errno != EEXIST)
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not create directory \"%s\": %m", dir)));
		options.create = create_embedded && stat(path, &st) < 0 && errno == ENOENT;
	}

	bd_dev = pgrac_transport_open(path, &options, &error);
	if (bd_dev == NULL && error.kind == PGRAC_TE_UNSUPPORTED && options.async &&
		pgrac_io_method != BD_IO_METHOD_IO_URING)
	{
		PgracTransportError async_error = error;

		/* only read-ahead wanted the engine: without it, say so and go on */
		options.async = false;
		bd_dev = pgrac_transport_open(path, &options, &error);
		if (bd_dev != NULL)
			ereport(LOG,
					(errmsg("pgrac read-ahead is off for \"%s\": %s", path, async_error.message),
					 errdetail("With pgrac.direct_io = on, read-ahead keeps reads in flight through io_uring, which this kernel or container refuses."),
					 errhint("Allow io_uring (sysctl kernel.io_uring_disabled, container seccomp profile), or set pgrac.direct_io = off to read through the kernel's page cache and its read-ahead.")));
	}
	if (bd_dev == NULL)
	{
		if (error.kind == PGRAC_TE_IO || error.kind == PGRAC_TE_NOT_FOUND)
			errno = error.errnum;
		if (error.kind == PGRAC_TE_UNSUPPORTED && options.async)
			ereport(FATAL,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("pgrac.io_method = 'io_uring' is not available for \"%s\": %s", path, error.message),
					 errhint("Set pgrac.io_method = 'sync', or allow io_uring (sysctl kernel.io_uring_disabled, container seccomp profile).")));
		if (error.kind == PGRAC_TE_UNSUPPORTED && options.direct)
			ereport(FATAL,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s", error.message),
					 errhint("Set pgrac.direct_io = off, or put the device on a file system or block device that supports direct I/O.")));
		if (error.kind == PGRAC_TE_INVALID || error.kind == PGRAC_TE_UNSUPPORTED)
			ereport(FATAL,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("pgrac.device: %s", error.message),
					 errhint("pgrac.device must name a block device or an image file formatted with pgrac_image format.")));
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("%s", error.message),
				 bd_device_embedded() ? 0 :
				 errhint("pgrac.device must name an existing block device or image file formatted with pgrac_image format, readable and writable by the server's operating system user.")));
	}
	if (bd_dev->created)
		(void) chmod(path, pg_file_create_mode);
#ifdef PGRAC_POWERLOSS_SIM
	bd_dev = bd_powerloss_wrap(bd_dev);
#endif
	if (bd_dev->direct)
		check_direct_io_alignment();
	return bd_dev->created;
}

/*
 * One server per device on this host, and no pgrac_image changing it
 * underneath: an exclusive lock on the open file description, which every
 * child inherits, so it is held until the last process of this server
 * exits.  (Across hosts this is the fence driver's job.)  Taken once shared
 * memory exists, i.e. after PostgreSQL's own interlock has refused a data
 * directory whose old processes still run, so that its message comes
 * first.  Before it the device is only read, or formatted when it is an
 * embedded image this process has just created (O_EXCL), which nobody else
 * can be using.  Taking it again in the same server (after a crash
 * restart) is a no-op.
 */
void
bd_device_lock(void)
{
	if (pgrac_lock(bd_dev, true) < 0)
		ereport(FATAL,
				(error_code(bd_dev),
				 errmsg("could not lock block device \"%s\": %s", bd_dev->path,
						bd_dev->error.kind == PGRAC_TE_IN_USE ?
						"it is in use by another process" : strerror(bd_dev->error.errnum)),
				 errhint("Another server, a process left over from this server, or pgrac_image has the device open; \"fuser -v %s\" names the process.",
						 bd_dev->path)));
}

/*
 * With direct I/O a misaligned transfer would fail with EINVAL (or, on some
 * devices, be split in ways nobody tested): catch the caller's mistake here
 * with a message that says what was wrong.
 */
static inline void
check_aligned(const void *buf, uint64 offset, size_t len)
{
	if (bd_dev->direct &&
		((uintptr_t) buf % bd_dev->mem_align != 0 ||
		 offset % bd_dev->offset_align != 0 ||
		 len % bd_dev->offset_align != 0))
		elog(ERROR, "misaligned direct I/O on block device \"%s\": buffer %p, offset %llu, length %zu (alignment: buffers %u, offsets %u)",
			 bd_dev->path, buf, (unsigned long long) offset, len,
			 bd_dev->mem_align, bd_dev->offset_align);
}

/* One contiguous range, synchronously. */
static void
device_transfer_one(bool write, uint64 offset, void *buf, size_t len)
{
	struct iovec iov = {buf, len};
	int			rc;

	check_aligned(buf, offset, len);
	pgstat_report_wait_start(write ? WAIT_EVENT_DATA_FILE_WRITE : WAIT_EVENT_DATA_FILE_READ);
	rc = write ? pgrac_writev(bd_dev, offset, &iov, 1) : pgrac_readv(bd_dev, offset, &iov, 1);
	pgstat_report_wait_end();
	if (rc < 0)
		device_failed(ERROR);
}

void
bd_device_read(uint64 offset, void *buf, size_t len)
{
	device_transfer_one(false, offset, buf, len);
}

void
bd_device_write(uint64 offset, const void *buf, size_t len)
{
	device_transfer_one(true, offset, unconstify(void *, buf), len);
}

/*
 * Transfer ranges of the device: each a contiguous byte range from or into
 * its buffers.  A single range gains nothing from the asynchronous engine
 * (one submit and one wait instead of one call; buffered ring I/O even
 * goes through kernel worker threads): only requests the extents split go
 * through it.  No error is raised while a transfer is in flight (the
 * kernel could still be reading into a shared buffer).
 */
void
bd_device_transfer(bool write, const BdTransfer *transfers, int n)
{
	PgracIo		ios[BD_MAX_TRANSFERS];
	PgracIo    *pending[BD_MAX_TRANSFERS];
	int			failed = -1;

	Assert(n <= BD_MAX_TRANSFERS);
	if (bd_dev->direct)
		for (int i = 0; i < n; i++)
			for (int j = 0; j < transfers[i].iovcnt; j++)
				check_aligned(transfers[i].iov[j].iov_base, transfers[i].offset,
							  transfers[i].iov[j].iov_len);
	pgstat_report_wait_start(write ? WAIT_EVENT_DATA_FILE_WRITE : WAIT_EVENT_DATA_FILE_READ);
	if (pgrac_io_method != BD_IO_METHOD_IO_URING || !bd_dev->async || n == 1)
	{
		for (int i = 0; i < n; i++)
			if ((write ? pgrac_writev(bd_dev, transfers[i].offset, transfers[i].iov, transfers[i].iovcnt) :
				 pgrac_readv(bd_dev, transfers[i].offset, transfers[i].iov, transfers[i].iovcnt)) < 0)
			{
				pgstat_report_wait_end();
				device_failed(ERROR);
			}
		pgstat_report_wait_end();
		return;
	}
	for (int i = 0; i < n; i++)
	{
		ios[i] = (PgracIo)
		{
			.write = write,.offset = transfers[i].offset,.iov = transfers[i].iov,
				.iovcnt = transfers[i].iovcnt,.len = transfers[i].len,
		};
		pending[i] = &ios[i];
	}
	/* a failed submit has nothing of this call in flight */
	if (pgrac_submit(bd_dev, pending, n) < 0)
	{
		pgstat_report_wait_end();
		device_failed(ERROR);
	}
	/* every transfer completes before anything can throw */
	for (int i = 0; i < n; i++)
		if (pgrac_reap(bd_dev, &ios[i]) < 0)
			elog(PANIC, "%s", bd_dev->error.message);
	for (int i = 0; i < n && failed < 0; i++)
		if (pgrac_io_finish(bd_dev, &ios[i]) < 0)
			failed = i;
	pgstat_report_wait_end();
	if (failed >= 0)
		device_failed(ERROR);
}

/*
 * Asynchronous reads for read-ahead: never an error (the caller falls back
 * to a synchronous read, which reports it).  false when nothing of this
 * call is in flight.
 */
bool
bd_device_submit(PgracIo *const *ios, int n)
{
	return pgrac_submit(bd_dev, ios, n) == 0;
}

/* Mark what completed; with wait_for, wait until it has. */
void
bd_device_reap(PgracIo *wait_for)
{
	int			rc;

	if (wait_for != NULL)
		pgstat_report_wait_start(WAIT_EVENT_DATA_FILE_READ);
	rc = pgrac_reap(bd_dev, wait_for);
	if (wait_for != NULL)
		pgstat_report_wait_end();
	/* reads may still be landing in buffers that would be reused */
	if (rc < 0)
		elog(PANIC, "%s", bd_dev->error.message);
}

int
bd_device_io_room(void)
{
	return pgrac_io_room(bd_dev);
}

/* Make a byte range read as zeroes. */
void
bd_device_zero(uint64 offset, uint64 len)
{
	int			rc;

	pgstat_report_wait_start(WAIT_EVENT_DATA_FILE_EXTEND);
	rc = pgrac_zero(bd_dev, offset, len);
	pgstat_report_wait_end();
	if (rc < 0)
		device_failed(ERROR);
}

/* Flush the device: every write that returned before now is durable after. */
void
bd_device_flush(void)
{
	int			rc;

	pgstat_report_wait_start(WAIT_EVENT_DATA_FILE_SYNC);
	rc = pgrac_flush(bd_dev);
	pgstat_report_wait_end();
	/* as for any fsync failure: the kernel may have dropped dirty data */
	if (rc < 0)
		ereport(data_sync_elevel(ERROR),
				(error_code(bd_dev),
				 errmsg("%s", bd_dev->error.message)));
}

/*
 * Grow an image file; its new part reads as zeroes.  A failure is reported
 * with the system's reason (disk full only when it is ENOSPC or EDQUOT).
 */
void
bd_device_resize(uint64 size)
{
	Assert(!bd_device_is_block());
	if (pgrac_resize(bd_dev, size) < 0)
		device_failed(ERROR);
}

/* The device's size now (another process may have grown an image file). */
uint64
bd_device_current_size(void)
{
	if (pgrac_refresh_size(bd_dev) < 0)
		device_failed(ERROR);
	return bd_dev->size;
}

/* Hints: a failed prefetch is harmless; a failed writeback is a warning. */
void
bd_device_prefetch(uint64 offset, uint64 len)
{
	(void) pgrac_advise(bd_dev, offset, len, PGRAC_ADVISE_WILLNEED);
}

void
bd_device_writeback(uint64 offset, uint64 len)
{
	if (pgrac_advise(bd_dev, offset, len, PGRAC_ADVISE_WRITEBACK) < 0)
		device_failed(WARNING);
}
