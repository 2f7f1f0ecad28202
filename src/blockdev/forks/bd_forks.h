/*-------------------------------------------------------------------------
 *
 * bd_forks.h
 *	  Relation forks on the device: the fork API the storage manager
 *	  calls, relations whose creator never committed, read-ahead, the
 *	  storage manager itself and the bypasses of it.
 *
 * src/blockdev/forks/bd_forks.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_FORKS_H
#define PGRAC_BD_FORKS_H

#include "access/xlogreader.h"
#include "storage/block.h"
#include "storage/smgr.h"

#include "blockdev/meta/bd_meta.h"

/* settings */
extern int	pgrac_read_ahead_blocks;

/* relation forks: callers are the storage manager */
extern bool bd_fork_exists(const BdForkKey *key);
extern void bd_fork_create(const BdForkKey *key, bool is_redo, uint32 create_xid);
extern void bd_fork_unlink(const BdForkKey *key, bool is_redo);
extern BlockNumber bd_fork_nblocks(const BdForkKey *key, bool missing_ok,
								   bool *found);
extern void bd_fork_extend(const BdForkKey *key, BlockNumber first,
						   BlockNumber count, bool skip_wal,
						   BlockNumber *old_eof, BlockNumber *old_mapped);
extern void bd_fork_ensure_mapped(const BdForkKey *key, BlockNumber first,
								  BlockNumber count, bool skip_wal);
extern bool bd_fork_size_if_exists(const BdForkKey *key, BlockNumber *nblocks,
								   BlockNumber *mapped);
extern void bd_fork_size(const BdForkKey *key, BlockNumber *nblocks,
						 BlockNumber *mapped);
extern void bd_fork_truncate(const BdForkKey *key, BlockNumber nblocks);
extern void bd_fork_set_durable_eof(const BdForkKey *key);

/* blocks one bd_fork_map() call may map (PG_IOV_MAX, the I/O combine limit) */
#define BD_MAP_MAX_BLOCKS	32

extern int	bd_fork_map(const BdForkKey *key, BlockNumber blocknum,
						BlockNumber nblocks, bool allow_beyond_eof,
						uint64 *offsets, uint32 *counts, int max_ranges);
extern int	bd_fork_map_read(const BdForkKey *key, BlockNumber blocknum,
							 BlockNumber nblocks, bool missing_ok,
							 BlockNumber *eof, BlockNumber *readable,
							 uint64 *offsets, uint32 *counts, int max_ranges);
extern int	bd_fork_extent_list(const BdForkKey *key, uint32 *extents,
								int max, uint32 *nblocks);
extern void bd_drop_database(Oid dboid);

/* this backend runs TRUNCATE: it may use the emergency reserve */
extern bool bd_truncate_running;
extern bool bd_tablespace_in_use(Oid spcoid);
extern bool bd_relfilenumber_in_use(Oid spcoid, Oid dboid, RelFileNumber relnumber);

/* relations whose creating transaction a checkpoint has not seen commit */
typedef struct BdUnsettled
{
	BdForkKey	key;			/* the main fork */
	uint32		create_xid;
	int			nforks;			/* live forks of the relation on the device */
	uint64		nblocks;		/* blocks of their extents */
} BdUnsettled;
extern int	bd_unsettled_relations(BdUnsettled *out, int max);
extern void bd_relation_settle(const BdForkKey *main_key, uint32 create_xid);
extern int	bd_relation_reclaim(const BdForkKey *main_key, uint32 create_xid);

/* bd_reclaim.c */
typedef enum BdCreatorStatus
{
	BD_CREATOR_IN_PROGRESS,
	BD_CREATOR_COMMITTED,
	BD_CREATOR_NEVER_COMMITTED,
	BD_CREATOR_UNKNOWN,			/* outside the commit log's range */
} BdCreatorStatus;
extern void bd_creator_statuses(const BdUnsettled *list, int n,
								BdCreatorStatus *status);
extern const char *bd_creator_status_name(BdCreatorStatus status);
extern BdUnsettled *bd_unsettled_list(int *n);
extern void bd_reclaim_pass(int *settled, int *reclaimed, int *waiting);

/* redo of RECLAIM records (bd_redo.c calls it) */
extern void bd_reclaim_redo(XLogReaderState *record);

/* ---- read-ahead under direct I/O (bd_readahead.c) ---- */

/* the largest pgrac.read_ahead, in blocks (8 MB) */
#define BD_READ_AHEAD_MAX_BLOCKS	1024

typedef struct BdReadAheadStats
{
	bool		active;			/* direct I/O, an asynchronous engine,
								 * pgrac.read_ahead > 0 */
	int64		slots_read;		/* reads submitted ahead (up to 16 blocks
								 * each) */
	int64		blocks_read;
	int64		blocks_served;	/* blocks a read got from read-ahead */
	int64		slots_stale;	/* dropped: written or remapped after the read */
	int64		slots_failed;	/* dropped: the read failed or was short */
	int64		slots_unused;	/* dropped: the scan went elsewhere */
} BdReadAheadStats;

extern void bd_readahead_stats(BdReadAheadStats *out);
extern bool bd_readahead_read(const BdForkKey *key, BlockNumber blocknum,
							  void **buffers, BlockNumber nblocks,
							  BlockNumber limit);

/* ---- the storage manager (bd_smgr.c) ---- */

extern const f_smgr *bd_smgr_ops(void);
extern void bd_smgr_unlink_fsm(const BdForkKey *key);

/* ---- bypasses of the storage manager (bd_bypass.c) ---- */

extern void bd_bypass_install(void);

#endif							/* PGRAC_BD_FORKS_H */
