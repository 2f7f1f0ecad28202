/*-------------------------------------------------------------------------
 *
 * bd_writebehind.c
 *	  Write-behind for the block-device backend (pgrac.write_behind): a
 *	  data write returns once its blocks are copied into shared memory, and
 *	  a writer process puts them on the device, merging neighbours.
 *
 * Why: with direct I/O every smgrwrite() waits for the device, and
 * PostgreSQL 17 writes a bulk load's ring of buffers one 8 kB page at a
 * time.  The design and its invariants are in docs/block-device.md
 * ("Write-behind"); in short:
 *
 *	  1. A read of a byte range waits until no queued or in-flight write
 *		 overlaps it (read-after-write across backends).  Read-ahead slots
 *		 that overlap a queued write are dropped.
 *	  2. Two writes of the same bytes reach the device in the order they
 *		 were made: a write over a queued one replaces its bytes in the
 *		 queue; a write over one in flight waits for it.
 *	  3. bd_data_flush() first waits for every write queued before it
 *		 started, so a checkpoint or smgrimmedsync() covers them.
 *	  4. The writer never fails a write silently: a device error is a
 *		 PANIC (the buffer manager already counts the data as written; crash
 *		 recovery replays it from WAL), as PostgreSQL does for fsync errors.
 *
 * Crash safety does not change: the buffer manager flushes WAL before it
 * hands a page to smgrwrite(), so a page lost from the queue by a crash is
 * rebuilt by replay from the last checkpoint, whose flush covered every
 * write made before it.
 *
 * Each write looks at every slot under the queue's lock (for an overlap,
 * or a slot to append to), which is why pgrac.write_behind stops at 64 MB
 * (512 slots): the queue only has to cover the writer's latency.
 *
 * Slots hold up to WB_SLOT_BLOCKS contiguous blocks of the device.  A
 * write appends to a queued slot that ends where it starts, so a bulk
 * load's pages leave in writes of up to 128 kB (and, with io_uring, up to
 * BD_MAX_TRANSFERS of them at once).  To let slots fill, the writer takes
 * a slot that is not full only once it has stopped changing
 * (bd_wb_policy.c): its looks at the queue are separated by its own device
 * writes or a sleep of WB_HOLD_MS.  Whoever waits for the writer (a read,
 * a flush, a write needing a slot) raises "hurry", and the writer's next
 * pass takes every queued slot.  Only relation data goes through the
 * queue; metadata writes stay synchronous and are ordered by the flushes
 * bd_meta.c already does.
 *
 * src/blockdev/device/bd_writebehind.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/uio.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "blockdev/device/bd_dataio.h"
#include "pgrac/bd_wb_policy.h"
#include "util/pgrac_util.h"

/* blocks per slot: 128 kB, the largest single write the writer makes */
#define WB_SLOT_BLOCKS	16
#define WB_SLOT_BYTES	((uint64) WB_SLOT_BLOCKS * BLCKSZ)
/* how long the writer lets slots that are not full grow, at most */
#define WB_HOLD_MS		1

int			pgrac_write_behind_kb = 0;

typedef enum WbState
{
	WB_FREE,
	WB_QUEUED,					/* bytes may still change or grow */
	WB_WRITING,					/* the writer has it: fixed until FREE */
} WbState;

typedef struct WbSlot
{
	WbState		state;
	uint64		offset;			/* device byte offset */
	uint64		len;			/* bytes, a multiple of BLCKSZ */
	uint64		seq;			/* when it was first queued */
	uint64		version;		/* bumped by every change while QUEUED */
} WbSlot;

typedef struct WbShared
{
	LWLock	   *lock;			/* everything below except in_use */
	ConditionVariable cv;		/* a slot became free */
	pg_atomic_uint32 in_use;	/* slots not FREE: lets reads skip the lock */
	pg_atomic_uint64 read_waits;	/* counted under the shared lock */
	pg_atomic_uint32 hurry;		/* someone waits: take every queued slot */
	bool		running;		/* the writer takes new writes */
	Latch	   *writer_latch;
	int			writer_pid;
	int			nslots;
	uint64		next_seq;
	int			next_take;		/* where the writer looks first */
	BdWriteBehindStats stats;
	WbSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} WbShared;

static WbShared *wb = NULL;
static char *wb_data = NULL;	/* nslots * WB_SLOT_BYTES, I/O aligned */

/* the writer's last look at each slot (bd_wb_policy.c) */
static BdWbLook *writer_looks = NULL;
static uint32 wait_event_slot = 0;
static uint32 wait_event_main = 0;

static int
nslots_setting(void)
{
	return pgrac_write_behind_kb / (int) (WB_SLOT_BYTES / 1024);
}

bool
bd_writebehind_enabled(void)
{
	return nslots_setting() > 0;
}

