/*-------------------------------------------------------------------------
 *
 * bd_powerloss.c
 *	  Test builds only: a transport that wraps the device's and logs every
 *	  write, zeroing and flush, the log that
 *	  test/modules/powerloss/pgrac_powerloss turns into a simulated power
 *	  cut (docs/power-loss.md).
 *
 * Compiled to nothing unless PGRAC_POWERLOSS_SIM is defined; the installed
 * library never has it.  bd_device.c wraps the transport it opened; the
 * wrapper logs only while pgrac.powerloss_log names a file and passes
 * every call straight through otherwise.  Asynchronous writes are done
 * synchronously here, one range at a time, each logged with the contents
 * it replaces; reads go to the wrapped transport's engine.  Buffers are
 * malloc'd, not palloc'd: device writes happen inside critical sections
 * too.
 *
 * Record layout (host byte order; the log never leaves the machine):
 *	  uint32 magic, uint32 kind, uint64 offset, uint64 length, uint64 pos
 *	  WRITE: old bytes, new bytes (length each); ZERO: old bytes;
 *	  FLUSH: nothing (pos: the log size noted before the flush started)
 *	  uint32 trailing magic
 *
 * src/blockdev/device/bd_powerloss.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef PGRAC_POWERLOSS_SIM

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/wait_event.h"

#include "blockdev/device/bd_device.h"

char	   *pgrac_powerloss_log = NULL;
int			pgrac_powerloss_checkpoint_pause_ms = 0;
bool		pgrac_powerloss_cut_in_window = false;

static int	log_fd = -1;

/* a growable, I/O-aligned scratch buffer per use */
typedef struct Scratch
{
	char	   *data;
	size_t		size;
} Scratch;

static Scratch old_buf;
static Scratch record_buf;

static char *
scratch(Scratch *s, size_t size)
{
	if (s->size < size)
	{
		void	   *p;

		free(s->data);
		s->data = NULL;
		s->size = 0;
		if (posix_memalign(&p, PG_IO_ALIGN_SIZE, size) != 0)
			elog(PANIC, "power-loss simulation: out of memory for %zu bytes", size);
		s->data = p;
		s->size = size;
	}
	return s->data;
}

static bool
bd_powerloss_active(void)
{
	return pgrac_powerloss_log != NULL && pgrac_powerloss_log[0] != '\0';
}

static int
log_file(void)
{
	if (log_fd < 0)
	{
		log_fd = open(pgrac_powerloss_log, O_WRONLY | O_APPEND | O_CREAT, 0600);
		if (log_fd < 0)
			elog(PANIC, "power-loss simulation: could not open log \"%s\": %m",
				 pgrac_powerloss_log);
	}
	return log_fd;
}

/* Append one record with a single write(): records never interleave. */
static void
append(uint32 kind, uint64 offset, uint64 len, uint64 pos,
	   const char *old, const struct iovec *iov, int iovcnt)
{
	size_t		payload = (kind == BD_PL_WRITE ? 2 * len : kind == BD_PL_ZERO ? len : 0);
	size_t		total = 32 + payload + 4;
	char	   *rec = scratch(&record_buf, total);
	char	   *p = rec;
	uint32		magic = BD_PL_MAGIC;
	ssize_t		done;

	memcpy(p, &magic, 4);
	memcpy(p + 4, &kind, 4);
	memcpy(p + 8, &offset, 8);
	memcpy(p + 16, &len, 8);
	memcpy(p + 24, &pos, 8);
	p += 32;
	if (kind != BD_PL_FLUSH)
	{
		memcpy(p, old, len);
		p += len;
	}
	if (kind == BD_PL_WRITE)
	{
		for (int i = 0; i < iovcnt; i++)
		{
			memcpy(p, iov[i].iov_base, iov[i].iov_len);
			p += iov[i].iov_len;
		}
	}
	memcpy(p, &magic, 4);
	done = write(log_file(), rec, total);
	if (done != (ssize_t) total)
		elog(PANIC, "power-loss simulation: could not append %zu bytes to \"%s\": %m",
			 total, pgrac_powerloss_log);
}

static PgracTransport *inner;

