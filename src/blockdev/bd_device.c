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

	/*
	 * One server per device on this host, and no pgrac_image changing it
	 * underneath: an exclusive flock on the open file description, which
	 * every child inherits, so it is held until the last process of this
	 * server exits.  (Across hosts this is the fence driver's job.)
	 */
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
	return created;
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
	for (int i = 0; i < iovcnt; i++)
		check_aligned(iov[i].iov_base, offset, iov[i].iov_len);
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

void
bd_device_readv(uint64 offset, const struct iovec *iov, int iovcnt, size_t len)
{
	transfer_vectored(false, offset, iov, iovcnt, len);
}

void
bd_device_writev(uint64 offset, const struct iovec *iov, int iovcnt, size_t len)
{
	transfer_vectored(true, offset, iov, iovcnt, len);
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
		return;
	if (errno != EOPNOTSUPP && errno != ENOTTY && errno != EINVAL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not zero %llu bytes at offset %llu of block device \"%s\": %m",
						(unsigned long long) len, (unsigned long long) offset, bd_dev.path)));
	for (uint64 done = 0; done < len; done += BLCKSZ)
		bd_device_write(offset + done, zeroes.data, Min(BLCKSZ, len - done));
}

void
bd_device_flush(void)
{
	int			rc;

	pgstat_report_wait_start(WAIT_EVENT_DATA_FILE_SYNC);
	rc = pg_fdatasync(bd_dev.fd);
	pgstat_report_wait_end();
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
