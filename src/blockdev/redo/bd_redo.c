/*-------------------------------------------------------------------------
 *
 * bd_redo.c
 *	  Redo of the resource manager's records into the metadata cache, and
 *	  the end of recovery (forks PostgreSQL's redo unlinked, the unlogged
 *	  reset).
 *
 * src/blockdev/redo/bd_redo.c
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
#include "blockdev/redo/bd_redo.h"

/*
 * Bring memory in line with a directory page that redo replaced; the forks
 * whose entry changed are appended to *changed, for their map-page index.
 */
static void
refresh_directory(uint64 address, const uint8 *before, BdWalOp op,
				  const BdWalKey *rkey, List **changed)
{
	const uint8 *after = page_ptr(address);

	for (int s = 0; s < BD_DIR_ENTRIES_PER_PAGE; s++)
	{
		BdDirEntry	old,
					cur;
		BdForkKey	key;
		BdForkEntry *f;
		bool		found;

		bd_dir_entry_decode(before, s, &old);
		bd_dir_entry_decode(after, s, &cur);

		/* the fork that was here before, if it is gone or replaced */
		if (old.state != BD_ENTRY_FREE &&
			(cur.state == BD_ENTRY_FREE || old.spcoid != cur.spcoid ||
			 old.dboid != cur.dboid || old.relnumber != cur.relnumber ||
			 old.fork != cur.fork))
		{
			memset(&key, 0, sizeof(key));
			key.spcoid = old.spcoid;
			key.dboid = old.dboid;
			key.relnumber = old.relnumber;
			key.fork = old.fork;
			f = bd_fork_lookup(&key);
			if (f && f->dir_page == address && f->slot == s)
				bd_fork_remove(f);
		}
		if (cur.state == BD_ENTRY_FREE)
			continue;

		memset(&key, 0, sizeof(key));
		key.spcoid = cur.spcoid;
		key.dboid = cur.dboid;
		key.relnumber = cur.relnumber;
		key.fork = cur.fork;
		f = bd_fork_enter(&key, &found);
		if (f == NULL)
			ereport(FATAL,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many relation forks on block device \"%s\" for shared memory", bd_dev->path),
					 errdetail("Shared memory was sized for %llu forks from the device's metadata area.",
							   (unsigned long long) bd_max_forks(&bd->sb))));
		if (!found || old.state == BD_ENTRY_FREE || old.spcoid != cur.spcoid ||
			old.dboid != cur.dboid || old.relnumber != cur.relnumber ||
			old.fork != cur.fork || old.nextents != cur.nextents ||
			old.extent_map != cur.extent_map)
		{
			BdForkKey  *k = palloc(sizeof(BdForkKey));

			*k = key;
			*changed = lappend(*changed, k);
		}
		f->dir_page = address;
		f->slot = s;
		if (!found)
		{
			f->state = cur.state;
			f->nblocks = cur.nblocks;
			continue;
		}
		/* a pending unlink by redo stays pending until the page says so */
		if (cur.state == BD_ENTRY_TOMBSTONE || old.state != cur.state)
			f->state = cur.state;

		/*
		 * Only TRUNCATE and CREATE_FORK set their fork's EOF exactly.  A
		 * SET_EOF image also carries the other entries of its page as the
		 * primary last logged them, possibly older than what redo has
		 * extended since: EOF only moves up there.
		 */
		if ((op == BD_WAL_TRUNCATE || op == BD_WAL_CREATE_FORK) &&
			rkey->spcoid == cur.spcoid && rkey->dboid == cur.dboid &&
			rkey->relnumber == cur.relnumber && rkey->fork == cur.fork)
			f->nblocks = cur.nblocks;
		else if (op == BD_WAL_SET_EOF && cur.nblocks > f->nblocks)
			f->nblocks = cur.nblocks;
	}
}

