/*-------------------------------------------------------------------------
 *
 * bd_directory.h
 *	  Directory and extent-map pages of the block-device backend (on-disk
 *	  format version 1, docs/block-device.md).
 *
 * A directory page holds BD_DIR_ENTRIES_PER_PAGE fixed 64-byte fork
 * entries and the address of the next directory page (an entry's last 8
 * bytes were one u64 extent-map address until creating transactions were
 * recorded; addresses never exceed 32 bits, so entries written before
 * read the same, and older releases refuse an entry with a creator); a fork's first
 * BD_DIR_INLINE_EXTENTS extents live in its entry, the rest in a chain of
 * extent-map pages.  Pure code (c.h only).
 *
 * include/pgrac/bd_directory.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_DIRECTORY_H
#define PGRAC_BD_DIRECTORY_H

#include "pgrac/bd_format.h"

#define BD_DIR_ENTRY_SIZE		64
#define BD_DIR_ENTRIES_OFFSET	64	/* header, next pointer, padding */
#define BD_DIR_ENTRIES_PER_PAGE	((BD_PAGE_SIZE - BD_DIR_ENTRIES_OFFSET) / BD_DIR_ENTRY_SIZE)
#define BD_DIR_INLINE_EXTENTS	8

#define BD_MAP_EXTENTS_OFFSET	48	/* header, next pointer, count */
#define BD_MAP_EXTENTS_PER_PAGE	((BD_PAGE_SIZE - BD_MAP_EXTENTS_OFFSET) / 4)

#define BD_MAX_FORK				3	/* INIT_FORKNUM */

typedef enum BdEntryState
{
	BD_ENTRY_FREE = 0,
	BD_ENTRY_LIVE = 1,
	BD_ENTRY_TOMBSTONE = 2,		/* unlinked; reusable after the next
								 * checkpoint */
} BdEntryState;

typedef struct BdDirEntry
{
	uint32		spcoid;
	uint32		dboid;
	uint32		relnumber;
	uint8		fork;
	uint8		state;
	uint32		nblocks;
	uint32		nextents;
	uint32		inline_extents[BD_DIR_INLINE_EXTENTS];
	uint64		extent_map;		/* first extent-map page, 0 if none */

	/*
	 * The top-level transaction that created the relation (main fork only),
	 * until a checkpoint has seen it commit; 0 for a settled fork.  A fork
	 * whose creator neither committed nor is still running is reclaimed
	 * (docs/block-device.md, "Forks of transactions that never committed").
	 */
	uint32		create_xid;
} BdDirEntry;

typedef enum BdEntryError
{
	BD_ENTRY_OK = 0,
	BD_ENTRY_BAD_STATE,
	BD_ENTRY_BAD_FORK,
	BD_ENTRY_FREE_NOT_EMPTY,	/* a free slot must be all zeroes */
	BD_ENTRY_MAP_MISMATCH,		/* map page present iff more than inline */
	BD_ENTRY_EOF_BEYOND_EXTENTS,
	BD_ENTRY_TOO_MANY_EXTENTS,
	BD_ENTRY_BAD_CREATOR,
} BdEntryError;

extern void bd_dir_page_init(uint8 *page, uint64 address, uint64 lsn,
							 uint64 next);
extern uint64 bd_dir_page_next(const uint8 *page);
extern void bd_dir_entry_encode(uint8 *page, int slot, const BdDirEntry *e);
extern void bd_dir_entry_decode(const uint8 *page, int slot, BdDirEntry *e);
extern BdEntryError bd_dir_entry_validate(const BdDirEntry *e,
										  uint32 extent_pages,
										  uint32 max_extents);
extern const char *bd_entry_error_text(BdEntryError error);

extern void bd_map_page_init(uint8 *page, uint64 address, uint64 lsn,
							 uint64 next);
extern uint64 bd_map_page_next(const uint8 *page);
extern uint32 bd_map_page_count(const uint8 *page);
extern void bd_map_page_set(uint8 *page, uint32 index, uint32 extent);
extern uint32 bd_map_page_get(const uint8 *page, uint32 index);

#endif							/* PGRAC_BD_DIRECTORY_H */
