/*-------------------------------------------------------------------------
 *
 * bd_alloc.c
 *	  The allocator: metadata-area pages, extents, directory slots, growing
 *	  an image file, and the emergency reserve of a full device.
 *
 * src/blockdev/meta/bd_alloc.c
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

uint64
bd_meta_page_alloc(void)
{
	uint32		n = bd->sb.metadata_pages;

	for (uint32 k = 0; k < n; k++)
	{
		uint32		i = (bd->meta_hint + k) % n;

		if (!bd_meta_used[i])
		{
			bd_meta_used[i] = true;
			bd->meta_used_count++;
			bd->meta_hint = i + 1;
			return bd->sb.directory_root + i;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_DISK_FULL),
			 errmsg("block device \"%s\" has no free metadata page (%u in use)",
					bd_dev->path, n),
			 errhint("Format a device with a larger metadata area (pgrac_image format --metadata-pages) and move the cluster to it.")));
	return 0;
}

void
bd_meta_page_release(uint64 address)
{
	uint32		i = (uint32) (address - bd->sb.directory_root);

	if (bd_meta_used[i])
	{
		bd_meta_used[i] = false;
		bd->meta_used_count--;
		if (i < bd->meta_hint)
			bd->meta_hint = i;
	}
}

/* Grow an image file when the allocator runs out */
static bool
device_grow(BdChange *c)
{
	uint32		old = bd->sb.nextents;
	uint32		grown;

	if (bd_device_is_block() || old >= bd->sb.max_extents)
		return false;
	/* by an eighth, at least 32 MB */
	grown = Min((uint64) bd->sb.max_extents,
				(uint64) old + Max(old / 8, (32 * 1024 * 1024) / ((uint64) bd->sb.extent_pages * BD_PAGE_SIZE)));
	bd_device_resize((uint64) grown * bd->sb.extent_pages * BD_PAGE_SIZE);
	bd_allocator_grow(&bd->alloc, grown);
	bd->sb.nextents = grown;
	/* GROW carries the allocation-map page of the first new extent */
	bd_change_touch_whole(c, alloc_page_of(old));
	bd_change_commit(c, BD_WAL_GROW, NULL, grown);
	ereport(LOG,
			(errmsg("grew image file \"%s\" to %u extents (%llu MB)", bd_dev->path, grown,
					(unsigned long long) grown * bd->sb.extent_pages * BD_PAGE_SIZE / (1024 * 1024))));
	return true;
}

/* Take a free extent; bd_ensure_capacity() made sure there is one. */
uint32
bd_extent_alloc(BdChange *c)
{
	uint32		e = bd_allocator_alloc(&bd->alloc);

	if (e == BD_NO_EXTENT)
		elog(PANIC, "block-device allocator has no free extent after bd_ensure_capacity");
	bd_change_touch(c, alloc_page_of(e));
	alloc_page_put(e, true);
	return e;
}

/* Clear an extent in the map; it stays allocated in memory until zeroed. */
void
bd_extent_release(BdChange *c, uint32 e)
{
	bd_change_touch(c, alloc_page_of(e));
	alloc_page_put(e, false);
	bit_put(bd_zero_pending, e, true);
}

void
bd_slot_find_free(BdChange *c, uint64 *page_out, int *slot_out)
{
	uint64		addr = bd->dir_hint;
	uint64		newp;

	for (int pass = 0; pass < 2; pass++)
	{
		for (; addr != 0; addr = bd_dir_page_next(page_ptr(addr)))
		{
			const uint8 *p = page_ptr(addr);

			for (int s = 0; s < BD_DIR_ENTRIES_PER_PAGE; s++)
			{
				/* state byte: free slots are all zero */
				if (p[BD_DIR_ENTRIES_OFFSET + s * BD_DIR_ENTRY_SIZE + 13] == BD_ENTRY_FREE)
				{
					bd->dir_hint = addr;
					*page_out = addr;
					*slot_out = s;
					return;
				}
			}
		}
		addr = bd->sb.directory_root;
	}

	/* every page is full: chain a new one */
	newp = bd_meta_page_alloc();
	bd_dir_page_init(page_ptr(newp), newp, 0, 0);
	bd_change_touch_whole(c, newp);
	bd_change_touch(c, bd->dir_last);
	pgrac_put64(page_ptr(bd->dir_last) + 32, newp);
	bd->dir_last = newp;
	bd->dir_hint = newp;
	*page_out = newp;
	*slot_out = 0;
}

/* set by bd_bypass.c while this backend runs a TRUNCATE statement */
bool		bd_truncate_running = false;

/*
 * Whether this process's allocations may take the emergency reserve: those
 * of the statements that free space, which need a few extents before they
 * can release any, and of the one allocation that must not fail.
 *
 * - Lazy VACUUM (PROC_IN_VACUUM; VACUUM FULL does not set it, and needs as
 *   much space as the table), in the backend running it and in its
 *   parallel workers, which inherit the flag: the visibility map's extents,
 *   and index work (a GIN pending list moved into the index).  Not
 *   autovacuum, which would spend the reserve on tables nobody is freeing.
 * - TRUNCATE: the new forks' first extents (index metapages) and catalog
 *   growth; the old forks' extents come back at the next checkpoint.
 * - The startup process: the reset of unlogged relations at the end of
 *   recovery.  It maps no new extent when the main forks are as large as
 *   their init forks (bd_redo_cleanup()), but if it must, failing would
 *   keep the server from starting.
 */
