/*-------------------------------------------------------------------------
 *
 * bd_readahead.c
 *	  Read-ahead for sequential reads under direct I/O.
 *
 * With O_DIRECT there is no kernel read-ahead, and PostgreSQL 17's read
 * streams give no advice for sequential access (they count on the kernel's
 * read-ahead), so a sequential scan would wait for every combined read in
 * turn.  This module notices a backend reading a fork sequentially and
 * keeps up to pgrac.read_ahead blocks in flight ahead of it, in private
 * slots of 16 blocks, submitted to the device's asynchronous engine (the
 * transport's io_uring, opened for read-ahead even with pgrac.io_method =
 * sync, and shared with this process's other reads).  A later read that
 * the slots cover is copied from them.  Which reads form a stream, and
 * where reading ahead of one stops (at the end of a parallel scan's chunk,
 * once it has learned the chunk), is pure logic in bd_ra_stream.c.
 * Buffered I/O is left to the kernel's read-ahead: advice of the fork's
 * next extents (POSIX_FADV_WILLNEED) was tried and measured slower than it
 * (docs/performance.md).
 *
 * It sits above the device layer and calls only it and write-behind's
 * overlap check.
 *
 * Coherence.  A slot holds what the device held when it was read; the
 * block may have been written since.  Every device write, once complete,
 * bumps a shared generation counter for each 128 kB of the device it
 * touched (device/bd_write_gens.c).  A slot records the sum of its
 * blocks' counters before its read is submitted and is used only if the
 * sum is unchanged when it is consumed (and every block still maps to the
 * same device offset).  That is enough because of the buffer manager:
 * PostgreSQL reads a block through smgr only when it is not in shared
 * buffers, and a dirty block leaves shared buffers only after its write
 * has returned, so any write that raced with a slot's read has bumped its
 * counter before the block can be asked for.  Counters only grow, so an
 * unchanged sum means no bump.  Collisions (the counters are hashed) only
 * ever discard good slots.
 *
 * Read-ahead never raises an error: a slot whose read failed or came back
 * short is dropped, and the block is read synchronously, which reports
 * any error as usual.
 *
 * src/blockdev/forks/bd_readahead.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "blockdev/forks/bd_forks.h"
#include "pgrac/bd_ra_stream.h"

/* blocks per slot: PostgreSQL's default I/O combine limit */
#define RA_SLOT_BLOCKS		16
#define RA_MAX_SLOTS		(BD_READ_AHEAD_MAX_BLOCKS / RA_SLOT_BLOCKS)
int			pgrac_read_ahead_blocks = 128;

typedef enum RaState
{
	RA_FREE,
	RA_IN_FLIGHT,
	RA_DONE,
} RaState;

typedef struct RaSlot
{
	RaState		state;
	bool		abandoned;		/* in flight but no longer wanted */
	bool		failed;			/* a read failed or came back short */
	bool		stale;			/* written or remapped since it was read */
	bool		used;			/* a read was served from it */
	int			nios;			/* reads of the slot's ranges */
	PgracIo		ios[RA_SLOT_BLOCKS];
	BdForkKey	key;
	BlockNumber first;
	int			nblocks;
	uint64		offsets[RA_SLOT_BLOCKS];	/* device offset of each block */
	uint64		generation;		/* sum of the blocks' counters at submit */
	struct iovec iov[RA_SLOT_BLOCKS];
	char	   *buf;			/* RA_SLOT_BLOCKS blocks, I/O aligned */
} RaSlot;

static RaSlot slots[RA_MAX_SLOTS];
static pid_t slots_owner = 0;
static bool ra_broken = false;
static int	ios_in_flight = 0;
static BdReadAheadStats stats;

/* the stream being followed: its fork, its reads, the next block to read ahead */
static BdForkKey stream_key;
static BdRaStream stream;
static BlockNumber stream_ahead = InvalidBlockNumber;

static bool
active(void)
{
	return bd_dev->direct && bd_dev->async &&
		pgrac_read_ahead_blocks >= RA_SLOT_BLOCKS && !ra_broken;
}

/* Slots are per process: any inherited across fork() are forgotten. */
static void
slots_ready(void)
{
	if (slots_owner == MyProcPid)
		return;
	ios_in_flight = 0;
	for (int i = 0; i < RA_MAX_SLOTS; i++)
		slots[i].state = RA_FREE;
	memset(&stream, 0, sizeof(stream));
	stream_ahead = InvalidBlockNumber;
	slots_owner = MyProcPid;
}

/* A slot in flight whose reads all completed is done (or free, if abandoned). */
static void
settle(RaSlot *s)
{
	if (s->state != RA_IN_FLIGHT)
		return;
	for (int r = 0; r < s->nios; r++)
		if (s->ios[r].state != PGRAC_IO_DONE)
			return;
	for (int r = 0; r < s->nios; r++)
		if (s->ios[r].result != (int64) s->ios[r].len)
			s->failed = true;
	ios_in_flight -= s->nios;
	s->state = s->abandoned ? RA_FREE : RA_DONE;
}

