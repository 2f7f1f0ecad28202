/*-------------------------------------------------------------------------
 *
 * bd_forks.c
 *	  The fork API the storage manager calls: create, unlink, size, extend,
 *	  map blocks to device ranges, truncate; what DROP DATABASE, DROP
 *	  TABLESPACE and the relfilenumber check ask of the device.
 *
 * src/blockdev/forks/bd_forks.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xloginsert.h"
#include "access/xlogrecovery.h"
#include "access/xlogutils.h"
#include "common/relpath.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "postmaster/postmaster.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "pgrac/bd_binding.h"
#include "pgrac/bd_image.h"
#include "pgrac/bd_io.h"
#include "pgrac/bd_wal.h"
#include "blockdev/meta/bd_meta_internal.h"
#include "blockdev/forks/bd_forks.h"

BdForkEntry *
bd_fork_lookup(const BdForkKey *key)
{
	return bd_fork_lookup_hashed(key, bd_relation_hash(key));
}

/*
 * The live fork, or ERROR (releasing its partition lock, part, the only
 * lock the caller holds)
 */
static BdForkEntry *
live_fork_or_error(const BdForkKey *key, uint32 relhash, LWLock *part,
				   const char *action)
{
	BdForkEntry *f = bd_fork_lookup_hashed(key, relhash);

	if (f == NULL || f->state != BD_ENTRY_LIVE)
	{
		LWLockRelease(part);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not %s relation %s on block device: it does not exist",
						action, bd_fork_text(key))));
	}
	return f;
}

bool
bd_fork_exists(const BdForkKey *key)
{
	BdForkEntry *f;
	bool		live;
	uint32		relhash = bd_relation_hash(key);
	LWLock	   *part = bd_partition_lock(relhash);

	LWLockAcquire(part, LW_SHARED);
	f = bd_fork_lookup_hashed(key, relhash);
	live = f != NULL && f->state == BD_ENTRY_LIVE;
	LWLockRelease(part);
	return live;
}

static bool replaying_wal(void);

/* Empty a directory slot's fork: release extents and map pages. */
static void
entry_clear(BdChange *c, BdForkEntry *f)
{
	BdDirEntry	e;

	bd_entry_read(f, &e);
	bd_change_touch(c, f->dir_page);
	bd_extents_trim(c, f, &e, 0);
}

void
bd_fork_create(const BdForkKey *key, bool is_redo, uint32 create_xid)
{
	BdForkEntry *f;
	BdChange	c = {0};
	BdDirEntry	e;
	bool		found;
	uint64		page;
	int			slot;
	uint32		relhash = bd_relation_hash(key);
	LWLock	   *part = bd_partition_lock(relhash);

	LWLockAcquire(part, LW_EXCLUSIVE);
	f = bd_fork_lookup_hashed(key, relhash);
	if (f != NULL && f->state == BD_ENTRY_LIVE)
	{
		LWLockRelease(part);
		if (is_redo)
			return;
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("could not create relation %s on block device: it already exists",
						bd_fork_text(key))));
	}
	if (replaying_wal())
	{
		/*
		 * Replay needs the fork (XLogReadBufferExtended() creates every fork
		 * it reads), but it must not change a directory or allocation-map
		 * page: the device's pages may be ahead of the record being replayed
		 * (written by a checkpoint later than the redo pointer), and the
		 * records after them apply byte ranges as the primary changed them,
		 * over whatever is there.  A slot taken here, or a tombstone's
		 * extents released here, would be overwritten in part by those
		 * records (a released extent marked allocated again with no owner,
		 * one entry's bytes mixed with another's).  So the fork is only made
		 * live in memory: one the page still holds (a tombstone from ahead of
		 * the replay, or a fork unlinked by redo whose record has not come
		 * yet) keeps its entry and extents as they are; one it does not hold
		 * gets no slot until the primary's record or the end of recovery
		 * gives it one (bd_redo_cleanup).  Either way the records that
		 * follow, then the end of recovery, settle it.
		 */
		if (f == NULL)
		{
			f = bd_fork_enter(key, &found);
			if (f == NULL)
				ereport(FATAL,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("too many relation forks on block device \"%s\" for shared memory", bd_dev->path),
						 errdetail("Shared memory was sized for %llu forks from the device's metadata area.",
								   (unsigned long long) bd_max_forks(&bd->sb))));
			f->dir_page = BD_NOT_ON_DEVICE;
			f->slot = -1;
			f->nblocks = 0;
		}
		f->state = BD_ENTRY_LIVE;
		LWLockRelease(part);
		return;
	}
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	if (f != NULL)
	{
		BdDirEntry	old;

		bd_entry_read(f, &old);
		if (old.state == BD_ENTRY_LIVE)
		{
			/* unlinked, and its record not logged yet: the page still has it */
			f->state = BD_ENTRY_LIVE;
			LWLockRelease(bd->lock);
			LWLockRelease(part);
			return;
		}
		/* a tombstone of the same relation: reuse its slot */
		entry_clear(&c, f);
		page = f->dir_page;
		slot = f->slot;
	}
	else
		bd_slot_find_free(&c, &page, &slot);

	memset(&e, 0, sizeof(e));
	e.spcoid = key->spcoid;
	e.dboid = key->dboid;
	e.relnumber = key->relnumber;
	e.fork = (uint8) key->fork;
	e.state = BD_ENTRY_LIVE;
	e.create_xid = create_xid;
	bd_change_touch(&c, page);
	bd_dir_entry_encode(page_ptr(page), slot, &e);
	f = bd_fork_enter(key, &found);
	if (f == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("too many relation forks on the block device for shared memory")));
	f->dir_page = page;
	f->slot = slot;
	f->state = BD_ENTRY_LIVE;
	f->nblocks = 0;
	bd_change_commit(&c, BD_WAL_CREATE_FORK, key, 0);
	LWLockRelease(bd->lock);
	LWLockRelease(part);
}

