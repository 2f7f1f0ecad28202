/*-------------------------------------------------------------------------
 *
 * bd_meta.c
 *	  The block-device backend's metadata in shared memory: every metadata
 *	  page cached, a hash of forks, the extent allocator; the operations
 *	  that change them, their WAL records and redo, and the checkpoint
 *	  flush.  docs/block-device.md explains the rules this file keeps.
 *
 * Rules, in short:
 *
 * - A metadata page changes only under bd->lock held exclusively, and every
 *   change made by a running server is logged by the resource manager as a
 *   record carrying the full image of each page it changed.  The page gets
 *   the record's LSN and is written to the device only by the checkpoint
 *   hook, after WAL is flushed to that LSN.  Full images make redo
 *   idempotent and repair a torn page whatever checkpoint redo starts from.
 * - During recovery the storage manager still gets calls from PostgreSQL's
 *   own redo (create, extend, truncate, unlink).  They change memory only
 *   (EOF, a pending unlink) and never map extents (may_map_extents()).
 *   Page changes made where no record can follow (a fork created by redo,
 *   the unlogged reset at the end of recovery) are marked "local" and
 *   logged as IMAGE records by the next checkpoint before being written.
 * - Extents are handed out only when they read as zeroes durably: a free
 *   extent on the device is zero as of the last completed checkpoint.
 *   Released extents (truncate, freed tombstones) are cleared in the
 *   allocation map at once but stay allocated in memory ("zero pending")
 *   until the next checkpoint has zeroed them and flushed the device.
 *   Redo of a record that allocates an extent zeroes it again (the extent
 *   was all zeroes when the record was written), except for forks whose
 *   data is not WAL-logged (wal_level = minimal skipping WAL), which the
 *   record says.
 * - EOF (nblocks) is kept in memory; the directory's copy is brought up to
 *   date by SET_EOF records at checkpoints and by immedsync.  Blocks under
 *   any EOF lie in mapped extents and read as zeroes or as written data.
 *
 * Locks (docs/block-device.md, "Locks of the metadata", argues them):
 *
 * - The fork table is partitioned by relation into BD_FORK_PARTITIONS
 *   LWLocks (tranche pgrac_block_device_forks); every fork of a relation
 *   is in one partition.  A fork's memory state (hash entry, EOF, its
 *   entries in the map-page index) and the bytes of its directory entry
 *   and extent-map pages change only under its partition lock held
 *   exclusively.  So a read maps its blocks under that one lock held
 *   shared: no other lock, no walk of the chain (the map-page index gives
 *   the page holding any extent in one lookup).
 * - bd->lock, the metadata lock, covers everything shared between forks:
 *   the allocator, the allocation map, metadata-area pages in use, the
 *   directory chain and page headers (LSN, checksum), dirty flags, the
 *   superblock.  Every change of a metadata page holds it exclusively,
 *   in addition to the partition lock of the fork the change concerns.
 * - Order: partition locks first, in ascending order, then bd->lock.
 *   Whatever walks all forks (checkpoints, redo, DROP DATABASE) takes all
 *   partitions in order.  Device I/O under these locks is done only by
 *   allocation (growing an image), checkpoints and redo, never by reads.
 *
 * src/blockdev/bd_meta.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/xlog.h"
#include "access/xloginsert.h"
#include "access/xlogrecovery.h"
#include "access/xlogutils.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "common/relpath.h"
#include "portability/instr_time.h"
#include "postmaster/postmaster.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "common/hashfn.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "pgrac/bd_binding.h"
#include "pgrac/bd_image.h"
#include "pgrac/bd_io.h"
#include "pgrac/bd_wal.h"
#include "bd_server.h"

#define WORD_BITS 64

/* partitions of the fork table (a power of two) */
#define BD_FORK_PARTITIONS	16

typedef struct BdShared
{
	LWLock	   *lock;			/* the metadata lock: see the file header */
	LWLockPadded *fork_locks;	/* BD_FORK_PARTITIONS partition locks */
	bool		map_index_valid;	/* false while redo is inconsistent */
	BdSuperblock sb;
	uint64		end_page;		/* one past the metadata area */
	uint64		dir_last;		/* last page of the directory chain */
	uint64		dir_hint;		/* a directory page that may have a free slot */
	uint32		meta_hint;		/* metadata-area index that may be free */
	uint32		meta_used_count;
	BdAllocator alloc;
	uint64		sb_generation;
} BdShared;

static BdShared *bd = NULL;
static BdShared *saved_bd = NULL;	/* bd_meta_reset() */
static bool local_mapping_allowed = false;	/* see may_map_extents() */
static HTAB *bd_forks = NULL;
static HTAB *bd_map_index = NULL;	/* (fork, ordinal) -> extent-map page */
static uint8 *bd_pages;			/* pages [BD_FIRST_ALLOC_MAP_PAGE, end_page) */
static bool *bd_page_dirty;
static bool *bd_page_local;		/* changed in recovery, not yet logged */
static bool *bd_meta_used;		/* per metadata-area page */
static uint64 *bd_zero_pending; /* per extent */

/* geometry, read by the postmaster before sizing shared memory */
static BdSuperblock bd_geometry;
static bool bd_geometry_known = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*
 * Per-process memory for metadata changes.  PostgreSQL truncates relations
 * inside a critical section, so this context may allocate in one.
 */
static MemoryContext bd_context = NULL;
static uint8 *record_buf = NULL;

static void *
bd_alloc(Size size)
{
	if (bd_context == NULL)
	{
		bd_context = AllocSetContextCreate(TopMemoryContext, "pgrac block device",
										   ALLOCSET_DEFAULT_SIZES);
		MemoryContextAllowInCriticalSection(bd_context, true);
	}
	return MemoryContextAlloc(bd_context, size);
}

#define NCACHED(g) ((g)->directory_root + (g)->metadata_pages - BD_FIRST_ALLOC_MAP_PAGE)

bool
bd_meta_active(void)
{
	return bd != NULL;
}

/* ---------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------
 */

static inline uint8 *
page_ptr(uint64 address)
{
	Assert(address >= BD_FIRST_ALLOC_MAP_PAGE && address < bd->end_page);
	return bd_pages + (address - BD_FIRST_ALLOC_MAP_PAGE) * BD_PAGE_SIZE;
}

static inline uint64
page_index(uint64 address)
{
	return address - BD_FIRST_ALLOC_MAP_PAGE;
}

static inline bool
bit_get(const uint64 *words, uint32 bit)
{
	return (words[bit / WORD_BITS] >> (bit % WORD_BITS)) & 1;
}

static inline void
bit_put(uint64 *words, uint32 bit, bool value)
{
	if (value)
		words[bit / WORD_BITS] |= UINT64CONST(1) << (bit % WORD_BITS);
	else
		words[bit / WORD_BITS] &= ~(UINT64CONST(1) << (bit % WORD_BITS));
}

/* allocation-map page bits, edited in place (the map page layout) */
static inline uint64
alloc_page_of(uint32 extent)
{
	return BD_FIRST_ALLOC_MAP_PAGE + extent / BD_ALLOC_BITS_PER_PAGE;
}

static inline bool
alloc_page_bit(uint32 extent)
{
	uint32		i = extent % BD_ALLOC_BITS_PER_PAGE;

	return (page_ptr(alloc_page_of(extent))[BD_HEADER_SIZE + i / 8] >> (i % 8)) & 1;
}

static inline void
alloc_page_put(uint32 extent, bool value)
{
	uint32		i = extent % BD_ALLOC_BITS_PER_PAGE;
	uint8	   *p = page_ptr(alloc_page_of(extent)) + BD_HEADER_SIZE + i / 8;

	if (value)
		*p |= (uint8) (1 << (i % 8));
	else
		*p &= (uint8) ~(1 << (i % 8));
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

static void
entry_read(const BdForkEntry *f, BdDirEntry *e)
{
	bd_dir_entry_decode(page_ptr(f->dir_page), f->slot, e);
}

static const char *
fork_text(const BdForkKey *key)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%u/%u/%u fork %u", key->spcoid, key->dboid,
			 key->relnumber, key->fork);
	return buf;
}

/* ---------------------------------------------------------------------
 * The partitioned fork table and the map-page index
 *
 * Both hash tables are partitioned by relation: the low bits of every hash
 * code, which dynahash uses first to choose a bucket, are those of the
 * relation's hash, so that one partition lock covers every bucket holding
 * a fork of the relation or one of its map-page index entries.
 * ---------------------------------------------------------------------
 */

#define PARTITION_MASK ((uint32) (BD_FORK_PARTITIONS - 1))

/* one extent-map page of a fork: the ordinal-th of its chain */
typedef struct BdMapKey
{
	BdForkKey	fork;
	uint32		ordinal;
} BdMapKey;

typedef struct BdMapEntry
{
	BdMapKey	key;			/* hash key: must be first */
	uint64		page;			/* its address */
} BdMapEntry;

static inline uint32
relation_hash(const BdForkKey *key)
{
	return hash_bytes((const unsigned char *) key, offsetof(BdForkKey, fork));
}

static inline uint32
fork_hashcode(uint32 relhash, uint32 fork)
{
	return (relhash & PARTITION_MASK) |
		(hash_combine(relhash, murmurhash32(fork)) & ~PARTITION_MASK);
}

static inline uint32
map_hashcode(uint32 relhash, uint32 fork, uint32 ordinal)
{
	return (relhash & PARTITION_MASK) |
		(hash_combine(hash_combine(relhash, murmurhash32(fork)),
					  murmurhash32(ordinal)) & ~PARTITION_MASK);
}

static uint32
fork_hash_fn(const void *key, Size keysize)
{
	const BdForkKey *k = key;

	return fork_hashcode(relation_hash(k), k->fork);
}

static uint32
map_hash_fn(const void *key, Size keysize)
{
	const BdMapKey *k = key;

	return map_hashcode(relation_hash(&k->fork), k->fork.fork, k->ordinal);
}

static inline LWLock *
partition_lock(uint32 relhash)
{
	return &bd->fork_locks[relhash & PARTITION_MASK].lock;
}

/* every partition, in ascending order (the lock order) */
static void
lock_all_partitions(LWLockMode mode)
{
	for (int i = 0; i < BD_FORK_PARTITIONS; i++)
		LWLockAcquire(&bd->fork_locks[i].lock, mode);
}

static void
unlock_all_partitions(void)
{
	for (int i = BD_FORK_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&bd->fork_locks[i].lock);
}

