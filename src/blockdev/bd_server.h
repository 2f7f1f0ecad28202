/*-------------------------------------------------------------------------
 *
 * bd_server.h
 *	  Server side of the block-device backend: the device, the metadata
 *	  cached in shared memory, the storage manager and the WAL resource
 *	  manager.  Internal to the extension.
 *
 * src/blockdev/bd_server.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_SERVER_H
#define PGRAC_BD_SERVER_H

#include "access/xlogreader.h"
#include "lib/stringinfo.h"
#include "storage/lwlock.h"
#include "storage/relfilelocator.h"
#include "storage/smgr.h"

#include "pgrac/bd_directory.h"
#include "pgrac/bd_layout.h"

/* settings (pgrac_storage.c defines them) */
extern char *pgrac_device;
extern int	pgrac_image_max_size_mb;
extern int	pgrac_image_extent_kb;
extern bool pgrac_direct_io;
extern int	pgrac_io_method;
extern int	pgrac_read_ahead_blocks;

typedef enum BdIoMethod
{
	BD_IO_METHOD_SYNC,
	BD_IO_METHOD_IO_URING,
} BdIoMethod;

/* ---- the device (bd_device.c) ---- */

typedef struct BdDevice
{
	int			fd;
	bool		is_block_device;
	uint64		size;			/* bytes */
	bool		direct;			/* opened with O_DIRECT */
	bool		io_uring;		/* data transfers through io_uring */
	uint32		mem_align;		/* direct I/O: buffer alignment the device needs */
	uint32		offset_align;	/* direct I/O: offset and length alignment */
	char		path[MAXPGPATH];
} BdDevice;

extern BdDevice bd_dev;

extern bool bd_device_embedded(void);
extern void bd_device_path(char *path);
extern bool bd_device_open(bool create_embedded);
extern void bd_device_lock(void);
extern void bd_device_read(uint64 offset, void *buf, size_t len);
extern void bd_device_write(uint64 offset, const void *buf, size_t len);
/* one contiguous range of the device and the buffers it goes to or from */
typedef struct BdTransfer
{
	uint64		offset;
	const struct iovec *iov;
	int			iovcnt;
	size_t		len;
} BdTransfer;

/* most ranges one bd_device_transfer() call takes */
#define BD_MAX_TRANSFERS	64

extern void bd_device_transfer(bool write, const BdTransfer *transfers, int n);
extern void bd_device_zero(uint64 offset, uint64 len);
extern void bd_device_flush(void);
extern void bd_device_flush_drained(void);
extern void bd_device_resize(uint64 size);

/* ---- simulated power loss, test builds only (bd_powerloss.c) ---- */

#ifdef PGRAC_POWERLOSS_SIM
#define BD_PL_MAGIC		0x504C5752	/* "PLWR" */
#define BD_PL_WRITE		1
#define BD_PL_ZERO		2
#define BD_PL_FLUSH		3

extern char *pgrac_powerloss_log;
extern int	pgrac_powerloss_checkpoint_pause_ms;
extern bool pgrac_powerloss_cut_in_window;
extern bool bd_powerloss_active(void);
extern void bd_powerloss_checkpoint_pause(void);
extern const char *bd_powerloss_save(uint64 offset, size_t len);
extern void bd_powerloss_log_write(uint64 offset, size_t len, const char *old,
								   const struct iovec *iov, int iovcnt);
extern void bd_powerloss_log_zero(uint64 offset, size_t len, const char *old);
extern uint64 bd_powerloss_flush_start(void);
extern void bd_powerloss_flush_done(uint64 pos);
#endif

/* ---- metadata in shared memory (bd_meta.c) ---- */

typedef struct BdForkKey
{
	uint32		spcoid;
	uint32		dboid;
	uint32		relnumber;
	uint32		fork;
} BdForkKey;

typedef struct BdForkEntry
{
	BdForkKey	key;			/* hash key: must be first */
	uint64		dir_page;		/* where the directory entry lives */
	int32		slot;
	uint8		state;			/* BdEntryState, as in memory */
	uint32		nblocks;		/* EOF as this server knows it */
	uint32		relhash;		/* hash of the relation: picks the partition */
	uint32		nmap;			/* extent-map pages in the map-page index */
} BdForkEntry;

/* bd_ownership.c: which device holds the data (pgrac/bd_binding.h) */
struct BdBinding;
extern bool bd_binding_get(struct BdBinding *out);
extern void bd_binding_put(const struct BdBinding *b);
extern void bd_refuse_md_with_binding(void);
extern void bd_refuse_file_tools(void);
extern void bd_check_bound_device(const uint8 device_uuid[16]);
extern void bd_refuse_missing_embedded(const char *path);

