/*-------------------------------------------------------------------------
 *
 * twophase_shmem.c
 *	  The 2PC coordinator log in the server: opened by the postmaster while
 *	  shared memory is initialised (the lock file, the recovery of the
 *	  segments, the live transactions), and appended to by every process
 *	  with group commit.
 *
 * Appending is two steps, as with WAL.  twophase_insert() copies a record
 * into the shared buffer under insert_lock, which gives it its log
 * position and updates the table of live transactions in the same
 * critical section, so that the table always matches the log up to the
 * inserted position.  twophase_flush() then waits until the log is durable
 * up to the record's end: with LWLockAcquireOrWait() on write_lock, the
 * process that gets the lock writes everything inserted so far with one
 * write and one fdatasync (pgrac_twophase_store_append()), and the others,
 * woken when it releases the lock, find their records flushed.
 *
 * A record that does not fit in the current segment makes its inserter
 * switch segments: holding write_lock and insert_lock, it writes what is
 * buffered, creates the next segment (whose Checkpoint record names the
 * live transactions: the table, exactly as of that position) and removes
 * the segments no live transaction needs.
 *
 * The store's descriptor of the current segment is per process: each
 * process opens the segment by name when it first writes to it, and puts
 * its descriptor in the shared store only while it holds write_lock.
 *
 * src/twophase/twophase_shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "access/xlog.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "twophase/twophase_server.h"

#define TWOPHASE_PARENT_DIR		"pg_pgrac"
#define TWOPHASE_DIR			"pg_pgrac/twophase"

/* settings (pgrac_storage.c defines them) */
bool		pgrac_twophase = false;
int			pgrac_twophase_max_transactions = 128;
int			pgrac_twophase_segment_size_mb = 16;
int			pgrac_twophase_commit_delay_us = 0;
int			pgrac_twophase_resolver_interval_ms = 10000;
int			pgrac_twophase_finish_timeout_ms = 30000;
#ifdef PGRAC_TEST_HOOKS
char	   *pgrac_twophase_test_stop_at = NULL;
#endif

TwophaseShared *twophase_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* the postmaster's hold on the lock file, kept across crash restarts */
static int	lock_fd = -1;

static void remove_segments_if_unneeded(void);

/* this process's descriptor of the current segment */
static int	my_fd = -1;
static uint64 my_fd_start = 0;

static Size
twophase_shmem_size(void)
{
	Size		size = MAXALIGN(sizeof(TwophaseShared));

	size = add_size(size, mul_size(pgrac_twophase_max_transactions, sizeof(TwophaseEntry)));
	size = add_size(size, TWOPHASE_BUFFER_SIZE);
	return size;
}

static void
twophase_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(twophase_shmem_size());
	RequestNamedLWLockTranche("pgrac_twophase", 2);
}

static void
set_unavailable(const char *reason)
{
	twophase_shared->available = false;
	strlcpy(twophase_shared->unavailable_reason, reason,
			sizeof(twophase_shared->unavailable_reason));
}

static void
take_lock_file(void)
{
	char		holder_text[256];
	char		holder[512];
	char		error[1200];

	if (lock_fd >= 0)
		return;
	snprintf(holder_text, sizeof(holder_text),
			 "postmaster PID %d, started at %s, data directory %s",
			 (int) getpid(), timestamptz_to_str(PgStartTime), DataDir);
	switch (pgrac_twophase_lock(TWOPHASE_DIR, holder_text, &lock_fd, holder, sizeof(holder),
								error, sizeof(error)))
	{
		case PGRAC_2PC_LOCK_ACQUIRED:
			return;
		case PGRAC_2PC_LOCK_HELD:
			ereport(FATAL,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("the 2PC coordinator log \"%s\" is in use by another server", TWOPHASE_DIR),
					 errdetail("Its lock file names the holder: %s.", holder),
					 errhint("Two coordinators must never share one log: stop the other server, or give this one its own data directory.")));
			break;
		case PGRAC_2PC_LOCK_ERROR:
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not lock the 2PC coordinator log: %s", error)));
			break;
	}
}