/* the fork's partition lock (or all of them) held */
static BdForkEntry *
fork_lookup_hashed(const BdForkKey *key, uint32 relhash)
{
	return hash_search_with_hash_value(bd_forks, key, fork_hashcode(relhash, key->fork),
									   HASH_FIND, NULL);
}

static BdForkEntry *
fork_lookup(const BdForkKey *key)
{
	return fork_lookup_hashed(key, relation_hash(key));
}

/* Enter a fork (its partition lock held exclusively); NULL when full */
static BdForkEntry *
fork_enter(const BdForkKey *key, bool *found)
{
	uint32		relhash = relation_hash(key);
	BdForkEntry *f;

	f = hash_search_with_hash_value(bd_forks, key, fork_hashcode(relhash, key->fork),
									HASH_ENTER_NULL, found);
	if (f != NULL && !*found)
	{
		f->relhash = relhash;
		f->nmap = 0;
	}
	return f;
}

/* extent-map pages a fork of nextents extents has */
static inline uint32
map_pages_for(uint32 nextents)
{
	if (nextents <= BD_DIR_INLINE_EXTENTS)
		return 0;
	return (nextents - BD_DIR_INLINE_EXTENTS + BD_MAP_EXTENTS_PER_PAGE - 1) /
		BD_MAP_EXTENTS_PER_PAGE;
}

static inline void
map_key(BdMapKey *k, const BdForkEntry *f, uint32 ordinal)
{
	memset(k, 0, sizeof(*k));
	k->fork = f->key;
	k->ordinal = ordinal;
}

/* The index's address of the fork's ordinal-th map page, or 0 */
static uint64
map_index_get(const BdForkEntry *f, uint32 ordinal)
{
	BdMapKey	k;
	BdMapEntry *m;

	if (ordinal >= f->nmap)
		return 0;
	map_key(&k, f, ordinal);
	m = hash_search_with_hash_value(bd_map_index, &k,
									map_hashcode(f->relhash, f->key.fork, ordinal),
									HASH_FIND, NULL);
	return m != NULL ? m->page : 0;
}

/* Index the fork's next map page (ordinal f->nmap) */
static void
map_index_push(BdForkEntry *f, uint64 page)
{
	BdMapKey	k;
	BdMapEntry *m;
	bool		found;

	map_key(&k, f, f->nmap);
	m = hash_search_with_hash_value(bd_map_index, &k,
									map_hashcode(f->relhash, f->key.fork, f->nmap),
									HASH_ENTER_NULL, &found);
	/* sized for every metadata-area page: cannot happen */
	if (m == NULL)
		elog(PANIC, "block-device map-page index is full");
	m->page = page;
	f->nmap++;
}

/* Forget the fork's map pages from ordinal keep on */
static void
map_index_truncate(BdForkEntry *f, uint32 keep)
{
	while (f->nmap > keep)
	{
		BdMapKey	k;

		f->nmap--;
		map_key(&k, f, f->nmap);
		(void) hash_search_with_hash_value(bd_map_index, &k,
										   map_hashcode(f->relhash, f->key.fork, f->nmap),
										   HASH_REMOVE, NULL);
	}
}

static inline bool
meta_area_page(uint64 addr)
{
	return addr >= bd->sb.directory_root && addr < bd->end_page;
}

/*
 * Bring the fork's index in line with its entry e.  Chains change only at
 * their tail (appending, trimming) or all at once (a new first page), so
 * what the index holds before the tail is kept; with rebuild, the whole
 * index is read again from the chain.  A chain that ends early or leaves
 * the metadata area (possible only while crash recovery replays over newer
 * pages) leaves the index short; lookups beyond it walk the chain.
 */
static void
map_index_sync(BdForkEntry *f, const BdDirEntry *e, bool rebuild)
{
	uint32		need = map_pages_for(e->nextents);
	uint64		addr;

	if (rebuild || need == 0 || (f->nmap > 0 && map_index_get(f, 0) != e->extent_map))
		map_index_truncate(f, 0);
	map_index_truncate(f, need);
	addr = f->nmap == 0 ? e->extent_map :
		bd_map_page_next(page_ptr(map_index_get(f, f->nmap - 1)));
	while (f->nmap < need && meta_area_page(addr))
	{
		map_index_push(f, addr);
		addr = bd_map_page_next(page_ptr(addr));
	}
}

/* Remove a fork from the table, with its index entries */
static void
fork_remove(BdForkEntry *f)
{
	BdForkKey	key = f->key;

	map_index_truncate(f, 0);
	(void) hash_search_with_hash_value(bd_forks, &key, fork_hashcode(f->relhash, key.fork),
									   HASH_REMOVE, NULL);
}

/*
 * Read every fork's index again from the chains (all partitions and the
 * metadata lock held): after load, and when redo reaches a consistent
 * state after replaying over pages newer than its records.
 */
static void
map_index_rebuild_all(void)
{
	HASH_SEQ_STATUS seq;
	BdForkEntry *f;
	BdMapEntry *m;

	hash_seq_init(&seq, bd_map_index);
	while ((m = hash_seq_search(&seq)) != NULL)
		(void) hash_search(bd_map_index, &m->key, HASH_REMOVE, NULL);
	hash_seq_init(&seq, bd_forks);
	while ((f = hash_seq_search(&seq)) != NULL)
	{
		BdDirEntry	e;

		f->nmap = 0;
		entry_read(f, &e);
		map_index_sync(f, &e, true);
	}
	bd->map_index_valid = true;
}

/* ---------------------------------------------------------------------
 * Changes and their WAL records
 * ---------------------------------------------------------------------
 */

typedef struct BdChange
{
	int			npages;
	uint64		pages[BD_WAL_MAX_PAGES];
} BdChange;

static void
change_touch(BdChange *c, uint64 address)
{
	for (int i = 0; i < c->npages; i++)
		if (c->pages[i] == address)
			return;
	/* callers check change_full() before changing more pages */
	if (c->npages == BD_WAL_MAX_PAGES)
		elog(PANIC, "block-device metadata change touches more than %d pages",
			 BD_WAL_MAX_PAGES);
	c->pages[c->npages++] = address;
}

static bool
change_full(const BdChange *c, int headroom)
{
	return c->npages + headroom > BD_WAL_MAX_PAGES;
}

/*
 * Seal the changed pages and log them.  While WAL cannot be written
 * (recovery), the pages are marked local: the end-of-recovery checkpoint
 * logs them before writing them.
 */
static void
change_commit(BdChange *c, BdWalOp op, const BdForkKey *key, uint32 arg)
{
	XLogRecPtr	lsn = InvalidXLogRecPtr;

	if (c->npages == 0)
		return;
	if (record_buf == NULL)
		record_buf = bd_alloc(bd_wal_max_size());

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
			bd_page_seal(page_ptr(c->pages[i]));
			bd_wal_add_page(&b, c->pages[i], NULL, page_ptr(c->pages[i]), true);
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

/* ---------------------------------------------------------------------
 * Metadata-area pages and extents
 * ---------------------------------------------------------------------
 */

static uint64
meta_page_alloc(void)
{
	uint32		n = bd->sb.metadata_pages;

	for (uint32 k = 0; k < n; k++)
	{
		uint32		i = (bd->meta_hint + k) % n;

		if (!bd_meta_used[i])
		{
			bd_meta_used[i] = true;
			bd->meta_used_count++;
			bd->meta_hint = i + 1;
			return bd->sb.directory_root + i;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_DISK_FULL),
			 errmsg("block device \"%s\" has no free metadata page (%u in use)",
					bd_dev.path, n),
			 errhint("Format a device with a larger metadata area (pgrac_image format --metadata-pages) and move the cluster to it.")));
	return 0;
}

static void
meta_page_release(uint64 address)
{
	uint32		i = (uint32) (address - bd->sb.directory_root);

	if (bd_meta_used[i])
	{
		bd_meta_used[i] = false;
		bd->meta_used_count--;
		if (i < bd->meta_hint)
			bd->meta_hint = i;
	}
}

/* Grow an image file when the allocator runs out */
static bool
device_grow(BdChange *c)
{
	uint32		old = bd->sb.nextents;
	uint32		grown;

	if (bd_dev.is_block_device || old >= bd->sb.max_extents)
		return false;
	/* by an eighth, at least 32 MB */
	grown = Min((uint64) bd->sb.max_extents,
				(uint64) old + Max(old / 8, (32 * 1024 * 1024) / ((uint64) bd->sb.extent_pages * BD_PAGE_SIZE)));
	bd_device_resize((uint64) grown * bd->sb.extent_pages * BD_PAGE_SIZE);
	bd_allocator_grow(&bd->alloc, grown);
	bd->sb.nextents = grown;
	/* GROW carries the allocation-map page of the first new extent */
	change_touch(c, alloc_page_of(old));
	change_commit(c, BD_WAL_GROW, NULL, grown);
	ereport(LOG,
			(errmsg("grew image file \"%s\" to %u extents (%llu MB)", bd_dev.path, grown,
					(unsigned long long) grown * bd->sb.extent_pages * BD_PAGE_SIZE / (1024 * 1024))));
	return true;
}

/* Take a free extent; ensure_capacity() made sure there is one. */
static uint32
extent_alloc(BdChange *c)
{
	uint32		e = bd_allocator_alloc(&bd->alloc);

	if (e == BD_NO_EXTENT)
		elog(PANIC, "block-device allocator has no free extent after ensure_capacity");
	change_touch(c, alloc_page_of(e));
	alloc_page_put(e, true);
	return e;
}

/* Clear an extent in the map; it stays allocated in memory until zeroed. */
static void
extent_release(BdChange *c, uint32 e)
{
	change_touch(c, alloc_page_of(e));
	alloc_page_put(e, false);
	bit_put(bd_zero_pending, e, true);
}

/* ---------------------------------------------------------------------
 * A fork's extents
 * ---------------------------------------------------------------------
 */

/*
 * The map page holding extent index idx (>= inline) of fork f, whose entry
 * is e, or 0 if the chain has none; *prev (unless NULL) gets the page
 * before it, 0 for the first.  One or two lookups in the map-page index,
 * whatever the position.  Only while crash recovery replays over newer
 * pages (the index is invalid, or short) is the chain walked.
 */