void
bd_fork_unlink(const BdForkKey *key, bool is_redo)
{
	BdForkEntry *f;
	BdChange	c = {0};
	BdDirEntry	e;
	uint32		relhash = bd_relation_hash(key);
	LWLock	   *part = bd_partition_lock(relhash);

	LWLockAcquire(part, LW_EXCLUSIVE);
	f = bd_fork_lookup_hashed(key, relhash);
	if (f == NULL || f->state != BD_ENTRY_LIVE)
	{
		LWLockRelease(part);
		return;
	}
	f->state = BD_ENTRY_TOMBSTONE;
	if (!XLogInsertAllowed())
	{
		/* the primary's UNLINK record follows, or the end of recovery logs it */
		LWLockRelease(part);
		return;
	}
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	bd_entry_read(f, &e);
	e.state = BD_ENTRY_TOMBSTONE;
	e.create_xid = 0;
	bd_change_touch(&c, f->dir_page);
	bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, &e);
	bd_change_commit(&c, BD_WAL_UNLINK, key, 0);
	LWLockRelease(bd->lock);
	LWLockRelease(part);
}

BlockNumber
bd_fork_nblocks(const BdForkKey *key, bool missing_ok, bool *found)
{
	BdForkEntry *f;
	BlockNumber n = 0;
	uint32		relhash = bd_relation_hash(key);
	LWLock	   *part = bd_partition_lock(relhash);

	LWLockAcquire(part, LW_SHARED);
	f = bd_fork_lookup_hashed(key, relhash);
	*found = f != NULL && f->state == BD_ENTRY_LIVE;
	if (*found)
		n = f->nblocks;
	LWLockRelease(part);
	if (!*found && !missing_ok)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open relation %s on block device: it does not exist",
						bd_fork_text(key))));
	return n;
}

/*
 * Whether this process may map extents now.  A running server logs each
 * mapping.  During recovery the primary's EXTEND record for a block can
 * follow WAL that already wrote the block (bulk_write.c logs pages before
 * extending the relation), so recovery never chooses extents itself: the
 * blocks stay unmapped (reading as zeroes) until the record maps them.
 * The exceptions run where no record can follow: the import in the
 * postmaster and the unlogged reset at the end of recovery.
 */
static bool
may_map_extents(void)
{
	return XLogInsertAllowed() || local_mapping_allowed;
}