/* The postmaster's part: lock, recover, fill the table. */
static void
open_log(void)
{
	PgracTwophaseRecovery *rec = malloc(sizeof(PgracTwophaseRecovery));
	PgracTwophaseLive *live = malloc(sizeof(PgracTwophaseLive) * PGRAC_2PC_MAX_LIVE);
	PgracTwophaseLive *scratch = malloc(sizeof(PgracTwophaseLive) * PGRAC_2PC_MAX_LIVE);
	PgracTwophaseStore *st = &twophase_shared->store;
	TimestampTz now = GetCurrentTimestamp();

	if (rec == NULL || live == NULL || scratch == NULL)
		ereport(FATAL, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));

	if ((MakePGDirectory(TWOPHASE_PARENT_DIR) < 0 && errno != EEXIST) ||
		(MakePGDirectory(TWOPHASE_DIR) < 0 && errno != EEXIST))
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", TWOPHASE_DIR)));
	take_lock_file();

	if (!pgrac_twophase_store_open(st, TWOPHASE_DIR, GetSystemIdentifier(),
								   (uint64) pgrac_twophase_segment_size_mb * 1024 * 1024,
								   &pgrac_twophase_posix_io, rec, live, scratch))
	{
		set_unavailable(st->error);
		ereport(LOG,
				(errcode(ERRCODE_IO_ERROR),
				 errmsg("the 2PC coordinator log is unavailable: %s", st->error),
				 errdetail("Distributed transactions are refused until this is repaired and the server restarted; everything else is served.")));
	}
	else
	{
		if (rec->nlive > twophase_shared->nentries)
			ereport(FATAL,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("the 2PC coordinator log holds %d live distributed transactions, more than pgrac.twophase_max_transactions (%d)",
							rec->nlive, twophase_shared->nentries),
					 errhint("Raise pgrac.twophase_max_transactions to at least %d.", rec->nlive)));
		for (int i = 0; i < rec->nlive; i++)
		{
			TwophaseEntry *e = &twophase_shared->entries[i];

			e->in_use = true;
			e->since = now;
			e->live = live[i];
			/* nothing is known of the participants: ask each */
			for (int p = 0; p < live[i].begin.nparticipants; p++)
				e->part_state[p] = TWOPHASE_PART_UNKNOWN;
		}
		twophase_shared->available = true;
		twophase_shared->corrupt_before = rec->corrupt_before;
		twophase_shared->ncorrupt = rec->ncorrupt;
		twophase_shared->norphans = rec->norphans;
		twophase_shared->inserted = pgrac_twophase_store_position(st);
		twophase_shared->buf_base = twophase_shared->inserted;
		twophase_shared->segment_end = twophase_shared->inserted + pgrac_twophase_store_room(st);
		pg_atomic_init_u64(&twophase_shared->flushed, twophase_shared->inserted);
		/* every process opens the segment itself */
		if (st->fd >= 0)
			close(st->fd);
		st->fd = -1;
		ereport(rec->ncorrupt > 0 ? WARNING : LOG,
				(errmsg("2PC coordinator log opened at position %llu: %d live distributed transactions, %d segments found corrupt, %d torn tails truncated",
						(unsigned long long) twophase_shared->inserted, rec->nlive,
						rec->ncorrupt, st->ntruncated),
				 rec->ncorrupt > 0 ?
				 errdetail("Corrupt segments are kept as *.broken in %s; undecided transactions begun before position %llu are not rolled back automatically (pgrac.pgrac_twophase_in_doubt).",
						   TWOPHASE_DIR, (unsigned long long) rec->corrupt_before) : 0));
	}
	free(rec);
	free(live);
	free(scratch);
}

static void
twophase_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	twophase_shared = ShmemInitStruct("pgrac 2PC coordinator", twophase_shmem_size(), &found);
	if (!found)
	{
		char	   *p = (char *) twophase_shared;
		LWLockPadded *locks = GetNamedLWLockTranche("pgrac_twophase");

		memset(twophase_shared, 0, twophase_shmem_size());
		twophase_shared->insert_lock = &locks[0].lock;
		twophase_shared->write_lock = &locks[1].lock;
		twophase_shared->nentries = pgrac_twophase_max_transactions;
		twophase_shared->entries = (TwophaseEntry *) (p + MAXALIGN(sizeof(TwophaseShared)));
		twophase_shared->buffer = (uint8 *) (twophase_shared->entries + twophase_shared->nentries);
		pg_atomic_init_u64(&twophase_shared->flushed, 0);
		pg_atomic_init_u32(&twophase_shared->nflushing, 0);
		twophase_shared->store.fd = -1;
		open_log();
	}
	LWLockRelease(AddinShmemInitLock);
}

