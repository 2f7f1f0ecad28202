/*-------------------------------------------------------------------------
 *
 * bd_startup.c
 *	  Startup of the block-device backend in the postmaster: the device's
 *	  geometry (before shared memory is sized), formatting a new embedded
 *	  image, loading and verifying the metadata, claiming the device, and
 *	  starting over after a failed import.
 *
 * src/blockdev/startup/bd_startup.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

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
#include "pgrac/bd_memory.h"
#include "pgrac/bd_wal.h"
#include "blockdev/meta/bd_meta_internal.h"
#include "blockdev/startup/bd_startup.h"

/* settings (pgrac_storage.c defines them) */
int			pgrac_image_max_size_mb = 64 * 1024;
int			pgrac_image_extent_kb = 0;

/* the postmaster's page I/O while it formats or loads the device */
static PGIOAlignedBlock postmaster_page;

static bool
postmaster_read_page(void *arg, uint64 address, uint8 *page)
{
	if (bd != NULL && address >= BD_FIRST_ALLOC_MAP_PAGE && address < bd->end_page)
	{
		memcpy(page, page_ptr(address), BD_PAGE_SIZE);
		return true;
	}
	/* through an aligned copy: the caller's page may not suit direct I/O */
	if (pgrac_read(bd_dev, address * BD_PAGE_SIZE, postmaster_page.data, BD_PAGE_SIZE) < 0)
		return false;
	memcpy(page, postmaster_page.data, BD_PAGE_SIZE);
	return true;
}

static bool
postmaster_write_page(void *arg, uint64 address, const uint8 *page)
{
	memcpy(postmaster_page.data, page, BD_PAGE_SIZE);
	return pgrac_write(bd_dev, address * BD_PAGE_SIZE, postmaster_page.data, BD_PAGE_SIZE) == 0;
}

