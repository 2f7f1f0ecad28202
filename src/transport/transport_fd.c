/*-------------------------------------------------------------------------
 *
 * transport_fd.c
 *	  The file-descriptor transport: a block device or an image file
 *	  reached with positional system calls, and one asynchronous engine
 *	  (io_uring) for whoever submits.  Frontend-safe.
 *
 * All transfers are positional, so processes that inherit the descriptor
 * across fork() may share it.  An io_uring ring is never shared: each
 * process that submits creates its own on first use and ignores one it
 * inherited.  Everything in flight in a process goes through its one
 * ring, whoever submitted it, and every reap marks whatever completed, so
 * two users of the engine in one process (a backend's read and its
 * read-ahead) never lose each other's completions.
 *
 * src/transport/transport_fd.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <liburing.h>
#include <scsi/sg.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "port/pg_iovec.h"
#include "pgrac/transport.h"

#define DEFAULT_QUEUE_DEPTH		256
#define ZERO_CHUNK				(256 * 1024)

typedef struct FdTransport
{
	PgracTransport base;
	int			fd;
	/* io_uring, per process */
	struct io_uring ring;
	pid_t		ring_owner;
} FdTransport;

static inline FdTransport *
fdt(PgracTransport *t)
{
	return (FdTransport *) t;
}

static int
fd_transfer(PgracTransport *t, bool write, uint64 offset,
			const struct iovec *iov, int iovcnt)
{
	struct iovec local[PG_IOV_MAX];
	size_t		len = 0;
	size_t		total = 0;

	if (iovcnt > PG_IOV_MAX || iovcnt < 1)
		return pgrac_transport_fail(t, PGRAC_TE_INVALID, 0,
									"%d buffers for one transfer on device \"%s\" (1 to %d)",
									iovcnt, t->path, PG_IOV_MAX);
	memcpy(local, iov, sizeof(struct iovec) * iovcnt);
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	while (total < len)
	{
		ssize_t		done = write ?
			pg_pwritev(fdt(t)->fd, local, iovcnt, (off_t) (offset + total)) :
			pg_preadv(fdt(t)->fd, local, iovcnt, (off_t) (offset + total));

		if (done < 0 && errno == EINTR)
			continue;
		if (done < 0)
			return pgrac_transport_fail(t, PGRAC_TE_IO, errno,
										"could not %s %zu bytes at offset %llu of device \"%s\"",
										write ? "write" : "read", len - total,
										(unsigned long long) (offset + total), t->path);
		if (done == 0)
			return write ?
				pgrac_transport_fail(t, PGRAC_TE_IO, EIO,
									 "could not write %zu bytes at offset %llu of device \"%s\": no progress",
									 len - total, (unsigned long long) (offset + total), t->path) :
				pgrac_transport_fail(t, PGRAC_TE_END, 0,
									 "could not read %zu bytes at offset %llu of device \"%s\": unexpected end of device",
									 len - total, (unsigned long long) (offset + total), t->path);
		total += done;
		/* go on from where the call stopped, as md.c does */
		while (done > 0)
		{
			if ((size_t) done >= local[0].iov_len)
			{
				done -= local[0].iov_len;
				memmove(local, local + 1, sizeof(struct iovec) * --iovcnt);
			}
			else
			{
				local[0].iov_base = (char *) local[0].iov_base + done;
				local[0].iov_len -= done;
				done = 0;
			}
		}
	}
	return 0;
}

static int
fd_readv(PgracTransport *t, uint64 offset, const struct iovec *iov, int iovcnt)
{
	return fd_transfer(t, false, offset, iov, iovcnt);
}

static int
fd_writev(PgracTransport *t, uint64 offset, const struct iovec *iov, int iovcnt)
{
	return fd_transfer(t, true, offset, iov, iovcnt);
}

/* ---- the asynchronous engine ---- */

static int
ring_ready(PgracTransport *t)
{
	FdTransport *f = fdt(t);
	int			rc;

	if (f->ring_owner == getpid())
		return 0;
	/* a ring inherited across fork() is neither used nor torn down */
	f->ring_owner = 0;
	t->in_flight = 0;
	rc = io_uring_queue_init((unsigned) t->queue_depth, &f->ring, 0);
	if (rc < 0)
		return pgrac_transport_fail(t, PGRAC_TE_IO, -rc,
									"could not set up io_uring for device \"%s\"", t->path);
	f->ring_owner = getpid();
	return 0;
}

