/*-------------------------------------------------------------------------
 *
 * bd_checkpoint.c
 *	  The checkpoint of the block-device backend: log what the checkpoint
 *	  owes the device before the redo pointer is fixed, then zero released
 *	  extents, write dirty metadata pages through the journal, and flush
 *	  the device once.
 *
 * src/blockdev/checkpoint/bd_checkpoint.c
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
#include "blockdev/checkpoint/bd_checkpoint.h"

/*
 * Everything the running server owes the device at a checkpoint, under
 * every partition lock and the metadata lock: pending unlinks and local
 * pages from recovery, tombstones freed, EOFs recorded.
 */
static void log_eof_change(BdChange *c, BdForkEntry *f, BdDirEntry *e);

static void
checkpoint_log_changes(void)
{
	HASH_SEQ_STATUS seq;
	BdForkEntry *f;
	BdChange	c = {0};
	uint64		ncached = bd->end_page - BD_FIRST_ALLOC_MAP_PAGE;
	List	   *freed = NIL;

	/* pages changed locally during recovery */
	for (uint64 i = 0; i < ncached; i++)
	{
		if (!bd_page_local[i])
			continue;
		bd_change_touch_whole(&c, BD_FIRST_ALLOC_MAP_PAGE + i);
		if (bd_change_full(&c, 1))
			bd_change_commit(&c, BD_WAL_IMAGE, NULL, 0);
	}
	bd_change_commit(&c, BD_WAL_IMAGE, NULL, 0);

	hash_seq_init(&seq, bd_forks);
	while ((f = hash_seq_search(&seq)) != NULL)
	{
		BdDirEntry	e;

		bd_entry_read(f, &e);
		/* an UNLINK or FREE record carries only its own fork's pages */
		if (e.state == BD_ENTRY_TOMBSTONE ||
			(f->state == BD_ENTRY_TOMBSTONE && e.state == BD_ENTRY_LIVE))
			bd_change_commit(&c, BD_WAL_SET_EOF, NULL, 0);
		if (f->state == BD_ENTRY_TOMBSTONE && e.state == BD_ENTRY_LIVE)
		{
			/* unlinked by redo; the record never came: log it now */
			e.state = BD_ENTRY_TOMBSTONE;
			bd_change_touch(&c, f->dir_page);
			bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, &e);
			bd_change_commit(&c, BD_WAL_UNLINK, &f->key, 0);
		}
		if (e.state == BD_ENTRY_TOMBSTONE)
		{
			/* free the tombstone: extents released, slot emptied */
			BdDirEntry	empty;

			bd_change_touch(&c, f->dir_page);
			bd_extents_trim(&c, f, &e, 0);
			memset(&empty, 0, sizeof(empty));
			bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, &empty);
			if (f->dir_page < bd->dir_hint || bd->dir_hint == 0)
				bd->dir_hint = f->dir_page;
			bd_change_commit(&c, BD_WAL_FREE, &f->key, 0);
			freed = lappend(freed, f);
			continue;
		}
		if (e.state == BD_ENTRY_LIVE)
			log_eof_change(&c, f, &e);
	}
	bd_change_commit(&c, BD_WAL_SET_EOF, NULL, 0);

	foreach_ptr(BdForkEntry, fe, freed)
		bd_fork_remove(fe);
	list_free(freed);
}

/*
 * Publish a live fork's EOF in its directory entry when it moved, as part
 * of change c (committed as SET_EOF records).  Only blocks of mapped
 * extents can be durable, so the EOF published is clamped to them.
 */
static void
log_eof_change(BdChange *c, BdForkEntry *f, BdDirEntry *e)
{
	uint32		eof = Min(f->nblocks, e->nextents * bd->sb.extent_pages);

	if (e->nblocks == eof)
		return;
	e->nblocks = eof;
	bd_change_touch(c, f->dir_page);
	bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, e);
	if (bd_change_full(c, 1))
		bd_change_commit(c, BD_WAL_SET_EOF, NULL, 0);
}