static uint64
map_page_for(const BdForkEntry *f, const BdDirEntry *e, uint32 idx, uint64 *prev)
{
	uint32		ordinal = (idx - BD_DIR_INLINE_EXTENTS) / BD_MAP_EXTENTS_PER_PAGE;
	uint64		addr = e->extent_map;
	uint32		hops = ordinal;

	if (bd->map_index_valid &&
		(ordinal < f->nmap ||
		 (ordinal == f->nmap && f->nmap == map_pages_for(e->nextents))))
	{
		if (prev)
			*prev = ordinal == 0 ? 0 : map_index_get(f, ordinal - 1);
		/* 0 one past the chain's end */
		return map_index_get(f, ordinal);
	}
	if (prev)
		*prev = 0;
	while (addr != 0 && hops-- > 0)
	{
		if (prev)
			*prev = addr;
		addr = bd_map_page_next(page_ptr(addr));
	}
	return addr;
}

/* extents [first, first + count) of fork f, whose entry is e, into out */
static void
extents_get(const BdForkEntry *f, const BdDirEntry *e, uint32 first, uint32 count,
			uint32 *out)
{
	uint32		i = first;
	uint64		map = 0;

	while (i < first + count && i < BD_DIR_INLINE_EXTENTS)
	{
		*out++ = e->inline_extents[i];
		i++;
	}
	if (i >= first + count)
		return;
	map = map_page_for(f, e, i, NULL);
	while (i < first + count)
	{
		uint32		pos = (i - BD_DIR_INLINE_EXTENTS) % BD_MAP_EXTENTS_PER_PAGE;

		if (map == 0)
			elog(ERROR, "block-device extent map of %u/%u/%u ends before extent %u",
				 e->spcoid, e->dboid, e->relnumber, i);
		*out++ = bd_map_page_get(page_ptr(map), pos);
		i++;
		if (pos + 1 == BD_MAP_EXTENTS_PER_PAGE)
			map = bd_map_page_next(page_ptr(map));
	}
}

/*
 * Append one extent to fork f, whose entry is e (written back by caller;
 * f's partition lock and the metadata lock held exclusively).
 */
static void
extents_append(BdChange *c, BdForkEntry *f, BdDirEntry *e, uint32 extent)
{
	uint32		idx = e->nextents;

	if (idx < BD_DIR_INLINE_EXTENTS)
		e->inline_extents[idx] = extent;
	else
	{
		uint64		prev;
		uint64		map = map_page_for(f, e, idx, &prev);
		uint32		pos = (idx - BD_DIR_INLINE_EXTENTS) % BD_MAP_EXTENTS_PER_PAGE;
		uint8	   *p;

		if (map == 0)
		{
			map = meta_page_alloc();
			bd_map_page_init(page_ptr(map), map, 0, 0);
			if (prev == 0)
				e->extent_map = map;
			else
			{
				uint8	   *pp = page_ptr(prev);

				change_touch(c, prev);
				bd_put64(pp + 32, map);
			}
			if (bd->map_index_valid && f->nmap == map_pages_for(idx))
				map_index_push(f, map);
		}
		change_touch(c, map);
		p = page_ptr(map);
		bd_map_page_set(p, pos, extent);
		bd_put32(p + 40, pos + 1);
	}
	e->nextents++;
}

/* Drop fork f's extents from index keep on; release them. */
static void
extents_trim(BdChange *c, BdForkEntry *f, BdDirEntry *e, uint32 keep)
{
	uint32		n = e->nextents;
	uint32	   *list;

	if (keep >= n)
		return;
	list = bd_alloc(sizeof(uint32) * (n - keep));
	extents_get(f, e, keep, n - keep, list);
	for (uint32 i = 0; i < n - keep; i++)
		extent_release(c, list[i]);
	pfree(list);

	for (uint32 i = keep; i < Min(n, BD_DIR_INLINE_EXTENTS); i++)
		e->inline_extents[i] = 0;
	if (n > BD_DIR_INLINE_EXTENTS)
	{
		uint64		prev;
		uint64		map;

		if (keep <= BD_DIR_INLINE_EXTENTS)
		{
			map = e->extent_map;
			e->extent_map = 0;
		}
		else
		{
			uint32		pos = (keep - BD_DIR_INLINE_EXTENTS) % BD_MAP_EXTENTS_PER_PAGE;
			uint64		first = map_page_for(f, e, keep, &prev);

			if (pos == 0)
			{
				/* the page holding index keep goes entirely */
				map = first;
				change_touch(c, prev);
				bd_put64(page_ptr(prev) + 32, 0);
			}
			else
			{
				uint8	   *p = page_ptr(first);

				change_touch(c, first);
				for (uint32 i = pos; i < BD_MAP_EXTENTS_PER_PAGE; i++)
					bd_map_page_set(p, i, 0);
				bd_put32(p + 40, pos);
				map = bd_map_page_next(p);
				bd_put64(p + 32, 0);
			}
		}
		while (map != 0)
		{
			uint64		next = bd_map_page_next(page_ptr(map));

			meta_page_release(map);
			map = next;
		}
	}
	map_index_truncate(f, map_pages_for(keep));
	e->nextents = keep;
}

/* ---------------------------------------------------------------------
 * Directory slots
 * ---------------------------------------------------------------------
 */

static void
slot_find_free(BdChange *c, uint64 *page_out, int *slot_out)
{
	uint64		addr = bd->dir_hint;
	uint64		newp;

	for (int pass = 0; pass < 2; pass++)
	{
		for (; addr != 0; addr = bd_dir_page_next(page_ptr(addr)))
		{
			const uint8 *p = page_ptr(addr);

			for (int s = 0; s < BD_DIR_ENTRIES_PER_PAGE; s++)
			{
				/* state byte: free slots are all zero */
				if (p[BD_DIR_ENTRIES_OFFSET + s * BD_DIR_ENTRY_SIZE + 13] == BD_ENTRY_FREE)
				{
					bd->dir_hint = addr;
					*page_out = addr;
					*slot_out = s;
					return;
				}
			}
		}
		addr = bd->sb.directory_root;
	}

	/* every page is full: chain a new one */
	newp = meta_page_alloc();
	bd_dir_page_init(page_ptr(newp), newp, 0, 0);
	change_touch(c, newp);
	change_touch(c, bd->dir_last);
	bd_put64(page_ptr(bd->dir_last) + 32, newp);
	bd->dir_last = newp;
	bd->dir_hint = newp;
	*page_out = newp;
	*slot_out = 0;
}

/* ---------------------------------------------------------------------
 * Shared memory
 * ---------------------------------------------------------------------
 */

static uint32
max_forks(const BdSuperblock *g)
{
	return Max(1024, Min((uint64) g->metadata_pages * BD_DIR_ENTRIES_PER_PAGE, 4 * 1024 * 1024));
}

/*
 * Entries of the map-page index: every extent-map page is a page of the
 * metadata area, so the index never holds more.
 */
static uint32
max_map_pages(const BdSuperblock *g)
{
	return Max(64, g->metadata_pages);
}

static Size
hash_tables_size(const BdSuperblock *g)
{
	return add_size(hash_estimate_size(max_forks(g), sizeof(BdForkEntry)),
					hash_estimate_size(max_map_pages(g), sizeof(BdMapEntry)));
}

static Size
shmem_size(const BdSuperblock *g)
{
	Size		size = MAXALIGN(sizeof(BdShared));
	uint64		ncached = NCACHED(g);

	size = add_size(size, mul_size(ncached, BD_PAGE_SIZE));
	size = add_size(size, MAXALIGN(ncached * 2));
	size = add_size(size, MAXALIGN(g->metadata_pages));
	size = add_size(size, 2 * bd_allocator_words_size(g->max_extents));
	size = add_size(size, hash_tables_size(g));
	return size + PG_IO_ALIGN_SIZE;
}

/* the postmaster's page I/O while it formats or loads the device */
static PGIOAlignedBlock postmaster_page;

static bool
postmaster_read_page(void *arg, uint64 address, uint8 *page)
{
	if (bd != NULL && address >= BD_FIRST_ALLOC_MAP_PAGE && address < bd->end_page)
	{
		memcpy(page, page_ptr(address), BD_PAGE_SIZE);
		return true;
	}
	/* through an aligned copy: the caller's page may not suit direct I/O */
	if (pg_pread(bd_dev.fd, postmaster_page.data, BD_PAGE_SIZE,
				 (off_t) (address * BD_PAGE_SIZE)) != BD_PAGE_SIZE)
		return false;
	memcpy(page, postmaster_page.data, BD_PAGE_SIZE);
	return true;
}

static bool
postmaster_write_page(void *arg, uint64 address, const uint8 *page)
{
	memcpy(postmaster_page.data, page, BD_PAGE_SIZE);
	return pg_pwrite(bd_dev.fd, postmaster_page.data, BD_PAGE_SIZE,
					 (off_t) (address * BD_PAGE_SIZE)) == BD_PAGE_SIZE;
}