/*
 * Bring the allocator in line with an allocation-map page that redo
 * replaced: newly set bits allocate (and zero: the extent was all zeroes
 * when the record was written), cleared bits put the extent in quarantine
 * until a checkpoint zeroes it.
 */
static void
refresh_alloc(uint64 address, const uint8 *before, bool zero_new)
{
	const uint8 *after = page_ptr(address);
	uint32		base = (uint32) (address - BD_FIRST_ALLOC_MAP_PAGE) * BD_ALLOC_BITS_PER_PAGE;
	uint64		extent_bytes = (uint64) bd->sb.extent_pages * BD_PAGE_SIZE;

	for (uint32 byte = 0; byte < BD_ALLOC_BITS_PER_PAGE / 8; byte++)
	{
		uint8		b0 = before[BD_HEADER_SIZE + byte];
		uint8		b1 = after[BD_HEADER_SIZE + byte];

		for (int bit = 0; bit < 8; bit++)
		{
			uint32		e = base + byte * 8 + bit;
			bool		was = (b0 >> bit) & 1;
			bool		now = (b1 >> bit) & 1;
			bool		mem;

			if (e >= bd->alloc.nextents)
				return;
			if (e < bd->alloc.reserved)
				continue;
			mem = bd_allocator_is_allocated(&bd->alloc, e);
			if (now && !was)
			{
				/* allocated by the record */
				if (!mem)
					bd_allocator_mark(&bd->alloc, e);
				bit_put(bd_zero_pending, e, false);
				if (zero_new)
					bd_data_zero((uint64) e * extent_bytes, extent_bytes);
			}
			else if (now && !mem)
				bd_allocator_mark(&bd->alloc, e);
			else if (!now && mem && !bit_get(bd_zero_pending, e))
				bit_put(bd_zero_pending, e, true);	/* released: quarantine */
		}
	}
}

