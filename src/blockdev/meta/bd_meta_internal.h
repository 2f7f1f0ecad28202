/*-------------------------------------------------------------------------
 *
 * bd_meta_internal.h
 *	  The metadata cache's state in shared memory, shared by the files
 *	  that work on it (meta/, forks/, checkpoint/, redo/, startup/) and by
 *	  nothing else.  Everything outside those folders goes through
 *	  blockdev/meta/bd_meta.h and the headers above it.
 *
 * Rules, in short (docs/block-device.md explains them):
 *
 * - A metadata page changes only under bd->lock held exclusively (and the
 *   partition lock of the fork concerned, see below), inside a change:
 *   bd_change_touch() before the page is modified, bd_change_commit()
 *   after, which seals the pages and logs one record of the resource
 *   manager carrying, for each page, its whole image on the first change
 *   after a checkpoint began and the bytes that changed otherwise.  The
 *   page gets the record's LSN and is written to the device only by the
 *   checkpoint, after WAL is flushed to that LSN.
 * - During recovery the storage manager still gets calls from PostgreSQL's
 *   own redo (create, extend, truncate, unlink).  They change memory only
 *   (EOF, a pending unlink) and never map extents (may_map_extents()).
 *   Page changes made where no record can follow (a fork created by redo,
 *   the unlogged reset at the end of recovery) are marked "local" and
 *   logged whole as IMAGE records by the next checkpoint before being
 *   written.
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
 * src/blockdev/meta/bd_meta_internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_META_INTERNAL_H
#define PGRAC_BD_META_INTERNAL_H

#include "storage/lwlock.h"
#include "common/hashfn.h"
#include "utils/hsearch.h"

#include "pgrac/bd_layout.h"
#include "pgrac/bd_wal.h"
#include "blockdev/meta/bd_meta.h"

#define WORD_BITS 64

#define PARTITION_MASK ((uint32) (BD_FORK_PARTITIONS - 1))

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

/* in shared memory (meta/bd_meta.c carves it) */
extern BdShared *bd;
extern HTAB *bd_forks;
extern HTAB *bd_map_index;		/* (fork, ordinal) -> extent-map page */
extern uint8 *bd_pages;			/* pages [BD_FIRST_ALLOC_MAP_PAGE, end_page) */
extern bool *bd_page_dirty;
extern bool *bd_page_local;		/* changed in recovery, not yet logged */
extern bool *bd_page_need_full; /* next record logs the whole page */
extern bool *bd_meta_used;		/* per metadata-area page */
extern uint64 *bd_zero_pending; /* per extent */

/* per process */
extern BdShared *saved_bd;		/* bd_meta_reset() */
extern bool local_mapping_allowed;	/* see may_map_extents() */

/* geometry, read by the postmaster before sizing shared memory */
extern BdSuperblock bd_geometry;
extern bool bd_geometry_known;

/*
 * Per-process memory for metadata changes.  PostgreSQL truncates relations
 * inside a critical section, so this context may allocate in one.
 */
extern MemoryContext bd_context;

#define NCACHED(g) ((g)->directory_root + (g)->metadata_pages - BD_FIRST_ALLOC_MAP_PAGE)

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

/* a change to metadata pages, logged as one record */
typedef struct BdChange
{
	int			npages;
	uint64		pages[BD_WAL_MAX_PAGES];
	bool		full[BD_WAL_MAX_PAGES]; /* log the whole page */
} BdChange;

static inline uint32
bd_relation_hash(const BdForkKey *key)
{
	return hash_bytes((const unsigned char *) key, offsetof(BdForkKey, fork));
}

static inline LWLock *
bd_partition_lock(uint32 relhash)
{
	return &bd->fork_locks[relhash & PARTITION_MASK].lock;
}

/* extent-map pages a fork of nextents extents has */
static inline uint32
bd_map_pages_for(uint32 nextents)
{
	if (nextents <= BD_DIR_INLINE_EXTENTS)
		return 0;
	return (nextents - BD_DIR_INLINE_EXTENTS + BD_MAP_EXTENTS_PER_PAGE - 1) /
		BD_MAP_EXTENTS_PER_PAGE;
}

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

/* meta/bd_meta.c */
extern void *bd_meta_palloc(Size size);
extern void bd_entry_read(const BdForkEntry *f, BdDirEntry *e);
extern const char *bd_fork_text(const BdForkKey *key);
extern void bd_change_touch(BdChange *c, uint64 address);
extern void bd_change_touch_whole(BdChange *c, uint64 address);
extern bool bd_change_full(const BdChange *c, int headroom);
extern void bd_change_commit(BdChange *c, BdWalOp op, const BdForkKey *key, uint32 arg);
extern uint32 bd_max_forks(const BdSuperblock *g);

/* meta/bd_fork_table.c */
extern void bd_lock_all_partitions(LWLockMode mode);
extern void bd_unlock_all_partitions(void);
extern BdForkEntry *bd_fork_lookup_hashed(const BdForkKey *key, uint32 relhash);
extern BdForkEntry *bd_fork_enter(const BdForkKey *key, bool *found);
extern uint64 bd_map_index_get(const BdForkEntry *f, uint32 ordinal);
extern void bd_map_index_push(BdForkEntry *f, uint64 page);
extern void bd_map_index_truncate(BdForkEntry *f, uint32 keep);
extern void bd_map_index_sync(BdForkEntry *f, const BdDirEntry *e, bool rebuild);
extern void bd_fork_remove(BdForkEntry *f);
extern void bd_map_index_rebuild_all(void);
extern uint32 bd_max_map_pages(const BdSuperblock *g);
extern Size bd_hash_tables_size(const BdSuperblock *g);

/* meta/bd_alloc.c */
extern uint64 bd_meta_page_alloc(void);
extern void bd_meta_page_release(uint64 address);
extern uint32 bd_extent_alloc(BdChange *c);
extern void bd_extent_release(BdChange *c, uint32 e);
extern void bd_slot_find_free(BdChange *c, uint64 *page_out, int *slot_out);
extern void bd_ensure_capacity(uint32 nextents_now, uint32 count);

/* forks/bd_fork_extents.c */
extern void bd_extents_get(const BdForkEntry *f, const BdDirEntry *e, uint32 first, uint32 count, uint32 *out);
extern void bd_extents_append(BdChange *c, BdForkEntry *f, BdDirEntry *e, uint32 extent);
extern void bd_extents_trim(BdChange *c, BdForkEntry *f, BdDirEntry *e, uint32 keep);

/* forks/bd_forks.c */
extern BdForkEntry *bd_fork_lookup(const BdForkKey *key);

/* startup/bd_startup.c */
extern void bd_read_geometry(void);
extern void bd_load_metadata(void);

/* hash functions of the partitioned tables (meta/bd_fork_table.c) */
extern uint32 fork_hash_fn(const void *key, Size keysize);
extern uint32 map_hash_fn(const void *key, Size keysize);

#endif							/* PGRAC_BD_META_INTERNAL_H */