static Size
shmem_size(void)
{
	int			n = nslots_setting();

	if (n == 0)
		return 0;
	return add_size(add_size(offsetof(WbShared, slots), mul_size(n, sizeof(WbSlot))),
					add_size(PG_IO_ALIGN_SIZE, mul_size(n, WB_SLOT_BYTES)));
}

void
bd_writebehind_shmem_request(void)
{
	if (!bd_writebehind_enabled())
		return;
	RequestAddinShmemSpace(shmem_size());
	RequestNamedLWLockTranche("pgrac_write_behind", 1);
}

/* Called with AddinShmemInitLock held. */
void
bd_writebehind_shmem_init(void)
{
	bool		found;
	int			n = nslots_setting();

	if (n == 0)
		return;
	wb = ShmemInitStruct("pgrac block device write-behind", shmem_size(), &found);
	wb_data = (char *) TYPEALIGN(PG_IO_ALIGN_SIZE,
								 (char *) wb + offsetof(WbShared, slots) + n * sizeof(WbSlot));
	if (!found)
	{
		wb->lock = &(GetNamedLWLockTranche("pgrac_write_behind"))->lock;
		ConditionVariableInit(&wb->cv);
		pg_atomic_init_u32(&wb->in_use, 0);
		pg_atomic_init_u64(&wb->read_waits, 0);
		pg_atomic_init_u32(&wb->hurry, 0);
		wb->running = false;
		wb->writer_latch = NULL;
		wb->writer_pid = 0;
		wb->nslots = n;
		wb->next_seq = 0;
		wb->next_take = 0;
		memset(&wb->stats, 0, sizeof(wb->stats));
		for (int i = 0; i < n; i++)
			wb->slots[i].state = WB_FREE;
	}
}

void
bd_writebehind_register(void)
{
	BackgroundWorker worker;

	if (!bd_writebehind_enabled())
		return;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	/* from the start, so that recovery's writes are queued too */
	worker.bgw_start_time = BgWorkerStart_PostmasterStart;
	worker.bgw_restart_time = 1;

	pgrac_library_path(worker.bgw_library_name, sizeof(worker.bgw_library_name));
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "bd_writebehind_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pgrac write-behind");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pgrac write-behind");
	RegisterBackgroundWorker(&worker);
}

static char *
slot_data(const WbSlot *s)
{
	return wb_data + (Size) (s - wb->slots) * WB_SLOT_BYTES;
}

static inline bool
overlaps(const WbSlot *s, uint64 offset, uint64 len)
{
	return s->state != WB_FREE && s->offset < offset + len && offset < s->offset + s->len;
}

static uint32
slot_wait_event(void)
{
	if (wait_event_slot == 0)
		wait_event_slot = WaitEventExtensionNew("PgracWriteBehindSlot");
	return wait_event_slot;
}

/* Sleep until the writer frees a slot (the caller prepared the sleep). */
static void
sleep_for_writer(void)
{
	Latch	   *latch = wb->writer_latch;

	pg_atomic_write_u32(&wb->hurry, 1);
	if (latch)
		SetLatch(latch);
	ConditionVariableSleep(&wb->cv, slot_wait_event());
}

/*
 * The caller found something the writer has to finish first.  The first
 * time, only get ready to sleep (the caller looks again, so a wake-up in
 * between is not missed); after that, sleep.
 */
static void
wait_for_writer(bool *prepared)
{
	if (!*prepared)
	{
		ConditionVariablePrepareToSleep(&wb->cv);
		*prepared = true;
		return;
	}
	sleep_for_writer();
}

/*
 * Queue one block for the writer.  Returns false if the writer has stopped
 * taking writes; the caller then writes the block itself.
 */