/*
 * Whether WAL is being replayed: no metadata page may change but by a
 * record (bd_redo.c), and no record this process writes could follow.
 */
static bool
replaying_wal(void)
{
	return !may_map_extents();
}

/*
 * Map extents until the fork has need of them.  The caller holds the
 * fork's partition lock exclusively; the metadata lock is taken here, and
 * only when extents are needed.
 */
static void
map_extents(BdForkEntry *f, const BdForkKey *key, uint32 need, bool skip_wal)
{
	BdChange	c = {0};
	BdDirEntry	e;

	bd_entry_read(f, &e);
	if (need <= e.nextents)
		return;
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	bd_ensure_capacity(e.nextents, need - e.nextents);
	/* from here on nothing can fail but a bug */
	while (e.nextents < need)
	{
		uint32		ext = bd_extent_alloc(&c);

		bd_change_touch(&c, f->dir_page);
		bd_extents_append(&c, f, &e, ext);
		bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, &e);
		if (bd_change_full(&c, 4))
			bd_change_commit(&c, BD_WAL_EXTEND, key, skip_wal ? 1 : 0);
	}
	bd_change_commit(&c, BD_WAL_EXTEND, key, skip_wal ? 1 : 0);
	LWLockRelease(bd->lock);
}

/*
 * Make blocks [first, first + count) part of the fork: map extents as
 * needed (they read as zeroes) and move EOF.  Allocation is logged; EOF is
 * not (see the file header).  *old_eof and *old_mapped tell the caller
 * which blocks below the new EOF may still hold bytes of this fork from
 * before a truncation: [old_eof, old_mapped) must be zeroed unless written.
 */
void
bd_fork_extend(const BdForkKey *key, BlockNumber first, BlockNumber count,
			   bool skip_wal, BlockNumber *old_eof, BlockNumber *old_mapped)
{
	BdForkEntry *f;
	BdDirEntry	e;
	uint64		end = (uint64) first + count;
	uint32		relhash = bd_relation_hash(key);
	LWLock	   *part = bd_partition_lock(relhash);

	LWLockAcquire(part, LW_EXCLUSIVE);
	f = live_fork_or_error(key, relhash, part, "extend");
	if (end > MaxBlockNumber)
	{
		LWLockRelease(part);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cannot extend relation %s beyond %u blocks", bd_fork_text(key), MaxBlockNumber)));
	}
	bd_entry_read(f, &e);
	*old_eof = f->nblocks;
	*old_mapped = e.nextents * bd->sb.extent_pages;
	if (may_map_extents())
		map_extents(f, key, (uint32) ((end + bd->sb.extent_pages - 1) / bd->sb.extent_pages),
					skip_wal);
	if (end > f->nblocks)
		f->nblocks = (uint32) end;
	LWLockRelease(part);
}

/*
 * Before writing blocks [first, first + count): map what is not mapped yet
 * (during recovery that is an error, retried by the next write: the record
 * mapping the block follows in the WAL).
 */
void
bd_fork_ensure_mapped(const BdForkKey *key, BlockNumber first, BlockNumber count,
					  bool skip_wal)
{
	BdForkEntry *f;
	BdDirEntry	e;
	uint32		need = (uint32) (((uint64) first + count + bd->sb.extent_pages - 1) /
								 bd->sb.extent_pages);
	uint32		relhash = bd_relation_hash(key);
	LWLock	   *part = bd_partition_lock(relhash);

	/* the usual case, blocks already mapped, needs the lock only shared */
	LWLockAcquire(part, LW_SHARED);
	f = live_fork_or_error(key, relhash, part, "write");
	bd_entry_read(f, &e);
	LWLockRelease(part);
	if (need <= e.nextents)
		return;

	LWLockAcquire(part, LW_EXCLUSIVE);
	f = live_fork_or_error(key, relhash, part, "write");
	bd_entry_read(f, &e);
	if (need > e.nextents)
	{
		if (!may_map_extents())
		{
			LWLockRelease(part);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot write blocks %u..%u of relation %s during recovery: their extent is not mapped yet",
							first, first + count - 1, bd_fork_text(key)),
					 errdetail("The WAL record mapping the extent follows the one that wrote the blocks; the write is retried later.")));
		}
		map_extents(f, key, need, skip_wal);
	}
	LWLockRelease(part);
}