void
twophase_shmem_install(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = twophase_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = twophase_shmem_startup;
}

/* Refuse a new distributed transaction when the log cannot take it. */
void
twophase_check_available(void)
{
	if (!twophase_shared->available)
		ereport(ERROR,
				(errcode(ERRCODE_IO_ERROR),
				 errmsg("the 2PC coordinator log is unavailable: %s",
						twophase_shared->unavailable_reason),
				 errdetail("Distributed transactions are refused; everything else is served."),
				 errhint("Repair the cause (pgrac.pgrac_twophase_log_status() and the server log say more) and restart the server.")));
}

/* A free entry of the live table, reserved (in_use, owned by this process). */
int
twophase_reserve_entry(void)
{
	LWLockAcquire(twophase_shared->insert_lock, LW_EXCLUSIVE);
	for (int i = 0; i < twophase_shared->nentries; i++)
	{
		TwophaseEntry *e = &twophase_shared->entries[i];

		if (!e->in_use)
		{
			memset(e, 0, sizeof(TwophaseEntry));
			e->in_use = true;
			e->owner_pid = MyProcPid;
			e->since = GetCurrentTimestamp();
			/* not live until its Begin is inserted (txn 0 is never one) */
			LWLockRelease(twophase_shared->insert_lock);
			return i;
		}
	}
	LWLockRelease(twophase_shared->insert_lock);
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("too many live distributed transactions"),
			 errdetail("All %d entries of pgrac.twophase_max_transactions are in use.",
					   twophase_shared->nentries),
			 errhint("Raise pgrac.twophase_max_transactions, or resolve the in-doubt transactions in pgrac.pgrac_twophase_in_doubt.")));
	return -1;
}

/* Called with insert_lock held: is slot a live transaction (Begin inserted)? */
static inline bool
entry_live(const TwophaseEntry *e)
{
	return e->in_use && e->live.begin.txn != 0;
}

/* The live table as of now, for a Checkpoint or for removal; palloc'd. */
static PgracTwophaseLive *
snapshot_live(int *nlive)
{
	PgracTwophaseLive *live = palloc(sizeof(PgracTwophaseLive) * Max(twophase_shared->nentries, 1));
	int			n = 0;

	for (int i = 0; i < twophase_shared->nentries; i++)
		if (entry_live(&twophase_shared->entries[i]))
			live[n++] = twophase_shared->entries[i].live;
	*nlive = n;
	return live;
}

static void
fail_log(void)
{
	LWLockAcquire(twophase_shared->insert_lock, LW_EXCLUSIVE);
	set_unavailable(twophase_shared->store.error);
	LWLockRelease(twophase_shared->insert_lock);
	ereport(WARNING,
			(errcode(ERRCODE_IO_ERROR),
			 errmsg("the 2PC coordinator log failed: %s", twophase_shared->store.error),
			 errdetail("New distributed transactions are refused until the server is restarted.")));
}

/* With write_lock held: this process's descriptor in the shared store. */
static bool
attach_segment(void)
{
	PgracTwophaseStore *st = &twophase_shared->store;

	if (my_fd >= 0 && my_fd_start != st->seg_start)
	{
		close(my_fd);
		my_fd = -1;
	}
	if (my_fd < 0)
	{
		char		name[PGRAC_2PC_NAME_MAX];
		char		path[MAXPGPATH];

		pgrac_twophase_segment_name(st->seg_start, name, sizeof(name));
		snprintf(path, sizeof(path), "%s/%s", TWOPHASE_DIR, name);
		my_fd = open(path, O_RDWR | PG_BINARY, 0);
		if (my_fd < 0)
		{
			snprintf(st->error, sizeof(st->error), "could not open \"%s\": %s", path,
					 strerror(errno));
			st->failed = true;
			return false;
		}
		my_fd_start = st->seg_start;
	}
	st->fd = my_fd;
	return true;
}

static void
detach_segment(void)
{
	PgracTwophaseStore *st = &twophase_shared->store;

	/* a rotation closed the old descriptor and opened the new one */
	my_fd = st->fd;
	my_fd_start = st->seg_start;
	st->fd = -1;
}

/*
 * With write_lock held: write what is inserted, up to target, from the
 * buffer (based at base).  False on failure (the store says why).
 */
