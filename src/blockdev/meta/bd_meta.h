/*-------------------------------------------------------------------------
 *
 * bd_meta.h
 *	  The metadata cache as the layers above it see it: fork keys, the
 *	  cache's shared memory, the device's owner and UUID, its status.
 *
 * src/blockdev/meta/bd_meta.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_META_H
#define PGRAC_BD_META_H

#include "access/rmgr.h"
#include "storage/relfilelocator.h"
#include "common/relpath.h"

#include "pgrac/bd_layout.h"
#include "blockdev/device/bd_dataio.h"

/* the cache logs its changes under the product's resource manager */
#include "pgrac/pgrac_wal.h"

/* partitions of the fork table (a power of two); each has an LWLock */
#define BD_FORK_PARTITIONS	16

typedef struct BdForkKey
{
	uint32		spcoid;
	uint32		dboid;
	uint32		relnumber;
	uint32		fork;
} BdForkKey;

/*
 * dir_page of a fork that WAL replay needs but the directory does not hold
 * yet: replay never changes a directory page itself (bd_fork_create), and
 * the end of recovery gives the fork a slot (bd_redo_cleanup).  Its entry
 * reads as empty.  No directory page has address 0 (the superblocks are
 * there).
 */
#define BD_NOT_ON_DEVICE	0

typedef struct BdForkEntry
{
	BdForkKey	key;			/* hash key: must be first */
	uint64		dir_page;		/* where the directory entry lives, or
								 * BD_NOT_ON_DEVICE */
	int32		slot;
	uint8		state;			/* BdEntryState, as in memory */
	uint32		nblocks;		/* EOF as this server knows it */
	uint32		relhash;		/* hash of the relation: picks the partition */
	uint32		nmap;			/* extent-map pages in the map-page index */
} BdForkEntry;

extern Size bd_meta_shmem_size(const BdSuperblock *g);
extern bool bd_meta_shmem_init(const BdSuperblock *g);
extern uint64 bd_meta_owner(void);
extern const uint8 *bd_meta_device_uuid(void);
extern bool bd_meta_active(void);

extern void bd_fork_key(BdForkKey *key, RelFileLocator locator, ForkNumber fork);

/* status, for SQL */
typedef struct BdStatus
{
	uint64		size_bytes;
	uint64		max_bytes;
	uint32		extent_pages;
	uint32		extents_total;
	uint32		extents_free;
	uint32		forks;
	uint32		metadata_pages;
	uint32		metadata_pages_used;
} BdStatus;

extern void bd_status(BdStatus *status);

#endif							/* PGRAC_BD_META_H */