static bool
queue_block(uint64 offset, const char *data)
{
	bool		queued = false;
	bool		prepared = false;
	bool		wake = false;

	Assert(offset % BLCKSZ == 0);
	for (;;)
	{
		WbSlot	   *conflict = NULL;
		WbSlot	   *append = NULL;
		WbSlot	   *replace = NULL;
		WbSlot	   *free_slot = NULL;

		LWLockAcquire(wb->lock, LW_EXCLUSIVE);
		if (!wb->running)
		{
			LWLockRelease(wb->lock);
			break;
		}
		for (int i = 0; i < wb->nslots; i++)
		{
			WbSlot	   *s = &wb->slots[i];

			if (s->state == WB_FREE)
			{
				if (free_slot == NULL)
					free_slot = s;
				continue;
			}
			if (overlaps(s, offset, BLCKSZ))
			{
				if (s->state == WB_QUEUED)
					replace = s;
				else
					conflict = s;
				break;
			}
			if (s->state == WB_QUEUED && s->offset + s->len == offset &&
				s->len < WB_SLOT_BYTES)
				append = s;
		}
		if (conflict)
		{
			/* the older bytes are on their way: ours must land after them */
			if (!prepared)
				wb->stats.overlap_waits++;
			LWLockRelease(wb->lock);
			wait_for_writer(&prepared);
			continue;
		}
		if (replace)
		{
			memcpy(slot_data(replace) + (offset - replace->offset), data, BLCKSZ);
			replace->version++;
			wb->stats.blocks_replaced++;
		}
		else if (append)
		{
			memcpy(slot_data(append) + append->len, data, BLCKSZ);
			append->len += BLCKSZ;
			append->version++;
			/* a full slot is written at once */
			wake = append->len == WB_SLOT_BYTES;
		}
		else if (free_slot)
		{
			free_slot->state = WB_QUEUED;
			free_slot->offset = offset;
			free_slot->len = BLCKSZ;
			free_slot->seq = ++wb->next_seq;
			free_slot->version = 0;
			memcpy(slot_data(free_slot), data, BLCKSZ);
			pg_atomic_fetch_add_u32(&wb->in_use, 1);
			/* the writer may be asleep with nothing queued */
			wake = true;
		}
		else
		{
			if (!prepared)
				wb->stats.full_waits++;
			LWLockRelease(wb->lock);
			wait_for_writer(&prepared);
			continue;
		}
		wb->stats.blocks_queued++;
		LWLockRelease(wb->lock);
		queued = true;
		break;
	}
	if (prepared)
		ConditionVariableCancelSleep();
	if (wake && wb->writer_latch)
		SetLatch(wb->writer_latch);
	return queued;
}

/*
 * Take the write of these ranges (relation data from bd_smgr.c).  Returns
 * false if write-behind is off or its writer is not running: the caller
 * writes synchronously.  Once it returns true every block is either queued
 * or, if the writer stopped meanwhile, written.
 */
bool
bd_writebehind_write(const BdTransfer *transfers, int n)
{
	if (wb == NULL || !wb->running)
		return false;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < transfers[i].iovcnt; j++)
			if (transfers[i].iov[j].iov_len != BLCKSZ)
				return false;
	for (int i = 0; i < n; i++)
	{
		uint64		offset = transfers[i].offset;

		for (int j = 0; j < transfers[i].iovcnt; j++, offset += BLCKSZ)
		{
			const char *data = transfers[i].iov[j].iov_base;

			if (!queue_block(offset, data))
			{
				/* the writer stopped: after what it still has of these bytes */
				bd_writebehind_wait(offset, BLCKSZ);
				bd_device_write(offset, data, BLCKSZ);
				bd_write_gens_note(offset, BLCKSZ);
			}
		}
	}
	return true;
}

/* Nothing queued or in flight?  Lets reads and flushes skip the lock. */
static bool
queue_empty(void)
{
	/* the caller's buffer locks ordered the write it might have to see */
	pg_memory_barrier();
	return pg_atomic_read_u32(&wb->in_use) == 0;
}

/* Does a queued or in-flight write overlap [offset, offset + len)? */
bool
bd_writebehind_busy(uint64 offset, uint64 len)
{
	bool		busy = false;

	if (wb == NULL || queue_empty())
		return false;
	LWLockAcquire(wb->lock, LW_SHARED);
	for (int i = 0; i < wb->nslots && !busy; i++)
		busy = overlaps(&wb->slots[i], offset, len);
	LWLockRelease(wb->lock);
	return busy;
}

/*
 * Wait until no queued or in-flight write overlaps [offset, offset + len):
 * before the device is read or written there synchronously.
 */
void
bd_writebehind_wait(uint64 offset, uint64 len)
{
	bool		prepared = false;

	while (bd_writebehind_busy(offset, len))
	{
		if (!prepared)
			pg_atomic_fetch_add_u64(&wb->read_waits, 1);
		wait_for_writer(&prepared);
	}
	if (prepared)
		ConditionVariableCancelSleep();
}

/* Wait until every write queued before now is on the device (unflushed). */
void
bd_writebehind_drain(void)
{
	uint64		target;
	bool		prepared = false;

	if (wb == NULL || queue_empty())
		return;
	LWLockAcquire(wb->lock, LW_SHARED);
	target = wb->next_seq;
	LWLockRelease(wb->lock);
	for (;;)
	{
		bool		pending = false;

		LWLockAcquire(wb->lock, LW_SHARED);
		for (int i = 0; i < wb->nslots && !pending; i++)
			pending = wb->slots[i].state != WB_FREE && wb->slots[i].seq <= target;
		LWLockRelease(wb->lock);
		if (!pending)
			break;
		wait_for_writer(&prepared);
	}
	if (prepared)
		ConditionVariableCancelSleep();
}

