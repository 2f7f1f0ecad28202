/*-------------------------------------------------------------------------
 *
 * bd_smgr.c
 *	  The block_device base backend: PostgreSQL's storage manager calls
 *	  mapped onto extents of the device (forks/bd_forks.c keeps the mappings).
 *
 * Two kinds of fork stay in md.c's files on purpose:
 *
 * - temporary relations: private to one backend, never WAL-logged or
 *   shared, removed at restart; the device buys them nothing;
 * - the free-space map: PostgreSQL creates and extends it during WAL
 *   replay without logging it, so on the device a standby or crash
 *   recovery would have to allocate extents the primary never logged, and
 *   the two could no longer agree on who owns an extent.  It is a hint
 *   (lost or stale pages are repaired by VACUUM) and small (one page per
 *   ~4000 heap pages).
 *
 * src/blockdev/forks/bd_smgr.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"

#include <fcntl.h>
#include <sys/uio.h>

#include "access/xlogutils.h"
#include "catalog/storage.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/fd.h"
#include "storage/md.h"

#include "blockdev/forks/bd_forks.h"

static const f_smgr *md;

#define ON_MD(reln, forknum) (SmgrIsTemp(reln) || (forknum) == FSM_FORKNUM)

/* ranges one call may need: extents crossed by the I/O combine limit */
#define MAX_RANGES 64

static inline void
key_of(SMgrRelation reln, ForkNumber forknum, BdForkKey *key)
{
	bd_fork_key(key, reln->smgr_rlocator.locator, forknum);
}

static void
bd_open(SMgrRelation reln)
{
	md->smgr_open(reln);
}

static void
bd_close(SMgrRelation reln, ForkNumber forknum)
{
	md->smgr_close(reln, forknum);
}

/*
 * The transaction a new relation's main fork belongs to: its top-level
 * xid, assigned now if need be (the creating transaction writes catalogs
 * anyway), so that a crash before it commits lets the space be reclaimed
 * (bd_reclaim.c).  Other forks belong to their relation's main fork; a
 * fork made outside a transaction (bootstrap) or in parallel mode, where
 * no xid can be assigned, records none.
 */
static uint32
creating_xid(ForkNumber forknum)
{
	TransactionId xid;

	if (forknum != MAIN_FORKNUM || !IsTransactionState() || IsBootstrapProcessingMode())
		return 0;
	xid = IsInParallelMode() ? GetTopTransactionIdIfAny() : GetTopTransactionId();
	return TransactionIdIsNormal(xid) ? (uint32) xid : 0;
}

static void
bd_create(SMgrRelation reln, ForkNumber forknum, bool isRedo)
{
	BdForkKey	key;

	if (ON_MD(reln, forknum))
	{
		md->smgr_create(reln, forknum, isRedo);
		return;
	}
	key_of(reln, forknum, &key);
	bd_fork_create(&key, isRedo, isRedo ? 0 : creating_xid(forknum));
}

/*
 * The main fork exists while the device holds any fork of the relfilenumber,
 * live or a tombstone awaiting the next checkpoint, as md.c's main-fork file
 * stays until then: GetNewRelFileNumber() asks this to avoid handing out a
 * relfilenumber whose storage is still there.
 */
static bool
bd_exists(SMgrRelation reln, ForkNumber forknum)
{
	BdForkKey	key;

	if (ON_MD(reln, forknum))
		return md->smgr_exists(reln, forknum);
	if (forknum == MAIN_FORKNUM)
		return bd_relfilenumber_in_use(reln->smgr_rlocator.locator.spcOid,
									   reln->smgr_rlocator.locator.dbOid,
									   reln->smgr_rlocator.locator.relNumber);
	key_of(reln, forknum, &key);
	return bd_fork_exists(&key);
}

/* Runs after commit: must not ERROR for a fork that is already gone. */
static void
bd_unlink(RelFileLocatorBackend rlocator, ForkNumber forknum, bool isRedo)
{
	BdForkKey	key;

	if (forknum == InvalidForkNumber)
	{
		for (ForkNumber f = 0; f <= MAX_FORKNUM; f++)
			bd_unlink(rlocator, f, isRedo);
		return;
	}
	if (RelFileLocatorBackendIsTemp(rlocator) || forknum == FSM_FORKNUM)
	{
		md->smgr_unlink(rlocator, forknum, isRedo);
		return;
	}
	bd_fork_key(&key, rlocator.locator, forknum);
	bd_fork_unlink(&key, isRedo);
}

