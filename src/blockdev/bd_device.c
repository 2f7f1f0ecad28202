/*-------------------------------------------------------------------------
 *
 * bd_device.c
 *	  The device under the block-device backend: a block device or an image
 *	  file, opened once by the postmaster and inherited by every child.
 *
 * All I/O is positional (pread/pwrite and their vector forms), so sharing
 * one open file description between processes is safe; exclusion between
 * backends is by LWLocks in bd_meta.c, never by flock.  Every failure is
 * an ERROR naming the device, the offset and the length: a short read or
 * write is never retried silently.
 *
 * src/blockdev/bd_device.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <liburing.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "common/file_utils.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "utils/wait_event.h"

#include "bd_server.h"

BdDevice	bd_dev = {.fd = -1};

static void probe_io_uring(void);
static void note_writes(const BdTransfer *transfers, int n);

/* The embedded image lives here, relative to PGDATA. */
#define EMBEDDED_IMAGE	"pg_pgrac/device.img"

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

/*
 * Direct I/O: learn what alignment the device needs and refuse to start
 * when what this backend issues does not meet it.  Every transfer is of
 * whole 8 kB pages at page-aligned offsets, from buffers aligned to
 * PG_IO_ALIGN_SIZE (shared buffers, the metadata cache, palloc_aligned),
 * so a device is usable when its offset alignment divides the page size
 * and its memory alignment divides PG_IO_ALIGN_SIZE.
 */
static void
check_direct_io_alignment(void)
{
	if (bd_dev.is_block_device)
	{
		int			sector;

		if (ioctl(bd_dev.fd, BLKSSZGET, &sector) < 0)
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not get the logical block size of block device \"%s\": %m", bd_dev.path)));
		bd_dev.offset_align = bd_dev.mem_align = (uint32) sector;
	}
	else
	{
		struct statx stx;

		if (statx(bd_dev.fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) < 0)
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not get the direct I/O alignment of \"%s\": %m", bd_dev.path)));
		if ((stx.stx_mask & STATX_DIOALIGN) == 0)
			ereport(FATAL,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the file system holding \"%s\" does not report its direct I/O alignment", bd_dev.path),
					 errdetail("statx(STATX_DIOALIGN) returned no alignment, so pgrac.direct_io cannot be checked."),
					 errhint("Set pgrac.direct_io = off, or put the image on a file system that reports it (ext4, XFS) or on a block device.")));
		if (stx.stx_dio_offset_align == 0)
			ereport(FATAL,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the file system holding \"%s\" does not support direct I/O on it", bd_dev.path),
					 errhint("Set pgrac.direct_io = off, or put the device on a file system or block device that supports direct I/O.")));
		bd_dev.offset_align = stx.stx_dio_offset_align;
		bd_dev.mem_align = stx.stx_dio_mem_align;
	}
	if (bd_dev.offset_align == 0 || bd_dev.mem_align == 0 ||
		BD_PAGE_SIZE % bd_dev.offset_align != 0 ||
		PG_IO_ALIGN_SIZE % bd_dev.mem_align != 0)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("direct I/O on \"%s\" needs offsets aligned to %u bytes and buffers aligned to %u bytes",
						bd_dev.path, bd_dev.offset_align, bd_dev.mem_align),
				 errdetail("pgrac_storage transfers %d-byte pages from buffers aligned to %d bytes.",
						   BD_PAGE_SIZE, PG_IO_ALIGN_SIZE),
				 errhint("Set pgrac.direct_io = off, or use a device whose logical block size is at most %d bytes.",
						 PG_IO_ALIGN_SIZE)));
	ereport(LOG,
			(errmsg("block device \"%s\" uses direct I/O (offset alignment %u, buffer alignment %u bytes)",
					bd_dev.path, bd_dev.offset_align, bd_dev.mem_align)));
}

/*
 * Open the device.  The embedded image is created (empty) when missing and
 * create_embedded is set; an explicitly named device must exist.  Returns
 * true when the file was created here (it then needs formatting).
 */