/*
 * An online checkpoint's second look at EOFs, after its redo pointer was
 * fixed and its buffers were written: a relation extended between the
 * look at checkpoint start and the redo pointer has WAL before the redo
 * pointer, so nothing would replay the extension, and its blocks were
 * just written by this checkpoint; their EOF must be published by it.
 * (Shutdown and end-of-recovery checkpoints may not write WAL here, and
 * nothing runs concurrently with them.)
 */
static void
checkpoint_log_late_eofs(void)
{
	HASH_SEQ_STATUS seq;
	BdForkEntry *f;
	BdChange	c = {0};

	hash_seq_init(&seq, bd_forks);
	while ((f = hash_seq_search(&seq)) != NULL)
	{
		BdDirEntry	e;

		if (f->state != BD_ENTRY_LIVE)
			continue;
		bd_entry_read(f, &e);
		if (e.state == BD_ENTRY_LIVE)
			log_eof_change(&c, f, &e);
	}
	bd_change_commit(&c, BD_WAL_SET_EOF, NULL, 0);
}

/* Zero the released extents the map already shows free; returns them. */
static List *
checkpoint_zero_released(void)
{
	List	   *zeroed = NIL;
	uint64		extent_bytes = (uint64) bd->sb.extent_pages * BD_PAGE_SIZE;

	for (uint32 w = 0; w < (bd->alloc.nextents + WORD_BITS - 1) / WORD_BITS; w++)
	{
		if (bd_zero_pending[w] == 0)
			continue;
		for (uint32 e = w * WORD_BITS; e < (w + 1) * WORD_BITS && e < bd->alloc.nextents; e++)
		{
			if (!bit_get(bd_zero_pending, e) || alloc_page_bit(e))
				continue;
			bd_data_zero((uint64) e * extent_bytes, extent_bytes);
			zeroed = lappend_int(zeroed, (int) e);
		}
	}
	return zeroed;
}

/*
 * Before a checkpoint fixes its redo pointer (checkpoint_start_hook): log
 * what the checkpoint owes the device, so that a completed checkpoint is
 * never replayed over it.  Runs in the checkpoint's critical section.
 */
void
bd_checkpoint_start(int flags)
{
	MemoryContext old;

	if (bd == NULL)
		return;
	if (!XLogInsertAllowed())
	{
		LWLockAcquire(bd->lock, LW_EXCLUSIVE);
		memset(bd_page_need_full, true, NCACHED(&bd->sb));
		LWLockRelease(bd->lock);
		return;
	}
	(void) bd_meta_palloc(1);	/* bd_context exists */
	old = MemoryContextSwitchTo(bd_context);
	bd_lock_all_partitions(LW_EXCLUSIVE);
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	checkpoint_log_changes();
	/* from here on, each page's first change is logged whole */
	memset(bd_page_need_full, true, NCACHED(&bd->sb));
	LWLockRelease(bd->lock);
	bd_unlock_all_partitions();
	MemoryContextSwitchTo(old);
}

/* What one checkpoint writes: copies taken under the locks, written after. */
typedef struct CheckpointWrite
{
	List	   *zeroed;			/* released extents zeroed (ints) */
	int			npages;			/* dirty metadata pages copied */
	uint8	   *copy;			/* their contents ... */
	uint64	   *addrs;			/* ... addresses ... */
	uint64	   *lsns;			/* ... and LSNs when copied */
	XLogRecPtr	max_lsn;
	BdSuperblock sb;			/* the next superblock */
	uint8	   *sbpage;			/* ... encoded */
} CheckpointWrite;

/*
 * Under the locks: log what is owed, zero released extents, copy the dirty
 * pages and encode the next superblock.  Pages stay dirty until the device
 * is flushed, and only if no change came in meanwhile do they become clean:
 * a failed write leaves them to the next checkpoint.
 */
