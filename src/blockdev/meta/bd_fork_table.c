/*-------------------------------------------------------------------------
 *
 * bd_fork_table.c
 *	  The fork table: the hash of forks in shared memory, partitioned by
 *	  relation, with a partition lock each, and the index of each fork's
 *	  extent-map pages that makes mapping a block cost the same anywhere
 *	  in the fork.
 *
 * src/blockdev/meta/bd_fork_table.c
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

uint32
fork_hash_fn(const void *key, Size keysize)
{
	const BdForkKey *k = key;

	return fork_hashcode(bd_relation_hash(k), k->fork);
}

uint32
map_hash_fn(const void *key, Size keysize)
{
	const BdMapKey *k = key;

	return map_hashcode(bd_relation_hash(&k->fork), k->fork.fork, k->ordinal);
}

/* every partition, in ascending order (the lock order) */
void
bd_lock_all_partitions(LWLockMode mode)
{
	for (int i = 0; i < BD_FORK_PARTITIONS; i++)
		LWLockAcquire(&bd->fork_locks[i].lock, mode);
}

void
bd_unlock_all_partitions(void)
{
	for (int i = BD_FORK_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&bd->fork_locks[i].lock);
}

/* the fork's partition lock (or all of them) held */
BdForkEntry *
bd_fork_lookup_hashed(const BdForkKey *key, uint32 relhash)
{
	return hash_search_with_hash_value(bd_forks, key, fork_hashcode(relhash, key->fork),
									   HASH_FIND, NULL);
}

/* Enter a fork (its partition lock held exclusively); NULL when full */
BdForkEntry *
bd_fork_enter(const BdForkKey *key, bool *found)
{
	uint32		relhash = bd_relation_hash(key);
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

static inline void
map_key(BdMapKey *k, const BdForkEntry *f, uint32 ordinal)
{
	memset(k, 0, sizeof(*k));
	k->fork = f->key;
	k->ordinal = ordinal;
}

/* The index's address of the fork's ordinal-th map page, or 0 */
uint64
bd_map_index_get(const BdForkEntry *f, uint32 ordinal)
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
void
bd_map_index_push(BdForkEntry *f, uint64 page)
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
void
bd_map_index_truncate(BdForkEntry *f, uint32 keep)
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
void
bd_map_index_sync(BdForkEntry *f, const BdDirEntry *e, bool rebuild)
{
	uint32		need = bd_map_pages_for(e->nextents);
	uint64		addr;

	if (rebuild || need == 0 || (f->nmap > 0 && bd_map_index_get(f, 0) != e->extent_map))
		bd_map_index_truncate(f, 0);
	bd_map_index_truncate(f, need);
	addr = f->nmap == 0 ? e->extent_map :
		bd_map_page_next(page_ptr(bd_map_index_get(f, f->nmap - 1)));
	while (f->nmap < need && meta_area_page(addr))
	{
		bd_map_index_push(f, addr);
		addr = bd_map_page_next(page_ptr(addr));
	}
}

/* Remove a fork from the table, with its index entries */
void
bd_fork_remove(BdForkEntry *f)
{
	BdForkKey	key = f->key;

	bd_map_index_truncate(f, 0);
	(void) hash_search_with_hash_value(bd_forks, &key, fork_hashcode(f->relhash, key.fork),
									   HASH_REMOVE, NULL);
}

/*
 * Read every fork's index again from the chains (all partitions and the
 * metadata lock held): after load, and when redo reaches a consistent
 * state after replaying over pages newer than its records.
 */
void
bd_map_index_rebuild_all(void)
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
		bd_entry_read(f, &e);
		bd_map_index_sync(f, &e, true);
	}
	bd->map_index_valid = true;
}

/*
 * Entries of the map-page index: every extent-map page is a page of the
 * metadata area, so the index never holds more.
 */
uint32
bd_max_map_pages(const BdSuperblock *g)
{
	return bd_memory_max_map_pages(g->metadata_pages);
}

Size
bd_hash_tables_size(const BdSuperblock *g)
{
	return add_size(hash_estimate_size(bd_max_forks(g), sizeof(BdForkEntry)),
					hash_estimate_size(bd_max_map_pages(g), sizeof(BdMapEntry)));
}
