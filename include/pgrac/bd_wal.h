/*-------------------------------------------------------------------------
 *
 * bd_wal.h
 *	  Records of the block-device backend's WAL resource manager: how a
 *	  change to metadata pages is described, decoded, applied at redo and
 *	  described for pg_walinspect (stock pg_waldump cannot load an
 *	  extension's resource manager; src/blockdev/bd_rmgr.c).  Pure code
 *	  (c.h only); the resource manager glue registers these with
 *	  RegisterCustomRmgr.
 *
 * A record names one logical operation (for pg_waldump and for the redo
 * glue to refresh its caches) and carries, for each metadata page it
 * changed, either the whole page (the first change after a checkpoint, so
 * a torn page is repaired) or the byte ranges that changed, as absolute
 * values.  Redo applies a page's part only when the page is older than
 * the record, so replaying a record twice changes nothing.
 *
 * include/pgrac/bd_wal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_WAL_H
#define PGRAC_BD_WAL_H

#include "pgrac/bd_format.h"

/* operations (the record's info, for pg_waldump) */
typedef enum BdWalOp
{
	BD_WAL_CREATE_FORK = 1,
	BD_WAL_EXTEND,				/* extents added to a fork */
	BD_WAL_SET_EOF,
	BD_WAL_TRUNCATE,
	BD_WAL_UNLINK,				/* fork becomes a tombstone */
	BD_WAL_FREE,				/* tombstones and their extents freed */
	BD_WAL_GROW,				/* the device got more extents */
	BD_WAL_SUPERBLOCK,			/* superblock fields (clean flag, redo) */
	BD_WAL_IMAGE,				/* pages changed during recovery, logged after
								 * it */
	BD_WAL_SETTLE,				/* a relation's creator committed (arg: its
								 * xid) */
	BD_WAL_RECLAIM,				/* forks of a creator that never committed
								 * become tombstones */
} BdWalOp;

#define BD_WAL_MAX_OP		BD_WAL_RECLAIM
#define BD_WAL_MAX_PAGES	32	/* pages one record may change */
#define BD_WAL_MAX_PATCHES	64	/* byte ranges per page */

typedef struct BdWalKey
{
	uint32		spcoid;
	uint32		dboid;
	uint32		relnumber;
	uint8		fork;
	uint32		arg;			/* op-specific: new EOF, extent count, ... */
} BdWalKey;

typedef struct BdWalPatch
{
	uint16		offset;
	uint16		length;
	const uint8 *bytes;			/* points into the record */
} BdWalPatch;

typedef struct BdWalPage
{
	uint64		address;
	uint16		type;			/* metadata page type */
	bool		full_image;
	const uint8 *image;			/* BD_PAGE_SIZE bytes when full_image */
	int			npatches;
	BdWalPatch	patches[BD_WAL_MAX_PATCHES];
} BdWalPage;

typedef struct BdWalRecord
{
	BdWalOp		op;
	BdWalKey	key;
	int			npages;
	BdWalPage	pages[BD_WAL_MAX_PAGES];
} BdWalRecord;

/* Building a record (the caller owns buf, sized by bd_wal_max_size()) */
typedef struct BdWalBuilder
{
	uint8	   *buf;
	size_t		size;
	size_t		len;
	int			npages;
	bool		overflow;
} BdWalBuilder;

extern size_t bd_wal_max_size(void);
extern void bd_wal_begin(BdWalBuilder *b, uint8 *buf, size_t size, BdWalOp op,
						 const BdWalKey *key);
extern bool bd_wal_add_page(BdWalBuilder *b, uint64 address,
							const uint8 *before, const uint8 *after,
							bool full_image);
extern size_t bd_wal_finish(BdWalBuilder *b);

extern bool bd_wal_decode(const uint8 *data, size_t len, BdWalRecord *rec,
						  char *error, size_t error_size);
typedef enum BdWalApplyResult
{
	BD_WAL_APPLIED,
	BD_WAL_ALREADY_APPLIED,		/* page LSN not older than the record */
	BD_WAL_PAGE_INVALID,		/* torn or foreign page and no full image */
} BdWalApplyResult;

extern BdWalApplyResult bd_wal_apply(const BdWalPage *part, uint8 *page,
									 uint64 lsn);
extern const char *bd_wal_op_name(BdWalOp op);
extern void bd_wal_describe(const BdWalRecord *rec, char *out, size_t size);

#endif							/* PGRAC_BD_WAL_H */
