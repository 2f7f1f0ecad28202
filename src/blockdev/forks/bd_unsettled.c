/*-------------------------------------------------------------------------
 *
 * bd_unsettled.c
 *	  Relations whose creating transaction a checkpoint has not seen
 *	  commit: listing them, settling them, reclaiming them (bd_reclaim.c
 *	  decides which).
 *
 * src/blockdev/forks/bd_unsettled.c
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

/* A live fork of the relation main_key names, or NULL (its partition held) */
static BdForkEntry *
live_sibling(const BdForkKey *main_key, int fork)
{
	BdForkKey	k = *main_key;
	BdForkEntry *f;

	k.fork = fork;
	f = bd_fork_lookup(&k);
	return f != NULL && f->state == BD_ENTRY_LIVE ? f : NULL;
}

/*
 * The live main fork, its entry in *e, if it still names create_xid: not
 * settled or reclaimed meanwhile (its partition lock held).
 */
static BdForkEntry *
unsettled_main(const BdForkKey *main_key, uint32 create_xid, BdDirEntry *e)
{
	BdForkEntry *f = live_sibling(main_key, MAIN_FORKNUM);

	if (f == NULL)
		return NULL;
	bd_entry_read(f, e);
	return e->create_xid == create_xid ? f : NULL;
}

/*
 * The relations whose main fork still records its creating transaction,
 * with the blocks of all their forks on the device.  Returns how many
 * there are; at most max are stored.
 */
int
bd_unsettled_relations(BdUnsettled *out, int max)
{
	HASH_SEQ_STATUS seq;
	BdForkEntry *f;
	int			n = 0;

	bd_lock_all_partitions(LW_SHARED);
	hash_seq_init(&seq, bd_forks);
	while ((f = hash_seq_search(&seq)) != NULL)
	{
		BdDirEntry	e;

		if (f->state != BD_ENTRY_LIVE || f->key.fork != MAIN_FORKNUM)
			continue;
		bd_entry_read(f, &e);
		if (e.create_xid == 0)
			continue;
		if (n < max)
		{
			BdUnsettled *u = &out[n];

			u->key = f->key;
			u->create_xid = e.create_xid;
			u->nblocks = 0;
			u->nforks = 0;
			for (int fork = 0; fork <= BD_MAX_FORK; fork++)
			{
				BdForkEntry *other = live_sibling(&f->key, fork);
				BdDirEntry	oe;

				if (other == NULL)
					continue;
				bd_entry_read(other, &oe);
				u->nblocks += (uint64) oe.nextents * bd->sb.extent_pages;
				u->nforks++;
			}
		}
		n++;
	}
	bd_unlock_all_partitions();
	return n;
}

/* Its creator committed: the relation's main fork forgets it. */
void
bd_relation_settle(const BdForkKey *main_key, uint32 create_xid)
{
	BdForkEntry *f;
	BdChange	c = {0};
	BdDirEntry	e;
	LWLock	   *part = bd_partition_lock(bd_relation_hash(main_key));

	LWLockAcquire(part, LW_EXCLUSIVE);
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	if ((f = unsettled_main(main_key, create_xid, &e)) != NULL)
	{
		e.create_xid = 0;
		bd_change_touch(&c, f->dir_page);
		bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, &e);
		bd_change_commit(&c, BD_WAL_SETTLE, main_key, create_xid);
	}
	LWLockRelease(bd->lock);
	LWLockRelease(part);
}

/*
 * Its creator will never commit: every fork of the relation becomes a
 * tombstone in one record, freed by the next checkpoint like any other.
 * The caller has dropped the relation's buffers; redo drops a standby's
 * (bd_rmgr.c) before applying this record.  Returns the forks reclaimed;
 * 0 when the main fork no longer names create_xid (settled, or reclaimed
 * by someone else meanwhile).
 */
int
bd_relation_reclaim(const BdForkKey *main_key, uint32 create_xid)
{
	BdChange	c = {0};
	BdDirEntry	e;
	int			n = 0;
	LWLock	   *part = bd_partition_lock(bd_relation_hash(main_key));

	LWLockAcquire(part, LW_EXCLUSIVE);
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	if (unsettled_main(main_key, create_xid, &e) != NULL)
	{
		for (int fork = 0; fork <= BD_MAX_FORK; fork++)
		{
			BdForkEntry *other = live_sibling(main_key, fork);

			if (other == NULL)
				continue;
			bd_entry_read(other, &e);
			e.state = BD_ENTRY_TOMBSTONE;
			e.create_xid = 0;
			other->state = BD_ENTRY_TOMBSTONE;
			bd_change_touch(&c, other->dir_page);
			bd_dir_entry_encode(page_ptr(other->dir_page), other->slot, &e);
			n++;
		}
		bd_change_commit(&c, BD_WAL_RECLAIM, main_key, create_xid);
	}
	LWLockRelease(bd->lock);
	LWLockRelease(part);
	return n;
}