static void *
postmaster_alloc(void *arg, size_t size)
{
	return palloc_extended(size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

static void
postmaster_free(void *arg, void *ptr)
{
	pfree(ptr);
}

static const BdIo postmaster_io = {
	postmaster_read_page, postmaster_write_page, postmaster_alloc, postmaster_free, NULL
};

/* Format a freshly created embedded image. */
static void
format_embedded_image(void)
{
	BdFormatParams p;
	char		error[512];
	uint64		extent_bytes = (uint64) pgrac_image_extent_kb * 1024;
	uint32		reserved;

	memset(&p, 0, sizeof(p));
	p.extent_pages = (uint32) (extent_bytes / BD_PAGE_SIZE);
	p.max_extents = (uint32) (((uint64) pgrac_image_max_size_mb * 1024 * 1024) / extent_bytes);
	p.metadata_pages = bd_default_metadata_pages(p.max_extents);
	reserved = bd_reserved_extents(p.extent_pages,
								   bd_first_directory_page(bd_alloc_map_pages(p.max_extents)) +
								   p.metadata_pages - 1);
	p.nextents = Min(p.max_extents, reserved + 64);
	if (!pg_strong_random(p.device_uuid, 16))
		ereport(FATAL,
				(errmsg("could not generate a UUID for the embedded image")));
	p.device_uuid[6] = (p.device_uuid[6] & 0x0f) | 0x40;	/* version 4 */
	p.device_uuid[8] = (p.device_uuid[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	bd_device_resize((uint64) p.nextents * extent_bytes);
	if (!bd_image_format(&postmaster_io, &p, error, sizeof(error)))
		ereport(FATAL,
				(errmsg("could not format the embedded image \"%s\": %s", bd_dev.path, error)));
	bd_device_flush();
	fsync_fname(bd_dev.path, false);
	{
		char		dir[MAXPGPATH];

		snprintf(dir, sizeof(dir), "%s/pg_pgrac", DataDir);
		fsync_fname(dir, true);
	}
	ereport(LOG,
			(errmsg("formatted embedded image \"%s\": %u extents of %llu kB, may grow to %d MB",
					bd_dev.path, p.nextents, (unsigned long long) extent_bytes / 1024,
					pgrac_image_max_size_mb)));
}

/*
 * pgrac.image_max_size and pgrac.image_extent_size shape the embedded
 * image only when it is created; a different value later would otherwise
 * be ignored without a word.
 */
static void
warn_creation_settings(const BdSuperblock *sb)
{
	uint64		extent_bytes = (uint64) sb->extent_pages * BD_PAGE_SIZE;
	uint64		max_mb = (uint64) sb->max_extents * extent_bytes / (1024 * 1024);
	const char *hint = "These settings apply only when the embedded image is created.  To change them, stop the server, move the data back with pgrac_image export, remove pg_pgrac/device.img, and start again: the new image is created with them and the data imported into it.";

	if ((uint64) pgrac_image_max_size_mb * 1024 * 1024 / extent_bytes != sb->max_extents)
		ereport(WARNING,
				(errmsg("pgrac.image_max_size is %d MB, but the embedded image \"%s\" was created to grow to at most %llu MB",
						pgrac_image_max_size_mb, bd_dev.path, (unsigned long long) max_mb),
				 errhint("%s", hint)));
	if ((uint64) pgrac_image_extent_kb * 1024 != extent_bytes)
		ereport(WARNING,
				(errmsg("pgrac.image_extent_size is %d kB, but the embedded image \"%s\" was created with extents of %llu kB",
						pgrac_image_extent_kb, bd_dev.path, (unsigned long long) extent_bytes / 1024),
				 errhint("%s", hint)));
}

/*
 * Read the superblock to size shared memory: in the postmaster, before
 * shared memory exists.  Creates and formats the embedded image on first
 * start.
 */
static void
read_geometry(void)
{
	uint8	   *a = palloc(BD_PAGE_SIZE);
	uint8	   *b = palloc(BD_PAGE_SIZE);
	BdPageError ea,
				eb;
	BdSuperblockError sberr;
	int			chosen;
	BdBinding	binding;
	char		uuid[37];
	const char *not_format;

	if (bd_binding_get(&binding) && !binding.exported)
	{
		bd_uuid_format(binding.device_uuid, uuid);
		not_format = psprintf("This cluster's relation data is on device %s: if this is that device, do not format it, restore it from a backup; otherwise point pgrac.device at that device.", uuid);
	}
	else
		not_format = "If the device holds a cluster's data, restore it from a backup; a new device is prepared with pgrac_image format.";

	if (bd_dev.fd < 0)
	{
		char		path[MAXPGPATH];
		struct stat st;

		bd_device_path(path);
		if (bd_device_embedded() && stat(path, &st) < 0 && errno == ENOENT)
			bd_refuse_missing_embedded(path);
		if (bd_device_open(true))
			format_embedded_image();
	}
	if (!postmaster_read_page(NULL, BD_SUPERBLOCK_A, a) ||
		!postmaster_read_page(NULL, BD_SUPERBLOCK_B, b))
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not read the superblocks of block device \"%s\": it is %llu bytes long",
						bd_dev.path, (unsigned long long) bd_dev.size),
				 errdetail("The superblocks are its first two %d-byte pages.", BD_PAGE_SIZE),
				 errhint("%s", not_format)));
	chosen = bd_superblock_choose(a, b, &bd_geometry, &ea, &eb);
	if (chosen < 0)
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block device \"%s\" has no valid superblock", bd_dev.path),
				 errdetail("Copy A (page 0): %s; copy B (page 1): %s.",
						   bd_page_error_text(ea), bd_page_error_text(eb)),
				 errhint("Check that pgrac.device names the right device.  %s", not_format)));
	if ((chosen == 0 ? eb : ea) != BD_PAGE_OK)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("superblock copy %c (page %d) of block device \"%s\" is damaged: %s",
						chosen == 0 ? 'B' : 'A', chosen == 0 ? 1 : 0, bd_dev.path,
						bd_page_error_text(chosen == 0 ? eb : ea)),
				 errdetail("Using copy %c (generation %llu).  A superblock write torn by a crash leaves this; the next superblock write (a checkpoint) replaces the damaged copy.",
						   chosen == 0 ? 'A' : 'B', (unsigned long long) bd_geometry.generation)));
	sberr = bd_superblock_validate(&bd_geometry);
	if (sberr != BD_SB_OK)
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("superblock of block device \"%s\" is invalid: %s",
						bd_dev.path, bd_superblock_error_text(sberr)),
				 errhint("%s", not_format)));
	bd_check_bound_device(bd_geometry.device_uuid);
	if (bd_device_embedded())
		warn_creation_settings(&bd_geometry);
	if ((uint64) bd_geometry.nextents * bd_geometry.extent_pages * BD_PAGE_SIZE > bd_dev.size)
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block device \"%s\" is smaller (%llu bytes) than its superblock says (%u extents of %u kB)",
						bd_dev.path, (unsigned long long) bd_dev.size,
						bd_geometry.nextents, bd_geometry.extent_pages * BD_PAGE_SIZE / 1024),
				 errhint("It was truncated, or pgrac.device names a smaller device.  %s", not_format)));
	bd_geometry_known = true;
	pfree(a);
	pfree(b);
}

static void
bd_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	read_geometry();
	RequestAddinShmemSpace(shmem_size(&bd_geometry));
	RequestAddinShmemSpace(bd_readahead_shmem_size());
	RequestNamedLWLockTranche("pgrac_block_device", 1);
	RequestNamedLWLockTranche("pgrac_block_device_forks", BD_FORK_PARTITIONS);
	bd_writebehind_shmem_request();
}

/* Load the device's metadata into shared memory and verify it. */
static void
load_metadata(void)
{
	BdLoadedLayout layout;
	char		error[512];
	BdProblem	problems[8];
	int			nproblems;
	uint64		ncached = NCACHED(&bd_geometry);

	bd->end_page = bd_metadata_end(&bd_geometry);
	/* the whole cached range in one read */
	bd_device_read(BD_FIRST_ALLOC_MAP_PAGE * BD_PAGE_SIZE, bd_pages, ncached * BD_PAGE_SIZE);

	if (!bd_image_load(&postmaster_io, &layout, error, sizeof(error)))
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block device \"%s\" has corrupt metadata: %s", bd_dev.path, error),
				 errhint("\"pgrac_image verify --device=%s\" lists every damaged metadata page and layout problem it can reach; restore the device from a backup.", bd_dev.path)));
	nproblems = bd_image_verify(&postmaster_io, &layout, problems, lengthof(problems));
	if (nproblems > 0)
	{
		BdProblem  *p = &problems[0];

		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block device \"%s\" has an inconsistent layout: %d problem(s)",
						bd_dev.path, nproblems),
				 errdetail("First: %s (extent %u%s).", bd_problem_text(p->kind), p->extent,
						   p->fork >= 0 ? psprintf(", relation %u/%u/%u fork %u",
												   layout.forks[p->fork].entry.spcoid,
												   layout.forks[p->fork].entry.dboid,
												   layout.forks[p->fork].entry.relnumber,
												   layout.forks[p->fork].entry.fork) : ""),
				 errhint("\"pgrac_image verify --device=%s\" lists all of them; restore the device from a backup.", bd_dev.path)));
	}

	bd->sb = layout.sb;
	bd->end_page = bd_metadata_end(&layout.sb);
	bd_allocator_init(&bd->alloc, bd->alloc.words, layout.sb.max_extents,
					  layout.alloc.nextents, layout.alloc.reserved);
	memcpy(bd->alloc.words, layout.alloc.words, bd_allocator_words_size(layout.sb.max_extents));
	bd->alloc.nfree = layout.alloc.nfree;
	bd->alloc.hint = layout.alloc.reserved;

	for (uint32 i = 0; i < layout.sb.metadata_pages; i++)
		if ((bd_meta_used[i] = layout.metadata_used[i]))
			bd->meta_used_count++;
	bd->dir_last = layout.sb.directory_root;
	for (uint64 a = layout.sb.directory_root; a != 0; a = bd_dir_page_next(page_ptr(a)))
		bd->dir_last = a;
	bd->dir_hint = layout.sb.directory_root;

	for (int i = 0; i < layout.nforks; i++)
	{
		const BdLoadedFork *lf = &layout.forks[i];
		BdForkKey	key;
		BdForkEntry *f;
		bool		found;

		memset(&key, 0, sizeof(key));
		key.spcoid = lf->entry.spcoid;
		key.dboid = lf->entry.dboid;
		key.relnumber = lf->entry.relnumber;
		key.fork = lf->entry.fork;
		f = fork_enter(&key, &found);
		if (f == NULL)
			ereport(FATAL,
					(errmsg("too many relation forks on block device \"%s\" for shared memory", bd_dev.path)));
		if (found)
			ereport(FATAL,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("block device \"%s\" lists relation %s twice (directory page %llu, entry %d)",
							bd_dev.path, fork_text(&key), (unsigned long long) lf->dir_page, lf->slot)));
		f->dir_page = lf->dir_page;
		f->slot = lf->slot;
		f->state = lf->entry.state;
		f->nblocks = lf->entry.nblocks;
	}
	bd_image_release(&postmaster_io, &layout);
	map_index_rebuild_all();
}