bool
bd_device_open(bool create_embedded)
{
	struct stat st;
	bool		created = false;
	int			flags = O_RDWR | PG_BINARY;

	bd_device_path(bd_dev.path);
	if (pgrac_direct_io)
		flags |= O_DIRECT;
	if (bd_device_embedded())
	{
		char		dir[MAXPGPATH];

		snprintf(dir, sizeof(dir), "%s/pg_pgrac", DataDir);
		if (MakePGDirectory(dir) < 0 && errno != EEXIST)
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not create directory \"%s\": %m", dir)));
		if (create_embedded && stat(bd_dev.path, &st) < 0 && errno == ENOENT)
		{
			flags |= O_CREAT | O_EXCL;
			created = true;
		}
	}

	bd_dev.fd = open(bd_dev.path, flags, pg_file_create_mode);
	if (bd_dev.fd < 0 && errno == EINVAL && pgrac_direct_io)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("could not open block device \"%s\" for direct I/O: %m", bd_dev.path),
				 errdetail("The file system holding it does not support O_DIRECT."),
				 errhint("Set pgrac.direct_io = off, or put the device on a file system or block device that supports direct I/O.")));
	if (bd_dev.fd < 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not open block device \"%s\": %m", bd_dev.path),
				 bd_device_embedded() ? 0 :
				 errhint("pgrac.device must name an existing block device or image file formatted with pgrac_image format, readable and writable by the server's operating system user.")));

	if (fstat(bd_dev.fd, &st) < 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not stat block device \"%s\": %m", bd_dev.path)));
	bd_dev.is_block_device = S_ISBLK(st.st_mode);
	if (bd_dev.is_block_device)
	{
		uint64		bytes;

		if (ioctl(bd_dev.fd, BLKGETSIZE64, &bytes) < 0)
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not get the size of block device \"%s\": %m", bd_dev.path)));
		bd_dev.size = bytes;
	}
	else if (S_ISREG(st.st_mode))
		bd_dev.size = (uint64) st.st_size;
	else
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("pgrac.device \"%s\" is neither a block device nor a regular file", bd_dev.path)));
	bd_dev.direct = pgrac_direct_io;
	if (bd_dev.direct)
		check_direct_io_alignment();
	bd_dev.io_uring = (pgrac_io_method == BD_IO_METHOD_IO_URING);
	if (bd_dev.io_uring)
		probe_io_uring();
	return created;
}

/*
 * One server per device on this host, and no pgrac_image changing it
 * underneath: an exclusive flock on the open file description, which every
 * child inherits, so it is held until the last process of this server
 * exits.  (Across hosts this is the fence driver's job.)  Taken once shared
 * memory exists, i.e. after PostgreSQL's own interlock has refused a data
 * directory whose old processes still run, so that its message comes
 * first.  Before it the device is only read, or formatted when it is an
 * embedded image this process has just created (O_EXCL), which nobody else
 * can be using.  Taking it again in the
 * same server (after a crash restart) is a no-op.
 */
void
bd_device_lock(void)
{
	if (flock(bd_dev.fd, LOCK_EX | LOCK_NB) < 0)
	{
		int			save_errno = errno;

		ereport(FATAL,
				(errcode(save_errno == EWOULDBLOCK ? ERRCODE_OBJECT_IN_USE : ERRCODE_IO_ERROR),
				 errmsg("could not lock block device \"%s\": %s", bd_dev.path,
						save_errno == EWOULDBLOCK ? "it is in use by another process" : strerror(save_errno)),
				 errhint("Another server, a process left over from this server, or pgrac_image has the device open; \"fuser -v %s\" names the process.",
						 bd_dev.path)));
	}
}

static void
io_error(const char *what, uint64 offset, size_t len, ssize_t done)
{
	if (done < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not %s %zu bytes at offset %llu of block device \"%s\": %m",
						what, len, (unsigned long long) offset, bd_dev.path)));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("could not %s %zu bytes at offset %llu of block device \"%s\": transferred only %zd",
					what, len, (unsigned long long) offset, bd_dev.path, done)));
}

/*
 * With direct I/O a misaligned transfer would fail with EINVAL (or, on some
 * devices, be split in ways nobody tested): catch the caller's mistake here
 * with a message that says what was wrong.
 */
static inline void
check_aligned(const void *buf, uint64 offset, size_t len)
{
	if (bd_dev.direct &&
		((uintptr_t) buf % bd_dev.mem_align != 0 ||
		 offset % bd_dev.offset_align != 0 ||
		 len % bd_dev.offset_align != 0))
		elog(ERROR, "misaligned direct I/O on block device \"%s\": buffer %p, offset %llu, length %zu (alignment: buffers %u, offsets %u)",
			 bd_dev.path, buf, (unsigned long long) offset, len,
			 bd_dev.mem_align, bd_dev.offset_align);
}