/* As bd_fork_size(), but false instead of an ERROR for a missing fork */
bool
bd_fork_size_if_exists(const BdForkKey *key, BlockNumber *nblocks, BlockNumber *mapped)
{
	BdForkEntry *f;
	BdDirEntry	e;
	bool		live;
	uint32		relhash = bd_relation_hash(key);
	LWLock	   *part = bd_partition_lock(relhash);

	LWLockAcquire(part, LW_SHARED);
	f = bd_fork_lookup_hashed(key, relhash);
	live = f != NULL && f->state == BD_ENTRY_LIVE;
	if (live)
	{
		bd_entry_read(f, &e);
		*nblocks = f->nblocks;
		*mapped = e.nextents * bd->sb.extent_pages;
	}
	LWLockRelease(part);
	return live;
}

/* EOF and the number of blocks the mapped extents hold */
void
bd_fork_size(const BdForkKey *key, BlockNumber *nblocks, BlockNumber *mapped)
{
	BdForkEntry *f;
	BdDirEntry	e;
	uint32		relhash = bd_relation_hash(key);
	LWLock	   *part = bd_partition_lock(relhash);

	LWLockAcquire(part, LW_SHARED);
	f = live_fork_or_error(key, relhash, part, "read");
	bd_entry_read(f, &e);
	*nblocks = f->nblocks;
	*mapped = e.nextents * bd->sb.extent_pages;
	LWLockRelease(part);
}

void
bd_fork_truncate(const BdForkKey *key, BlockNumber nblocks)
{
	BdForkEntry *f;
	BdChange	c = {0};
	BdDirEntry	e;
	uint32		keep;
	uint32		relhash = bd_relation_hash(key);
	LWLock	   *part = bd_partition_lock(relhash);

	LWLockAcquire(part, LW_EXCLUSIVE);
	f = live_fork_or_error(key, relhash, part, "truncate");
	f->nblocks = nblocks;
	if (!XLogInsertAllowed())
	{
		/* the primary's TRUNCATE record follows; EOF is memory's until then */
		LWLockRelease(part);
		return;
	}
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	bd_entry_read(f, &e);
	keep = (nblocks + bd->sb.extent_pages - 1) / bd->sb.extent_pages;
	bd_change_touch(&c, f->dir_page);
	bd_extents_trim(&c, f, &e, keep);
	e.nblocks = nblocks;
	bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, &e);
	bd_change_commit(&c, BD_WAL_TRUNCATE, key, nblocks);
	LWLockRelease(bd->lock);
	LWLockRelease(part);
}

/*
 * Log the fork's current EOF (immedsync: its data was just flushed; the
 * import: its data is flushed before the device is claimed).
 */
void
bd_fork_set_durable_eof(const BdForkKey *key)
{
	BdForkEntry *f;
	BdChange	c = {0};
	BdDirEntry	e;
	uint32		relhash = bd_relation_hash(key);
	LWLock	   *part = bd_partition_lock(relhash);

	LWLockAcquire(part, LW_EXCLUSIVE);
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	f = bd_fork_lookup_hashed(key, relhash);
	if (f != NULL && f->state == BD_ENTRY_LIVE && may_map_extents())
	{
		bd_entry_read(f, &e);
		if (e.nblocks != Min(f->nblocks, e.nextents * bd->sb.extent_pages))
		{
			e.nblocks = Min(f->nblocks, e.nextents * bd->sb.extent_pages);
			bd_change_touch(&c, f->dir_page);
			bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, &e);
			bd_change_commit(&c, BD_WAL_SET_EOF, key, e.nblocks);
		}
	}
	LWLockRelease(bd->lock);
	LWLockRelease(part);
}