static void
bd_shmem_startup(void)
{
	bool		found;
	char	   *p;
	uint64		ncached;
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	if (!bd_geometry_known)
		read_geometry();
	bd_device_lock();
	ncached = NCACHED(&bd_geometry);
	/* created here, so children inherit it outside any critical section */
	(void) bd_alloc(1);

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	p = ShmemInitStruct("pgrac block device", shmem_size(&bd_geometry) -
						hash_tables_size(&bd_geometry),
						&found);
	bd = (BdShared *) p;
	p += MAXALIGN(sizeof(BdShared));
	p = (char *) TYPEALIGN(PG_IO_ALIGN_SIZE, p);
	bd_pages = (uint8 *) p;
	p += ncached * BD_PAGE_SIZE;
	bd_page_dirty = (bool *) p;
	bd_page_local = (bool *) p + ncached;
	p += MAXALIGN(ncached * 2);
	bd_meta_used = (bool *) p;
	p += MAXALIGN(bd_geometry.metadata_pages);
	bd->alloc.words = (uint64 *) p;
	p += bd_allocator_words_size(bd_geometry.max_extents);
	bd_zero_pending = (uint64 *) p;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(BdForkKey);
	info.entrysize = sizeof(BdForkEntry);
	info.hash = fork_hash_fn;
	info.num_partitions = BD_FORK_PARTITIONS;
	bd_forks = ShmemInitHash("pgrac block device forks", max_forks(&bd_geometry),
							 max_forks(&bd_geometry), &info,
							 HASH_ELEM | HASH_FUNCTION | HASH_PARTITION);
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(BdMapKey);
	info.entrysize = sizeof(BdMapEntry);
	info.hash = map_hash_fn;
	info.num_partitions = BD_FORK_PARTITIONS;
	bd_map_index = ShmemInitHash("pgrac block device map pages", max_map_pages(&bd_geometry),
								 max_map_pages(&bd_geometry), &info,
								 HASH_ELEM | HASH_FUNCTION | HASH_PARTITION);
	bd_readahead_shmem_init();
	bd_writebehind_shmem_init();

	if (!found)
	{
		bd->lock = &(GetNamedLWLockTranche("pgrac_block_device"))->lock;
		bd->fork_locks = GetNamedLWLockTranche("pgrac_block_device_forks");
		bd->map_index_valid = false;
		memset(bd_page_dirty, 0, ncached * 2);
		memset(bd_meta_used, 0, bd_geometry.metadata_pages);
		memset(bd_zero_pending, 0, bd_allocator_words_size(bd_geometry.max_extents));
		bd->meta_used_count = 0;
		/* a checkpoint a crash cut short is completed before anything reads */
		bd_journal_apply();
		load_metadata();
		bd->sb_generation = bd->sb.generation;
	}
	LWLockRelease(AddinShmemInitLock);

	/* claim the device, importing PGDATA's relation files the first time */
	if (!found && !IsUnderPostmaster)
	{
		local_mapping_allowed = true;
		bd_import_if_needed();
		local_mapping_allowed = false;
	}
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

/*
 * Make every free extent read as zeroes (import, in the postmaster).  The
 * allocator hands out free extents trusting that; a device whose import was
 * interrupted may hold data in extents no metadata names.  Runs of free
 * extents are zeroed with one request each; the import's flush makes it
 * durable before the commit point.
 */
void
bd_zero_free_extents(void)
{
	uint64		extent_bytes = (uint64) bd->sb.extent_pages * BD_PAGE_SIZE;
	uint32		e = bd->alloc.reserved;

	while (e < bd->alloc.nextents)
	{
		uint32		run = 0;

		while (e + run < bd->alloc.nextents && !bd_allocator_is_allocated(&bd->alloc, e + run))
			run++;
		if (run > 0)
			bd_device_zero((uint64) e * extent_bytes, (uint64) run * extent_bytes);
		e += Max(run, 1);
	}
}

/* Write every changed metadata page and flush (import, in the postmaster). */
void
bd_meta_write_all(void)
{
	uint64		ncached = bd->end_page - BD_FIRST_ALLOC_MAP_PAGE;

	for (uint64 i = 0; i < ncached; i++)
	{
		if (!bd_page_dirty[i])
			continue;
		bd_device_write((BD_FIRST_ALLOC_MAP_PAGE + i) * BD_PAGE_SIZE,
						page_ptr(BD_FIRST_ALLOC_MAP_PAGE + i), BD_PAGE_SIZE);
		bd_page_dirty[i] = false;
		bd_page_local[i] = false;
	}
	bd_device_flush();
}

/* Name the cluster owning the device in a new superblock generation. */
void
bd_meta_claim(uint64 system_identifier)
{
	uint8	   *page = palloc_aligned(BD_PAGE_SIZE, PG_IO_ALIGN_SIZE, 0);

	bd->sb.system_identifier = system_identifier;
	bd->sb.generation = ++bd->sb_generation;
	bd_superblock_encode(&bd->sb, bd_superblock_address_for(bd->sb.generation), page);
	bd_device_write(bd_superblock_address_for(bd->sb.generation) * BD_PAGE_SIZE, page, BD_PAGE_SIZE);
	bd_device_flush();
	pfree(page);
}

/* Format the device again with its geometry, and load it (postmaster). */
void
bd_meta_reset(void)
{
	BdFormatParams p;
	char		error[512];
	HASH_SEQ_STATUS seq;
	BdForkEntry *f;
	uint64		ncached = bd->end_page - BD_FIRST_ALLOC_MAP_PAGE;

	memset(&p, 0, sizeof(p));
	p.extent_pages = bd->sb.extent_pages;
	p.nextents = bd->sb.nextents;
	p.max_extents = bd->sb.max_extents;
	p.metadata_pages = bd->sb.metadata_pages;
	memcpy(p.device_uuid, bd->sb.device_uuid, 16);
	/* the formatter must read and write the device, not the cache */
	saved_bd = bd;
	bd = NULL;
	if (!bd_image_format(&postmaster_io, &p, error, sizeof(error)))
		ereport(FATAL,
				(errmsg("could not format block device \"%s\": %s", bd_dev.path, error)));
	bd_device_flush();
	bd = saved_bd;
	hash_seq_init(&seq, bd_forks);
	while ((f = hash_seq_search(&seq)) != NULL)
		fork_remove(f);
	memset(bd_page_dirty, 0, ncached * 2);
	memset(bd_meta_used, 0, bd->sb.metadata_pages);
	memset(bd_zero_pending, 0, bd_allocator_words_size(bd->sb.max_extents));
	bd->meta_used_count = 0;
	load_metadata();
	bd->sb_generation = bd->sb.generation;
}

void
bd_meta_shmem_request(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = bd_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = bd_shmem_startup;
}

/* ---------------------------------------------------------------------
 * Fork operations
 * ---------------------------------------------------------------------
 */

/*
 * The live fork, or ERROR (releasing its partition lock, part, the only
 * lock the caller holds)
 */
static BdForkEntry *
live_fork_or_error(const BdForkKey *key, uint32 relhash, LWLock *part,
				   const char *action)
{
	BdForkEntry *f = fork_lookup_hashed(key, relhash);

	if (f == NULL || f->state != BD_ENTRY_LIVE)
	{
		LWLockRelease(part);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not %s relation %s on block device: it does not exist",
						action, fork_text(key))));
	}
	return f;
}

bool
bd_fork_exists(const BdForkKey *key)
{
	BdForkEntry *f;
	bool		live;
	uint32		relhash = relation_hash(key);
	LWLock	   *part = partition_lock(relhash);

	LWLockAcquire(part, LW_SHARED);
	f = fork_lookup_hashed(key, relhash);
	live = f != NULL && f->state == BD_ENTRY_LIVE;
	LWLockRelease(part);
	return live;
}

/* Empty a directory slot's fork: release extents and map pages. */
static void
entry_clear(BdChange *c, BdForkEntry *f)
{
	BdDirEntry	e;

	entry_read(f, &e);
	change_touch(c, f->dir_page);
	extents_trim(c, f, &e, 0);
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
	uint32		relhash = relation_hash(key);
	LWLock	   *part = partition_lock(relhash);

	LWLockAcquire(part, LW_EXCLUSIVE);
	f = fork_lookup_hashed(key, relhash);
	if (f != NULL && f->state == BD_ENTRY_LIVE)
	{
		LWLockRelease(part);
		if (is_redo)
			return;
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("could not create relation %s on block device: it already exists",
						fork_text(key))));
	}
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	if (f != NULL)
	{
		BdDirEntry	old;

		entry_read(f, &old);
		if (old.state == BD_ENTRY_LIVE)
		{
			/* unlinked during redo and not yet logged: the page still has it */
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
		slot_find_free(&c, &page, &slot);

	memset(&e, 0, sizeof(e));
	e.spcoid = key->spcoid;
	e.dboid = key->dboid;
	e.relnumber = key->relnumber;
	e.fork = (uint8) key->fork;
	e.state = BD_ENTRY_LIVE;
	e.create_xid = create_xid;
	change_touch(&c, page);
	bd_dir_entry_encode(page_ptr(page), slot, &e);
	f = fork_enter(key, &found);
	if (f == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("too many relation forks on the block device for shared memory")));
	f->dir_page = page;
	f->slot = slot;
	f->state = BD_ENTRY_LIVE;
	f->nblocks = 0;
	change_commit(&c, BD_WAL_CREATE_FORK, key, 0);
	LWLockRelease(bd->lock);
	LWLockRelease(part);
}

void
bd_fork_unlink(const BdForkKey *key, bool is_redo)
{
	BdForkEntry *f;
	BdChange	c = {0};
	BdDirEntry	e;
	uint32		relhash = relation_hash(key);
	LWLock	   *part = partition_lock(relhash);

	LWLockAcquire(part, LW_EXCLUSIVE);
	f = fork_lookup_hashed(key, relhash);
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
	entry_read(f, &e);
	e.state = BD_ENTRY_TOMBSTONE;
	e.create_xid = 0;
	change_touch(&c, f->dir_page);
	bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, &e);
	change_commit(&c, BD_WAL_UNLINK, key, 0);
	LWLockRelease(bd->lock);
	LWLockRelease(part);
}

/* ---------------------------------------------------------------------
 * Forks of transactions that never committed (bd_reclaim.c decides)
 * ---------------------------------------------------------------------
 */

/* A live fork of the relation main_key names, or NULL (its partition held) */
static BdForkEntry *
live_sibling(const BdForkKey *main_key, int fork)
{
	BdForkKey	k = *main_key;
	BdForkEntry *f;

	k.fork = fork;
	f = fork_lookup(&k);
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
	entry_read(f, e);
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

	lock_all_partitions(LW_SHARED);
	hash_seq_init(&seq, bd_forks);
	while ((f = hash_seq_search(&seq)) != NULL)
	{
		BdDirEntry	e;

		if (f->state != BD_ENTRY_LIVE || f->key.fork != MAIN_FORKNUM)
			continue;
		entry_read(f, &e);
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
				entry_read(other, &oe);
				u->nblocks += (uint64) oe.nextents * bd->sb.extent_pages;
				u->nforks++;
			}
		}
		n++;
	}
	unlock_all_partitions();
	return n;
}