void
bd_device_read(uint64 offset, void *buf, size_t len)
{
	ssize_t		done;

	check_aligned(buf, offset, len);
	bd_writebehind_wait(offset, len);
	pgstat_report_wait_start(WAIT_EVENT_DATA_FILE_READ);
	done = pg_pread(bd_dev.fd, buf, len, (off_t) offset);
	pgstat_report_wait_end();
	if (done != (ssize_t) len)
		io_error("read", offset, len, done);
}

void
bd_device_write(uint64 offset, const void *buf, size_t len)
{
	ssize_t		done;

	check_aligned(buf, offset, len);
	bd_writebehind_wait(offset, len);
#ifdef PGRAC_POWERLOSS_SIM
	if (bd_powerloss_active())
	{
		struct iovec iov = {.iov_base = unconstify(void *, buf),.iov_len = len};

		bd_device_transfer(true, &(BdTransfer) {offset, &iov, 1, len}, 1);
		return;
	}
#endif
	pgstat_report_wait_start(WAIT_EVENT_DATA_FILE_WRITE);
	done = pg_pwrite(bd_dev.fd, buf, len, (off_t) offset);
	pgstat_report_wait_end();
	if (done != (ssize_t) len)
		io_error("write", offset, len, done);
}

/*
 * Vectored transfers: preadv/pwritev may transfer less than asked; go on
 * from where they stopped rather than fail, as md.c does.  The caller's
 * iovec array is left as it was.
 */
static void
transfer_vectored(bool write, uint64 offset, const struct iovec *iov,
				  int iovcnt, size_t len)
{
	struct iovec local[PG_IOV_MAX];
	size_t		total = 0;

	Assert(iovcnt <= PG_IOV_MAX);
	memcpy(local, iov, sizeof(struct iovec) * iovcnt);
	pgstat_report_wait_start(write ? WAIT_EVENT_DATA_FILE_WRITE : WAIT_EVENT_DATA_FILE_READ);
	while (total < len)
	{
		ssize_t		done = write ?
			pg_pwritev(bd_dev.fd, local, iovcnt, (off_t) (offset + total)) :
			pg_preadv(bd_dev.fd, local, iovcnt, (off_t) (offset + total));

		if (done <= 0)
		{
			pgstat_report_wait_end();
			io_error(write ? "write" : "read", offset + total, len - total, done);
		}
		total += done;
		if (total < len)
			iovcnt = compute_remaining_iovec(local, local, iovcnt, done);
	}
	pgstat_report_wait_end();
}

/* ---- io_uring ---- */

/*
 * One ring per process, created on first use.  The postmaster only probes
 * io_uring at startup and never keeps a ring, so children never share one;
 * the owner check still refuses to use a ring inherited across fork().
 */
static struct io_uring ring;
static pid_t ring_owner = 0;

static void
ring_setup(void)
{
	int			rc;

	if (ring_owner == MyProcPid)
		return;
	if (ring_owner != 0)
		io_uring_queue_exit(&ring);
	ring_owner = 0;
	rc = io_uring_queue_init(BD_MAX_TRANSFERS, &ring, 0);
	if (rc < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not set up io_uring for block device \"%s\": %s",
						bd_dev.path, strerror(-rc)),
				 errhint("Set pgrac.io_method = 'sync', or allow io_uring (sysctl kernel.io_uring_disabled, container seccomp profile).")));
	ring_owner = MyProcPid;
}

/*
 * Check at postmaster start that this kernel lets us create a ring and
 * supports the operations used, so a server never starts that cannot do
 * its I/O.
 */
static void
probe_io_uring(void)
{
	struct io_uring probe_ring;
	struct io_uring_probe *probe;
	int			rc = io_uring_queue_init(4, &probe_ring, 0);
	bool		ok;

	if (rc < 0)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pgrac.io_method = 'io_uring' is not available: %s", strerror(-rc)),
				 errhint("Set pgrac.io_method = 'sync', or allow io_uring (sysctl kernel.io_uring_disabled, container seccomp profile).")));
	probe = io_uring_get_probe_ring(&probe_ring);
	ok = probe != NULL &&
		io_uring_opcode_supported(probe, IORING_OP_READV) &&
		io_uring_opcode_supported(probe, IORING_OP_WRITEV);
	if (probe)
		io_uring_free_probe(probe);
	io_uring_queue_exit(&probe_ring);
	if (!ok)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pgrac.io_method = 'io_uring' is not available: the kernel's io_uring lacks vectored reads and writes"),
				 errhint("Set pgrac.io_method = 'sync'.")));
}