static void
checkpoint_collect(XLogRecPtr redo, int flags, CheckpointWrite *w)
{
	uint64		ncached;

	memset(w, 0, sizeof(*w));
	if ((flags & (CHECKPOINT_IS_SHUTDOWN | CHECKPOINT_END_OF_RECOVERY)) == 0 &&
		XLogInsertAllowed())
	{
		MemoryContext old = MemoryContextSwitchTo(bd_context);

		/* every fork's EOF: every partition, then the metadata lock */
		bd_lock_all_partitions(LW_EXCLUSIVE);
		LWLockAcquire(bd->lock, LW_EXCLUSIVE);
		checkpoint_log_late_eofs();
		bd_unlock_all_partitions();
		MemoryContextSwitchTo(old);
	}
	else
		LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	ncached = bd->end_page - BD_FIRST_ALLOC_MAP_PAGE;

	/* zero released extents under the lock: redo may be mapping them */
	w->zeroed = checkpoint_zero_released();

	for (uint64 i = 0; i < ncached; i++)
		if (bd_page_dirty[i] && !bd_page_local[i])
			w->npages++;
	w->copy = palloc_aligned((Size) Max(w->npages, 1) * BD_PAGE_SIZE, PG_IO_ALIGN_SIZE, MCXT_ALLOC_HUGE);
	w->addrs = palloc(sizeof(uint64) * Max(w->npages, 1));
	w->lsns = palloc(sizeof(uint64) * Max(w->npages, 1));
	w->npages = 0;
	for (uint64 i = 0; i < ncached; i++)
	{
		BdPageHeader h;
		uint64		addr = BD_FIRST_ALLOC_MAP_PAGE + i;

		if (!bd_page_dirty[i] || bd_page_local[i])
			continue;
		memcpy(w->copy + (Size) w->npages * BD_PAGE_SIZE, page_ptr(addr), BD_PAGE_SIZE);
		bd_page_read_header(page_ptr(addr), &h);
		if (h.lsn > w->max_lsn)
			w->max_lsn = h.lsn;
		w->lsns[w->npages] = h.lsn;
		w->addrs[w->npages++] = addr;
	}

	/*
	 * The next superblock generation.  It becomes the current one only once
	 * the device has it (checkpoint_complete): a checkpoint that fails before
	 * then leaves the copy holding the current generation to be overwritten
	 * by nobody.
	 */
	w->sb = bd->sb;
	w->sb.generation = bd->sb_generation + 1;
	w->sb.checkpoint_redo = redo;
	w->sb.clean = (flags & CHECKPOINT_IS_SHUTDOWN) != 0;
	w->sbpage = palloc_aligned(BD_PAGE_SIZE, PG_IO_ALIGN_SIZE, 0);
	bd_superblock_encode(&w->sb, bd_superblock_address_for(w->sb.generation), w->sbpage);
	LWLockRelease(bd->lock);
}

/*
 * WAL first, then the journal, then the pages in place.  Once the journal
 * is durable, a crash anywhere in the in-place writes is completed from it
 * at the next start (bd_journal_file.c).  A superblock alone needs none:
 * its two copies alternate.
 */
static void
checkpoint_write(const CheckpointWrite *w)
{
	/* in recovery: the minimum recovery point moves */
	if (w->max_lsn != InvalidXLogRecPtr)
		XLogFlush(w->max_lsn);
	if (w->npages > 0)
	{
		const uint8 **pages = palloc(sizeof(uint8 *) * (w->npages + 1));

		for (int i = 0; i < w->npages; i++)
			pages[i] = w->copy + (Size) i * BD_PAGE_SIZE;
		pages[w->npages] = w->sbpage;
		bd_journal_write(w->sb.device_uuid, w->sb.generation, pages, w->npages + 1);
		pfree(pages);
	}
	for (int i = 0; i < w->npages; i++)
		bd_data_write(w->addrs[i] * BD_PAGE_SIZE, w->copy + (Size) i * BD_PAGE_SIZE, BD_PAGE_SIZE);
	bd_data_write(bd_superblock_address_for(w->sb.generation) * BD_PAGE_SIZE, w->sbpage, BD_PAGE_SIZE);
#ifdef PGRAC_POWERLOSS_SIM
	bd_powerloss_checkpoint_pause();
#endif
}