/* Its creator committed: the relation's main fork forgets it. */
void
bd_relation_settle(const BdForkKey *main_key, uint32 create_xid)
{
	BdForkEntry *f;
	BdChange	c = {0};
	BdDirEntry	e;
	LWLock	   *part = partition_lock(relation_hash(main_key));

	LWLockAcquire(part, LW_EXCLUSIVE);
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	if ((f = unsettled_main(main_key, create_xid, &e)) != NULL)
	{
		e.create_xid = 0;
		change_touch(&c, f->dir_page);
		bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, &e);
		change_commit(&c, BD_WAL_SETTLE, main_key, create_xid);
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
	LWLock	   *part = partition_lock(relation_hash(main_key));

	LWLockAcquire(part, LW_EXCLUSIVE);
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	if (unsettled_main(main_key, create_xid, &e) != NULL)
	{
		for (int fork = 0; fork <= BD_MAX_FORK; fork++)
		{
			BdForkEntry *other = live_sibling(main_key, fork);

			if (other == NULL)
				continue;
			entry_read(other, &e);
			e.state = BD_ENTRY_TOMBSTONE;
			e.create_xid = 0;
			other->state = BD_ENTRY_TOMBSTONE;
			change_touch(&c, other->dir_page);
			bd_dir_entry_encode(page_ptr(other->dir_page), other->slot, &e);
			n++;
		}
		change_commit(&c, BD_WAL_RECLAIM, main_key, create_xid);
	}
	LWLockRelease(bd->lock);
	LWLockRelease(part);
	return n;
}

BlockNumber
bd_fork_nblocks(const BdForkKey *key, bool missing_ok, bool *found)
{
	BdForkEntry *f;
	BlockNumber n = 0;
	uint32		relhash = relation_hash(key);
	LWLock	   *part = partition_lock(relhash);

	LWLockAcquire(part, LW_SHARED);
	f = fork_lookup_hashed(key, relhash);
	*found = f != NULL && f->state == BD_ENTRY_LIVE;
	if (*found)
		n = f->nblocks;
	LWLockRelease(part);
	if (!*found && !missing_ok)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open relation %s on block device: it does not exist",
						fork_text(key))));
	return n;
}

/* ---------------------------------------------------------------------
 * The emergency reserve (docs/block-device.md, "A full device")
 * ---------------------------------------------------------------------
 */

/* set by bd_bypass.c while this backend runs a TRUNCATE statement */
bool		bd_truncate_running = false;

/*
 * Whether this process's allocations may take the emergency reserve: those
 * of the statements that free space, which need a few extents before they
 * can release any, and of the one allocation that must not fail.
 *
 * - Lazy VACUUM (PROC_IN_VACUUM; VACUUM FULL does not set it, and needs as
 *   much space as the table), in the backend running it and in its
 *   parallel workers, which inherit the flag: the visibility map's extents,
 *   and index work (a GIN pending list moved into the index).  Not
 *   autovacuum, which would spend the reserve on tables nobody is freeing.
 * - TRUNCATE: the new forks' first extents (index metapages) and catalog
 *   growth; the old forks' extents come back at the next checkpoint.
 * - The startup process: the reset of unlogged relations at the end of
 *   recovery.  It maps no new extent when the main forks are as large as
 *   their init forks (bd_redo_cleanup()), but if it must, failing would
 *   keep the server from starting.
 */
static bool
may_use_reserve(void)
{
	if (AmStartupProcess())
		return true;
	if (MyProc != NULL && (MyProc->statusFlags & PROC_IN_VACUUM) != 0 &&
		!AmAutoVacuumWorkerProcess())
		return true;
	return bd_truncate_running;
}

/*
 * Extents that the next checkpoint frees: those of dropped relations
 * (tombstones), and those released by truncations, which wait to be zeroed.
 * Read from the directory pages, which the metadata lock (held) covers: the
 * caller holds one partition lock and may not take the others.
 */
static uint32
extents_awaiting_checkpoint(void)
{
	uint32		n = 0;

	for (uint64 a = bd->sb.directory_root; a != 0; a = bd_dir_page_next(page_ptr(a)))
	{
		for (int s = 0; s < BD_DIR_ENTRIES_PER_PAGE; s++)
		{
			BdDirEntry	e;

			bd_dir_entry_decode(page_ptr(a), s, &e);
			if (e.state == BD_ENTRY_TOMBSTONE)
				n += e.nextents;
		}
	}
	for (uint32 w = 0; w < (bd->alloc.nextents + WORD_BITS - 1) / WORD_BITS; w++)
	{
		if (bd_zero_pending[w] == 0)
			continue;
		for (uint32 e = w * WORD_BITS; e < (w + 1) * WORD_BITS && e < bd->alloc.nextents; e++)
			if (bit_get(bd_zero_pending, e) && !alloc_page_bit(e))
				n++;
	}
	return n;
}

static void report_device_full(uint32 count, bool use_reserve) pg_attribute_noreturn();

/* count more extents cannot be had: say why, and what frees space */
static void
report_device_full(uint32 count, bool use_reserve)
{
	uint32		reserve = bd_emergency_reserve(bd->alloc.nextents);
	uint32		extent_kb = bd->sb.extent_pages * BD_PAGE_SIZE / 1024;
	uint32		pending = extents_awaiting_checkpoint();
	char	   *waiting = pending == 0 ? "" :
		psprintf(" The next checkpoint frees %u more extents, of relations dropped, truncated or vacuumed since the last one.", pending);

	if (use_reserve)
		ereport(ERROR,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("block device \"%s\" is full, its emergency reserve included: %u more extents of %u kB needed, %u free",
						bd_dev.path, count, extent_kb, bd->alloc.nfree),
				 errdetail("VACUUM and TRUNCATE may use the last %u extents, and this statement needs more than are left.%s",
						   reserve, waiting),
				 errhint("DROP TABLE and DROP INDEX need no free extent (TRUNCATE needs one for each index); run CHECKPOINT after freeing space to make it usable, then retry.")));
	ereport(ERROR,
			(errcode(ERRCODE_DISK_FULL),
			 errmsg("block device \"%s\" is full: %u more extents of %u kB needed, %u free of which %u are held in reserve",
					bd_dev.path, count, extent_kb, bd->alloc.nfree,
					Min(bd->alloc.nfree, reserve)),
			 errdetail("The last %u extents are an emergency reserve that only VACUUM, TRUNCATE and crash recovery may use, so that space can always be freed.%s",
					   reserve, waiting),
			 errhint("Free space with DROP TABLE, TRUNCATE, or DELETE followed by VACUUM, then run CHECKPOINT; or %s",
					 bd_device_embedded() ?
					 "move the cluster to a larger image: its maximum is fixed when it is created, so stop the server, pgrac_image export, remove pg_pgrac/device.img, raise pgrac.image_max_size and start again." :
					 bd_dev.is_block_device ?
					 "enlarge the device and run pgrac_image grow with the server stopped (up to the maximum it was formatted for), or move the cluster to a larger device (pgrac_image export, format, import)." :
					 "move the cluster to an image formatted with a larger --max-size (pgrac_image export, format, import): pgrac_image grow cannot exceed the maximum it was formatted for.")));
	pg_unreachable();
}

/*
 * Make sure count more extents and the map pages to hold them can be had,
 * growing an image file if needed, before anything is changed: a full
 * device fails the statement and changes nothing.  Ordinary allocations
 * leave the emergency reserve free (an image grows before they would take
 * it); only may_use_reserve() allocations take it.
 */
static void
ensure_capacity(uint32 nextents_now, uint32 count)
{
	uint32		map_pages = 0;
	uint32		total = nextents_now + count;
	bool		use_reserve = may_use_reserve();

	if (total > BD_DIR_INLINE_EXTENTS)
		map_pages = (total - BD_DIR_INLINE_EXTENTS + BD_MAP_EXTENTS_PER_PAGE - 1) / BD_MAP_EXTENTS_PER_PAGE -
			(nextents_now > BD_DIR_INLINE_EXTENTS ?
			 (nextents_now - BD_DIR_INLINE_EXTENTS + BD_MAP_EXTENTS_PER_PAGE - 1) / BD_MAP_EXTENTS_PER_PAGE : 0);
	/* the reserve grows with the device: recomputed after each growth */
	while ((uint64) bd->alloc.nfree <
		   (uint64) count + (use_reserve ? 0 : bd_emergency_reserve(bd->alloc.nextents)))
	{
		BdChange	grow = {0};

		if (!device_grow(&grow))
			report_device_full(count, use_reserve);
	}
	if (bd->sb.metadata_pages - bd->meta_used_count < map_pages)
		ereport(ERROR,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("block device \"%s\" has no free metadata page (%u in use)",
						bd_dev.path, bd->meta_used_count),
				 errhint("Format a device with a larger metadata area (pgrac_image format --metadata-pages) and move the cluster to it.")));
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
 * Map extents until the fork has need of them.  The caller holds the
 * fork's partition lock exclusively; the metadata lock is taken here, and
 * only when extents are needed.
 */
