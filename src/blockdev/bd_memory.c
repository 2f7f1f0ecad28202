/*-------------------------------------------------------------------------
 *
 * bd_memory.c
 *	  What a device's metadata costs in the server's shared memory, and the
 *	  default extent size that keeps it within a budget per TiB.
 *
 * The server holds the whole metadata area of a device in shared memory
 * (allocation map, directory and extent-map pages, sized at format time for
 * the largest size the device may reach), plus two hash tables sized for
 * the forks and extent-map pages that area can describe.  All of it grows
 * with the number of extents the device may have, about 26 bytes per
 * extent at the default metadata size, over a floor of some 18 MB (the
 * directory every device gets for 127,000 forks).  At 128 kB extents that
 * is some 220 MB per TiB; so a large device gets larger extents by
 * default, the smallest power of two from 128 kB up whose metadata fits
 * bd_memory_budget().  An extent size given explicitly is always honoured.
 *
 * src/blockdev/bd_memory.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "pgrac/bd_directory.h"
#include "pgrac/bd_format.h"
#include "pgrac/bd_layout.h"
#include "pgrac/bd_memory.h"

#define MiB			(UINT64CONST(1) << 20)

/*
 * Forks the server's fork table has room for: every metadata page could
 * be a directory page (the directory and the extent maps share the area),
 * at least 1024, at most 4 Mi (beyond it the directory is still read, but
 * the table would cost more than the pages themselves).
 */
uint32
bd_memory_max_forks(uint32 metadata_pages)
{
	uint64		forks = (uint64) metadata_pages * BD_DIR_ENTRIES_PER_PAGE;

	return (uint32) Max(1024, Min(forks, 4 * 1024 * 1024));
}

/* Extent-map pages the map-page index has room for: the whole area. */
uint32
bd_memory_max_map_pages(uint32 metadata_pages)
{
	return Max(64, metadata_pages);
}

/*
 * An upper bound of the shared memory the server needs for a device of
 * max_extents extents with a metadata area of metadata_pages pages: the
 * cached pages (the allocation map and the area) with three flag bytes
 * each, a used flag per area page, the allocator's two bitmaps and the two
 * hash tables.
 */
uint64
bd_memory_bytes(uint32 max_extents, uint32 metadata_pages)
{
	uint64		cached = (uint64) bd_alloc_map_pages(max_extents) + metadata_pages;
	uint64		bytes;

	bytes = cached * (BD_PAGE_SIZE + 3);
	bytes += metadata_pages;
	bytes += 2 * bd_allocator_words_size(max_extents);
	bytes += (uint64) bd_memory_max_forks(metadata_pages) * BD_MEMORY_FORK_ENTRY_BYTES;
	bytes += (uint64) bd_memory_max_map_pages(metadata_pages) * BD_MEMORY_MAP_ENTRY_BYTES;
	return bytes + BD_MEMORY_SLACK_BYTES;
}

/*
 * The memory a device of max_bytes may cost by default: 32 MiB per TiB,
 * and 48 MiB for any device up to 1.5 TiB (the directory floor alone is
 * some 18 MB, so a small device cannot be held to a share of its size).
 */
uint64
bd_memory_budget(uint64 max_bytes)
{
	/* 32 MiB per TiB is one byte in 32768 */
	return Max(48 * MiB, max_bytes / 32768);
}

/*
 * Whether a device of max_bytes with extents of `pages` pages fits the
 * budget with its default metadata area, and that area can map every
 * extent (the area is capped at BD_MAX_METADATA_PAGES).
 */
static bool
extent_size_fits(uint64 max_bytes, uint32 pages)
{
	uint64		extents = max_bytes / ((uint64) pages * BD_PAGE_SIZE);
	uint64		needed;

	if (extents > PG_UINT32_MAX)
		return false;
	needed = bd_metadata_pages_wanted((uint32) extents);
	if (needed > BD_MAX_METADATA_PAGES)
		return false;
	return bd_memory_bytes((uint32) extents, (uint32) needed) <= bd_memory_budget(max_bytes);
}

/*
 * The default extent size, in pages, of a device that may grow to
 * max_bytes: the smallest power of two from 128 kB that fits (above), and
 * never smaller than the default of a device half the size, so that a
 * larger device never gets smaller extents; 1 GB if none fits.
 */
uint32
bd_default_extent_pages(uint64 max_bytes)
{
	uint32		pages = BD_MEMORY_MIN_DEFAULT_EXTENT_PAGES;

	/* the budget's floor covers every device up to 64 GB at 128 kB */
	if (max_bytes > (UINT64CONST(64) << 30))
		pages = bd_default_extent_pages(max_bytes / 2);
	while (pages < BD_MEMORY_MAX_EXTENT_PAGES && !extent_size_fits(max_bytes, pages))
		pages *= 2;
	return pages;
}