/*
 * The one flush: data written since the last checkpoint (drained before
 * the pages were collected; writes queued since belong to the next
 * checkpoint), and metadata.  Returns how long it took.
 */
static double
checkpoint_flush(void)
{
	instr_time	start;
	instr_time	end;
	instr_time	io_start;

	INSTR_TIME_SET_CURRENT(start);
	io_start = pgstat_prepare_io_time(track_io_timing);
	bd_device_flush();
	INSTR_TIME_SET_CURRENT(end);

	/*
	 * pg_stat_io counts the fsyncs of relation data a checkpoint makes (md:
	 * one per file).  Here this flush is that fsync, for every relation on
	 * the device: count it once, or the view says a checkpoint made nothing
	 * durable.
	 */
	pgstat_count_io_op_time(IOOBJECT_RELATION, IOCONTEXT_NORMAL, IOOP_FSYNC, io_start, 1);
	INSTR_TIME_SUBTRACT(end, start);
	return INSTR_TIME_GET_DOUBLE(end);
}

/*
 * The device has it all: the new superblock is current, pages unchanged
 * since they were copied are clean, and zeroed extents are durable zeroes,
 * to be handed out again.
 */
static void
checkpoint_complete(const CheckpointWrite *w)
{
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	bd->sb_generation = w->sb.generation;
	bd->sb.generation = w->sb.generation;
	bd->sb.checkpoint_redo = w->sb.checkpoint_redo;
	bd->sb.clean = w->sb.clean;
	for (int i = 0; i < w->npages; i++)
	{
		BdPageHeader h;

		bd_page_read_header(page_ptr(w->addrs[i]), &h);
		if (h.lsn == w->lsns[i] && !bd_page_local[page_index(w->addrs[i])])
			bd_page_dirty[page_index(w->addrs[i])] = false;
	}
	foreach_int(e, w->zeroed)
	{
		if (bit_get(bd_zero_pending, (uint32) e) && !alloc_page_bit((uint32) e))
		{
			bit_put(bd_zero_pending, (uint32) e, false);
			bd_allocator_free(&bd->alloc, (uint32) e);
		}
	}
	LWLockRelease(bd->lock);
}

/*
 * In the checkpoint (checkpoint_hook, after dirty buffers were written and
 * fsync requests processed): zero released extents, write the dirty
 * metadata pages and the superblock, and flush the device once.
 */
void
bd_checkpoint(XLogRecPtr redo, int flags)
{
	CheckpointWrite w;
	instr_time	start;
	double		flush_seconds;

	if (bd == NULL)
		return;
	INSTR_TIME_SET_CURRENT(start);

	/*
	 * The buffers this checkpoint wrote may still be queued for the
	 * write-behind writer: wait for them now, so that the flush covers them
	 * and the metadata writes are not held open waiting.  (A crash between
	 * the metadata writes and the flush is safe either way: the checkpoint
	 * journal completes them at the next start.)
	 */
	bd_writebehind_drain();
	checkpoint_collect(redo, flags, &w);
	checkpoint_write(&w);
	flush_seconds = checkpoint_flush();
	checkpoint_complete(&w);

	/* PostgreSQL's own "sync=" does not include this flush */
	if (log_checkpoints)
	{
		instr_time	total;

		INSTR_TIME_SET_CURRENT(total);
		INSTR_TIME_SUBTRACT(total, start);
		ereport(LOG,
				(errmsg("pgrac block device checkpoint: %d metadata pages written, %d released extents zeroed, device flush=%.3f s, total=%.3f s",
						w.npages, list_length(w.zeroed), flush_seconds,
						INSTR_TIME_GET_DOUBLE(total))));
	}
	list_free(w.zeroed);
	pfree(w.copy);
	pfree(w.addrs);
	pfree(w.lsns);
	pfree(w.sbpage);
}