/*
 * Submit every range at once and wait for all of them.  No error is thrown
 * while an operation is in flight (the kernel could still be reading into a
 * shared buffer); a short transfer is finished synchronously, as
 * transfer_vectored() finishes short preadv/pwritev calls.
 */
static void
transfer_io_uring(bool write, const BdTransfer *t, int n)
{
	int			res[BD_MAX_TRANSFERS];
	int			submitted = 0;
	int			completed = 0;
	int			submit_error = 0;

	Assert(n <= BD_MAX_TRANSFERS);
	ring_setup();
	for (int i = 0; i < n; i++)
	{
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		/* the ring has BD_MAX_TRANSFERS entries and is empty between calls */
		Assert(sqe != NULL);
		if (write)
			io_uring_prep_writev(sqe, bd_dev.fd, t[i].iov, (unsigned) t[i].iovcnt, t[i].offset);
		else
			io_uring_prep_readv(sqe, bd_dev.fd, t[i].iov, (unsigned) t[i].iovcnt, t[i].offset);
		io_uring_sqe_set_data(sqe, (void *) (uintptr_t) i);
	}

	pgstat_report_wait_start(write ? WAIT_EVENT_DATA_FILE_WRITE : WAIT_EVENT_DATA_FILE_READ);
	while (submitted < n)
	{
		int			rc = io_uring_submit(&ring);

		if (rc > 0)
			submitted += rc;
		else if (rc == -EINTR)
			continue;
		else if (rc == -EAGAIN)
			pg_usleep(100L);	/* the kernel is short of resources: soon */
		else
		{
			submit_error = (rc == 0) ? EIO : -rc;
			break;
		}
	}
	/* reap everything submitted before anything can throw */
	while (completed < submitted)
	{
		struct io_uring_cqe *cqe;
		int			rc = io_uring_wait_cqe(&ring, &cqe);

		if (rc == -EINTR)
			continue;
		if (rc < 0)
			/* operations may still be in flight into our buffers */
			elog(PANIC, "could not wait for io_uring completions on block device \"%s\": %s",
				 bd_dev.path, strerror(-rc));
		res[(uintptr_t) io_uring_cqe_get_data(cqe)] = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
		completed++;
	}
	if (submit_error != 0)
	{
		pgstat_report_wait_end();
		/* drop the ring with the entries it did not take */
		io_uring_queue_exit(&ring);
		ring_owner = 0;
		errno = submit_error;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not submit I/O to block device \"%s\" through io_uring: %m", bd_dev.path)));
	}
	pgstat_report_wait_end();

	for (int i = 0; i < n; i++)
	{
		struct iovec rest[PG_IOV_MAX];
		int			restcnt;

		if (res[i] == (int) t[i].len)
			continue;
		if (res[i] < 0 && res[i] != -EAGAIN && res[i] != -EINTR)
		{
			errno = -res[i];
			io_error(write ? "write" : "read", t[i].offset, t[i].len, -1);
		}
		if (res[i] == 0 && !write)
			io_error("read", t[i].offset, t[i].len, 0);
		/* short, or to be retried: the rest synchronously */
		res[i] = Max(res[i], 0);
		memcpy(rest, t[i].iov, sizeof(struct iovec) * t[i].iovcnt);
		restcnt = compute_remaining_iovec(rest, rest, t[i].iovcnt, res[i]);
		transfer_vectored(write, t[i].offset + res[i], rest, restcnt, t[i].len - res[i]);
	}
}

/*
 * Transfer ranges of the device: each a contiguous byte range from or into
 * its buffers.  With io_uring all ranges are submitted together.
 */
void
bd_device_transfer(bool write, const BdTransfer *transfers, int n)
{
	if (bd_dev.direct)
		for (int i = 0; i < n; i++)
			for (int j = 0; j < transfers[i].iovcnt; j++)
				check_aligned(transfers[i].iov[j].iov_base, transfers[i].offset,
							  transfers[i].iov[j].iov_len);
	/* queued writes of these bytes go first (bd_writebehind.c) */
	for (int i = 0; i < n; i++)
		bd_writebehind_wait(transfers[i].offset, transfers[i].len);
#ifdef PGRAC_POWERLOSS_SIM
	if (write && bd_powerloss_active())
	{
		/* range by range: each range's old contents read just before */
		for (int i = 0; i < n; i++)
		{
			const char *old = bd_powerloss_save(transfers[i].offset, transfers[i].len);

			if (bd_dev.io_uring)
				transfer_io_uring(true, &transfers[i], 1);
			else
				transfer_vectored(true, transfers[i].offset, transfers[i].iov,
								  transfers[i].iovcnt, transfers[i].len);
			bd_powerloss_log_write(transfers[i].offset, transfers[i].len, old,
								   transfers[i].iov, transfers[i].iovcnt);
		}
		note_writes(transfers, n);
		return;
	}
#endif
	/*
	 * A single range gains nothing from a ring (one submit and one wait
	 * instead of one call; buffered ring I/O even goes through kernel
	 * worker threads): only requests the extents split go through it.
	 */
	if (bd_dev.io_uring && n > 1)
		transfer_io_uring(write, transfers, n);
	else
		for (int i = 0; i < n; i++)
			transfer_vectored(write, transfers[i].offset, transfers[i].iov,
							  transfers[i].iovcnt, transfers[i].len);
	if (write)
		note_writes(transfers, n);
}