static bool
write_out(uint64 target, uint64 base)
{
	uint64		from = pg_atomic_read_u64(&twophase_shared->flushed);
	bool		ok;

	if (target <= from)
		return true;
	if (!attach_segment())
		return false;
	ok = pgrac_twophase_store_append(&twophase_shared->store,
									 twophase_shared->buffer + (from - base), target - from);
	detach_segment();
	if (!ok)
		return false;
	twophase_shared->nbatches++;
	pg_atomic_write_u64(&twophase_shared->flushed, target);
	return true;
}

/*
 * Switch to a new segment; called with neither lock held, by an inserter
 * whose record of size len did not fit.
 */
static void
switch_segment(size_t len)
{
	PgracTwophaseStore *st = &twophase_shared->store;
	PgracTwophaseLive *live;
	int			nlive;
	bool		ok = true;

	LWLockAcquire(twophase_shared->write_lock, LW_EXCLUSIVE);
	LWLockAcquire(twophase_shared->insert_lock, LW_EXCLUSIVE);
	if (twophase_shared->available &&
		twophase_shared->inserted + len > twophase_shared->segment_end)
	{
		ok = write_out(twophase_shared->inserted, twophase_shared->buf_base);
		if (ok)
		{
			live = snapshot_live(&nlive);
			st->new_segment_size = (uint64) pgrac_twophase_segment_size_mb * 1024 * 1024;
			ok = attach_segment();
			if (ok)
			{
				ok = pgrac_twophase_store_rotate(st, live, nlive);
				detach_segment();
			}
			if (ok)
			{
				uint64		pos = pgrac_twophase_store_position(st);

				twophase_shared->inserted = twophase_shared->buf_base = pos;
				twophase_shared->segment_end = pos + pgrac_twophase_store_room(st);
				pg_atomic_write_u64(&twophase_shared->flushed, pos);
				twophase_shared->nrotations++;
				(void) pgrac_twophase_store_remove_unneeded(st, live, nlive);
			}
			pfree(live);
		}
	}
	LWLockRelease(twophase_shared->insert_lock);
	if (!ok)
		fail_log();
	LWLockRelease(twophase_shared->write_lock);
}

/*
 * Insert a record.  For a Begin, its transaction number and global id are
 * assigned here (its position); slot is its entry, reserved.  Committing
 * and End update the entry of slot (End frees it).  Returns the log
 * position after the record, to flush to.
 */
uint64
twophase_insert(PgracTwophaseRecord *rec, int slot)
{
	TwophaseEntry *e = &twophase_shared->entries[slot];

	for (;;)
	{
		size_t		len;
		uint64		pos;
		uint64		end;

		LWLockAcquire(twophase_shared->insert_lock, LW_EXCLUSIVE);
		if (!twophase_shared->available)
		{
			LWLockRelease(twophase_shared->insert_lock);
			twophase_check_available();
		}
		pos = twophase_shared->inserted;
		if (rec->kind == PGRAC_2PC_BEGIN)
		{
			char		error[256];

			rec->u.begin.txn = pos;
			pgrac_twophase_format_gid(rec->u.begin.gid, sizeof(rec->u.begin.gid),
									  GetSystemIdentifier(), rec->u.begin.dboid, pos);
			/* never write what recovery would take for corruption */
			if (!pgrac_twophase_begin_valid(&rec->u.begin, error, sizeof(error)))
			{
				LWLockRelease(twophase_shared->insert_lock);
				elog(ERROR, "invalid 2PC Begin record: %s", error);
			}
		}
		len = pgrac_twophase_record_size(rec);
		if (pos + len > twophase_shared->segment_end)
		{
			LWLockRelease(twophase_shared->insert_lock);
			switch_segment(len);
			continue;
		}
		if (pos - twophase_shared->buf_base + len > TWOPHASE_BUFFER_SIZE)
		{
			if (pg_atomic_read_u64(&twophase_shared->flushed) == pos)
				twophase_shared->buf_base = pos;
			else
			{
				LWLockRelease(twophase_shared->insert_lock);
				twophase_flush(pos);
				continue;
			}
		}
		(void) pgrac_twophase_record_encode(rec, twophase_shared->buffer +
											(pos - twophase_shared->buf_base));
		end = pos + len;
		twophase_shared->inserted = end;
		twophase_shared->nappends++;
		switch (rec->kind)
		{
			case PGRAC_2PC_BEGIN:
				e->live.begin = rec->u.begin;
				e->live.committing = false;
				e->live.local_xid = 0;
				e->live.first_position = pos;
				break;
			case PGRAC_2PC_COMMITTING:
				e->live.committing = true;
				e->live.local_xid = rec->u.committing.local_xid;
				e->live.decided_at = rec->u.committing.decided_at;
				break;
			case PGRAC_2PC_END:
				memset(e, 0, sizeof(TwophaseEntry));
				break;
			case PGRAC_2PC_CHECKPOINT:
				elog(ERROR, "a Checkpoint record is written by a segment switch only");
		}
		LWLockRelease(twophase_shared->insert_lock);
		return end;
	}
}