static bool
may_use_reserve(void)
{
	if (AmStartupProcess())
		return true;
	if (MyProc != NULL && (MyProc->statusFlags & PROC_IN_VACUUM) != 0 &&
		!AmAutoVacuumWorkerProcess())
		return true;
	return bd_truncate_running;
}

/*
 * Extents that the next checkpoint frees: those of dropped relations
 * (tombstones), and those released by truncations, which wait to be zeroed.
 * Read from the directory pages, which the metadata lock (held) covers: the
 * caller holds one partition lock and may not take the others.
 */
static uint32
extents_awaiting_checkpoint(void)
{
	uint32		n = 0;

	for (uint64 a = bd->sb.directory_root; a != 0; a = bd_dir_page_next(page_ptr(a)))
	{
		for (int s = 0; s < BD_DIR_ENTRIES_PER_PAGE; s++)
		{
			BdDirEntry	e;

			bd_dir_entry_decode(page_ptr(a), s, &e);
			if (e.state == BD_ENTRY_TOMBSTONE)
				n += e.nextents;
		}
	}
	for (uint32 w = 0; w < (bd->alloc.nextents + WORD_BITS - 1) / WORD_BITS; w++)
	{
		if (bd_zero_pending[w] == 0)
			continue;
		for (uint32 e = w * WORD_BITS; e < (w + 1) * WORD_BITS && e < bd->alloc.nextents; e++)
			if (bit_get(bd_zero_pending, e) && !alloc_page_bit(e))
				n++;
	}
	return n;
}

static void report_device_full(uint32 count, bool use_reserve) pg_attribute_noreturn();

/* count more extents cannot be had: say why, and what frees space */
static void
report_device_full(uint32 count, bool use_reserve)
{
	uint32		reserve = bd_emergency_reserve(bd->alloc.nextents);
	uint32		extent_kb = bd->sb.extent_pages * BD_PAGE_SIZE / 1024;
	uint32		pending = extents_awaiting_checkpoint();
	char	   *waiting = pending == 0 ? "" :
		psprintf(" The next checkpoint frees %u more extents, of relations dropped, truncated or vacuumed since the last one.", pending);

	if (use_reserve)
		ereport(ERROR,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("block device \"%s\" is full, its emergency reserve included: %u more extents of %u kB needed, %u free",
						bd_dev->path, count, extent_kb, bd->alloc.nfree),
				 errdetail("VACUUM and TRUNCATE may use the last %u extents, and this statement needs more than are left.%s",
						   reserve, waiting),
				 errhint("DROP TABLE and DROP INDEX need no free extent (TRUNCATE needs one for each index); run CHECKPOINT after freeing space to make it usable, then retry.")));
	ereport(ERROR,
			(errcode(ERRCODE_DISK_FULL),
			 errmsg("block device \"%s\" is full: %u more extents of %u kB needed, %u free of which %u are held in reserve",
					bd_dev->path, count, extent_kb, bd->alloc.nfree,
					Min(bd->alloc.nfree, reserve)),
			 errdetail("The last %u extents are an emergency reserve that only VACUUM, TRUNCATE and crash recovery may use, so that space can always be freed.%s",
					   reserve, waiting),
			 errhint("Free space with DROP TABLE, TRUNCATE, or DELETE followed by VACUUM, then run CHECKPOINT; or %s",
					 bd_device_embedded() ?
					 "move the cluster to a larger image: its maximum is fixed when it is created, so stop the server, pgrac_image export, remove pg_pgrac/device.img, raise pgrac.image_max_size and start again." :
					 bd_device_is_block() ?
					 "enlarge the device and run pgrac_image grow with the server stopped (up to the maximum it was formatted for), or move the cluster to a larger device (pgrac_image export, format, import)." :
					 "move the cluster to an image formatted with a larger --max-size (pgrac_image export, format, import): pgrac_image grow cannot exceed the maximum it was formatted for.")));
	pg_unreachable();
}

/*
 * Make sure count more extents and the map pages to hold them can be had,
 * growing an image file if needed, before anything is changed: a full
 * device fails the statement and changes nothing.  Ordinary allocations
 * leave the emergency reserve free (an image grows before they would take
 * it); only may_use_reserve() allocations take it.
 */
void
bd_ensure_capacity(uint32 nextents_now, uint32 count)
{
	uint32		map_pages = 0;
	uint32		total = nextents_now + count;
	bool		use_reserve = may_use_reserve();

	if (total > BD_DIR_INLINE_EXTENTS)
		map_pages = (total - BD_DIR_INLINE_EXTENTS + BD_MAP_EXTENTS_PER_PAGE - 1) / BD_MAP_EXTENTS_PER_PAGE -
			(nextents_now > BD_DIR_INLINE_EXTENTS ?
			 (nextents_now - BD_DIR_INLINE_EXTENTS + BD_MAP_EXTENTS_PER_PAGE - 1) / BD_MAP_EXTENTS_PER_PAGE : 0);
	/* the reserve grows with the device: recomputed after each growth */
	while ((uint64) bd->alloc.nfree <
		   (uint64) count + (use_reserve ? 0 : bd_emergency_reserve(bd->alloc.nextents)))
	{
		BdChange	grow = {0};

		if (!device_grow(&grow))
			report_device_full(count, use_reserve);
	}
	if (bd->sb.metadata_pages - bd->meta_used_count < map_pages)
		ereport(ERROR,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("block device \"%s\" has no free metadata page (%u in use)",
						bd_dev->path, bd->meta_used_count),
				 errhint("Format a device with a larger metadata area (pgrac_image format --metadata-pages) and move the cluster to it.")));
}