/*
 * Take every completion that is ready (the engine marks each PgracIo,
 * whoever submitted it); with wait_for, until that slot's reads are done.
 */
static void
reap(RaSlot *wait_for)
{
	if (wait_for != NULL)
		for (int r = 0; r < wait_for->nios; r++)
			bd_device_reap(&wait_for->ios[r]);
	else
		bd_device_reap(NULL);
	for (int i = 0; i < RA_MAX_SLOTS; i++)
		settle(&slots[i]);
}

/* A slot that belongs to the stream: read or being read, and wanted. */
static inline bool
live(const RaSlot *s)
{
	return s->state != RA_FREE && !s->abandoned;
}

static void
release(RaSlot *s)
{
	if (s->state == RA_DONE && s->failed)
		stats.slots_failed++;
	else if (s->stale)
		stats.slots_stale++;
	else if (!s->used)
		stats.slots_unused++;
	if (s->state == RA_IN_FLIGHT)
		s->abandoned = true;
	else
		s->state = RA_FREE;
}

/* What was read ahead is of no use: the slots are released. */
static void
drop_slots(void)
{
	for (int i = 0; i < RA_MAX_SLOTS; i++)
		if (live(&slots[i]))
			release(&slots[i]);
	stream_ahead = InvalidBlockNumber;
}

static RaSlot *
slot_for(const BdForkKey *key, BlockNumber blocknum)
{
	for (int i = 0; i < RA_MAX_SLOTS; i++)
	{
		RaSlot	   *s = &slots[i];

		if (live(s) && memcmp(&s->key, key, sizeof(BdForkKey)) == 0 &&
			blocknum >= s->first && blocknum < s->first + s->nblocks)
			return s;
	}
	return NULL;
}

/* The device offset of each of blocks [first, first + nblocks), all mapped. */
static void
map_blocks(const BdForkKey *key, BlockNumber first, int nblocks,
		   uint64 *block_offsets, uint64 *offsets, uint32 *counts, int *nranges)
{
	int			b = 0;

	*nranges = bd_fork_map(key, first, nblocks, false, offsets, counts, BD_MAP_MAX_BLOCKS);
	for (int r = 0; r < *nranges; r++)
		for (uint32 j = 0; j < counts[r]; j++)
			block_offsets[b++] = offsets[r] + (uint64) j * BLCKSZ;
	Assert(b == nblocks);
}

/*
 * Copy blocks [blocknum, blocknum + nblocks) from the slots if all of them
 * are there and still current.
 */
static bool
consume(const BdForkKey *key, BlockNumber blocknum, void **buffers,
		BlockNumber nblocks)
{
	RaSlot	   *of_block[BD_MAP_MAX_BLOCKS];
	uint64		offsets[BD_MAP_MAX_BLOCKS];
	uint64		ranges[BD_MAP_MAX_BLOCKS];
	uint32		counts[BD_MAP_MAX_BLOCKS];
	int			nranges;

	if (nblocks > BD_MAP_MAX_BLOCKS)
		return false;
	for (BlockNumber i = 0; i < nblocks; i++)
		if ((of_block[i] = slot_for(key, blocknum + i)) == NULL)
			return false;
	/* where the blocks are now: an extent may have been remapped */
	map_blocks(key, blocknum, nblocks, offsets, ranges, counts, &nranges);
	for (BlockNumber i = 0; i < nblocks; i++)
	{
		RaSlot	   *s = of_block[i];

		if (s->state == RA_IN_FLIGHT)
			reap(s);
		if (s->state != RA_DONE || s->failed)
			return false;
		if (s->offsets[blocknum + i - s->first] != offsets[i])
		{
			s->stale = true;
			return false;
		}
	}
	/* a write still queued for the writer (bd_writebehind.c) is newer */
	for (int r = 0; r < nranges; r++)
		if (bd_writebehind_busy(ranges[r], (uint64) counts[r] * BLCKSZ))
		{
			for (BlockNumber i = 0; i < nblocks; i++)
				of_block[i]->stale = true;
			return false;
		}
	/* order the data reads and the check above before reading the counters */
	pg_memory_barrier();
	for (BlockNumber i = 0; i < nblocks; i++)
	{
		RaSlot	   *s = of_block[i];

		if (i > 0 && s == of_block[i - 1])
			continue;
		if (bd_write_gens_sum(s->offsets, s->nblocks) != s->generation)
		{
			s->stale = true;
			return false;
		}
	}
	for (BlockNumber i = 0; i < nblocks; i++)
	{
		RaSlot	   *s = of_block[i];

		memcpy(buffers[i], s->buf + (size_t) (blocknum + i - s->first) * BLCKSZ, BLCKSZ);
		s->used = true;
	}
	stats.blocks_served += nblocks;
	return true;
}