void
bd_redo_record(XLogReaderState *record)
{
	BdWalRecord *rec = palloc(sizeof(BdWalRecord));
	char		error[256];
	uint8	   *before = palloc(BD_PAGE_SIZE);
	uint64		lsn = record->EndRecPtr;
	List	   *changed = NIL;

	if (!bd_wal_decode((const uint8 *) XLogRecGetData(record), XLogRecGetDataLen(record),
					   rec, error, sizeof(error)))
		elog(PANIC, "invalid block-device WAL record at %X/%X: %s",
			 LSN_FORMAT_ARGS(record->ReadRecPtr), error);

	/* a record may change any fork's entry: every partition, then metadata */
	bd_lock_all_partitions(LW_EXCLUSIVE);
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	if (rec->op == BD_WAL_GROW && rec->key.arg > bd->sb.nextents)
	{
		uint64		bytes = (uint64) rec->key.arg * bd->sb.extent_pages * BD_PAGE_SIZE;

		if (rec->key.arg > bd->sb.max_extents)
			elog(PANIC, "block-device GROW record beyond the device's capacity");
		/* another run may have grown the file already: never shrink it */
		if (!bd_device_is_block() && bd_device_current_size() < bytes)
			bd_device_resize(bytes);
		bd_allocator_grow(&bd->alloc, rec->key.arg);
		bd->sb.nextents = rec->key.arg;
	}
	for (int i = 0; i < rec->npages; i++)
	{
		BdWalPage  *part = &rec->pages[i];
		uint64		addr = part->address;
		uint8	   *page;

		if (addr < BD_FIRST_ALLOC_MAP_PAGE || addr >= bd->end_page)
			elog(PANIC, "block-device WAL record at %X/%X changes page %llu outside the metadata",
				 LSN_FORMAT_ARGS(record->ReadRecPtr), (unsigned long long) addr);
		page = page_ptr(addr);
		memcpy(before, page, BD_PAGE_SIZE);
		if (bd_wal_apply(part, page, lsn) == BD_WAL_PAGE_INVALID)
			elog(PANIC, "block-device metadata page %llu is invalid and the record at %X/%X has no image of it",
				 (unsigned long long) addr, LSN_FORMAT_ARGS(record->ReadRecPtr));
		bd_page_dirty[page_index(addr)] = true;
		bd_page_local[page_index(addr)] = false;

		switch (part->type)
		{
			case BD_PAGE_ALLOC_MAP:
				refresh_alloc(addr, before,
							  rec->op == BD_WAL_EXTEND && !(rec->key.arg & 1));
				break;
			case BD_PAGE_DIRECTORY:
				refresh_directory(addr, before, rec->op, &rec->key, &changed);
				/* fall through */
			case BD_PAGE_EXTENT_MAP:
				{
					uint32		mi = (uint32) (addr - bd->sb.directory_root);

					if (!bd_meta_used[mi])
					{
						bd_meta_used[mi] = true;
						bd->meta_used_count++;
					}
					if (part->type == BD_PAGE_DIRECTORY && bd_dir_page_next(page) == 0)
						bd->dir_last = addr;
				}
				break;
		}
	}

	/*
	 * The map-page index, once every page of the record is in place.  Until
	 * recovery is consistent, pages on the device may be newer than the
	 * records replayed over them, and a chain may be a mix of both: the index
	 * is dropped, reads walk the chains as they are, and the whole index is
	 * read again once the pages agree (here, or at the end of recovery). From
	 * then on each record changes chains as the primary did, at their tail
	 * (IMAGE records, of changes made locally at the end of a recovery, are
	 * read again whole).
	 */
	if (!reachedConsistency)
		bd->map_index_valid = false;
	else if (!bd->map_index_valid)
		bd_map_index_rebuild_all();
	else
	{
		foreach_ptr(BdForkKey, k, changed)
		{
			BdForkEntry *f = bd_fork_lookup(k);
			BdDirEntry	e;

			if (f == NULL)
				continue;
			bd_entry_read(f, &e);
			bd_map_index_sync(f, &e, rec->op == BD_WAL_IMAGE);
		}
	}
	LWLockRelease(bd->lock);
	bd_unlock_all_partitions();
	list_free_deep(changed);
	pfree(before);
	pfree(rec);
}

/*
 * The forks replay made that no record put in the directory
 * (bd_fork_create): a live one gets a slot, as a change of this process
 * that the end-of-recovery checkpoint logs; an unlinked one is forgotten.
 * Every partition lock and the metadata lock are held.
 */
static void
place_replay_forks(void)
{
	HASH_SEQ_STATUS seq;
	BdForkEntry *f;
	List	   *gone = NIL;

	hash_seq_init(&seq, bd_forks);
	while ((f = hash_seq_search(&seq)) != NULL)
	{
		BdChange	c = {0};
		BdDirEntry	e;
		uint64		page;
		int			slot;

		if (f->dir_page != BD_NOT_ON_DEVICE)
			continue;
		if (f->state != BD_ENTRY_LIVE)
		{
			gone = lappend(gone, f);
			continue;
		}
		bd_entry_read(f, &e);
		bd_slot_find_free(&c, &page, &slot);
		bd_change_touch(&c, page);
		bd_dir_entry_encode(page_ptr(page), slot, &e);
		f->dir_page = page;
		f->slot = slot;
		bd_change_commit(&c, BD_WAL_CREATE_FORK, &f->key, 0);
	}
	foreach_ptr(BdForkEntry, fe, gone)
		bd_fork_remove(fe);
	list_free(gone);
}

/*
 * Reset unlogged relations at the end of recovery, as PostgreSQL's
 * ResetUnloggedRelations() does for files (which it cannot see here): for
 * every init fork, the main fork becomes a copy of it and the other forks
 * go.  Recovery cannot write WAL, so the page changes are local: the
 * end-of-recovery checkpoint (or, after a promotion, the first checkpoint)
 * logs them before writing them, and flushes the copied data.
 */
