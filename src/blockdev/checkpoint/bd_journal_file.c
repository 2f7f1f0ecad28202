/*-------------------------------------------------------------------------
 *
 * bd_journal_file.c
 *	  The checkpoint journal's file, pg_pgrac/metadata.journal in PGDATA:
 *	  written and made durable by every checkpoint before it writes
 *	  metadata pages in place, and applied at startup when a crash cut
 *	  those writes short (docs/block-device.md, "Checkpoint journal").
 *
 * Why: a checkpoint writes its dirty metadata pages and a new superblock
 * in place and then flushes the device once.  A crash in between can leave
 * any subset of those writes on the device, some torn: a directory page
 * of the new checkpoint beside an allocation-map page of the old one.
 * Startup verifies the layout before redo, and such a mix does not verify.
 * With the journal durable first, startup rewrites every page of the
 * interrupted checkpoint from it, and the device holds exactly what the
 * checkpoint meant to write, a state the existing crash-safety argument
 * already covers (all of a checkpoint's writes reached the device, its
 * checkpoint record perhaps not).
 *
 * Which journal applies: one that is whole (its CRC covers every page),
 * of this device (UUID and owning cluster), and whose superblock
 * generation is not older than the device's.  Equal generations are
 * applied too: the new superblock may have reached the device while other
 * pages of its checkpoint did not, and rewriting pages that did arrive
 * changes nothing, since only a checkpoint writes metadata pages in place
 * and the next one rewrites the journal first.  A journal that is not
 * whole was cut while being written, before any in-place write began, so
 * the device still holds the previous checkpoint: it is ignored.
 *
 * src/blockdev/checkpoint/bd_journal_file.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "utils/wait_event.h"

#include "pgrac/bd_journal.h"
#include "blockdev/checkpoint/bd_checkpoint.h"

#define JOURNAL_DIR		"pg_pgrac"
#define JOURNAL_FILE	"pg_pgrac/metadata.journal"

static int	journal_fd = -1;	/* the checkpointer keeps it open */
static uint32 wait_event_write = 0;
static uint32 wait_event_sync = 0;

static void
journal_path(char *path)
{
	snprintf(path, MAXPGPATH, "%s/%s", DataDir, JOURNAL_FILE);
}

/*
 * Make pages[0..npages-1] (the last one the superblock of this generation)
 * durable in the journal.  An error here leaves the device untouched: the
 * caller's pages stay dirty for the next checkpoint.
 */
void
bd_journal_write(const uint8 device_uuid[16], uint64 generation,
				 const uint8 *const *pages, uint32 npages)
{
	char		path[MAXPGPATH];
	Size		len = (Size) (npages + 1) * BD_PAGE_SIZE;
	uint8	   *buf;
	ssize_t		done;

	journal_path(path);
	if (journal_fd < 0)
	{
		char		dir[MAXPGPATH];

		snprintf(dir, sizeof(dir), "%s/%s", DataDir, JOURNAL_DIR);
		if (MakePGDirectory(dir) < 0 && errno != EEXIST)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not create directory \"%s\": %m", dir)));
		/* kept open for the process's life: outside fd.c's pool, counted */
		ReserveExternalFD();
		journal_fd = BasicOpenFile(path, O_RDWR | O_CREAT | PG_BINARY);
		if (journal_fd < 0)
		{
			ReleaseExternalFD();
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open checkpoint journal \"%s\": %m", path)));
		}
		/* the file's name must survive a crash as well as its contents */
		fsync_fname(dir, true);
		wait_event_write = WaitEventExtensionNew("PgracJournalWrite");
		wait_event_sync = WaitEventExtensionNew("PgracJournalSync");
	}

	buf = palloc_extended(len, MCXT_ALLOC_HUGE);
	bd_journal_encode(buf, device_uuid, generation, pages, npages);
	for (uint32 i = 0; i < npages; i++)
		memcpy(buf + (Size) (i + 1) * BD_PAGE_SIZE, pages[i], BD_PAGE_SIZE);

	pgstat_report_wait_start(wait_event_write);
	done = pg_pwrite(journal_fd, buf, len, 0);
	pgstat_report_wait_end();
	if (done != (ssize_t) len)
	{
		if (done >= 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write checkpoint journal \"%s\": %m", path)));
	}
	pgstat_report_wait_start(wait_event_sync);
	if (pg_fdatasync(journal_fd) != 0)
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not fsync checkpoint journal \"%s\": %m", path)));
	pgstat_report_wait_end();
	pfree(buf);
}

/*
 * The device's current superblock (the postmaster, before it loads), read
 * afresh: bd_meta.c's geometry is read once per postmaster, and after a
 * crash and reinitialization it is older than the device, which would let
 * a stale journal put an old superblock over a newer copy.
 */
static void
device_superblock(BdSuperblock *sb)
{
	uint8	   *pages = palloc_aligned(2 * BD_PAGE_SIZE, PG_IO_ALIGN_SIZE, 0);
	BdPageError ea,
				eb;

	bd_data_read((uint64) BD_SUPERBLOCK_A * BD_PAGE_SIZE, pages, 2 * BD_PAGE_SIZE);
	if (bd_superblock_choose(pages, pages + BD_PAGE_SIZE, sb, &ea, &eb) < 0)
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block device \"%s\" has no valid superblock", bd_dev->path),
				 errdetail("Copy A (page 0): %s; copy B (page 1): %s.",
						   bd_page_error_text(ea), bd_page_error_text(eb))));
	pfree(pages);
}