/* Prepare the reads of one slot: blocks [first, first + nblocks), all mapped. */
static bool
prepare(RaSlot *s, const BdForkKey *key, BlockNumber first, int nblocks,
		int room)
{
	uint64		offsets[BD_MAP_MAX_BLOCKS];
	uint32		counts[BD_MAP_MAX_BLOCKS];
	int			n;
	int			b = 0;

	map_blocks(key, first, nblocks, s->offsets, offsets, counts, &n);
	if (n > room)
		return false;
	if (s->buf == NULL)
		s->buf = MemoryContextAllocAligned(TopMemoryContext, RA_SLOT_BLOCKS * BLCKSZ,
										   PG_IO_ALIGN_SIZE, 0);
	s->key = *key;
	s->first = first;
	s->nblocks = nblocks;
	s->failed = false;
	s->stale = false;
	s->used = false;
	s->abandoned = false;
	s->generation = bd_write_gens_sum(s->offsets, nblocks);
	for (int r = 0; r < n; r++)
	{
		s->iov[r].iov_base = s->buf + (size_t) b * BLCKSZ;
		s->iov[r].iov_len = (size_t) counts[r] * BLCKSZ;
		s->ios[r] = (PgracIo)
		{
			.write = false,.offset = offsets[r],.iov = &s->iov[r],.iovcnt = 1,
				.len = (size_t) counts[r] * BLCKSZ,
		};
		b += counts[r];
	}
	s->nios = n;
	return true;
}

/* Keep the window [next, end) read or being read. */
static void
read_ahead(const BdForkKey *key, BlockNumber next, BlockNumber end)
{
	PgracIo    *batch[BD_READ_AHEAD_QUEUE];
	RaSlot	   *prepared[RA_MAX_SLOTS];
	int			nbatch = 0;
	int			nprepared = 0;

	/* leave room for one synchronous request's ranges */
	int			room = Min(bd_device_io_room() - BD_MAX_TRANSFERS,
						   BD_READ_AHEAD_QUEUE - ios_in_flight);

	if (stream_ahead == InvalidBlockNumber || stream_ahead < next)
		stream_ahead = next;
	while (stream_ahead < end)
	{
		RaSlot	   *s = NULL;
		int			n = (int) Min(RA_SLOT_BLOCKS, end - stream_ahead);

		for (int i = 0; i < RA_MAX_SLOTS && s == NULL; i++)
			if (slots[i].state == RA_FREE)
				s = &slots[i];
		if (s == NULL || !prepare(s, key, stream_ahead, n, room - nbatch))
			break;
		/* marked before the search for a free slot goes on */
		s->state = RA_IN_FLIGHT;
		prepared[nprepared++] = s;
		for (int r = 0; r < s->nios; r++)
			batch[nbatch++] = &s->ios[r];
		stream_ahead += n;
	}
	if (nbatch == 0)
		return;
	/* the counters are read before the device is */
	pg_memory_barrier();
	if (!bd_device_submit(batch, nbatch))
	{
		/*
		 * The engine waited for everything it had taken and marked the rest
		 * failed; stop reading ahead in this process.
		 */
		ereport(LOG,
				(errmsg("pgrac read-ahead disabled in this process: %s", bd_dev->error.message)));
		ra_broken = true;
	}
	ios_in_flight += nbatch;
	for (int i = 0; i < nprepared; i++)
	{
		stats.slots_read++;
		stats.blocks_read += prepared[i]->nblocks;
		settle(prepared[i]);
	}
}

/*
 * Called by bd_readv() for blocks [blocknum, blocknum + nblocks), all
 * mapped; limit is the end of what may be read: Min(EOF, mapped).  Returns
 * true if the buffers were filled from read-ahead; otherwise the caller
 * reads them.
 */
bool
bd_readahead_read(const BdForkKey *key, BlockNumber blocknum, void **buffers,
				  BlockNumber nblocks, BlockNumber limit)
{
	bool		sequential;
	bool		served = false;

	if (!active())
		return false;
	slots_ready();
	reap(NULL);
	sequential = bd_ra_stream_read(&stream,
								   memcmp(&stream_key, key, sizeof(BdForkKey)) == 0,
								   blocknum, nblocks,
								   (BlockNumber) pgrac_read_ahead_blocks);
	if (!sequential)
		drop_slots();
	else
	{
		served = consume(key, blocknum, buffers, nblocks);
		/* slots behind this read, or not used by it, are done with */
		for (int i = 0; i < RA_MAX_SLOTS; i++)
			if (live(&slots[i]) &&
				(slots[i].first + slots[i].nblocks <= blocknum + nblocks ||
				 (!served && slots[i].first < blocknum + nblocks)))
				release(&slots[i]);
		if (!served && stream_ahead != InvalidBlockNumber && stream_ahead < blocknum + nblocks)
			stream_ahead = blocknum + nblocks;
	}
	stream_key = *key;
	if (sequential)
		read_ahead(key, blocknum + nblocks,
				   bd_ra_stream_window_end(&stream, (BlockNumber) pgrac_read_ahead_blocks, limit));
	return served;
}

/* This backend's read-ahead counters since it started. */
void
bd_readahead_stats(BdReadAheadStats *out)
{
	*out = stats;
	out->active = active();
}