/* read-ahead slots of these ranges, in any backend, are out of date */
static void
note_writes(const BdTransfer *transfers, int n)
{
	for (int i = 0; i < n; i++)
		bd_readahead_note_write(transfers[i].offset, transfers[i].len);
}

/*
 * Make a byte range read as zeroes: BLKZEROOUT on a block device, a punched
 * hole in an image file (which also gives the space back), and written
 * zeroes where neither is supported.
 */
void
bd_device_zero(uint64 offset, uint64 len)
{
	static const PGIOAlignedBlock zeroes;
	int			rc;

	bd_writebehind_wait(offset, len);

#ifdef PGRAC_POWERLOSS_SIM
	if (bd_powerloss_active())
	{
		/* in pieces of at most 1 MB, each logged with its old contents */
		static bool zeroing = false;

		if (!zeroing)
		{
			zeroing = true;
			for (uint64 done = 0; done < len; done += 1024 * 1024)
			{
				uint64		piece = Min(len - done, 1024 * 1024);
				const char *old = bd_powerloss_save(offset + done, piece);

				bd_device_zero(offset + done, piece);
				bd_powerloss_log_zero(offset + done, piece, old);
			}
			zeroing = false;
			return;
		}
	}
#endif

	pgstat_report_wait_start(WAIT_EVENT_DATA_FILE_EXTEND);
	if (bd_dev.is_block_device)
	{
		uint64		range[2] = {offset, len};

		rc = ioctl(bd_dev.fd, BLKZEROOUT, range);
	}
	else
		rc = fallocate(bd_dev.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					   (off_t) offset, (off_t) len);
	pgstat_report_wait_end();
	if (rc == 0)
	{
		bd_readahead_note_write(offset, len);
		return;
	}
	if (errno != EOPNOTSUPP && errno != ENOTTY && errno != EINVAL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not zero %llu bytes at offset %llu of block device \"%s\": %m",
						(unsigned long long) len, (unsigned long long) offset, bd_dev.path)));
	for (uint64 done = 0; done < len; done += BLCKSZ)
		bd_device_write(offset + done, zeroes.data, Min(BLCKSZ, len - done));
}

/* Flush the device: every write that returned before now is durable after. */
void
bd_device_flush(void)
{
	/* writes handed to the writer before now are part of this flush */
	bd_writebehind_drain();
	bd_device_flush_drained();
}

/*
 * Flush without waiting for the write-behind queue: for a caller that
 * drained it itself and must not wait here (the checkpoint).
 */
void
bd_device_flush_drained(void)
{
	int			rc;

#ifdef PGRAC_POWERLOSS_SIM
	uint64		logged = bd_powerloss_active() ? bd_powerloss_flush_start() : 0;
#endif

	pgstat_report_wait_start(WAIT_EVENT_DATA_FILE_SYNC);
	rc = pg_fdatasync(bd_dev.fd);
	pgstat_report_wait_end();
#ifdef PGRAC_POWERLOSS_SIM
	if (rc == 0 && bd_powerloss_active())
		bd_powerloss_flush_done(logged);
#endif
	/* as for any fsync failure: the kernel may have dropped dirty data */
	if (rc < 0)
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not flush block device \"%s\": %m", bd_dev.path)));
}

/* Grow an image file; its new part reads as zeroes. */
void
bd_device_resize(uint64 size)
{
	Assert(!bd_dev.is_block_device);
	if (ftruncate(bd_dev.fd, (off_t) size) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("could not grow image file \"%s\" to %llu bytes: %m",
						bd_dev.path, (unsigned long long) size)));
	bd_dev.size = size;
}