static void
complete(PgracTransport *t, struct io_uring_cqe *cqe)
{
	PgracIo    *io = (PgracIo *) io_uring_cqe_get_data(cqe);

	io->result = cqe->res;
	io->state = PGRAC_IO_DONE;
	t->in_flight--;
}

static int
fd_reap(PgracTransport *t, PgracIo *wait_for)
{
	FdTransport *f = fdt(t);

	if (!t->async || f->ring_owner != getpid())
		return 0;
	for (;;)
	{
		struct io_uring_cqe *cqe;
		int			rc;

		if (wait_for != NULL && wait_for->state == PGRAC_IO_IN_FLIGHT)
		{
			/* entries a short submit left behind go now */
			if (io_uring_sq_ready(&f->ring) > 0)
				(void) io_uring_submit(&f->ring);
			rc = io_uring_wait_cqe(&f->ring, &cqe);
		}
		else
			rc = io_uring_peek_cqe(&f->ring, &cqe);
		if (rc == -EINTR)
			continue;
		if (rc == -EAGAIN)
			return 0;
		if (rc < 0)
			return pgrac_transport_fail(t, PGRAC_TE_IO, -rc,
										"could not wait for io_uring completions on device \"%s\"",
										t->path);
		complete(t, cqe);
		io_uring_cqe_seen(&f->ring, cqe);
	}
}

static int
fd_submit(PgracTransport *t, PgracIo *const *ios, int n)
{
	FdTransport *f = fdt(t);
	int			queued = 0;
	int			submit_error = 0;

	if (!t->async)
	{
		/* the synchronous engine: each transfer now */
		for (int i = 0; i < n; i++)
		{
			PgracIo    *io = ios[i];

			io->state = PGRAC_IO_DONE;
			if (fd_transfer(t, io->write, io->offset, io->iov, io->iovcnt) == 0)
				io->result = (int64) io->len;
			else
				io->result = t->error.kind == PGRAC_TE_END ? -ENODATA :
					-(t->error.errnum != 0 ? t->error.errnum : EIO);
		}
		return 0;
	}
	if (n > pgrac_io_room(t))
		return pgrac_transport_fail(t, PGRAC_TE_INVALID, 0,
									"%d transfers submitted to device \"%s\" with room for %d",
									n, t->path, pgrac_io_room(t));
	if (ring_ready(t) < 0)
		return -1;
	for (int i = 0; i < n; i++)
	{
		struct io_uring_sqe *sqe = io_uring_get_sqe(&f->ring);
		PgracIo    *io = ios[i];

		if (sqe == NULL)
		{
			submit_error = EAGAIN;
			break;
		}
		if (io->write)
			io_uring_prep_writev(sqe, f->fd, io->iov, (unsigned) io->iovcnt, io->offset);
		else
			io_uring_prep_readv(sqe, f->fd, io->iov, (unsigned) io->iovcnt, io->offset);
		io_uring_sqe_set_data(sqe, io);
		io->state = PGRAC_IO_IN_FLIGHT;
		queued++;
	}
	while (submit_error == 0 && io_uring_sq_ready(&f->ring) > 0)
	{
		int			rc = io_uring_submit(&f->ring);

		if (rc > 0)
			t->in_flight += rc;
		else if (rc == -EINTR)
			continue;
		else if (rc == -EAGAIN)
			pg_usleep(100L);	/* the kernel is short of resources: soon */
		else
			submit_error = rc == 0 ? EIO : -rc;
	}
	if (submit_error == 0)
		return 0;

	/*
	 * Nothing is known about entries the kernel did not take: wait for
	 * everything it did take, whoever submitted it, then drop the ring with
	 * the rest.  The transfers of this call that never went mark failed.
	 */
	while (t->in_flight > 0)
	{
		struct io_uring_cqe *cqe;
		int			rc = io_uring_wait_cqe(&f->ring, &cqe);

		if (rc == -EINTR)
			continue;
		if (rc < 0)
			return pgrac_transport_fail(t, PGRAC_TE_IO, -rc,
										"could not wait for io_uring completions on device \"%s\"",
										t->path);
		complete(t, cqe);
		io_uring_cqe_seen(&f->ring, cqe);
	}
	io_uring_queue_exit(&f->ring);
	f->ring_owner = 0;
	for (int i = 0; i < n; i++)
		if (ios[i]->state == PGRAC_IO_IN_FLIGHT)
		{
			ios[i]->state = PGRAC_IO_DONE;
			ios[i]->result = -submit_error;
		}
	return pgrac_transport_fail(t, PGRAC_TE_IO, submit_error,
								"could not submit I/O to device \"%s\" through io_uring", t->path);
}