void
bd_redo_cleanup(void)
{
	HASH_SEQ_STATUS seq;
	BdForkEntry *f;
	List	   *inits = NIL;
	int			nreset = 0;
	char	   *buf = palloc_aligned(BD_PAGE_SIZE, PG_IO_ALIGN_SIZE, 0);

	/* no record follows the end of recovery: this is the last word */
	local_mapping_allowed = true;

	/* every record is replayed: the chains are consistent */
	bd_lock_all_partitions(LW_EXCLUSIVE);
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	place_replay_forks();
	if (!bd->map_index_valid)
		bd_map_index_rebuild_all();
	LWLockRelease(bd->lock);
	hash_seq_init(&seq, bd_forks);
	while ((f = hash_seq_search(&seq)) != NULL)
		if (f->key.fork == INIT_FORKNUM && f->state == BD_ENTRY_LIVE)
		{
			BdForkKey  *k = palloc(sizeof(BdForkKey));

			*k = f->key;
			inits = lappend(inits, k);
		}
	bd_unlock_all_partitions();

	foreach_ptr(BdForkKey, init, inits)
	{
		BdForkKey	key = *init;
		BdForkEntry *src;
		BdForkEntry *dst;
		BdChange	c = {0};
		BdDirEntry	e;
		BlockNumber n;
		BlockNumber old_eof,
					old_mapped;
		LWLock	   *part = bd_partition_lock(bd_relation_hash(init));

		/* the visibility map goes, and the free-space map (md.c's file) */
		key.fork = VISIBILITYMAP_FORKNUM;
		bd_fork_unlink(&key, true);
		bd_smgr_unlink_fsm(&key);

		key.fork = MAIN_FORKNUM;
		LWLockAcquire(part, LW_EXCLUSIVE);
		LWLockAcquire(bd->lock, LW_EXCLUSIVE);
		src = bd_fork_lookup(init);
		n = src->nblocks;
		dst = bd_fork_lookup(&key);
		if (dst != NULL && dst->state == BD_ENTRY_LIVE)
		{
			/*
			 * Empty the main fork, keeping the extents the copy will fill:
			 * released extents are not free before a checkpoint, so mapping
			 * new ones could fail on a full device and the server would not
			 * start.  What the kept extents hold beyond the copy lies beyond
			 * EOF, and is zeroed when the fork grows over it, as after any
			 * truncation.
			 */
			bd_entry_read(dst, &e);
			bd_change_touch(&c, dst->dir_page);
			bd_extents_trim(&c, dst, &e, (n + bd->sb.extent_pages - 1) / bd->sb.extent_pages);
			e.nblocks = 0;
			bd_dir_entry_encode(page_ptr(dst->dir_page), dst->slot, &e);
			bd_change_commit(&c, BD_WAL_TRUNCATE, &key, 0);
			dst->nblocks = 0;
			LWLockRelease(bd->lock);
			LWLockRelease(part);
		}
		else
		{
			LWLockRelease(bd->lock);
			LWLockRelease(part);
			bd_fork_create(&key, true, 0);
		}
		if (n > 0)
			bd_fork_extend(&key, 0, n, false, &old_eof, &old_mapped);
		for (BlockNumber b = 0; b < n; b++)
		{
			uint64		off;
			uint32		cnt;

			bd_fork_map(init, b, 1, false, &off, &cnt, 1);
			bd_data_read(off, buf, BD_PAGE_SIZE);
			bd_fork_map(&key, b, 1, false, &off, &cnt, 1);
			bd_data_write(off, buf, BD_PAGE_SIZE);
		}
		nreset++;
	}
	local_mapping_allowed = false;
	if (nreset > 0)
		ereport(LOG,
				(errmsg("reset %d unlogged relation(s) on the block device from their init forks", nreset)));
	list_free_deep(inits);
	pfree(buf);
}
