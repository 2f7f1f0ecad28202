/*-------------------------------------------------------------------------
 *
 * bd_directory.c
 *	  Encoding of directory and extent-map pages of the block-device
 *	  backend.
 *
 * Entries are encoded field by field, little-endian, at fixed offsets, so
 * the format does not depend on struct padding.  A free slot is all
 * zeroes: a slot that is free but not empty is a corruption the checksum
 * cannot see (a bug that wrote a valid page), and validation reports it.
 *
 * src/blockdev/bd_directory.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "pgrac/bd_directory.h"

/* entry field offsets within a 64-byte slot */
#define E_SPC		0
#define E_DB		4
#define E_REL		8
#define E_FORK		12
#define E_STATE		13
#define E_NBLOCKS	16
#define E_NEXTENTS	20
#define E_INLINE	24
#define E_MAP		56			/* u32: metadata page addresses are < 2^21 */
#define E_CREATOR	60			/* u32: creating transaction, 0 once committed */

/* page fields after the header */
#define P_NEXT		32
#define P_COUNT		40

static uint8 *
slot_ptr(uint8 *page, int slot)
{
	Assert(slot >= 0 && slot < BD_DIR_ENTRIES_PER_PAGE);
	return page + BD_DIR_ENTRIES_OFFSET + slot * BD_DIR_ENTRY_SIZE;
}

/* Directory and extent-map pages both form chains: header, then next page. */
static void
chain_page_init(uint8 *page, uint16 type, uint64 address, uint64 lsn,
				uint64 next)
{
	bd_page_init(page, type, address, lsn);
	pgrac_put64(page + P_NEXT, next);
}

void
bd_dir_page_init(uint8 *page, uint64 address, uint64 lsn, uint64 next)
{
	chain_page_init(page, BD_PAGE_DIRECTORY, address, lsn, next);
}

uint64
bd_dir_page_next(const uint8 *page)
{
	return pgrac_get64(page + P_NEXT);
}

void
bd_dir_entry_encode(uint8 *page, int slot, const BdDirEntry *e)
{
	uint8	   *p = slot_ptr(page, slot);

	memset(p, 0, BD_DIR_ENTRY_SIZE);
	if (e->state == BD_ENTRY_FREE)
		return;
	pgrac_put32(p + E_SPC, e->spcoid);
	pgrac_put32(p + E_DB, e->dboid);
	pgrac_put32(p + E_REL, e->relnumber);
	p[E_FORK] = e->fork;
	p[E_STATE] = e->state;
	pgrac_put32(p + E_NBLOCKS, e->nblocks);
	pgrac_put32(p + E_NEXTENTS, e->nextents);
	for (int i = 0; i < BD_DIR_INLINE_EXTENTS; i++)
		pgrac_put32(p + E_INLINE + 4 * i, e->inline_extents[i]);
	Assert(e->extent_map <= PG_UINT32_MAX);
	pgrac_put32(p + E_MAP, (uint32) e->extent_map);
	pgrac_put32(p + E_CREATOR, e->create_xid);
}

void
bd_dir_entry_decode(const uint8 *page, int slot, BdDirEntry *e)
{
	const uint8 *p = slot_ptr((uint8 *) page, slot);

	e->spcoid = pgrac_get32(p + E_SPC);
	e->dboid = pgrac_get32(p + E_DB);
	e->relnumber = pgrac_get32(p + E_REL);
	e->fork = p[E_FORK];
	e->state = p[E_STATE];
	e->nblocks = pgrac_get32(p + E_NBLOCKS);
	e->nextents = pgrac_get32(p + E_NEXTENTS);
	for (int i = 0; i < BD_DIR_INLINE_EXTENTS; i++)
		e->inline_extents[i] = pgrac_get32(p + E_INLINE + 4 * i);
	e->extent_map = pgrac_get32(p + E_MAP);
	e->create_xid = pgrac_get32(p + E_CREATOR);
}

BdEntryError
bd_dir_entry_validate(const BdDirEntry *e, uint32 extent_pages,
					  uint32 max_extents)
{
	if (e->state == BD_ENTRY_FREE)
	{
		bool		empty = e->spcoid == 0 && e->dboid == 0 &&
			e->relnumber == 0 && e->fork == 0 && e->nblocks == 0 &&
			e->nextents == 0 && e->extent_map == 0 && e->create_xid == 0;

		for (int i = 0; i < BD_DIR_INLINE_EXTENTS; i++)
			empty = empty && e->inline_extents[i] == 0;
		return empty ? BD_ENTRY_OK : BD_ENTRY_FREE_NOT_EMPTY;
	}
	if (e->state != BD_ENTRY_LIVE && e->state != BD_ENTRY_TOMBSTONE)
		return BD_ENTRY_BAD_STATE;
	if (e->fork > BD_MAX_FORK)
		return BD_ENTRY_BAD_FORK;
	if (e->create_xid != 0 && (e->state != BD_ENTRY_LIVE || e->fork != 0))
		return BD_ENTRY_BAD_CREATOR;
	if (e->nextents > max_extents)
		return BD_ENTRY_TOO_MANY_EXTENTS;
	if ((e->nextents > BD_DIR_INLINE_EXTENTS) != (e->extent_map != 0))
		return BD_ENTRY_MAP_MISMATCH;
	if ((uint64) e->nblocks > (uint64) e->nextents * extent_pages)
		return BD_ENTRY_EOF_BEYOND_EXTENTS;
	return BD_ENTRY_OK;
}

const char *
bd_entry_error_text(BdEntryError error)
{
	switch (error)
	{
		case BD_ENTRY_OK:
			return "valid";
		case BD_ENTRY_BAD_STATE:
			return "unknown entry state";
		case BD_ENTRY_BAD_FORK:
			return "fork number out of range";
		case BD_ENTRY_FREE_NOT_EMPTY:
			return "free entry is not empty";
		case BD_ENTRY_MAP_MISMATCH:
			return "extent-map pointer does not match the number of extents";
		case BD_ENTRY_EOF_BEYOND_EXTENTS:
			return "end of fork lies beyond its extents";
		case BD_ENTRY_TOO_MANY_EXTENTS:
			return "more extents than the device can hold";
		case BD_ENTRY_BAD_CREATOR:
			return "creating transaction on an entry that cannot have one (not a live main fork)";
	}
	return "unknown";
}

void
bd_map_page_init(uint8 *page, uint64 address, uint64 lsn, uint64 next)
{
	chain_page_init(page, BD_PAGE_EXTENT_MAP, address, lsn, next);
}

uint64
bd_map_page_next(const uint8 *page)
{
	return bd_dir_page_next(page);	/* same place in both chains */
}

uint32
bd_map_page_count(const uint8 *page)
{
	return pgrac_get32(page + P_COUNT);
}

/* Set slot index; the count covers the highest slot set. */
void
bd_map_page_set(uint8 *page, uint32 index, uint32 extent)
{
	Assert(index < BD_MAP_EXTENTS_PER_PAGE);
	pgrac_put32(page + BD_MAP_EXTENTS_OFFSET + 4 * index, extent);
	if (index + 1 > bd_map_page_count(page))
		pgrac_put32(page + P_COUNT, index + 1);
}

uint32
bd_map_page_get(const uint8 *page, uint32 index)
{
	Assert(index < BD_MAP_EXTENTS_PER_PAGE);
	return pgrac_get32(page + BD_MAP_EXTENTS_OFFSET + 4 * index);
}