/* ---- the rest of the calls ---- */

static int
fd_zero(PgracTransport *t, uint64 offset, uint64 len)
{
	static char *zeroes = NULL;
	int			rc;

	if (len == 0)
		return 0;
	if (t->kind == PGRAC_DEVICE_BLOCK)
	{
		uint64		range[2] = {offset, len};

		rc = ioctl(fdt(t)->fd, BLKZEROOUT, range);
	}
	else
		rc = fallocate(fdt(t)->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					   (off_t) offset, (off_t) len);
	if (rc == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOTTY && errno != EINVAL)
		return pgrac_transport_fail(t, PGRAC_TE_IO, errno,
									"could not zero %llu bytes at offset %llu of device \"%s\"",
									(unsigned long long) len, (unsigned long long) offset, t->path);
	/* neither is supported here: write zeroes (aligned for direct I/O) */
	if (zeroes == NULL)
	{
		void	   *p;

		if (posix_memalign(&p, 4096, ZERO_CHUNK) != 0)
			return pgrac_transport_fail(t, PGRAC_TE_IO, ENOMEM,
										"could not zero bytes of device \"%s\"", t->path);
		memset(p, 0, ZERO_CHUNK);
		zeroes = p;
	}
	for (uint64 done = 0; done < len; done += ZERO_CHUNK)
		if (pgrac_write(t, offset + done, zeroes, (size_t) Min(ZERO_CHUNK, len - done)) < 0)
			return -1;
	return 0;
}

/*
 * fdatasync: on a block device it flushes the device's cache; on an image
 * file it also writes the metadata needed to read the data back, the file
 * size after a resize included.
 */
static int
fd_flush(PgracTransport *t)
{
	if (fdatasync(fdt(t)->fd) < 0)
		return pgrac_transport_fail(t, PGRAC_TE_IO, errno,
									"could not flush device \"%s\"", t->path);
	return 0;
}

static int
fd_resize(PgracTransport *t, uint64 size)
{
	if (t->kind != PGRAC_DEVICE_FILE)
		return pgrac_transport_fail(t, PGRAC_TE_UNSUPPORTED, 0,
									"cannot resize block device \"%s\"", t->path);
	if (ftruncate(fdt(t)->fd, (off_t) size) < 0)
		return pgrac_transport_fail(t, PGRAC_TE_IO, errno,
									"could not resize image file \"%s\" to %llu bytes",
									t->path, (unsigned long long) size);
	t->size = size;
	return 0;
}

static int
fd_refresh_size(PgracTransport *t)
{
	struct stat st;

	if (t->kind == PGRAC_DEVICE_BLOCK)
	{
		uint64		bytes;

		if (ioctl(fdt(t)->fd, BLKGETSIZE64, &bytes) < 0)
			return pgrac_transport_fail(t, PGRAC_TE_IO, errno,
										"could not get the size of block device \"%s\"", t->path);
		t->size = bytes;
		return 0;
	}
	if (fstat(fdt(t)->fd, &st) < 0)
		return pgrac_transport_fail(t, PGRAC_TE_IO, errno, "could not stat device \"%s\"", t->path);
	t->size = (uint64) st.st_size;
	return 0;
}

