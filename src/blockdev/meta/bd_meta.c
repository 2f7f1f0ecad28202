/*-------------------------------------------------------------------------
 *
 * bd_meta.c
 *	  The metadata cache: every metadata page of the device held in shared
 *	  memory, the hash of forks, and the one way they change: a change
 *	  touches pages, then is sealed and logged as one record of the
 *	  resource manager (bd_change_touch / bd_change_commit).
 *
 * src/blockdev/meta/bd_meta.c
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
#include "pgrac/bd_memory.h"
#include "pgrac/bd_wal.h"
#include "blockdev/meta/bd_meta_internal.h"

BdShared   *bd = NULL;
BdShared   *saved_bd = NULL;
bool		local_mapping_allowed = false;
HTAB	   *bd_forks = NULL;
HTAB	   *bd_map_index = NULL;
uint8	   *bd_pages;
bool	   *bd_page_dirty;
bool	   *bd_page_local;
bool	   *bd_page_need_full;
bool	   *bd_meta_used;
uint64	   *bd_zero_pending;
BdSuperblock bd_geometry;
bool		bd_geometry_known = false;
MemoryContext bd_context = NULL;

static uint8 *record_buf = NULL;

/*
 * Each page's contents when a change first touched it, so that the record
 * carries only the bytes that changed.  Per process, like the change.
 */
static uint8 *change_before = NULL;


void *
bd_meta_palloc(Size size)
{
	if (bd_context == NULL)
	{
		bd_context = AllocSetContextCreate(TopMemoryContext, "pgrac block device",
										   ALLOCSET_DEFAULT_SIZES);
		MemoryContextAllowInCriticalSection(bd_context, true);
	}
	return MemoryContextAlloc(bd_context, size);
}

bool
bd_meta_active(void)
{
	return bd != NULL;
}

void
bd_fork_key(BdForkKey *key, RelFileLocator locator, ForkNumber fork)
{
	memset(key, 0, sizeof(*key));
	key->spcoid = locator.spcOid;
	key->dboid = locator.dbOid;
	key->relnumber = locator.relNumber;
	key->fork = (uint32) fork;
}

void
bd_entry_read(const BdForkEntry *f, BdDirEntry *e)
{
	if (f->dir_page == BD_NOT_ON_DEVICE)
	{
		/* a fork replay needs that the directory does not hold yet */
		memset(e, 0, sizeof(*e));
		e->spcoid = f->key.spcoid;
		e->dboid = f->key.dboid;
		e->relnumber = f->key.relnumber;
		e->fork = (uint8) f->key.fork;
		e->state = f->state;
		return;
	}
	bd_dir_entry_decode(page_ptr(f->dir_page), f->slot, e);
}

const char *
bd_fork_text(const BdForkKey *key)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%u/%u/%u fork %u", key->spcoid, key->dboid,
			 key->relnumber, key->fork);
	return buf;
}

/*
 * A change is about to modify a page: remember it, and its contents as
 * they are now.  Every modification of a cached page comes after its
 * bd_change_touch() in the same change; a page is sealed whenever no change
 * is under way, which assert-enabled builds check here (a page modified
 * before it was touched would be logged without those bytes).
 */
void
bd_change_touch(BdChange *c, uint64 address)
{
	for (int i = 0; i < c->npages; i++)
		if (c->pages[i] == address)
			return;
	/* callers check bd_change_full() before changing more pages */
	if (c->npages == BD_WAL_MAX_PAGES)
		elog(PANIC, "block-device metadata change touches more than %d pages",
			 BD_WAL_MAX_PAGES);
	Assert(bd_page_check(page_ptr(address), pgrac_get16(page_ptr(address) + 4), address) == BD_PAGE_OK);
	if (change_before == NULL)
		change_before = bd_meta_palloc((Size) BD_WAL_MAX_PAGES * BD_PAGE_SIZE);
	memcpy(change_before + (Size) c->npages * BD_PAGE_SIZE, page_ptr(address), BD_PAGE_SIZE);
	/* a page changed in recovery holds changes no record carries yet */
	c->full[c->npages] = bd_page_need_full[page_index(address)] ||
		bd_page_local[page_index(address)];
	c->pages[c->npages++] = address;
}