void
bd_writebehind_stats(BdWriteBehindStats *out)
{
	memset(out, 0, sizeof(*out));
	if (wb == NULL)
		return;
	LWLockAcquire(wb->lock, LW_SHARED);
	*out = wb->stats;
	out->read_waits = (int64) pg_atomic_read_u64(&wb->read_waits);
	out->running = wb->running;
	out->writer_pid = wb->writer_pid;
	out->slots = wb->nslots;
	out->slots_in_use = (int) pg_atomic_read_u32(&wb->in_use);
	LWLockRelease(wb->lock);
}

/*
 * Write what is ready (all: everything queued): up to BD_MAX_TRANSFERS
 * slots at once, taken round robin (new writes take the lowest free slots;
 * a slot further on must not wait behind them for ever).  Returns the
 * number of slots written; *held tells whether queued slots were left to
 * grow.
 */
static int
write_queued(bool all, bool *held)
{
	WbSlot	   *taken[BD_MAX_TRANSFERS];
	struct iovec iov[BD_MAX_TRANSFERS];
	BdTransfer	transfers[BD_MAX_TRANSFERS];
	int			n = 0;

	*held = false;
	if (pg_atomic_exchange_u32(&wb->hurry, 0) != 0)
		all = true;
	LWLockAcquire(wb->lock, LW_EXCLUSIVE);
	for (int k = 0; k < wb->nslots && n < BD_MAX_TRANSFERS; k++)
	{
		int			i = (wb->next_take + k) % wb->nslots;
		WbSlot	   *s = &wb->slots[i];

		if (s->state != WB_QUEUED)
			continue;
		if (bd_wb_ready(&writer_looks[i], s->seq, s->version, s->len == WB_SLOT_BYTES, all))
		{
			s->state = WB_WRITING;
			taken[n++] = s;
		}
		else
			*held = true;
	}
	if (n > 0)
		wb->next_take = (int) (taken[n - 1] - wb->slots + 1) % wb->nslots;
	LWLockRelease(wb->lock);
	if (n == 0)
		return 0;

	for (int i = 0; i < n; i++)
	{
		iov[i].iov_base = slot_data(taken[i]);
		iov[i].iov_len = taken[i]->len;
		transfers[i] = (BdTransfer)
		{
			taken[i]->offset, &iov[i], 1, taken[i]->len
		};
	}

	/*
	 * Backends already count these blocks as written: an error here cannot be
	 * reported to anyone who could retry, so it is a PANIC, and recovery
	 * replays the pages from WAL.
	 */
	START_CRIT_SECTION();
	bd_device_transfer(true, transfers, n);
	END_CRIT_SECTION();
	for (int i = 0; i < n; i++)
		bd_write_gens_note(transfers[i].offset, transfers[i].len);

	LWLockAcquire(wb->lock, LW_EXCLUSIVE);
	for (int i = 0; i < n; i++)
	{
		wb->stats.writes++;
		wb->stats.blocks_written += taken[i]->len / BLCKSZ;
		taken[i]->state = WB_FREE;
	}
	pg_atomic_fetch_sub_u32(&wb->in_use, n);
	LWLockRelease(wb->lock);
	ConditionVariableBroadcast(&wb->cv);
	return n;
}

PGDLLEXPORT void bd_writebehind_main(Datum arg);

void
bd_writebehind_main(Datum arg)
{
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	if (wb == NULL)
		elog(FATAL, "pgrac write-behind: shared memory is not set up");
	wait_event_main = WaitEventExtensionNew("PgracWriteBehindMain");
	writer_looks = MemoryContextAllocZero(TopMemoryContext, wb->nslots * sizeof(BdWbLook));

	LWLockAcquire(wb->lock, LW_EXCLUSIVE);
	wb->writer_latch = MyLatch;
	wb->writer_pid = MyProcPid;
	wb->running = true;
	LWLockRelease(wb->lock);
	ereport(DEBUG1, (errmsg("pgrac write-behind started: %d slots of %llu kB",
							wb->nslots, (unsigned long long) (WB_SLOT_BYTES / 1024))));

	while (!ShutdownRequestPending)
	{
		bool		held;

		ResetLatch(MyLatch);
		if (write_queued(false, &held) > 0)
			continue;
		/* slots left to grow are looked at again within WB_HOLD_MS */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (held ? WL_TIMEOUT : 0),
						 held ? WB_HOLD_MS : -1L, wait_event_main);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}

	/* take no more; write what is queued, then leave */
	LWLockAcquire(wb->lock, LW_EXCLUSIVE);
	wb->running = false;
	LWLockRelease(wb->lock);
	while (pg_atomic_read_u32(&wb->in_use) > 0)
	{
		bool		held;

		(void) write_queued(true, &held);
	}
	LWLockAcquire(wb->lock, LW_EXCLUSIVE);
	wb->writer_latch = NULL;
	wb->writer_pid = 0;
	LWLockRelease(wb->lock);
	ConditionVariableBroadcast(&wb->cv);
	proc_exit(0);
}