/* Device ranges of blocks [blocknum, blocknum + nblocks) in extents ext */
static int
plan_ranges(const BdForkKey *key, const uint32 *ext, uint32 first_ext,
			uint32 next, BlockNumber blocknum, BlockNumber nblocks,
			uint64 *offsets, uint32 *counts, int max_ranges)
{
	uint32		ep = bd->sb.extent_pages;
	BdIoRange	ranges[64];
	int			n;

	n = bd_plan_io(ext, next, ep, blocknum - first_ext * ep,
				   nblocks, ranges, Min(max_ranges, (int) lengthof(ranges)));
	if (n < 0)
		elog(ERROR, "could not plan I/O for blocks %u..%u of relation %s",
			 blocknum, blocknum + nblocks - 1, bd_fork_text(key));
	for (int i = 0; i < n; i++)
	{
		offsets[i] = ranges[i].offset;
		counts[i] = ranges[i].nblocks;
	}
	return n;
}

/*
 * Map blocks [blocknum, blocknum + nblocks) of a fork to device byte ranges
 * (offsets[i], counts[i] blocks), as few as the extents allow.  Returns the
 * number of ranges.  At most BD_MAP_MAX_BLOCKS blocks per call: that many
 * cross at most 6 extents of the smallest size.
 */
int
bd_fork_map(const BdForkKey *key, BlockNumber blocknum, BlockNumber nblocks,
			bool allow_beyond_eof, uint64 *offsets, uint32 *counts,
			int max_ranges)
{
	BdForkEntry *f;
	BdDirEntry	e;
	uint32		ep = bd->sb.extent_pages;
	uint32		first_ext,
				last_ext;
	uint32		local[64];
	uint32		relhash = bd_relation_hash(key);
	LWLock	   *part = bd_partition_lock(relhash);

	LWLockAcquire(part, LW_SHARED);
	f = live_fork_or_error(key, relhash, part, "access");
	bd_entry_read(f, &e);
	if ((!allow_beyond_eof && (uint64) blocknum + nblocks > f->nblocks) ||
		((uint64) blocknum + nblocks + ep - 1) / ep > e.nextents)
	{
		BlockNumber eof = f->nblocks;

		LWLockRelease(part);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not access blocks %u..%u of relation %s on block device: it has %u blocks",
						blocknum, blocknum + nblocks - 1, bd_fork_text(key), eof)));
	}
	first_ext = blocknum / ep;
	last_ext = (blocknum + nblocks - 1) / ep;
	if (last_ext - first_ext >= lengthof(local))
	{
		LWLockRelease(part);
		elog(ERROR, "cannot map %u blocks of relation %s at once (more than %d extents)",
			 nblocks, bd_fork_text(key), (int) lengthof(local));
	}
	bd_extents_get(f, &e, first_ext, last_ext - first_ext + 1, local);
	LWLockRelease(part);

	return plan_ranges(key, local, first_ext, last_ext - first_ext + 1, blocknum,
					   nblocks, offsets, counts, max_ranges);
}

/*
 * What a read of blocks [blocknum, blocknum + nblocks) finds, in one look
 * under the fork's partition lock: its EOF (*eof), how many of its first
 * blocks are on the device (*readable: below EOF and in mapped extents;
 * blocks below EOF beyond them exist but were never written, and read as
 * zeroes), and the device ranges of the requested blocks below *readable.
 * Returns the number of ranges (0 when none is readable), or -1 when the
 * fork does not exist and missing_ok.  nblocks is at most
 * BD_MAP_MAX_BLOCKS.
 */
int
bd_fork_map_read(const BdForkKey *key, BlockNumber blocknum, BlockNumber nblocks,
				 bool missing_ok, BlockNumber *eof, BlockNumber *readable,
				 uint64 *offsets, uint32 *counts, int max_ranges)
{
	BdForkEntry *f;
	BdDirEntry	e;
	uint32		ep = bd->sb.extent_pages;
	uint32		first_ext = 0,
				next = 0;
	uint32		local[64];
	uint32		relhash = bd_relation_hash(key);
	LWLock	   *part = bd_partition_lock(relhash);
	BlockNumber n;

	Assert(nblocks > 0 && nblocks <= BD_MAP_MAX_BLOCKS);
	LWLockAcquire(part, LW_SHARED);
	if (missing_ok)
	{
		f = bd_fork_lookup_hashed(key, relhash);
		if (f == NULL || f->state != BD_ENTRY_LIVE)
		{
			LWLockRelease(part);
			return -1;
		}
	}
	else
		f = live_fork_or_error(key, relhash, part, "read");
	bd_entry_read(f, &e);
	*eof = f->nblocks;
	*readable = Min(f->nblocks, e.nextents * ep);
	n = blocknum >= *readable ? 0 : Min(nblocks, *readable - blocknum);
	if (n > 0)
	{
		first_ext = blocknum / ep;
		next = (blocknum + n - 1) / ep - first_ext + 1;
		/* BD_MAP_MAX_BLOCKS blocks cross at most 6 extents of 8 pages */
		Assert(next <= lengthof(local));
		bd_extents_get(f, &e, first_ext, next, local);
	}
	LWLockRelease(part);

	if (n == 0)
		return 0;
	return plan_ranges(key, local, first_ext, next, blocknum, n, offsets, counts,
					   max_ranges);
}

