/*-------------------------------------------------------------------------
 *
 * bd_fork_extents.c
 *	  A fork's extents: the inline array of its directory entry and the
 *	  chain of extent-map pages behind it; reading, appending, trimming.
 *
 * src/blockdev/forks/bd_fork_extents.c
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
#include "pgrac/bd_wal.h"
#include "blockdev/meta/bd_meta_internal.h"
#include "blockdev/forks/bd_forks.h"

/*
 * The map page holding extent index idx (>= inline) of fork f, whose entry
 * is e, or 0 if the chain has none; *prev (unless NULL) gets the page
 * before it, 0 for the first.  One or two lookups in the map-page index,
 * whatever the position.  Only while crash recovery replays over newer
 * pages (the index is invalid, or short) is the chain walked.
 */
static uint64
map_page_for(const BdForkEntry *f, const BdDirEntry *e, uint32 idx, uint64 *prev)
{
	uint32		ordinal = (idx - BD_DIR_INLINE_EXTENTS) / BD_MAP_EXTENTS_PER_PAGE;
	uint64		addr = e->extent_map;
	uint32		hops = ordinal;

	if (bd->map_index_valid &&
		(ordinal < f->nmap ||
		 (ordinal == f->nmap && f->nmap == bd_map_pages_for(e->nextents))))
	{
		if (prev)
			*prev = ordinal == 0 ? 0 : bd_map_index_get(f, ordinal - 1);
		/* 0 one past the chain's end */
		return bd_map_index_get(f, ordinal);
	}
	if (prev)
		*prev = 0;
	while (addr != 0 && hops-- > 0)
	{
		if (prev)
			*prev = addr;
		addr = bd_map_page_next(page_ptr(addr));
	}
	return addr;
}

/* extents [first, first + count) of fork f, whose entry is e, into out */
void
bd_extents_get(const BdForkEntry *f, const BdDirEntry *e, uint32 first, uint32 count,
			   uint32 *out)
{
	uint32		i = first;
	uint64		map = 0;

	while (i < first + count && i < BD_DIR_INLINE_EXTENTS)
	{
		*out++ = e->inline_extents[i];
		i++;
	}
	if (i >= first + count)
		return;
	map = map_page_for(f, e, i, NULL);
	while (i < first + count)
	{
		uint32		pos = (i - BD_DIR_INLINE_EXTENTS) % BD_MAP_EXTENTS_PER_PAGE;

		if (map == 0)
			elog(ERROR, "block-device extent map of %u/%u/%u ends before extent %u",
				 e->spcoid, e->dboid, e->relnumber, i);
		*out++ = bd_map_page_get(page_ptr(map), pos);
		i++;
		if (pos + 1 == BD_MAP_EXTENTS_PER_PAGE)
			map = bd_map_page_next(page_ptr(map));
	}
}

/*
 * Append one extent to fork f, whose entry is e (written back by caller;
 * f's partition lock and the metadata lock held exclusively).
 */
void
bd_extents_append(BdChange *c, BdForkEntry *f, BdDirEntry *e, uint32 extent)
{
	uint32		idx = e->nextents;

	if (idx < BD_DIR_INLINE_EXTENTS)
		e->inline_extents[idx] = extent;
	else
	{
		uint64		prev;
		uint64		map = map_page_for(f, e, idx, &prev);
		uint32		pos = (idx - BD_DIR_INLINE_EXTENTS) % BD_MAP_EXTENTS_PER_PAGE;
		uint8	   *p;

		if (map == 0)
		{
			map = bd_meta_page_alloc();
			bd_map_page_init(page_ptr(map), map, 0, 0);
			bd_change_touch_whole(c, map);
			if (prev == 0)
				e->extent_map = map;
			else
			{
				uint8	   *pp = page_ptr(prev);

				bd_change_touch(c, prev);
				pgrac_put64(pp + 32, map);
			}
			if (bd->map_index_valid && f->nmap == bd_map_pages_for(idx))
				bd_map_index_push(f, map);
		}
		bd_change_touch(c, map);
		p = page_ptr(map);
		bd_map_page_set(p, pos, extent);
		pgrac_put32(p + 40, pos + 1);
	}
	e->nextents++;
}

/* Drop fork f's extents from index keep on; release them. */
void
bd_extents_trim(BdChange *c, BdForkEntry *f, BdDirEntry *e, uint32 keep)
{
	uint32		n = e->nextents;
	uint32	   *list;

	if (keep >= n)
		return;
	list = bd_meta_palloc(sizeof(uint32) * (n - keep));
	bd_extents_get(f, e, keep, n - keep, list);
	for (uint32 i = 0; i < n - keep; i++)
		bd_extent_release(c, list[i]);
	pfree(list);

	for (uint32 i = keep; i < Min(n, BD_DIR_INLINE_EXTENTS); i++)
		e->inline_extents[i] = 0;
	if (n > BD_DIR_INLINE_EXTENTS)
	{
		uint64		prev;
		uint64		map;

		if (keep <= BD_DIR_INLINE_EXTENTS)
		{
			map = e->extent_map;
			e->extent_map = 0;
		}
		else
		{
			uint32		pos = (keep - BD_DIR_INLINE_EXTENTS) % BD_MAP_EXTENTS_PER_PAGE;
			uint64		first = map_page_for(f, e, keep, &prev);

			if (pos == 0)
			{
				/* the page holding index keep goes entirely */
				map = first;
				bd_change_touch(c, prev);
				pgrac_put64(page_ptr(prev) + 32, 0);
			}
			else
			{
				uint8	   *p = page_ptr(first);

				bd_change_touch(c, first);
				for (uint32 i = pos; i < BD_MAP_EXTENTS_PER_PAGE; i++)
					bd_map_page_set(p, i, 0);
				pgrac_put32(p + 40, pos);
				map = bd_map_page_next(p);
				pgrac_put64(p + 32, 0);
			}
		}
		while (map != 0)
		{
			uint64		next = bd_map_page_next(page_ptr(map));

			bd_meta_page_release(map);
			map = next;
		}
	}
	bd_map_index_truncate(f, bd_map_pages_for(keep));
	e->nextents = keep;
}