static void
map_extents(BdForkEntry *f, const BdForkKey *key, uint32 need, bool skip_wal)
{
	BdChange	c = {0};
	BdDirEntry	e;

	entry_read(f, &e);
	if (need <= e.nextents)
		return;
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	ensure_capacity(e.nextents, need - e.nextents);
	/* from here on nothing can fail but a bug */
	while (e.nextents < need)
	{
		uint32		ext = extent_alloc(&c);

		change_touch(&c, f->dir_page);
		extents_append(&c, f, &e, ext);
		bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, &e);
		if (change_full(&c, 4))
			change_commit(&c, BD_WAL_EXTEND, key, skip_wal ? 1 : 0);
	}
	change_commit(&c, BD_WAL_EXTEND, key, skip_wal ? 1 : 0);
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
	uint32		relhash = relation_hash(key);
	LWLock	   *part = partition_lock(relhash);

	LWLockAcquire(part, LW_EXCLUSIVE);
	f = live_fork_or_error(key, relhash, part, "extend");
	if (end > MaxBlockNumber)
	{
		LWLockRelease(part);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cannot extend relation %s beyond %u blocks", fork_text(key), MaxBlockNumber)));
	}
	entry_read(f, &e);
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
	uint32		relhash = relation_hash(key);
	LWLock	   *part = partition_lock(relhash);

	/* the usual case, blocks already mapped, needs the lock only shared */
	LWLockAcquire(part, LW_SHARED);
	f = live_fork_or_error(key, relhash, part, "write");
	entry_read(f, &e);
	LWLockRelease(part);
	if (need <= e.nextents)
		return;

	LWLockAcquire(part, LW_EXCLUSIVE);
	f = live_fork_or_error(key, relhash, part, "write");
	entry_read(f, &e);
	if (need > e.nextents)
	{
		if (!may_map_extents())
		{
			LWLockRelease(part);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot write blocks %u..%u of relation %s during recovery: their extent is not mapped yet",
							first, first + count - 1, fork_text(key)),
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
	uint32		relhash = relation_hash(key);
	LWLock	   *part = partition_lock(relhash);

	LWLockAcquire(part, LW_SHARED);
	f = fork_lookup_hashed(key, relhash);
	live = f != NULL && f->state == BD_ENTRY_LIVE;
	if (live)
	{
		entry_read(f, &e);
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
	uint32		relhash = relation_hash(key);
	LWLock	   *part = partition_lock(relhash);

	LWLockAcquire(part, LW_SHARED);
	f = live_fork_or_error(key, relhash, part, "read");
	entry_read(f, &e);
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
	uint32		relhash = relation_hash(key);
	LWLock	   *part = partition_lock(relhash);

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
	entry_read(f, &e);
	keep = (nblocks + bd->sb.extent_pages - 1) / bd->sb.extent_pages;
	change_touch(&c, f->dir_page);
	extents_trim(&c, f, &e, keep);
	e.nblocks = nblocks;
	bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, &e);
	change_commit(&c, BD_WAL_TRUNCATE, key, nblocks);
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
	uint32		relhash = relation_hash(key);
	LWLock	   *part = partition_lock(relhash);

	LWLockAcquire(part, LW_EXCLUSIVE);
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	f = fork_lookup_hashed(key, relhash);
	if (f != NULL && f->state == BD_ENTRY_LIVE && may_map_extents())
	{
		entry_read(f, &e);
		if (e.nblocks != Min(f->nblocks, e.nextents * bd->sb.extent_pages))
		{
			e.nblocks = Min(f->nblocks, e.nextents * bd->sb.extent_pages);
			change_touch(&c, f->dir_page);
			bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, &e);
			change_commit(&c, BD_WAL_SET_EOF, key, e.nblocks);
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
			 blocknum, blocknum + nblocks - 1, fork_text(key));
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
	uint32		relhash = relation_hash(key);
	LWLock	   *part = partition_lock(relhash);

	LWLockAcquire(part, LW_SHARED);
	f = live_fork_or_error(key, relhash, part, "access");
	entry_read(f, &e);
	if ((!allow_beyond_eof && (uint64) blocknum + nblocks > f->nblocks) ||
		((uint64) blocknum + nblocks + ep - 1) / ep > e.nextents)
	{
		BlockNumber eof = f->nblocks;

		LWLockRelease(part);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not access blocks %u..%u of relation %s on block device: it has %u blocks",
						blocknum, blocknum + nblocks - 1, fork_text(key), eof)));
	}
	first_ext = blocknum / ep;
	last_ext = (blocknum + nblocks - 1) / ep;
	if (last_ext - first_ext >= lengthof(local))
	{
		LWLockRelease(part);
		elog(ERROR, "cannot map %u blocks of relation %s at once (more than %d extents)",
			 nblocks, fork_text(key), (int) lengthof(local));
	}
	extents_get(f, &e, first_ext, last_ext - first_ext + 1, local);
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
	uint32		relhash = relation_hash(key);
	LWLock	   *part = partition_lock(relhash);
	BlockNumber n;

	Assert(nblocks > 0 && nblocks <= BD_MAP_MAX_BLOCKS);
	LWLockAcquire(part, LW_SHARED);
	if (missing_ok)
	{
		f = fork_lookup_hashed(key, relhash);
		if (f == NULL || f->state != BD_ENTRY_LIVE)
		{
			LWLockRelease(part);
			return -1;
		}
	}
	else
		f = live_fork_or_error(key, relhash, part, "read");
	entry_read(f, &e);
	*eof = f->nblocks;
	*readable = Min(f->nblocks, e.nextents * ep);
	n = blocknum >= *readable ? 0 : Min(nblocks, *readable - blocknum);
	if (n > 0)
	{
		first_ext = blocknum / ep;
		next = (blocknum + n - 1) / ep - first_ext + 1;
		/* BD_MAP_MAX_BLOCKS blocks cross at most 6 extents of 8 pages */
		Assert(next <= lengthof(local));
		extents_get(f, &e, first_ext, next, local);
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
	lock_all_partitions(LW_EXCLUSIVE);
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, bd_forks);
	while ((f = hash_seq_search(&seq)) != NULL)
	{
		BdDirEntry	e;

		if (f->key.dboid != dboid || f->state != BD_ENTRY_LIVE)
			continue;
		f->state = BD_ENTRY_TOMBSTONE;
		entry_read(f, &e);
		e.state = BD_ENTRY_TOMBSTONE;
		change_touch(&c, f->dir_page);
		bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, &e);
		if (change_full(&c, 1))
		{
			change_commit(&c, BD_WAL_UNLINK, &key, 0);
		}
	}
	change_commit(&c, BD_WAL_UNLINK, &key, 0);
	LWLockRelease(bd->lock);
	unlock_all_partitions();
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
	relhash = relation_hash(&key);
	part = partition_lock(relhash);
	LWLockAcquire(part, LW_SHARED);
	for (key.fork = 0; key.fork <= MAX_FORKNUM && !used; key.fork++)
		used = fork_lookup_hashed(&key, relhash) != NULL;
	LWLockRelease(part);
	return used;
}

bool
bd_tablespace_in_use(Oid spcoid)
{
	HASH_SEQ_STATUS seq;
	BdForkEntry *f;
	bool		used = false;

	lock_all_partitions(LW_SHARED);
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
	unlock_all_partitions();
	return used;
}

/* ---------------------------------------------------------------------
 * Checkpoints
 * ---------------------------------------------------------------------
 */

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
		change_touch(&c, BD_FIRST_ALLOC_MAP_PAGE + i);
		if (change_full(&c, 1))
			change_commit(&c, BD_WAL_IMAGE, NULL, 0);
	}
	change_commit(&c, BD_WAL_IMAGE, NULL, 0);

	hash_seq_init(&seq, bd_forks);
	while ((f = hash_seq_search(&seq)) != NULL)
	{
		BdDirEntry	e;

		entry_read(f, &e);
		/* an UNLINK or FREE record carries only its own fork's pages */
		if (e.state == BD_ENTRY_TOMBSTONE ||
			(f->state == BD_ENTRY_TOMBSTONE && e.state == BD_ENTRY_LIVE))
			change_commit(&c, BD_WAL_SET_EOF, NULL, 0);
		if (f->state == BD_ENTRY_TOMBSTONE && e.state == BD_ENTRY_LIVE)
		{
			/* unlinked by redo; the record never came: log it now */
			e.state = BD_ENTRY_TOMBSTONE;
			change_touch(&c, f->dir_page);
			bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, &e);
			change_commit(&c, BD_WAL_UNLINK, &f->key, 0);
		}
		if (e.state == BD_ENTRY_TOMBSTONE)
		{
			/* free the tombstone: extents released, slot emptied */
			BdDirEntry	empty;

			change_touch(&c, f->dir_page);
			extents_trim(&c, f, &e, 0);
			memset(&empty, 0, sizeof(empty));
			bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, &empty);
			if (f->dir_page < bd->dir_hint || bd->dir_hint == 0)
				bd->dir_hint = f->dir_page;
			change_commit(&c, BD_WAL_FREE, &f->key, 0);
			freed = lappend(freed, f);
			continue;
		}
		if (e.state == BD_ENTRY_LIVE)
			log_eof_change(&c, f, &e);
	}
	change_commit(&c, BD_WAL_SET_EOF, NULL, 0);

	foreach_ptr(BdForkEntry, fe, freed)
		fork_remove(fe);
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
	change_touch(c, f->dir_page);
	bd_dir_entry_encode(page_ptr(f->dir_page), f->slot, e);
	if (change_full(c, 1))
		change_commit(c, BD_WAL_SET_EOF, NULL, 0);
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
		entry_read(f, &e);
		if (e.state == BD_ENTRY_LIVE)
			log_eof_change(&c, f, &e);
	}
	change_commit(&c, BD_WAL_SET_EOF, NULL, 0);
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
			bd_device_zero((uint64) e * extent_bytes, extent_bytes);
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

	if (bd == NULL || !XLogInsertAllowed())
		return;
	(void) bd_alloc(1);			/* bd_context exists */
	old = MemoryContextSwitchTo(bd_context);
	lock_all_partitions(LW_EXCLUSIVE);
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	checkpoint_log_changes();
	LWLockRelease(bd->lock);
	unlock_all_partitions();
	MemoryContextSwitchTo(old);
}

/*
 * In the checkpoint (checkpoint_hook, after dirty buffers were written and
 * fsync requests processed): zero released extents, write the dirty
 * metadata pages and the superblock, and flush the device once.
 */
