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

void
bd_device_read(uint64 offset, void *buf, size_t len)
{
	ssize_t		done;

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
