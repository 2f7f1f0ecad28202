/*-------------------------------------------------------------------------
 *
 * transport.h
 *	  The device transport: how every part of pgrac_storage reaches the
 *	  bytes of a device.  The server, pgrac_image, the unit tests and the
 *	  fuzz targets all go through this one interface, and the power-loss
 *	  simulator of test builds is a transport that wraps another.
 *
 * Frontend-safe: it needs c.h only.  It never calls elog, palloc or exit:
 * a failing call returns -1 and leaves what failed in the transport
 * (t->error: its kind, the system error, and a sentence naming the device,
 * the offset and the length), and the caller decides what that means
 * (an ERROR in a backend, a PANIC with I/O still in flight, an exit in
 * the tool).
 *
 * Semantics every implementation keeps:
 *	- readv/writev transfer exactly what was asked or fail: a partial
 *	  transfer is continued from where it stopped (as md.c continues short
 *	  preadv/pwritev calls); a read that reaches the end of the device is
 *	  an error of kind PGRAC_TE_END, never a silent short read.
 *	- submit/reap is the asynchronous engine: each PgracIo is in flight
 *	  from submit until a reap marks it done; its iovec and buffers must
 *	  stay valid until then.  With the synchronous engine submit does the
 *	  transfer at once and reap has nothing to do, so callers need one
 *	  code path.  A completed PgracIo records what the device returned
 *	  (bytes or -errno); pgrac_io_finish() turns a short one into a
 *	  complete one or an error.
 *	- flush: everything written before the call is durable after it,
 *	  the device's volatile cache included (fdatasync on a file or block
 *	  device; SYNCHRONIZE CACHE elsewhere).
 *	- zero: the range reads as zeroes afterwards (a discard where the
 *	  device guarantees zeroes, a punched hole, or written zeroes).
 *	- lock: advisory exclusion between processes of this host (flock);
 *	  across hosts, exclusion is the fence drivers' job.
 *
 * include/pgrac/transport.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_TRANSPORT_H
#define PGRAC_TRANSPORT_H

#include <sys/uio.h>

typedef struct PgracTransport PgracTransport;

/* what a device is */
typedef enum PgracDeviceKind
{
	PGRAC_DEVICE_FILE,			/* an image file: resizable, sparse */
	PGRAC_DEVICE_BLOCK,			/* a block device: fixed size */
} PgracDeviceKind;

/* how a call failed */
typedef enum PgracTransportErrorKind
{
	PGRAC_TE_NONE = 0,
	PGRAC_TE_IO,				/* the system call failed: error_errno */
	PGRAC_TE_END,				/* a read reached the end of the device */
	PGRAC_TE_NOT_FOUND,			/* open: no such device (error_errno ENOENT) */
	PGRAC_TE_IN_USE,			/* lock: another process holds it */
	PGRAC_TE_UNSUPPORTED,		/* the device or transport cannot do this */
	PGRAC_TE_INVALID,			/* the caller's request is wrong */
} PgracTransportErrorKind;

/* a failure: what kind, the system error if any, and a sentence */
typedef struct PgracTransportError
{
	PgracTransportErrorKind kind;
	int			errnum;
	char		message[512];
} PgracTransportError;

typedef struct PgracTransportOptions
{
	bool		writable;
	bool		create;			/* create a new image file (must not exist) */
	bool		direct;			/* bypass the page cache (O_DIRECT) */
	bool		async;			/* submit/reap through io_uring */
	int			queue_depth;	/* most PgracIo in flight; 0: 256 */
} PgracTransportOptions;

/* one asynchronous transfer of a contiguous device range */
typedef enum PgracIoState
{
	PGRAC_IO_IDLE,
	PGRAC_IO_IN_FLIGHT,
	PGRAC_IO_DONE,
} PgracIoState;

typedef struct PgracIo
{
	/* set by the caller before submit */
	bool		write;
	uint64		offset;
	const struct iovec *iov;
	int			iovcnt;
	size_t		len;
	/* set by the transport */
	PgracIoState state;
	int64		result;			/* bytes transferred, or -errno */
} PgracIo;

/* a SCSI command for the fence drivers (pass-through) */
typedef enum PgracScsiDirection
{
	PGRAC_SCSI_NONE,
	PGRAC_SCSI_TO_DEVICE,
	PGRAC_SCSI_FROM_DEVICE,
} PgracScsiDirection;

typedef struct PgracScsiCommand
{
	const uint8 *cdb;
	int			cdb_len;
	PgracScsiDirection direction;
	void	   *data;
	size_t		data_len;
	uint8	   *sense;			/* at least 32 bytes, or NULL */
	size_t		sense_len;
	unsigned int timeout_ms;	/* 0: 30 s */
	/* results */
	uint8		status;			/* SCSI status byte */
	size_t		sense_got;
	size_t		residual;
} PgracScsiCommand;

/* hints: never change what reads return */
typedef enum PgracAdvice
{
	PGRAC_ADVISE_WILLNEED,		/* the range will be read soon */
	PGRAC_ADVISE_WRITEBACK,		/* start writing the range back now */
} PgracAdvice;