/*
 * Wait until the log is durable up to upto, writing it if no one else is.
 * ERROR if the log failed before it got there.
 */
void
twophase_flush(uint64 upto)
{
	pg_atomic_fetch_add_u32(&twophase_shared->nflushing, 1);
	PG_TRY();
	{
		while (pg_atomic_read_u64(&twophase_shared->flushed) < upto)
		{
			if (!twophase_shared->available)
				twophase_check_available();
			if (LWLockAcquireOrWait(twophase_shared->write_lock, LW_EXCLUSIVE))
			{
				bool		ok = true;

				if (pg_atomic_read_u64(&twophase_shared->flushed) < upto &&
					twophase_shared->available)
				{
					uint64		target;
					uint64		base;

					/* as commit_delay: let others join the batch */
					if (pgrac_twophase_commit_delay_us > 0 &&
						pg_atomic_read_u32(&twophase_shared->nflushing) > 1)
						pg_usleep(pgrac_twophase_commit_delay_us);
					LWLockAcquire(twophase_shared->insert_lock, LW_SHARED);
					target = twophase_shared->inserted;
					base = twophase_shared->buf_base;
					LWLockRelease(twophase_shared->insert_lock);
					ok = write_out(target, base);
					if (ok)
						remove_segments_if_unneeded();
				}
				if (!ok)
					fail_log();
				LWLockRelease(twophase_shared->write_lock);
			}
		}
	}
	PG_FINALLY();
	{
		pg_atomic_fetch_sub_u32(&twophase_shared->nflushing, 1);
	}
	PG_END_TRY();
}

/*
 * With write_lock held, after a write: a segment kept at a switch because a
 * transaction begun in it was live goes as soon as none is.  The check is
 * the oldest segment's end against the earliest live Begin, so it costs
 * next to nothing while such a transaction (an in-doubt one, say) stays.
 */
static void
remove_segments_if_unneeded(void)
{
	PgracTwophaseStore *st = &twophase_shared->store;
	uint64		first = PG_UINT64_MAX;
	PgracTwophaseLive *live;
	int			nlive;

	if (st->nsegments < 2)
		return;
	LWLockAcquire(twophase_shared->insert_lock, LW_SHARED);
	for (int i = 0; i < twophase_shared->nentries; i++)
		if (entry_live(&twophase_shared->entries[i]))
			first = Min(first, twophase_shared->entries[i].live.first_position);
	if (first < st->segments[1])
	{
		LWLockRelease(twophase_shared->insert_lock);
		return;
	}
	live = snapshot_live(&nlive);
	LWLockRelease(twophase_shared->insert_lock);
	(void) pgrac_twophase_store_remove_unneeded(st, live, nlive);
	pfree(live);
}

/* Remove the segments no live transaction needs; how many were removed. */
int
twophase_remove_unneeded_segments(void)
{
	PgracTwophaseLive *live;
	int			nlive;
	int			n;

	LWLockAcquire(twophase_shared->write_lock, LW_EXCLUSIVE);
	LWLockAcquire(twophase_shared->insert_lock, LW_SHARED);
	live = snapshot_live(&nlive);
	LWLockRelease(twophase_shared->insert_lock);
	n = pgrac_twophase_store_remove_unneeded(&twophase_shared->store, live, nlive);
	LWLockRelease(twophase_shared->write_lock);
	pfree(live);
	return n;
}

/* The entry of a global id (insert_lock held by the caller), or NULL. */
TwophaseEntry *
twophase_find_gid(const char *gid, int *slot)
{
	for (int i = 0; i < twophase_shared->nentries; i++)
	{
		TwophaseEntry *e = &twophase_shared->entries[i];

		if (entry_live(e) && strcmp(e->live.begin.gid, gid) == 0)
		{
			*slot = i;
			return e;
		}
	}
	return NULL;
}