static bool
same_geometry(const BdSuperblock *a, const BdSuperblock *b)
{
	return a->extent_pages == b->extent_pages && a->max_extents == b->max_extents &&
		a->alloc_map_pages == b->alloc_map_pages &&
		a->directory_root == b->directory_root &&
		a->metadata_pages == b->metadata_pages;
}

/*
 * Remove the journal without applying it (the postmaster, once the pages
 * it could hold are on the device by other means: a restored base
 * backup's metadata brought to the backup's end, bd_backup_copy.c).
 */
void
bd_journal_discard(void)
{
	char		path[MAXPGPATH];
	struct stat st;

	journal_path(path);
	if (stat(path, &st) != 0)
	{
		if (errno == ENOENT)
			return;
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not stat checkpoint journal \"%s\": %m", path)));
	}
	(void) durable_unlink(path, FATAL);
}

/*
 * Complete the metadata writes of a checkpoint that a crash interrupted
 * (the postmaster, device open and locked, before the metadata is loaded).
 */
void
bd_journal_apply(void)
{
	char		path[MAXPGPATH];
	int			fd;
	struct stat st;
	uint8	   *header;
	uint8	   *pages;
	BdJournalHeader h;
	BdJournalError error;
	BdSuperblock jsb;
	BdSuperblock dsb;
	uint32		navail;
	uint32		bad_page = 0;
	uint32		rewritten = 0;
	uint8	   *cur;

	journal_path(path);
	fd = BasicOpenFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno == ENOENT)
			return;
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not open checkpoint journal \"%s\": %m", path)));
	}
	if (fstat(fd, &st) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not stat checkpoint journal \"%s\": %m", path)));
	header = palloc(BD_PAGE_SIZE);
	if (st.st_size < BD_PAGE_SIZE ||
		pg_pread(fd, header, BD_PAGE_SIZE, 0) != BD_PAGE_SIZE ||
		(error = bd_journal_decode_header(header, &h)) != BD_JOURNAL_OK)
	{
		/* created, and cut before its first write completed */
		ereport(LOG,
				(errmsg("ignoring checkpoint journal \"%s\": it holds no complete journal", path)));
		close(fd);
		pfree(header);
		return;
	}
	navail = (uint32) Min((uint64) (st.st_size / BD_PAGE_SIZE) - 1, (uint64) h.npages);
	pages = palloc_aligned((Size) Max(navail, 1) * BD_PAGE_SIZE, PG_IO_ALIGN_SIZE, MCXT_ALLOC_HUGE);
	if (pg_pread(fd, pages, (Size) navail * BD_PAGE_SIZE, BD_PAGE_SIZE) != (ssize_t) navail * BD_PAGE_SIZE)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not read checkpoint journal \"%s\": %m", path)));
	close(fd);

	error = bd_journal_check(header, pages, navail, &jsb, &bad_page);
	if (error != BD_JOURNAL_OK)
	{
		/* cut while being written: no in-place write had begun */
		ereport(LOG,
				(errmsg("ignoring checkpoint journal \"%s\": %s (page %u)",
						path, bd_journal_error_text(error), bad_page + 1),
				 errdetail("A journal is made durable before its checkpoint writes anything in place, so the device still holds the previous checkpoint's metadata.")));
		pfree(header);
		pfree(pages);
		return;
	}

	device_superblock(&dsb);
	if (memcmp(jsb.device_uuid, dsb.device_uuid, 16) != 0 ||
		jsb.system_identifier != dsb.system_identifier)
	{
		ereport(LOG,
				(errmsg("ignoring checkpoint journal \"%s\": it belongs to another device or cluster than \"%s\"",
						path, bd_dev->path)));
		pfree(header);
		pfree(pages);
		return;
	}
	if (jsb.generation < dsb.generation)
	{
		/*
		 * the usual case: its checkpoint completed, later ones did not need
		 * it
		 */
		pfree(header);
		pfree(pages);
		return;
	}
	if (!same_geometry(&jsb, &dsb))
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("checkpoint journal \"%s\" does not match the geometry of block device \"%s\"",
						path, bd_dev->path),
				 errdetail("The journal's superblock (generation %llu) and the device's (generation %llu) disagree on extent size, capacity or metadata area.",
						   (unsigned long long) jsb.generation, (unsigned long long) dsb.generation),
				 errhint("If the device was reformatted or replaced by another with the same UUID, remove the journal; otherwise restore from a backup.")));

	/*
	 * Rewrite what differs, metadata pages first and the superblock last, as
	 * the checkpoint does.  After a checkpoint that completed, nothing does.
	 */
	cur = palloc_aligned(BD_PAGE_SIZE, PG_IO_ALIGN_SIZE, 0);
	for (uint32 i = 0; i < h.npages; i++)
	{
		const uint8 *page = pages + (Size) i * BD_PAGE_SIZE;
		BdPageHeader ph;

		bd_page_read_header(page, &ph);
		bd_data_read(ph.address * BD_PAGE_SIZE, cur, BD_PAGE_SIZE);
		if (memcmp(cur, page, BD_PAGE_SIZE) == 0)
			continue;
		bd_data_write(ph.address * BD_PAGE_SIZE, page, BD_PAGE_SIZE);
		rewritten++;
	}
	pfree(cur);
	if (rewritten > 0)
	{
		bd_data_flush();
		ereport(LOG,
				(errmsg("block device \"%s\": completed the metadata writes of an interrupted checkpoint from \"%s\": rewrote %u of its %u pages (superblock generation %llu)",
						bd_dev->path, path, rewritten, h.npages, (unsigned long long) jsb.generation)));
	}
	pfree(header);
	pfree(pages);
}