/* DROP DATABASE: every fork of the database becomes a tombstone. */
void
bd_drop_database(Oid dboid)
{
	HASH_SEQ_STATUS seq;
	BdForkEntry *f;
	BdChange	c = {0};
	BdForkKey	key = {0};

	key.dboid = dboid;
	bd_lock_all_partitions(LW_EXCLUSIVE);
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, bd_forks);
	while ((f = hash_seq_search(&seq)) != NULL)
	{
		BdDirEntry	e;

		if (f->key.dboid != dboid || f->state != BD_ENTRY_LIVE)
			continue;
		f->state = BD_ENTRY_TOMBSTONE;
		bd_entry_read(f, &e);
		e.state = BD_ENTRY_TOMBSTONE;
		bd_change_touch(&c, f->dir_page);
		bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, &e);
		if (bd_change_full(&c, 1))
		{
			bd_change_commit(&c, BD_WAL_UNLINK, &key, 0);
		}
	}
	bd_change_commit(&c, BD_WAL_UNLINK, &key, 0);
	LWLockRelease(bd->lock);
	bd_unlock_all_partitions();
}

/* Whether the device holds any fork (live or tombstone) of a relfilenumber */
bool
bd_relfilenumber_in_use(Oid spcoid, Oid dboid, RelFileNumber relnumber)
{
	BdForkKey	key = {0};
	bool		used = false;
	uint32		relhash;
	LWLock	   *part;

	key.spcoid = spcoid;
	key.dboid = dboid;
	key.relnumber = relnumber;
	relhash = bd_relation_hash(&key);
	part = bd_partition_lock(relhash);
	LWLockAcquire(part, LW_SHARED);
	for (key.fork = 0; key.fork <= MAX_FORKNUM && !used; key.fork++)
		used = bd_fork_lookup_hashed(&key, relhash) != NULL;
	LWLockRelease(part);
	return used;
}

bool
bd_tablespace_in_use(Oid spcoid)
{
	HASH_SEQ_STATUS seq;
	BdForkEntry *f;
	bool		used = false;

	bd_lock_all_partitions(LW_SHARED);
	hash_seq_init(&seq, bd_forks);
	while ((f = hash_seq_search(&seq)) != NULL)
	{
		if (f->key.spcoid == spcoid && f->state == BD_ENTRY_LIVE)
		{
			used = true;
			hash_seq_term(&seq);
			break;
		}
	}
	bd_unlock_all_partitions();
	return used;
}

int
bd_fork_extent_list(const BdForkKey *key, uint32 *extents, int max,
					uint32 *nblocks)
{
	BdForkEntry *f;
	BdDirEntry	e;
	int			n = -1;
	uint32		relhash = bd_relation_hash(key);
	LWLock	   *part = bd_partition_lock(relhash);

	LWLockAcquire(part, LW_SHARED);
	f = bd_fork_lookup_hashed(key, relhash);
	if (f != NULL && f->state == BD_ENTRY_LIVE)
	{
		bd_entry_read(f, &e);
		n = (int) Min(e.nextents, (uint32) max);
		bd_extents_get(f, &e, 0, n, extents);
		*nblocks = f->nblocks;
		if ((int) e.nextents > max)
			n = -(int) e.nextents - 2;
	}
	LWLockRelease(part);
	return n;
}