void
bd_checkpoint(XLogRecPtr redo, int flags)
{
	uint64		ncached;
	List	   *zeroed;
	uint8	   *copy;
	uint64	   *addrs;
	uint64	   *lsns;
	int			ndirty = 0;
	XLogRecPtr	max_lsn = InvalidXLogRecPtr;
	uint8	   *sbpage;
	instr_time	start;
	instr_time	flush_start;
	instr_time	end;
	instr_time	io_start;
	uint64		generation;
	uint8		sb_uuid[16];
	BdSuperblock nsb;

	if (bd == NULL)
		return;
	INSTR_TIME_SET_CURRENT(start);

	/*
	 * The buffers this checkpoint wrote may still be queued for the
	 * write-behind writer: wait for them now, so that the flush below
	 * covers them and the metadata writes are not held open waiting.  (A
	 * crash between the metadata writes and the flush is safe either way:
	 * the checkpoint journal completes them at the next start.)
	 */
	bd_writebehind_drain();

	if ((flags & (CHECKPOINT_IS_SHUTDOWN | CHECKPOINT_END_OF_RECOVERY)) == 0 &&
		XLogInsertAllowed())
	{
		MemoryContext old = MemoryContextSwitchTo(bd_context);

		/* every fork's EOF: every partition, then the metadata lock */
		lock_all_partitions(LW_EXCLUSIVE);
		LWLockAcquire(bd->lock, LW_EXCLUSIVE);
		checkpoint_log_late_eofs();
		unlock_all_partitions();
		MemoryContextSwitchTo(old);
	}
	else
		LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	ncached = bd->end_page - BD_FIRST_ALLOC_MAP_PAGE;

	/* zero released extents under the lock: redo may be mapping them */
	zeroed = checkpoint_zero_released();

	/*
	 * Take copies of the dirty pages.  They stay dirty until the device is
	 * flushed, and only if no change came in meanwhile do they become clean:
	 * a failed write leaves them to the next checkpoint.
	 */
	for (uint64 i = 0; i < ncached; i++)
		if (bd_page_dirty[i] && !bd_page_local[i])
			ndirty++;
	copy = palloc_aligned((Size) Max(ndirty, 1) * BD_PAGE_SIZE, PG_IO_ALIGN_SIZE, MCXT_ALLOC_HUGE);
	addrs = palloc(sizeof(uint64) * Max(ndirty, 1));
	lsns = palloc(sizeof(uint64) * Max(ndirty, 1));
	ndirty = 0;
	for (uint64 i = 0; i < ncached; i++)
	{
		BdPageHeader h;
		uint64		addr = BD_FIRST_ALLOC_MAP_PAGE + i;

		if (!bd_page_dirty[i] || bd_page_local[i])
			continue;
		memcpy(copy + (Size) ndirty * BD_PAGE_SIZE, page_ptr(addr), BD_PAGE_SIZE);
		bd_page_read_header(page_ptr(addr), &h);
		if (h.lsn > max_lsn)
			max_lsn = h.lsn;
		lsns[ndirty] = h.lsn;
		addrs[ndirty++] = addr;
	}
	/*
	 * The next superblock generation.  It becomes the current one only once
	 * the device has it (below): a checkpoint that fails before then leaves
	 * the copy holding the current generation to be overwritten by nobody.
	 */
	nsb = bd->sb;
	nsb.generation = generation = bd->sb_generation + 1;
	nsb.checkpoint_redo = redo;
	nsb.clean = (flags & CHECKPOINT_IS_SHUTDOWN) != 0;
	sbpage = palloc_aligned(BD_PAGE_SIZE, PG_IO_ALIGN_SIZE, 0);
	bd_superblock_encode(&nsb, bd_superblock_address_for(generation), sbpage);
	memcpy(sb_uuid, nsb.device_uuid, sizeof(sb_uuid));
	LWLockRelease(bd->lock);

	/* WAL before metadata (in recovery: the minimum recovery point moves) */
	if (max_lsn != InvalidXLogRecPtr)
		XLogFlush(max_lsn);

	/*
	 * The journal first: once it is durable, a crash anywhere in the
	 * in-place writes below is completed from it at the next start
	 * (bd_journal_file.c).  A superblock alone needs none: its two copies
	 * alternate.
	 */
	if (ndirty > 0)
	{
		const uint8 **pages = palloc(sizeof(uint8 *) * (ndirty + 1));

		for (int i = 0; i < ndirty; i++)
			pages[i] = copy + (Size) i * BD_PAGE_SIZE;
		pages[ndirty] = sbpage;
		bd_journal_write(sb_uuid, generation, pages, ndirty + 1);
		pfree(pages);
	}
	for (int i = 0; i < ndirty; i++)
		bd_device_write(addrs[i] * BD_PAGE_SIZE, copy + (Size) i * BD_PAGE_SIZE, BD_PAGE_SIZE);
	bd_device_write(bd_superblock_address_for(generation) * BD_PAGE_SIZE, sbpage, BD_PAGE_SIZE);
#ifdef PGRAC_POWERLOSS_SIM
	bd_powerloss_checkpoint_pause();
#endif

	/*
	 * The one flush: data written since the last checkpoint (drained above;
	 * writes queued since then belong to the next checkpoint), and metadata.
	 */
	INSTR_TIME_SET_CURRENT(flush_start);
	io_start = pgstat_prepare_io_time(track_io_timing);
	bd_device_flush_drained();
	INSTR_TIME_SET_CURRENT(end);

	/*
	 * pg_stat_io counts the fsyncs of relation data a checkpoint makes (md:
	 * one per file).  Here this flush is that fsync, for every relation on
	 * the device: count it once, or the view says a checkpoint made nothing
	 * durable.
	 */
	pgstat_count_io_op_time(IOOBJECT_RELATION, IOCONTEXT_NORMAL, IOOP_FSYNC, io_start, 1);

	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	bd->sb_generation = generation;
	bd->sb.generation = generation;
	bd->sb.checkpoint_redo = redo;
	bd->sb.clean = nsb.clean;
	for (int i = 0; i < ndirty; i++)
	{
		BdPageHeader h;

		bd_page_read_header(page_ptr(addrs[i]), &h);
		if (h.lsn == lsns[i] && !bd_page_local[page_index(addrs[i])])
			bd_page_dirty[page_index(addrs[i])] = false;
	}
	/* zeroed extents are durable zeroes now: hand them out again */
	foreach_int(e, zeroed)
	{
		if (bit_get(bd_zero_pending, (uint32) e) && !alloc_page_bit((uint32) e))
		{
			bit_put(bd_zero_pending, (uint32) e, false);
			bd_allocator_free(&bd->alloc, (uint32) e);
		}
	}
	LWLockRelease(bd->lock);

	/* PostgreSQL's own "sync=" does not include this flush */
	if (log_checkpoints)
	{
		instr_time	total;

		INSTR_TIME_SUBTRACT(end, flush_start);
		INSTR_TIME_SET_CURRENT(total);
		INSTR_TIME_SUBTRACT(total, start);
		ereport(LOG,
				(errmsg("pgrac block device checkpoint: %d metadata pages written, %d released extents zeroed, device flush=%.3f s, total=%.3f s",
						ndirty, list_length(zeroed),
						INSTR_TIME_GET_DOUBLE(end), INSTR_TIME_GET_DOUBLE(total))));
	}
	list_free(zeroed);
	pfree(copy);
	pfree(addrs);
	pfree(lsns);
	pfree(sbpage);
}

/* ---------------------------------------------------------------------
 * Redo
 * ---------------------------------------------------------------------
 */

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
			f = fork_lookup(&key);
			if (f && f->dir_page == address && f->slot == s)
				fork_remove(f);
		}
		if (cur.state == BD_ENTRY_FREE)
			continue;

		memset(&key, 0, sizeof(key));
		key.spcoid = cur.spcoid;
		key.dboid = cur.dboid;
		key.relnumber = cur.relnumber;
		key.fork = cur.fork;
		f = fork_enter(&key, &found);
		if (f == NULL)
			ereport(FATAL,
					(errmsg("too many relation forks on the block device for shared memory")));
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
					bd_device_zero((uint64) e * extent_bytes, extent_bytes);
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
	lock_all_partitions(LW_EXCLUSIVE);
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	if (rec->op == BD_WAL_GROW && rec->key.arg > bd->sb.nextents)
	{
		uint64		bytes = (uint64) rec->key.arg * bd->sb.extent_pages * BD_PAGE_SIZE;

		if (rec->key.arg > bd->sb.max_extents)
			elog(PANIC, "block-device GROW record beyond the device's capacity");
		if (!bd_dev.is_block_device)
		{
			struct stat st;

			if (fstat(bd_dev.fd, &st) == 0 && (uint64) st.st_size < bytes)
				bd_device_resize(bytes);
		}
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
	 * records replayed over them, and a chain may be a mix of both: the
	 * index is dropped, reads walk the chains as they are, and the whole
	 * index is read again once the pages agree (here, or at the end of
	 * recovery).  From then on each record changes chains as the primary
	 * did, at their tail (IMAGE records, of changes made locally at the end
	 * of a recovery, are read again whole).
	 */
	if (!reachedConsistency)
		bd->map_index_valid = false;
	else if (!bd->map_index_valid)
		map_index_rebuild_all();
	else
	{
		foreach_ptr(BdForkKey, k, changed)
		{
			BdForkEntry *f = fork_lookup(k);
			BdDirEntry	e;

			if (f == NULL)
				continue;
			entry_read(f, &e);
			map_index_sync(f, &e, rec->op == BD_WAL_IMAGE);
		}
	}
	LWLockRelease(bd->lock);
	unlock_all_partitions();
	list_free_deep(changed);
	pfree(before);
	pfree(rec);
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
	lock_all_partitions(LW_EXCLUSIVE);
	LWLockAcquire(bd->lock, LW_EXCLUSIVE);
	if (!bd->map_index_valid)
		map_index_rebuild_all();
	LWLockRelease(bd->lock);
	hash_seq_init(&seq, bd_forks);
	while ((f = hash_seq_search(&seq)) != NULL)
		if (f->key.fork == INIT_FORKNUM && f->state == BD_ENTRY_LIVE)
			{
			BdForkKey  *k = palloc(sizeof(BdForkKey));

			*k = f->key;
			inits = lappend(inits, k);
		}
	unlock_all_partitions();

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
		LWLock	   *part = partition_lock(relation_hash(init));

		/* the visibility map goes, and the free-space map (md.c's file) */
		key.fork = VISIBILITYMAP_FORKNUM;
		bd_fork_unlink(&key, true);
		bd_smgr_unlink_fsm(&key);

		key.fork = MAIN_FORKNUM;
		LWLockAcquire(part, LW_EXCLUSIVE);
		LWLockAcquire(bd->lock, LW_EXCLUSIVE);
		src = fork_lookup(init);
		n = src->nblocks;
		dst = fork_lookup(&key);
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
			entry_read(dst, &e);
			change_touch(&c, dst->dir_page);
			extents_trim(&c, dst, &e, (n + bd->sb.extent_pages - 1) / bd->sb.extent_pages);
			e.nblocks = 0;
			bd_dir_entry_encode(page_ptr(dst->dir_page), dst->slot, &e);
			change_commit(&c, BD_WAL_TRUNCATE, &key, 0);
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
			bd_device_read(off, buf, BD_PAGE_SIZE);
			bd_fork_map(&key, b, 1, false, &off, &cnt, 1);
			bd_device_write(off, buf, BD_PAGE_SIZE);
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

/* ---------------------------------------------------------------------
 * Status
 * ---------------------------------------------------------------------
 */

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

int
bd_fork_extent_list(const BdForkKey *key, uint32 *extents, int max,
					uint32 *nblocks)
{
	BdForkEntry *f;
	BdDirEntry	e;
	int			n = -1;
	uint32		relhash = relation_hash(key);
	LWLock	   *part = partition_lock(relhash);

	LWLockAcquire(part, LW_SHARED);
	f = fork_lookup_hashed(key, relhash);
	if (f != NULL && f->state == BD_ENTRY_LIVE)
	{
		entry_read(f, &e);
		n = (int) Min(e.nextents, (uint32) max);
		extents_get(f, &e, 0, n, extents);
		*nblocks = f->nblocks;
		if ((int) e.nextents > max)
			n = -(int) e.nextents - 2;
	}
	LWLockRelease(part);
	return n;
}
