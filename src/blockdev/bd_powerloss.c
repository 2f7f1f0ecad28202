/*-------------------------------------------------------------------------
 *
 * bd_powerloss.c
 *	  Test builds only: the log of device writes since the last flush that
 *	  test/modules/powerloss/pgrac_powerloss turns into a simulated power
 *	  cut (docs/power-loss.md).
 *
 * Compiled to nothing unless PGRAC_POWERLOSS_SIM is defined; the installed
 * library never has it.  Active only while pgrac.powerloss_log names a
 * file.  Buffers are malloc'd, not palloc'd: device writes happen inside
 * critical sections too.
 *
 * Record layout (host byte order; the log never leaves the machine):
 *	  uint32 magic, uint32 kind, uint64 offset, uint64 length, uint64 pos
 *	  WRITE: old bytes, new bytes (length each); ZERO: old bytes;
 *	  FLUSH: nothing (pos: the log size noted before the flush started)
 *	  uint32 trailing magic
 *
 * src/blockdev/bd_powerloss.c
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

#include "bd_server.h"

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

bool
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

/* The range's contents before it is overwritten. */
const char *
bd_powerloss_save(uint64 offset, size_t len)
{
	char	   *old = scratch(&old_buf, len);
	size_t		done = 0;

	while (done < len)
	{
		ssize_t		n = pg_pread(bd_dev.fd, old + done, len - done, (off_t) (offset + done));

		if (n < 0)
			elog(PANIC, "power-loss simulation: could not read %zu bytes at offset %llu: %m",
				 len - done, (unsigned long long) (offset + done));
		if (n == 0)
		{
			/* beyond the end of an image file: reads as zeroes */
			memset(old + done, 0, len - done);
			break;
		}
		done += n;
	}
	return old;
}

void
bd_powerloss_log_write(uint64 offset, size_t len, const char *old,
					   const struct iovec *iov, int iovcnt)
{
	append(BD_PL_WRITE, offset, len, 0, old, iov, iovcnt);
}

void
bd_powerloss_log_zero(uint64 offset, size_t len, const char *old)
{
	append(BD_PL_ZERO, offset, len, 0, old, NULL, 0);
}

/* Before a flush: the log size, every record before it durable after. */
uint64
bd_powerloss_flush_start(void)
{
	struct stat st;

	if (fstat(log_file(), &st) < 0)
		elog(PANIC, "power-loss simulation: could not stat \"%s\": %m", pgrac_powerloss_log);
	return (uint64) st.st_size;
}

void
bd_powerloss_flush_done(uint64 pos)
{
	append(BD_PL_FLUSH, 0, 0, pos, NULL, NULL, 0);
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