static bool
skipping_wal(SMgrRelation reln)
{
	return RelFileLocatorSkippingWAL(reln->smgr_rlocator.locator);
}

/* PostgreSQL's I/O combine limit is PG_IOV_MAX; bd_fork_map() relies on it */
static inline void
check_transfer_size(BlockNumber nblocks)
{
	if (nblocks > PG_IOV_MAX)
		elog(ERROR, "block-device transfer of %u blocks exceeds the limit of %d",
			 nblocks, PG_IOV_MAX);
}

/* Move nblocks buffers to or from the device ranges they were mapped to. */
static void
transfer_mapped(void **buffers, BlockNumber nblocks, bool write,
				const uint64 *offsets, const uint32 *counts, int n)
{
	BlockNumber done = 0;
	struct iovec iov[PG_IOV_MAX];
	BdTransfer	transfers[MAX_RANGES];

	Assert(n <= BD_MAX_TRANSFERS);
	for (int i = 0; i < (int) nblocks; i++)
	{
		iov[i].iov_base = buffers[i];
		iov[i].iov_len = BLCKSZ;
	}
	for (int r = 0; r < n; r++)
	{
		transfers[r].offset = offsets[r];
		transfers[r].iov = &iov[done];
		transfers[r].iovcnt = (int) counts[r];
		transfers[r].len = (size_t) counts[r] * BLCKSZ;
		done += counts[r];
	}
	/* a data write may be left to write-behind */
	bd_data_transfer(write, transfers, n, write);
}

/* Read or write nblocks buffers at blocknum, mapped onto device ranges. */
static void
transfer(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
		 void **buffers, BlockNumber nblocks, bool write, bool beyond_eof)
{
	BdForkKey	key;
	uint64		offsets[MAX_RANGES];
	uint32		counts[MAX_RANGES];
	int			n;

	check_transfer_size(nblocks);
	key_of(reln, forknum, &key);
	if (write)
		bd_fork_ensure_mapped(&key, blocknum, nblocks, skipping_wal(reln));
	n = bd_fork_map(&key, blocknum, nblocks, beyond_eof, offsets, counts, MAX_RANGES);
	transfer_mapped(buffers, nblocks, write, offsets, counts, n);
}

/* Zero blocks [from, to) of a fork that are already mapped. */
static void
zero_mapped(SMgrRelation reln, ForkNumber forknum, BlockNumber from,
			BlockNumber to)
{
	BdForkKey	key;
	uint64		offsets[MAX_RANGES];
	uint32		counts[MAX_RANGES];

	key_of(reln, forknum, &key);
	while (from < to)
	{
		BlockNumber chunk = Min(to - from, BD_MAP_MAX_BLOCKS);
		int			n = bd_fork_map(&key, from, chunk, true, offsets, counts, MAX_RANGES);

		for (int r = 0; r < n; r++)
			bd_data_zero(offsets[r], (uint64) counts[r] * BLCKSZ);
		from += chunk;
	}
}

static void
bd_extend(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
		  const void *buffer, bool skipFsync)
{
	BdForkKey	key;
	BlockNumber old_eof,
				old_mapped;

	if (ON_MD(reln, forknum))
	{
		md->smgr_extend(reln, forknum, blocknum, buffer, skipFsync);
		return;
	}
	key_of(reln, forknum, &key);
	bd_fork_extend(&key, blocknum, 1, skipping_wal(reln), &old_eof, &old_mapped);
	/* a gap left below the block, over bytes kept from before a truncation */
	if (old_eof < blocknum && old_eof < old_mapped)
		zero_mapped(reln, forknum, old_eof, Min(blocknum, old_mapped));
	transfer(reln, forknum, blocknum, (void **) &buffer, 1, true, true);
}