static void *
postmaster_alloc(void *arg, size_t size)
{
	return palloc_extended(size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

static void
postmaster_free(void *arg, void *ptr)
{
	pfree(ptr);
}

static const BdIo postmaster_io = {
	postmaster_read_page, postmaster_write_page, postmaster_alloc, postmaster_free, NULL
};

static uint64
image_max_bytes(void)
{
	return (uint64) pgrac_image_max_size_mb * 1024 * 1024;
}

/*
 * The embedded image's extent size: pgrac.image_extent_size, or when it is
 * 0 (the default) the default for its maximum size, the same rule as
 * pgrac_image format's (bd_default_extent_pages(): 128 kB up to 128 GB).
 */
static uint64
image_extent_bytes(void)
{
	if (pgrac_image_extent_kb == 0)
		return (uint64) bd_default_extent_pages(image_max_bytes()) * BD_PAGE_SIZE;
	return (uint64) pgrac_image_extent_kb * 1024;
}

/* Format a freshly created embedded image. */
static void
format_embedded_image(void)
{
	BdFormatParams p;
	char		error[512];
	uint64		extent_bytes = image_extent_bytes();
	uint32		reserved;

	memset(&p, 0, sizeof(p));
	p.extent_pages = (uint32) (extent_bytes / BD_PAGE_SIZE);
	p.max_extents = (uint32) (image_max_bytes() / extent_bytes);
	p.metadata_pages = bd_default_metadata_pages(p.max_extents);
	reserved = bd_reserved_extents(p.extent_pages,
								   bd_first_directory_page(bd_alloc_map_pages(p.max_extents)) +
								   p.metadata_pages - 1);
	p.nextents = Min(p.max_extents, reserved + 64);
	if (!bd_uuid_generate(p.device_uuid))
		ereport(FATAL,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a UUID for the embedded image: no strong random source")));
	bd_device_resize((uint64) p.nextents * extent_bytes);
	if (!bd_image_format(&postmaster_io, &p, error, sizeof(error)))
		ereport(FATAL,
				(errcode(ERRCODE_IO_ERROR),
				 errmsg("could not format the embedded image \"%s\": %s", bd_dev->path, error)));
	bd_data_flush();
	fsync_fname(bd_dev->path, false);
	{
		char		dir[MAXPGPATH];

		snprintf(dir, sizeof(dir), "%s/pg_pgrac", DataDir);
		fsync_fname(dir, true);
	}
	ereport(LOG,
			(errmsg("formatted embedded image \"%s\": %u extents of %llu kB, may grow to %d MB",
					bd_dev->path, p.nextents, (unsigned long long) extent_bytes / 1024,
					pgrac_image_max_size_mb)));
}

/*
 * pgrac.image_max_size and pgrac.image_extent_size shape the embedded
 * image only when it is created; a different value later would otherwise
 * be ignored without a word.
 */
static void
warn_creation_settings(const BdSuperblock *sb)
{
	uint64		extent_bytes = (uint64) sb->extent_pages * BD_PAGE_SIZE;
	uint64		max_mb = (uint64) sb->max_extents * extent_bytes / (1024 * 1024);
	const char *hint = "These settings apply only when the embedded image is created.  To change them, stop the server, move the data back with pgrac_image export, remove pg_pgrac/device.img, and start again: the new image is created with them and the data imported into it.";

	if (image_max_bytes() / extent_bytes != sb->max_extents)
		ereport(WARNING,
				(errmsg("pgrac.image_max_size is %d MB, but the embedded image \"%s\" was created to grow to at most %llu MB",
						pgrac_image_max_size_mb, bd_dev->path, (unsigned long long) max_mb),
				 errhint("%s", hint)));
	if (image_extent_bytes() != extent_bytes)
		ereport(WARNING,
				(errmsg("pgrac.image_extent_size is %llu kB%s, but the embedded image \"%s\" was created with extents of %llu kB",
						(unsigned long long) image_extent_bytes() / 1024,
						pgrac_image_extent_kb == 0 ? " (chosen from pgrac.image_max_size)" : "",
						bd_dev->path, (unsigned long long) extent_bytes / 1024),
				 errhint("%s", hint)));
}

/*
 * Read the superblock to size shared memory: in the postmaster, before
 * shared memory exists.  Creates and formats the embedded image on first
 * start.
 */
void
bd_read_geometry(void)
{
	uint8	   *a = palloc(BD_PAGE_SIZE);
	uint8	   *b = palloc(BD_PAGE_SIZE);
	BdPageError ea,
				eb;
	BdSuperblockError sberr;
	int			chosen;
	BdBinding	binding;
	char		uuid[37];
	const char *not_format;

	if (bd_binding_get(&binding) && !binding.exported)
	{
		bd_uuid_format(binding.device_uuid, uuid);
		not_format = psprintf("This cluster's relation data is on device %s: if this is that device, do not format it, restore it from a backup; otherwise point pgrac.device at that device.", uuid);
	}
	else
		not_format = "If the device holds a cluster's data, restore it from a backup; a new device is prepared with pgrac_image format.";

	if (bd_dev == NULL)
	{
		char		path[MAXPGPATH];
		struct stat st;

		bd_device_path(path);
		if (bd_device_embedded() && stat(path, &st) < 0 && errno == ENOENT)
			bd_refuse_missing_embedded(path);
		if (bd_device_open(true))
			format_embedded_image();
	}
	if (!postmaster_read_page(NULL, BD_SUPERBLOCK_A, a) ||
		!postmaster_read_page(NULL, BD_SUPERBLOCK_B, b))
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not read the superblocks of block device \"%s\": it is %llu bytes long",
						bd_dev->path, (unsigned long long) bd_dev->size),
				 errdetail("The superblocks are its first two %d-byte pages.", BD_PAGE_SIZE),
				 errhint("%s", not_format)));
	chosen = bd_superblock_choose(a, b, &bd_geometry, &ea, &eb);
	if (chosen < 0)
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block device \"%s\" has no valid superblock", bd_dev->path),
				 errdetail("Copy A (page 0): %s; copy B (page 1): %s.",
						   bd_page_error_text(ea), bd_page_error_text(eb)),
				 errhint("Check that pgrac.device names the right device.  %s", not_format)));
	if ((chosen == 0 ? eb : ea) != BD_PAGE_OK)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("superblock copy %c (page %d) of block device \"%s\" is damaged: %s",
						chosen == 0 ? 'B' : 'A', chosen == 0 ? 1 : 0, bd_dev->path,
						bd_page_error_text(chosen == 0 ? eb : ea)),
				 errdetail("Using copy %c (generation %llu).  A superblock write torn by a crash leaves this; the next superblock write (a checkpoint) replaces the damaged copy.",
						   chosen == 0 ? 'A' : 'B', (unsigned long long) bd_geometry.generation)));
	sberr = bd_superblock_validate(&bd_geometry);
	if (sberr != BD_SB_OK)
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("superblock of block device \"%s\" is invalid: %s",
						bd_dev->path, bd_superblock_error_text(sberr)),
				 errhint("%s", not_format)));
	bd_check_bound_device(bd_geometry.device_uuid);
	if (bd_device_embedded())
		warn_creation_settings(&bd_geometry);
	bd_backup_copy_grow_file();
	if ((uint64) bd_geometry.nextents * bd_geometry.extent_pages * BD_PAGE_SIZE > bd_dev->size)
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block device \"%s\" is smaller (%llu bytes) than its superblock says (%u extents of %u kB)",
						bd_dev->path, (unsigned long long) bd_dev->size,
						bd_geometry.nextents, bd_geometry.extent_pages * BD_PAGE_SIZE / 1024),
				 errhint("It was truncated, or pgrac.device names a smaller device.  %s", not_format)));
	bd_geometry_known = true;
	pfree(a);
	pfree(b);
}