/*
 * A page whose previous contents the record cannot build on (a new page,
 * one rebuilt from memory, one changed while WAL could not be written):
 * it is logged whole.  Call after or before modifying it.
 */
void
bd_change_touch_whole(BdChange *c, uint64 address)
{
	for (int i = 0; i < c->npages; i++)
		if (c->pages[i] == address)
		{
			c->full[i] = true;
			return;
		}
	if (c->npages == BD_WAL_MAX_PAGES)
		elog(PANIC, "block-device metadata change touches more than %d pages",
			 BD_WAL_MAX_PAGES);
	c->full[c->npages] = true;
	c->pages[c->npages++] = address;
}

bool
bd_change_full(const BdChange *c, int headroom)
{
	return c->npages + headroom > BD_WAL_MAX_PAGES;
}

/*
 * Seal the changed pages and log them.  While WAL cannot be written
 * (recovery), the pages are marked local: the end-of-recovery checkpoint
 * logs them before writing them.
 */
void
bd_change_commit(BdChange *c, BdWalOp op, const BdForkKey *key, uint32 arg)
{
	XLogRecPtr	lsn = InvalidXLogRecPtr;

	if (c->npages == 0)
		return;

	/*
	 * While WAL is replayed, pages change only by its records
	 * (bd_fork_create() says why); local changes are made only where no
	 * record can follow: the import, and the end of recovery.
	 */
	Assert(XLogInsertAllowed() || local_mapping_allowed);
	if (record_buf == NULL)
		record_buf = bd_meta_palloc(bd_wal_max_size());

	/* the pages are changed in memory: they must be logged, or PANIC */
	START_CRIT_SECTION();
	if (XLogInsertAllowed())
	{
		BdWalBuilder b;
		BdWalKey	wkey;
		size_t		len;

		memset(&wkey, 0, sizeof(wkey));
		if (key)
		{
			wkey.spcoid = key->spcoid;
			wkey.dboid = key->dboid;
			wkey.relnumber = key->relnumber;
			wkey.fork = (uint8) key->fork;
		}
		wkey.arg = arg;
		bd_wal_begin(&b, record_buf, bd_wal_max_size(), op, &wkey);
		for (int i = 0; i < c->npages; i++)
		{
			/*
			 * The whole page for its first change after a checkpoint began
			 * (as PostgreSQL's full-page writes: a backup copied while the
			 * checkpoint wrote it, or a torn write, is repaired by replay),
			 * else the bytes that changed.
			 */
			bd_page_seal(page_ptr(c->pages[i]));
			bd_wal_add_page(&b, c->pages[i],
							c->full[i] ? NULL : change_before + (Size) i * BD_PAGE_SIZE,
							page_ptr(c->pages[i]), c->full[i]);
			if (c->full[i])
				bd_page_need_full[page_index(c->pages[i])] = false;
		}

		/*
		 * A change whose pages all kept their bytes (a truncation back to the
		 * EOF the entry already records) still logs its operation: the first
		 * page goes whole, as every page did before byte ranges.
		 */
		if (b.npages == 0 && !b.overflow)
		{
			bd_wal_add_page(&b, c->pages[0], NULL, page_ptr(c->pages[0]), true);
			bd_page_need_full[page_index(c->pages[0])] = false;
		}
		len = bd_wal_finish(&b);
		if (b.overflow || len == 0)
			elog(PANIC, "block-device WAL record overflow");
		XLogBeginInsert();
		XLogRegisterData((char *) record_buf, len);
		lsn = XLogInsert(PGRAC_RMGR_ID, (uint8) (op << 4));
	}

	for (int i = 0; i < c->npages; i++)
	{
		uint8	   *page = page_ptr(c->pages[i]);

		if (lsn != InvalidXLogRecPtr)
			bd_page_set_lsn(page, lsn);
		bd_page_seal(page);
		bd_page_dirty[page_index(c->pages[i])] = true;
		bd_page_local[page_index(c->pages[i])] = (lsn == InvalidXLogRecPtr);
	}
	END_CRIT_SECTION();
	c->npages = 0;
}

uint32
bd_max_forks(const BdSuperblock *g)
{
	return bd_memory_max_forks(g->metadata_pages);
}