static int
fd_lock(PgracTransport *t, bool exclusive)
{
	if (flock(fdt(t)->fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		return pgrac_transport_fail(t, PGRAC_TE_IN_USE, errno,
									"device \"%s\" is in use by another process", t->path);
	return pgrac_transport_fail(t, PGRAC_TE_IO, errno,
								"could not lock device \"%s\"", t->path);
}

static int
fd_advise(PgracTransport *t, uint64 offset, uint64 len, PgracAdvice advice)
{
	int			rc = 0;

	if (advice == PGRAC_ADVISE_WILLNEED)
	{
		if (!t->direct)
			rc = posix_fadvise(fdt(t)->fd, (off_t) offset, (off_t) len, POSIX_FADV_WILLNEED);
		if (rc != 0)
			return pgrac_transport_fail(t, PGRAC_TE_IO, rc,
										"could not prefetch %llu bytes at offset %llu of device \"%s\"",
										(unsigned long long) len, (unsigned long long) offset, t->path);
	}
	else if (!t->direct &&
			 sync_file_range(fdt(t)->fd, (off_t) offset, (off_t) len, SYNC_FILE_RANGE_WRITE) < 0)
		return pgrac_transport_fail(t, PGRAC_TE_IO, errno,
									"could not start writeback of %llu bytes at offset %llu of device \"%s\"",
									(unsigned long long) len, (unsigned long long) offset, t->path);
	return 0;
}

/* SCSI pass-through: SG_IO on block devices that take it. */
static int
fd_scsi(PgracTransport *t, PgracScsiCommand *cmd)
{
	sg_io_hdr_t hdr;

	if (t->kind != PGRAC_DEVICE_BLOCK)
		return pgrac_transport_fail(t, PGRAC_TE_UNSUPPORTED, 0,
									"device \"%s\" is an image file: it takes no SCSI commands", t->path);
	memset(&hdr, 0, sizeof(hdr));
	hdr.interface_id = 'S';
	hdr.cmdp = unconstify(uint8 *, cmd->cdb);
	hdr.cmd_len = (unsigned char) cmd->cdb_len;
	hdr.dxferp = cmd->data;
	hdr.dxfer_len = (unsigned int) cmd->data_len;
	hdr.dxfer_direction = cmd->direction == PGRAC_SCSI_TO_DEVICE ? SG_DXFER_TO_DEV :
		cmd->direction == PGRAC_SCSI_FROM_DEVICE ? SG_DXFER_FROM_DEV : SG_DXFER_NONE;
	hdr.sbp = cmd->sense;
	hdr.mx_sb_len = (unsigned char) Min(cmd->sense_len, 255);
	hdr.timeout = cmd->timeout_ms != 0 ? cmd->timeout_ms : 30000;
	if (ioctl(fdt(t)->fd, SG_IO, &hdr) < 0)
	{
		if (errno == ENOTTY || errno == EINVAL)
			return pgrac_transport_fail(t, PGRAC_TE_UNSUPPORTED, errno,
										"block device \"%s\" takes no SCSI commands (SG_IO: %s)",
										t->path, strerror(errno));
		return pgrac_transport_fail(t, PGRAC_TE_IO, errno,
									"could not send a SCSI command to device \"%s\"", t->path);
	}
	if (hdr.host_status != 0 || (hdr.driver_status & 0x07) != 0)
		return pgrac_transport_fail(t, PGRAC_TE_IO, EIO,
									"SCSI command on device \"%s\" failed in transport (host status 0x%x, driver status 0x%x)",
									t->path, hdr.host_status, hdr.driver_status);
	cmd->status = hdr.status;
	cmd->sense_got = hdr.sb_len_wr;
	cmd->residual = hdr.resid > 0 ? (size_t) hdr.resid : 0;
	return 0;
}

static void
fd_close(PgracTransport *t)
{
	FdTransport *f = fdt(t);

	if (f->ring_owner == getpid())
		io_uring_queue_exit(&f->ring);
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

static const PgracTransportOps fd_ops = {
	.name = "file",
	.readv = fd_readv,
	.writev = fd_writev,
	.submit = fd_submit,
	.reap = fd_reap,
	.zero = fd_zero,
	.flush = fd_flush,
	.resize = fd_resize,
	.refresh_size = fd_refresh_size,
	.lock = fd_lock,
	.advise = fd_advise,
	.scsi = fd_scsi,
	.close = fd_close,
};

/* ---- open ---- */

/* direct I/O: the alignment the device needs */
static int
learn_alignment(PgracTransport *t)
{
	FdTransport *f = fdt(t);

	if (t->kind == PGRAC_DEVICE_BLOCK)
	{
		int			sector;

		if (ioctl(f->fd, BLKSSZGET, &sector) < 0)
			return pgrac_transport_fail(t, PGRAC_TE_IO, errno,
										"could not get the logical block size of block device \"%s\"", t->path);
		t->offset_align = t->mem_align = (uint32) sector;
	}
	else
	{
		struct statx stx;

		if (statx(f->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) < 0)
			return pgrac_transport_fail(t, PGRAC_TE_IO, errno,
										"could not get the direct I/O alignment of \"%s\"", t->path);
		if ((stx.stx_mask & STATX_DIOALIGN) == 0)
			return pgrac_transport_fail(t, PGRAC_TE_UNSUPPORTED, 0,
										"the file system holding \"%s\" does not report its direct I/O alignment", t->path);
		if (stx.stx_dio_offset_align == 0)
			return pgrac_transport_fail(t, PGRAC_TE_UNSUPPORTED, 0,
										"the file system holding \"%s\" does not support direct I/O on it", t->path);
		t->offset_align = stx.stx_dio_offset_align;
		t->mem_align = stx.stx_dio_mem_align;
	}
	return 0;
}

/* io_uring: a ring can be made here and does vectored reads and writes */
static int
probe_io_uring(PgracTransport *t)
{
	struct io_uring probe_ring;
	struct io_uring_probe *probe;
	int			rc = io_uring_queue_init(4, &probe_ring, 0);
	bool		ok;

	if (rc < 0)
		return pgrac_transport_fail(t, PGRAC_TE_UNSUPPORTED, -rc,
									"io_uring is not available: %s", strerror(-rc));
	probe = io_uring_get_probe_ring(&probe_ring);
	ok = probe != NULL &&
		io_uring_opcode_supported(probe, IORING_OP_READV) &&
		io_uring_opcode_supported(probe, IORING_OP_WRITEV);
	if (probe)
		io_uring_free_probe(probe);
	io_uring_queue_exit(&probe_ring);
	if (!ok)
		return pgrac_transport_fail(t, PGRAC_TE_UNSUPPORTED, 0,
									"io_uring is not available: the kernel's io_uring lacks vectored reads and writes");
	return 0;
}

PgracTransport *
pgrac_fd_transport_open(const char *path, const PgracTransportOptions *options,
						PgracTransportError *error)
{
	FdTransport *f = calloc(1, sizeof(FdTransport));
	PgracTransport *t;
	struct stat st;
	int			flags = (options->writable ? O_RDWR : O_RDONLY) | PG_BINARY;

	if (f == NULL)
	{
		error->kind = PGRAC_TE_IO;
		error->errnum = ENOMEM;
		snprintf(error->message, sizeof(error->message), "could not open device \"%s\": out of memory", path);
		return NULL;
	}
	t = &f->base;
	t->ops = &fd_ops;
	f->fd = -1;
	strlcpy(t->path, path, sizeof(t->path));
	t->writable = options->writable;
	t->queue_depth = options->queue_depth > 0 ? options->queue_depth : DEFAULT_QUEUE_DEPTH;
	if (options->create)
		flags |= O_CREAT | O_EXCL;
	if (options->direct)
		flags |= O_DIRECT;
	f->fd = open(path, flags, 0600);
	if (f->fd < 0)
	{
		int			save_errno = errno;

		if (save_errno == EINVAL && options->direct)
			pgrac_transport_fail(t, PGRAC_TE_UNSUPPORTED, save_errno,
								 "could not open device \"%s\" for direct I/O: the file system holding it does not support O_DIRECT", path);
		else
			pgrac_transport_fail(t, save_errno == ENOENT ? PGRAC_TE_NOT_FOUND : PGRAC_TE_IO, save_errno,
								 options->create ? "could not create image file \"%s\"" :
								 "could not open device \"%s\"", path);
		goto fail;
	}
	t->created = options->create;
	if (fstat(f->fd, &st) < 0)
	{
		pgrac_transport_fail(t, PGRAC_TE_IO, errno, "could not stat device \"%s\"", path);
		goto fail;
	}
	if (S_ISBLK(st.st_mode))
		t->kind = PGRAC_DEVICE_BLOCK;
	else if (S_ISREG(st.st_mode))
		t->kind = PGRAC_DEVICE_FILE;
	else
	{
		pgrac_transport_fail(t, PGRAC_TE_INVALID, 0,
							 "\"%s\" is neither a block device nor a regular file", path);
		goto fail;
	}
	if (fd_refresh_size(t) < 0)
		goto fail;
	t->direct = options->direct;
	if (t->direct && learn_alignment(t) < 0)
		goto fail;
	t->async = options->async;
	if (t->async && probe_io_uring(t) < 0)
		goto fail;
	t->error.kind = PGRAC_TE_NONE;
	return t;

fail:
	*error = t->error;
	if (f->fd >= 0)
		close(f->fd);
	if (t->created)
		unlink(path);
	free(f);
	return NULL;
}