/* Load the device's metadata into shared memory and verify it. */
void
bd_load_metadata(void)
{
	BdLoadedLayout layout;
	char		error[512];
	BdProblem	problems[8];
	int			nproblems;
	uint64		ncached = NCACHED(&bd_geometry);

	bd->end_page = bd_metadata_end(&bd_geometry);
	/* the whole cached range in one read */
	bd_data_read(BD_FIRST_ALLOC_MAP_PAGE * BD_PAGE_SIZE, bd_pages, ncached * BD_PAGE_SIZE);

	if (!bd_image_load(&postmaster_io, &layout, error, sizeof(error)))
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block device \"%s\" has corrupt metadata: %s", bd_dev->path, error),
				 errhint("\"pgrac_image verify --device=%s\" lists every damaged metadata page and layout problem it can reach; restore the device from a backup.", bd_dev->path)));
	nproblems = bd_image_verify(&postmaster_io, &layout, problems, lengthof(problems));
	if (nproblems > 0)
	{
		BdProblem  *p = &problems[0];

		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block device \"%s\" has an inconsistent layout: %d problem(s)",
						bd_dev->path, nproblems),
				 errdetail("First: %s (extent %u%s).", bd_problem_text(p->kind), p->extent,
						   p->fork >= 0 ? psprintf(", relation %u/%u/%u fork %u",
												   layout.forks[p->fork].entry.spcoid,
												   layout.forks[p->fork].entry.dboid,
												   layout.forks[p->fork].entry.relnumber,
												   layout.forks[p->fork].entry.fork) : ""),
				 errhint("\"pgrac_image verify --device=%s\" lists all of them; restore the device from a backup.", bd_dev->path)));
	}

	bd->sb = layout.sb;
	bd->end_page = bd_metadata_end(&layout.sb);
	bd_allocator_init(&bd->alloc, bd->alloc.words, layout.sb.max_extents,
					  layout.alloc.nextents, layout.alloc.reserved);
	memcpy(bd->alloc.words, layout.alloc.words, bd_allocator_words_size(layout.sb.max_extents));
	bd->alloc.nfree = layout.alloc.nfree;
	bd->alloc.hint = layout.alloc.reserved;

	for (uint32 i = 0; i < layout.sb.metadata_pages; i++)
		if ((bd_meta_used[i] = layout.metadata_used[i]))
			bd->meta_used_count++;
	bd->dir_last = layout.sb.directory_root;
	for (uint64 a = layout.sb.directory_root; a != 0; a = bd_dir_page_next(page_ptr(a)))
		bd->dir_last = a;
	bd->dir_hint = layout.sb.directory_root;

	for (int i = 0; i < layout.nforks; i++)
	{
		const BdLoadedFork *lf = &layout.forks[i];
		BdForkKey	key;
		BdForkEntry *f;
		bool		found;

		memset(&key, 0, sizeof(key));
		key.spcoid = lf->entry.spcoid;
		key.dboid = lf->entry.dboid;
		key.relnumber = lf->entry.relnumber;
		key.fork = lf->entry.fork;
		f = bd_fork_enter(&key, &found);
		if (f == NULL)
			ereport(FATAL,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many relation forks on block device \"%s\" for shared memory", bd_dev->path),
					 errdetail("Shared memory was sized for %llu forks from the device's metadata area.",
							   (unsigned long long) bd_max_forks(&bd_geometry))));
		if (found)
			ereport(FATAL,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("block device \"%s\" lists relation %s twice (directory page %llu, entry %d)",
							bd_dev->path, bd_fork_text(&key), (unsigned long long) lf->dir_page, lf->slot)));
		f->dir_page = lf->dir_page;
		f->slot = lf->slot;
		f->state = lf->entry.state;
		f->nblocks = lf->entry.nblocks;
	}
	bd_image_release(&postmaster_io, &layout);
	bd_map_index_rebuild_all();
}