/*
 * The range's contents before it is overwritten; beyond the end of an
 * image file they read as zeroes.
 */
static const char *
save_old(uint64 offset, size_t len)
{
	char	   *old = scratch(&old_buf, len);

	if (pgrac_read(inner, offset, old, len) == 0)
		return old;
	if (inner->error.kind != PGRAC_TE_END)
		elog(PANIC, "power-loss simulation: %s", inner->error.message);
	/* page by page up to the end */
	memset(old, 0, len);
	for (size_t done = 0; done < len; done += BD_PAGE_SIZE)
		if (pgrac_read(inner, offset + done, old + done, Min(BD_PAGE_SIZE, len - done)) < 0)
		{
			if (inner->error.kind != PGRAC_TE_END)
				elog(PANIC, "power-loss simulation: %s", inner->error.message);
			memset(old + done, 0, len - done);
			break;
		}
	return old;
}

/* ---- the wrapping transport ---- */

static int
pl_readv(PgracTransport *t, uint64 offset, const struct iovec *iov, int iovcnt)
{
	if (pgrac_readv(inner, offset, iov, iovcnt) == 0)
		return 0;
	t->error = inner->error;
	return -1;
}

static int
pl_writev(PgracTransport *t, uint64 offset, const struct iovec *iov, int iovcnt)
{
	const char *old = NULL;
	size_t		len = 0;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (bd_powerloss_active())
		old = save_old(offset, len);
	if (pgrac_writev(inner, offset, iov, iovcnt) < 0)
	{
		t->error = inner->error;
		return -1;
	}
	if (old != NULL)
		append(BD_PL_WRITE, offset, len, 0, old, iov, iovcnt);
	return 0;
}

static int
pl_submit(PgracTransport *t, PgracIo *const *ios, int n)
{
	PgracIo    *reads[BD_MAX_TRANSFERS + BD_READ_AHEAD_QUEUE];
	int			nreads = 0;

	for (int i = 0; i < n; i++)
	{
		PgracIo    *io = ios[i];

		if (!io->write || !bd_powerloss_active())
		{
			reads[nreads++] = io;
			continue;
		}
		/* range by range: each range's old contents read just before */
		io->state = PGRAC_IO_DONE;
		io->result = pl_writev(t, io->offset, io->iov, io->iovcnt) == 0 ?
			(int64) io->len : -(t->error.errnum != 0 ? t->error.errnum : EIO);
	}
	if (nreads > 0 && pgrac_submit(inner, reads, nreads) < 0)
	{
		t->error = inner->error;
		return -1;
	}
	return 0;
}

static int
pl_reap(PgracTransport *t, PgracIo *wait_for)
{
	if (pgrac_reap(inner, wait_for) == 0)
		return 0;
	t->error = inner->error;
	return -1;
}

static int
pl_zero(PgracTransport *t, uint64 offset, uint64 len)
{
	if (!bd_powerloss_active())
	{
		if (pgrac_zero(inner, offset, len) == 0)
			return 0;
		t->error = inner->error;
		return -1;
	}
	/* in pieces of at most 1 MB, each logged with its old contents */
	for (uint64 done = 0; done < len; done += 1024 * 1024)
	{
		uint64		piece = Min(len - done, 1024 * 1024);
		const char *old = save_old(offset + done, piece);

		if (pgrac_zero(inner, offset + done, piece) < 0)
		{
			t->error = inner->error;
			return -1;
		}
		append(BD_PL_ZERO, offset + done, piece, 0, old, NULL, 0);
	}
	return 0;
}

/* A flush record names the log size before the flush started. */
static int
pl_flush(PgracTransport *t)
{
	uint64		pos = 0;

	if (bd_powerloss_active())
	{
		struct stat st;

		if (fstat(log_file(), &st) < 0)
			elog(PANIC, "power-loss simulation: could not stat \"%s\": %m", pgrac_powerloss_log);
		pos = (uint64) st.st_size;
	}
	if (pgrac_flush(inner) < 0)
	{
		t->error = inner->error;
		return -1;
	}
	if (bd_powerloss_active())
		append(BD_PL_FLUSH, 0, 0, pos, NULL, NULL, 0);
	return 0;
}