/* Shared memory for the cache of a device with geometry g. */
Size
bd_meta_shmem_size(const BdSuperblock *g)
{
	Size		size = MAXALIGN(sizeof(BdShared));
	uint64		ncached = NCACHED(g);

	size = add_size(size, mul_size(ncached, BD_PAGE_SIZE));
	size = add_size(size, MAXALIGN(ncached * 3));
	size = add_size(size, MAXALIGN(g->metadata_pages));
	size = add_size(size, 2 * bd_allocator_words_size(g->max_extents));
	size = add_size(size, bd_hash_tables_size(g));
	size += PG_IO_ALIGN_SIZE;
	/* what pgrac_image reported at format time, and the budget, hold */
	Assert(size <= bd_memory_bytes(g->max_extents, g->metadata_pages));
	return size;
}

/* A shared hash table partitioned like the fork table's locks. */
static HTAB *
partitioned_hash(const char *name, long size, Size keysize, Size entrysize,
				 HashValueFunc hash)
{
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = keysize;
	info.entrysize = entrysize;
	info.hash = hash;
	info.num_partitions = BD_FORK_PARTITIONS;
	return ShmemInitHash(name, size, size, &info,
						 HASH_ELEM | HASH_FUNCTION | HASH_PARTITION);
}

/*
 * Find or create the cache in shared memory (under AddinShmemInitLock);
 * false when it was created here, still empty.
 */
bool
bd_meta_shmem_init(const BdSuperblock *g)
{
	bool		found;
	char	   *p;
	uint64		ncached = NCACHED(g);

	/* created here, so children inherit it outside any critical section */
	(void) bd_meta_palloc(1);

	p = ShmemInitStruct("pgrac block device", bd_meta_shmem_size(g) -
						bd_hash_tables_size(g), &found);
	bd = (BdShared *) p;
	p += MAXALIGN(sizeof(BdShared));
	p = (char *) TYPEALIGN(PG_IO_ALIGN_SIZE, p);
	bd_pages = (uint8 *) p;
	p += ncached * BD_PAGE_SIZE;
	bd_page_dirty = (bool *) p;
	bd_page_local = (bool *) p + ncached;
	bd_page_need_full = (bool *) p + 2 * ncached;
	p += MAXALIGN(ncached * 3);
	bd_meta_used = (bool *) p;
	p += MAXALIGN(g->metadata_pages);
	bd->alloc.words = (uint64 *) p;
	p += bd_allocator_words_size(g->max_extents);
	bd_zero_pending = (uint64 *) p;

	bd_forks = partitioned_hash("pgrac block device forks", bd_max_forks(g),
								sizeof(BdForkKey), sizeof(BdForkEntry), fork_hash_fn);
	bd_map_index = partitioned_hash("pgrac block device map pages", bd_max_map_pages(g),
									sizeof(BdMapKey), sizeof(BdMapEntry), map_hash_fn);
	if (!found)
	{
		bd->lock = &(GetNamedLWLockTranche("pgrac_block_device"))->lock;
		bd->fork_locks = GetNamedLWLockTranche("pgrac_block_device_forks");
		bd->map_index_valid = false;
		memset(bd_page_dirty, 0, ncached * 2);
		memset(bd_page_need_full, true, ncached);
		memset(bd_meta_used, 0, g->metadata_pages);
		memset(bd_zero_pending, 0, bd_allocator_words_size(g->max_extents));
		bd->meta_used_count = 0;
	}
	return found;
}

uint64
bd_meta_owner(void)
{
	return bd->sb.system_identifier;
}

const uint8 *
bd_meta_device_uuid(void)
{
	return bd->sb.device_uuid;
}

void
bd_status(BdStatus *st)
{
	LWLockAcquire(bd->lock, LW_SHARED);
	st->extent_pages = bd->sb.extent_pages;
	st->extents_total = bd->alloc.nextents;
	st->extents_free = bd->alloc.nfree;
	st->size_bytes = (uint64) bd->sb.nextents * bd->sb.extent_pages * BD_PAGE_SIZE;
	st->max_bytes = (uint64) bd->sb.max_extents * bd->sb.extent_pages * BD_PAGE_SIZE;
	st->forks = (uint32) hash_get_num_entries(bd_forks);
	st->metadata_pages = bd->sb.metadata_pages;
	st->metadata_pages_used = bd->meta_used_count;
	LWLockRelease(bd->lock);
}
