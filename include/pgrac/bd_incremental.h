/*-------------------------------------------------------------------------
 *
 * bd_incremental.h
 *	  Which extents an incremental backup of a block device copies
 *	  (docs/backup.md, "Incremental backups").
 *
 * An incremental backup holds the extents that may differ from what its
 * parent backup (and the parent's own chain) restores, and names the
 * other allocated extents as unchanged.  An allocated extent is copied
 * when
 *
 *	  - nobody owns it in this backup's metadata copy, or its owner's
 *		extent map could not be read (copying too much is harmless);
 *	  - it is not owned by the same fork at the same place in the parent's
 *		metadata copy (allocated, freed or moved since; a fork created,
 *		dropped or truncated and grown again);
 *	  - the WAL summaries from the parent's start LSN to this backup's name
 *		a block of it as modified, or set a limit block (truncation,
 *		creation, drop) at or below its last block.
 *
 * Everything else was, by WAL, left alone since the parent's start, so the
 * parent's copy of it (read after the parent's start, and after the
 * parent's metadata copy that shows the same owner) is what it holds,
 * apart from changes PostgreSQL does not WAL-log (hint bits, the free
 * space map), which no backup can see and crash recovery tolerates.
 *
 * Pure code (c.h only): pgrac_image reads the summaries (libpgcommon's
 * block reference tables) and the metadata; the unit tests feed both.
 *
 * include/pgrac/bd_incremental.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_INCREMENTAL_H
#define PGRAC_BD_INCREMENTAL_H

#include "pgrac/bd_image.h"

#define BD_NO_LIMIT_BLOCK	UINT32_MAX

/* What the WAL summaries say of one fork since the parent's start. */
typedef struct BdForkChanges
{
	uint32		spcoid;
	uint32		dboid;
	uint32		relnumber;
	uint8		fork;
	uint32		limit_block;	/* BD_NO_LIMIT_BLOCK: none */
	uint32		nblocks;
	const uint32 *blocks;		/* modified blocks, any order */
} BdForkChanges;

/* Why an extent is copied (0: it is not) */
typedef enum BdIncrementalReason
{
	BD_INCR_UNCHANGED = 0,
	BD_INCR_OWNER_UNKNOWN,		/* no owner in this backup's metadata copy */
	BD_INCR_NEW_OWNER,			/* not the same owner and place in the
								 * parent's */
	BD_INCR_LIMIT,				/* a limit block at or below its last block */
	BD_INCR_MODIFIED,			/* a modified block in it */
} BdIncrementalReason;

/* Scratch for bd_incremental_plan(), from bd_incremental_scratch_size() */
extern size_t bd_incremental_scratch_size(const BdLoadedLayout *cur,
										  const BdLoadedLayout *parent);

/*
 * Decide for each of the nallocated extents in allocated[] (extent numbers,
 * increasing, as this backup's allocation map shows them) whether it is
 * copied: reasons[i] is BD_INCR_UNCHANGED or why it is copied.  cur is
 * this backup's metadata copy, parent the parent's (loaded with
 * bd_image_check(), so either may have gaps); both describe the same
 * device.  changes need not be sorted; a fork in them that is not in cur
 * is ignored.  Returns the number of extents to copy.
 */
extern uint32 bd_incremental_plan(const BdLoadedLayout *cur,
								  const BdLoadedLayout *parent,
								  const BdForkChanges *changes, int nchanges,
								  const uint32 *allocated, uint32 nallocated,
								  void *scratch, uint8 *reasons);

extern const char *bd_incremental_reason_text(BdIncrementalReason reason);

#endif							/* PGRAC_BD_INCREMENTAL_H */