static void
bd_zeroextend(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
			  int nblocks, bool skipFsync)
{
	BdForkKey	key;
	BlockNumber old_eof,
				old_mapped;
	BlockNumber end = blocknum + nblocks;

	if (ON_MD(reln, forknum))
	{
		md->smgr_zeroextend(reln, forknum, blocknum, nblocks, skipFsync);
		return;
	}
	key_of(reln, forknum, &key);
	bd_fork_extend(&key, blocknum, nblocks, skipping_wal(reln), &old_eof, &old_mapped);
	/* new extents read as zeroes; blocks of extents mapped before may not */
	if (Min(old_eof, blocknum) < Min(end, old_mapped))
		zero_mapped(reln, forknum, Min(old_eof, blocknum), Min(end, old_mapped));
}

static bool
bd_prefetch(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
			int nblocks)
{
#ifdef USE_PREFETCH
	BdForkKey	key;
	uint64		offsets[MAX_RANGES];
	uint32		counts[MAX_RANGES];
	BlockNumber eof;
	BlockNumber readable;
	int			n;

	if (ON_MD(reln, forknum))
		return md->smgr_prefetch(reln, forknum, blocknum, nblocks);
	key_of(reln, forknum, &key);
	/* one look at the fork: whether it exists, its size and the ranges */
	n = bd_fork_map_read(&key, blocknum, Min(nblocks, BD_MAP_MAX_BLOCKS), true,
						 &eof, &readable, offsets, counts, MAX_RANGES);
	if (n < 0)
		return false;
	/* the block exists when below EOF, mapped or not (unmapped reads zeroes) */
	if (blocknum >= eof)
		return false;
	/* with direct I/O the page cache is bypassed: nothing to read ahead */
	if (bd_dev->direct)
		return true;
	for (int r = 0; r < n; r++)
		bd_device_prefetch(offsets[r], (uint64) counts[r] * BLCKSZ);
#endif
	return true;
}

static void
bd_readv(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
		 void **buffers, BlockNumber nblocks)
{
	BdForkKey	key;
	BlockNumber eof;
	BlockNumber readable;
	BlockNumber on_device;
	uint64		offsets[MAX_RANGES];
	uint32		counts[MAX_RANGES];
	int			n;

	if (ON_MD(reln, forknum))
	{
		md->smgr_readv(reln, forknum, blocknum, buffers, nblocks);
		return;
	}
	check_transfer_size(nblocks);
	key_of(reln, forknum, &key);
	/* size and mapping in one look, under one lock held shared */
	n = bd_fork_map_read(&key, blocknum, nblocks, false, &eof, &readable,
						 offsets, counts, MAX_RANGES);
	/* below EOF but in no extent yet (recovery): never written, zeroes */
	on_device = blocknum >= readable ? 0 : Min(nblocks, readable - blocknum);
	if (blocknum + nblocks > eof && !(InRecovery || zero_damaged_pages))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not read blocks %u..%u of relation \"%s\" on the block device: it has %u blocks",
						blocknum, blocknum + nblocks - 1,
						relpathbackend(reln->smgr_rlocator.locator,
									   reln->smgr_rlocator.backend, forknum),
						eof)));
	/* as md.c: beyond EOF is zeroes in recovery or with zero_damaged_pages */
	for (BlockNumber i = on_device; i < nblocks; i++)
		MemSet(buffers[i], 0, BLCKSZ);
	if (on_device > 0 &&
		!bd_readahead_read(&key, blocknum, buffers, on_device, readable))
		transfer_mapped(buffers, on_device, false, offsets, counts, n);
}

static void
bd_writev(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
		  const void **buffers, BlockNumber nblocks, bool skipFsync)
{
	if (ON_MD(reln, forknum))
	{
		md->smgr_writev(reln, forknum, blocknum, buffers, nblocks, skipFsync);
		return;
	}
	/* no sync request: the next checkpoint flushes the whole device */
	transfer(reln, forknum, blocknum, (void **) buffers, nblocks, true, true);
}