typedef struct PgracTransportOps
{
	const char *name;
	int			(*readv) (PgracTransport *t, uint64 offset,
						  const struct iovec *iov, int iovcnt);
	int			(*writev) (PgracTransport *t, uint64 offset,
						   const struct iovec *iov, int iovcnt);
	int			(*submit) (PgracTransport *t, PgracIo *const *ios, int n);
	int			(*reap) (PgracTransport *t, PgracIo *wait_for);
	int			(*zero) (PgracTransport *t, uint64 offset, uint64 len);
	int			(*flush) (PgracTransport *t);
	int			(*resize) (PgracTransport *t, uint64 size);
	int			(*refresh_size) (PgracTransport *t);	/* t->size from the
														 * device */
	int			(*lock) (PgracTransport *t, bool exclusive);
	int			(*advise) (PgracTransport *t, uint64 offset, uint64 len,
						   PgracAdvice advice);
	int			(*scsi) (PgracTransport *t, PgracScsiCommand *cmd);
	void		(*close) (PgracTransport *t);
} PgracTransportOps;

#define PGRAC_TRANSPORT_PATH_MAX	1024

struct PgracTransport
{
	const PgracTransportOps *ops;
	PgracTransport *inner;		/* of a wrapping transport, else NULL */
	char		path[PGRAC_TRANSPORT_PATH_MAX];
	PgracDeviceKind kind;
	uint64		size;			/* bytes */
	bool		writable;
	bool		direct;
	bool		async;			/* submit goes through a kernel queue */
	bool		created;		/* open created the image file */
	uint32		offset_align;	/* direct I/O: offsets and lengths */
	uint32		mem_align;		/* direct I/O: buffers */
	int			queue_depth;
	int			in_flight;		/* PgracIo submitted and not yet reaped */
	PgracTransportError error;	/* the last failure */
	void	   *private_data;
};

/*
 * Open a device named by a path ("/dev/sdb", "pgdata/pg_pgrac/device.img")
 * or a URL ("file:/dev/sdb"; other schemes are named in the error when
 * this build has no transport for them).  Returns NULL with the reason in
 * error when it cannot.
 */
extern PgracTransport *pgrac_transport_open(const char *spec,
											const PgracTransportOptions *options,
											PgracTransportError *error);
extern bool pgrac_transport_scheme_known(const char *spec);

/* the calls, each returning 0 or -1 (the reason in t) */
static inline int
pgrac_read(PgracTransport *t, uint64 offset, void *buf, size_t len)
{
	struct iovec iov = {buf, len};

	return t->ops->readv(t, offset, &iov, 1);
}

static inline int
pgrac_write(PgracTransport *t, uint64 offset, const void *buf, size_t len)
{
	struct iovec iov = {(void *) buf, len};

	return t->ops->writev(t, offset, &iov, 1);
}

#define pgrac_readv(t, off, iov, n)		((t)->ops->readv((t), (off), (iov), (n)))
#define pgrac_writev(t, off, iov, n)	((t)->ops->writev((t), (off), (iov), (n)))
#define pgrac_submit(t, ios, n)			((t)->ops->submit((t), (ios), (n)))
#define pgrac_reap(t, wait_for)			((t)->ops->reap((t), (wait_for)))
#define pgrac_zero(t, off, len)			((t)->ops->zero((t), (off), (len)))
#define pgrac_flush(t)					((t)->ops->flush(t))
#define pgrac_resize(t, size)			((t)->ops->resize((t), (size)))
#define pgrac_refresh_size(t)			((t)->ops->refresh_size(t))
#define pgrac_lock(t, excl)				((t)->ops->lock((t), (excl)))
#define pgrac_advise(t, off, len, a)	((t)->ops->advise((t), (off), (len), (a)))
#define pgrac_scsi(t, cmd)				((t)->ops->scsi((t), (cmd)))

extern void pgrac_transport_close(PgracTransport *t);

/* PgracIo that may still be submitted without exceeding the queue */
static inline int
pgrac_io_room(const PgracTransport *t)
{
	/* a wrapping transport's queue is the one it wraps */
	while (t->inner != NULL)
		t = t->inner;
	return t->queue_depth - t->in_flight;
}

/*
 * After a PgracIo completed: 0 when it transferred everything (a short
 * transfer is finished synchronously first), -1 with the reason in t.
 */
extern int	pgrac_io_finish(PgracTransport *t, PgracIo *io);

/* Recording a failure (for implementations and wrapping transports). */
extern int	pgrac_transport_fail(PgracTransport *t, PgracTransportErrorKind kind,
								 int errnum, const char *fmt,...)
			pg_attribute_printf(4, 5);

/* The file-descriptor transport (transport_fd.c), for wrappers and tests. */
extern PgracTransport *pgrac_fd_transport_open(const char *path,
											   const PgracTransportOptions *options,
											   PgracTransportError *error);

/* The 8 kB page callbacks of the pure image code (pgrac/bd_image.h) */
struct BdIo;
extern bool pgrac_transport_read_page(void *transport, uint64 address, uint8 *page);
extern bool pgrac_transport_write_page(void *transport, uint64 address, const uint8 *page);

#endif							/* PGRAC_TRANSPORT_H */