/*
 * Make every free extent read as zeroes (import, in the postmaster).  The
 * allocator hands out free extents trusting that; a device whose import was
 * interrupted may hold data in extents no metadata names.  Runs of free
 * extents are zeroed with one request each; the import's flush makes it
 * durable before the commit point.
 */
void
bd_zero_free_extents(void)
{
	uint64		extent_bytes = (uint64) bd->sb.extent_pages * BD_PAGE_SIZE;
	uint32		e = bd->alloc.reserved;

	while (e < bd->alloc.nextents)
	{
		uint32		run = 0;

		while (e + run < bd->alloc.nextents && !bd_allocator_is_allocated(&bd->alloc, e + run))
			run++;
		if (run > 0)
			bd_data_zero((uint64) e * extent_bytes, (uint64) run * extent_bytes);
		e += Max(run, 1);
	}
}

/* Write every changed metadata page and flush (import, in the postmaster). */
void
bd_meta_write_all(void)
{
	uint64		ncached = bd->end_page - BD_FIRST_ALLOC_MAP_PAGE;

	for (uint64 i = 0; i < ncached; i++)
	{
		if (!bd_page_dirty[i])
			continue;
		bd_data_write((BD_FIRST_ALLOC_MAP_PAGE + i) * BD_PAGE_SIZE,
					  page_ptr(BD_FIRST_ALLOC_MAP_PAGE + i), BD_PAGE_SIZE);
		bd_page_dirty[i] = false;
		bd_page_local[i] = false;
	}
	bd_data_flush();
}

/* Name the cluster owning the device in a new superblock generation. */
void
bd_meta_claim(uint64 system_identifier)
{
	uint8	   *page = palloc_aligned(BD_PAGE_SIZE, PG_IO_ALIGN_SIZE, 0);

	bd->sb.system_identifier = system_identifier;
	bd->sb.generation = ++bd->sb_generation;
	bd_superblock_encode(&bd->sb, bd_superblock_address_for(bd->sb.generation), page);
	bd_data_write(bd_superblock_address_for(bd->sb.generation) * BD_PAGE_SIZE, page, BD_PAGE_SIZE);
	bd_data_flush();
	pfree(page);
}

/* Format the device again with its geometry, and load it (postmaster). */
void
bd_meta_reset(void)
{
	BdFormatParams p;
	char		error[512];
	HASH_SEQ_STATUS seq;
	BdForkEntry *f;
	uint64		ncached = bd->end_page - BD_FIRST_ALLOC_MAP_PAGE;

	memset(&p, 0, sizeof(p));
	p.extent_pages = bd->sb.extent_pages;
	p.nextents = bd->sb.nextents;
	p.max_extents = bd->sb.max_extents;
	p.metadata_pages = bd->sb.metadata_pages;
	memcpy(p.device_uuid, bd->sb.device_uuid, 16);
	/* the formatter must read and write the device, not the cache */
	saved_bd = bd;
	bd = NULL;
	if (!bd_image_format(&postmaster_io, &p, error, sizeof(error)))
		ereport(FATAL,
				(errcode(ERRCODE_IO_ERROR),
				 errmsg("could not format block device \"%s\": %s", bd_dev->path, error)));
	bd_data_flush();
	bd = saved_bd;
	hash_seq_init(&seq, bd_forks);
	while ((f = hash_seq_search(&seq)) != NULL)
		bd_fork_remove(f);
	memset(bd_page_dirty, 0, ncached * 2);
	memset(bd_page_need_full, true, ncached);
	memset(bd_meta_used, 0, bd->sb.metadata_pages);
	memset(bd_zero_pending, 0, bd_allocator_words_size(bd->sb.max_extents));
	bd->meta_used_count = 0;
	bd_load_metadata();
	bd->sb_generation = bd->sb.generation;
}

/* The device's geometry, read once (before shared memory is sized). */
const BdSuperblock *
bd_startup_geometry(void)
{
	if (!bd_geometry_known)
		bd_read_geometry();
	return &bd_geometry;
}

/*
 * A cache just created in shared memory: complete a checkpoint a crash cut
 * short (or, in a restored base backup, bring the copied metadata to the
 * backup's end) before anything reads, then load and verify the metadata.
 */
void
bd_startup_load(void)
{
	if (!bd_backup_copy_pending() || !bd_backup_copy_settle())
		bd_journal_apply();
	bd_load_metadata();
	bd->sb_generation = bd->sb.generation;
}

/* In the postmaster: claim the device, importing PGDATA the first time. */
void
bd_startup_claim(void)
{
	local_mapping_allowed = true;
	bd_import_if_needed();
	local_mapping_allowed = false;
}