extern void bd_meta_shmem_request(void);
extern uint64 bd_meta_owner(void);
extern const uint8 *bd_meta_device_uuid(void);
extern void bd_meta_reset(void);
extern void bd_meta_write_all(void);
extern void bd_zero_free_extents(void);
extern void bd_meta_claim(uint64 system_identifier);
extern void bd_meta_shmem_startup(void);
extern bool bd_meta_active(void);

extern void bd_fork_key(BdForkKey *key, RelFileLocator locator, ForkNumber fork);

/* relation forks: callers are the storage manager */
extern bool bd_fork_exists(const BdForkKey *key);
extern void bd_fork_create(const BdForkKey *key, bool is_redo, uint32 create_xid);

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
extern void bd_reclaim_redo(XLogReaderState *record);
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
/* ---- read-ahead under direct I/O with io_uring (bd_readahead.c) ---- */

/* the largest pgrac.read_ahead, in blocks (8 MB) */
#define BD_READ_AHEAD_MAX_BLOCKS	1024

extern Size bd_readahead_shmem_size(void);
extern void bd_readahead_shmem_init(void);
extern void bd_readahead_note_write(uint64 offset, uint64 len);
typedef struct BdReadAheadStats
{
	bool		active;			/* direct I/O, io_uring, pgrac.read_ahead > 0 */
	int64		slots_read;		/* reads submitted ahead (up to 16 blocks each) */
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

/* ---- the checkpoint journal in PGDATA (bd_journal_file.c) ---- */

extern void bd_journal_write(const uint8 device_uuid[16], uint64 generation,
							 const uint8 *const *pages, uint32 npages);
extern void bd_journal_apply(void);

/* ---- write-behind (bd_writebehind.c) ---- */

extern int	pgrac_write_behind_kb;

typedef struct BdWriteBehindStats
{
	bool		running;		/* the writer takes new writes */
	int			writer_pid;		/* 0 when it is not running */
	int			slots;			/* of 128 kB each */
	int			slots_in_use;	/* queued or being written now */
	int64		blocks_queued;	/* blocks handed to the writer */
	int64		blocks_replaced;	/* of those: overwrote a queued block */
	int64		writes;			/* device writes the writer made */
	int64		blocks_written;
	int64		full_waits;		/* a write waited for a free slot */
	int64		overlap_waits;	/* a write waited for an older one in flight */
	int64		read_waits;		/* a read or flush waited for the writer */
} BdWriteBehindStats;

extern bool bd_writebehind_enabled(void);
extern void bd_writebehind_shmem_request(void);
extern void bd_writebehind_shmem_init(void);
extern void bd_writebehind_register(void);
extern bool bd_writebehind_write(const BdTransfer *transfers, int n);
extern void bd_writebehind_wait(uint64 offset, uint64 len);
extern bool bd_writebehind_busy(uint64 offset, uint64 len);
extern void bd_writebehind_drain(void);
extern void bd_writebehind_stats(BdWriteBehindStats *out);

/* blocks one bd_fork_map() call may map (PG_IOV_MAX, the I/O combine limit) */
#define BD_MAP_MAX_BLOCKS	32

extern int	bd_fork_map(const BdForkKey *key, BlockNumber blocknum,
						BlockNumber nblocks, bool allow_beyond_eof,
						uint64 *offsets, uint32 *counts, int max_ranges);
extern int	bd_fork_map_read(const BdForkKey *key, BlockNumber blocknum,
							 BlockNumber nblocks, bool missing_ok,
							 BlockNumber *eof, BlockNumber *readable,
							 uint64 *offsets, uint32 *counts, int max_ranges);
extern void bd_drop_database(Oid dboid);
/* this backend runs TRUNCATE: it may use the emergency reserve */
extern bool bd_truncate_running;
extern bool bd_tablespace_in_use(Oid spcoid);
extern bool bd_relfilenumber_in_use(Oid spcoid, Oid dboid, RelFileNumber relnumber);

/* checkpoints (called from the checkpoint hooks) */
extern void bd_checkpoint_start(int flags);
extern void bd_checkpoint(XLogRecPtr redo, int flags);

/* redo (bd_meta.c) */
extern void bd_redo_record(XLogReaderState *record);
extern void bd_redo_cleanup(void);

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
extern int	bd_fork_extent_list(const BdForkKey *key, uint32 *extents,
								int max, uint32 *nblocks);

/* ---- the resource manager (bd_rmgr.c) ---- */

#define PGRAC_RMGR_ID	RM_EXPERIMENTAL_ID
extern void bd_rmgr_register(void);

/* ---- the storage manager (bd_smgr.c) ---- */

extern const f_smgr *bd_smgr_ops(void);
extern void bd_smgr_unlink_fsm(const BdForkKey *key);

/* ---- import of a PGDATA's relation files (bd_import.c) ---- */

extern void bd_import_if_needed(void);

/* ---- bypasses of the storage manager (bd_bypass.c) ---- */

extern void bd_bypass_install(void);

#endif							/* PGRAC_BD_SERVER_H */