static void
bd_writeback(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
			 BlockNumber nblocks)
{
	BdForkKey	key;
	BlockNumber eof;
	BlockNumber mapped;
	uint64		offsets[MAX_RANGES];
	uint32		counts[MAX_RANGES];
	int			n;

	if (ON_MD(reln, forknum))
	{
		md->smgr_writeback(reln, forknum, blocknum, nblocks);
		return;
	}
	/* direct writes are not left in the page cache: nothing to write back */
	if (bd_dev->direct)
		return;
	key_of(reln, forknum, &key);

	/*
	 * A hint for blocks written earlier: the fork may have been dropped or
	 * reclaimed since, as md.c's writeback skips a removed file.
	 */
	if (!bd_fork_size_if_exists(&key, &eof, &mapped) || blocknum >= mapped)
		return;
	nblocks = Min(nblocks, mapped - blocknum);
	while (nblocks > 0)
	{
		BlockNumber chunk = Min(nblocks, BD_MAP_MAX_BLOCKS);

		n = bd_fork_map(&key, blocknum, chunk, true, offsets, counts, MAX_RANGES);
		for (int r = 0; r < n; r++)
			bd_device_writeback(offsets[r], (uint64) counts[r] * BLCKSZ);
		blocknum += chunk;
		nblocks -= chunk;
	}
}

/*
 * A main fork that bd_exists() reports only because its relfilenumber is
 * still held (a tombstone) is empty, as md.c's truncated first segment is:
 * the recovery prefetcher asks for its size after smgrexists().
 */
static BlockNumber
bd_nblocks(SMgrRelation reln, ForkNumber forknum)
{
	BdForkKey	key;
	bool		found;
	BlockNumber n;

	if (ON_MD(reln, forknum))
		return md->smgr_nblocks(reln, forknum);
	key_of(reln, forknum, &key);
	n = bd_fork_nblocks(&key, true, &found);
	if (found || (forknum == MAIN_FORKNUM && bd_exists(reln, forknum)))
		return n;
	return bd_fork_nblocks(&key, false, &found);	/* reports it missing */
}

static void
bd_truncate(SMgrRelation reln, ForkNumber forknum, BlockNumber old_blocks,
			BlockNumber nblocks)
{
	BdForkKey	key;

	if (ON_MD(reln, forknum))
	{
		md->smgr_truncate(reln, forknum, old_blocks, nblocks);
		return;
	}
	key_of(reln, forknum, &key);
	bd_fork_truncate(&key, nblocks);
}

/*
 * Data written so far must survive a crash: flush the device, then log
 * the fork's EOF, which reaches disk with the caller's commit record.
 */
static void
bd_immedsync(SMgrRelation reln, ForkNumber forknum)
{
	BdForkKey	key;

	if (ON_MD(reln, forknum))
	{
		md->smgr_immedsync(reln, forknum);
		return;
	}
	bd_data_flush();
	key_of(reln, forknum, &key);
	bd_fork_set_durable_eof(&key);
}

/* The next checkpoint flushes the whole device: nothing to remember. */
static void
bd_registersync(SMgrRelation reln, ForkNumber forknum)
{
	if (ON_MD(reln, forknum))
		md->smgr_registersync(reln, forknum);
}

/* Remove a relation's free-space map file (unlogged reset). */
void
bd_smgr_unlink_fsm(const BdForkKey *key)
{
	RelFileLocatorBackend rlocator;

	rlocator.locator.spcOid = key->spcoid;
	rlocator.locator.dbOid = key->dboid;
	rlocator.locator.relNumber = key->relnumber;
	rlocator.backend = INVALID_PROC_NUMBER;
	smgr_get(MdSMgrId)->smgr_unlink(rlocator, FSM_FORKNUM, true);
}

static f_smgr bd_ops = {
	.name = "block_device",
	.smgr_init = NULL,
	.smgr_shutdown = NULL,
	.smgr_open = bd_open,
	.smgr_close = bd_close,
	.smgr_create = bd_create,
	.smgr_exists = bd_exists,
	.smgr_unlink = bd_unlink,
	.smgr_extend = bd_extend,
	.smgr_zeroextend = bd_zeroextend,
	.smgr_prefetch = bd_prefetch,
	.smgr_readv = bd_readv,
	.smgr_writev = bd_writev,
	.smgr_writeback = bd_writeback,
	.smgr_nblocks = bd_nblocks,
	.smgr_truncate = bd_truncate,
	.smgr_immedsync = bd_immedsync,
	.smgr_registersync = bd_registersync,
};

const f_smgr *
bd_smgr_ops(void)
{
	md = smgr_get(MdSMgrId);
	return &bd_ops;
}