static int
pl_resize(PgracTransport *t, uint64 size)
{
	if (pgrac_resize(inner, size) < 0)
	{
		t->error = inner->error;
		return -1;
	}
	t->size = inner->size;
	return 0;
}

static int
pl_refresh_size(PgracTransport *t)
{
	if (pgrac_refresh_size(inner) < 0)
	{
		t->error = inner->error;
		return -1;
	}
	t->size = inner->size;
	return 0;
}

static int
pl_lock(PgracTransport *t, bool exclusive)
{
	if (pgrac_lock(inner, exclusive) == 0)
		return 0;
	t->error = inner->error;
	return -1;
}

static int
pl_advise(PgracTransport *t, uint64 offset, uint64 len, PgracAdvice advice)
{
	if (pgrac_advise(inner, offset, len, advice) == 0)
		return 0;
	t->error = inner->error;
	return -1;
}

static int
pl_scsi(PgracTransport *t, PgracScsiCommand *cmd)
{
	if (pgrac_scsi(inner, cmd) == 0)
		return 0;
	t->error = inner->error;
	return -1;
}

static void
pl_close(PgracTransport *t)
{
	free(t);
}

static const PgracTransportOps powerloss_ops = {
	.name = "powerloss",
	.readv = pl_readv,
	.writev = pl_writev,
	.submit = pl_submit,
	.reap = pl_reap,
	.zero = pl_zero,
	.flush = pl_flush,
	.resize = pl_resize,
	.refresh_size = pl_refresh_size,
	.lock = pl_lock,
	.advise = pl_advise,
	.scsi = pl_scsi,
	.close = pl_close,
};

PgracTransport *
bd_powerloss_wrap(PgracTransport *wrapped)
{
	PgracTransport *t = calloc(1, sizeof(PgracTransport));

	if (t == NULL)
		elog(FATAL, "power-loss simulation: out of memory");
	memcpy(t, wrapped, sizeof(PgracTransport));
	t->ops = &powerloss_ops;
	t->inner = wrapped;
	t->private_data = NULL;
	inner = wrapped;
	return t;
}

/*
 * Between a checkpoint's in-place metadata writes and the flush that makes
 * them durable, wait pgrac.powerloss_checkpoint_pause: a cut of the test
 * can land in that window only where a process waits (docs/power-loss.md,
 * "Blind spot").  With pgrac.powerloss_cut_in_window the checkpoint makes
 * the cut itself: it kills the postmaster here, so a test can aim a round
 * at the window whatever the machine's load.  If the postmaster dies
 * meanwhile, leave at once, with the writes unflushed, and say so for the
 * test to count.
 */
void
bd_powerloss_checkpoint_pause(void)
{
	int			rc;
	long		timeout = pgrac_powerloss_checkpoint_pause_ms;

	if (!IsUnderPostmaster ||
		(pgrac_powerloss_checkpoint_pause_ms <= 0 && !pgrac_powerloss_cut_in_window))
		return;
	if (pgrac_powerloss_cut_in_window)
	{
		ereport(LOG,
				(errmsg("powerloss: the checkpoint kills the postmaster between its metadata writes and its flush")));
		if (kill(PostmasterPid, SIGKILL) != 0)
			elog(PANIC, "powerloss: could not kill the postmaster (PID %d): %m", (int) PostmasterPid);
		/* never go on to the flush: wait until the death shows */
		timeout = 60 * 1000L;
	}
	rc = WaitLatch(MyLatch, WL_TIMEOUT | WL_POSTMASTER_DEATH, timeout, PG_WAIT_EXTENSION);
	if (rc & WL_POSTMASTER_DEATH)
	{
		ereport(LOG,
				(errmsg("powerloss: cut between a checkpoint's metadata writes and its flush")));
		proc_exit(1);
	}
	if (pgrac_powerloss_cut_in_window)
		elog(PANIC, "powerloss: the postmaster (PID %d) was killed but has not exited after 60 s", (int) PostmasterPid);
}

#endif							/* PGRAC_POWERLOSS_SIM */
