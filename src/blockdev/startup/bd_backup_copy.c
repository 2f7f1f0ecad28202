/*-------------------------------------------------------------------------
 *
 * bd_backup_copy.c
 *	  A data directory restored from a base backup: bring the device's
 *	  metadata, copied while checkpoints wrote it, to the state at the
 *	  backup's end before it is loaded and verified (docs/backup.md).
 *
 * A base backup copies the embedded image like any file, while the
 * server runs.  Its metadata pages are each one checkpoint's version, a
 * mix of versions (one page from before a checkpoint, the next from
 * after it), or torn by a checkpoint that wrote the page while it was
 * read.  Every page a checkpoint wrote during the copy was changed after
 * the backup's start, and its first change after that is logged whole,
 * so replaying this extension's records from the backup's start to its
 * end over the copied pages gives each page its version at the end: the
 * same metadata a crash at that moment would have left.  Only then can
 * the loader's checks (checksums, one owner per extent, the allocation
 * map) mean anything.
 *
 * The postmaster does this before shared memory holds the metadata, with
 * the backup's WAL read from pg_wal or, where core would use it, through
 * restore_command.  WAL that only streaming could bring is not within its
 * reach: the start then says so and loads the copy as it is.
 *
 * src/blockdev/startup/bd_backup_copy.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/rmgr.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xlogreader.h"
#include "access/xlogrecovery.h"
#include "catalog/pg_control.h"
#include "common/archive.h"
#include "common/controldata_utils.h"
#include "miscadmin.h"
#include "storage/fd.h"

#include "pgrac/bd_image.h"
#include "pgrac/bd_io.h"
#include "pgrac/bd_wal.h"
#include "pgrac/pgrac_wal.h"
#include "blockdev/meta/bd_meta_internal.h"
#include "blockdev/redo/bd_redo.h"
#include "blockdev/startup/bd_startup.h"

/* Where a restored base backup's WAL starts and how its end is found. */
typedef struct BackupCopy
{
	bool		pending;
	XLogRecPtr	start;			/* redo pointer of the backup's checkpoint */
	TimeLineID	tli;
	XLogRecPtr	backup_start;	/* the start an XLOG_BACKUP_END names */
	XLogRecPtr	end;			/* a known end (backup from a standby), or 0 */
	const char *source;			/* "backup_label" or "pg_control" */
} BackupCopy;

static BackupCopy copy;
static bool copy_known = false;

/*
 * The WAL files of one timeline, read in page order: from pg_wal, or
 * where a segment is not there and core would use restore_command
 * (recovery.signal or standby.signal), from the archive.
 */
typedef struct WalFiles
{
	TimeLineID	tli;
	int			fd;
	XLogSegNo	segno;
	bool		use_archive;
	char		first[MAXFNAMELEN]; /* the backup's first segment, for %r */
	char		path[MAXPGPATH];	/* the open segment */
	char		missing[MAXPGPATH];
} WalFiles;

#define RESTORED_SEGMENT	"pg_pgrac/backup_wal.restored"

static bool
parse_lsn(const char *text, XLogRecPtr *lsn)
{
	uint32		hi,
				lo;

	if (sscanf(text, "%X/%X", &hi, &lo) != 2)
		return false;
	*lsn = ((uint64) hi << 32) | lo;
	return true;
}

/* backup_label, as pg_basebackup and pg_backup_stop() write it */
static bool
read_backup_label(BackupCopy *c)
{
	FILE	   *f = AllocateFile("backup_label", "r");
	char		line[1024];
	bool		have_start = false,
				have_tli = false,
				from_standby = false;

	if (f == NULL)
	{
		if (errno == ENOENT)
			return false;
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", "backup_label")));
	}
	while (fgets(line, sizeof(line), f) != NULL)
	{
		if (strncmp(line, "START WAL LOCATION: ", 20) == 0)
			have_start = parse_lsn(line + 20, &c->start);
		else if (strncmp(line, "START TIMELINE: ", 16) == 0)
			have_tli = sscanf(line + 16, "%u", &c->tli) == 1;
		else if (strcmp(line, "BACKUP FROM: standby\n") == 0)
			from_standby = true;
	}
	FreeFile(f);
	if (!have_start || !have_tli)
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("file \"%s\" has no %s line", "backup_label",
						have_start ? "START TIMELINE" : "START WAL LOCATION"),
				 errdetail("Relation data on a block device needs the backup's start to bring the metadata copied with it up to date."),
				 errhint("Restore the backup_label file that came with the backup.")));
	c->backup_start = c->start;
	c->source = "backup_label";
	if (from_standby)
	{
		bool		crc_ok;
		ControlFileData *cf = get_controlfile(DataDir, &crc_ok);

		/* core ends a standby's backup at the minRecoveryPoint copied last */
		if (!crc_ok || XLogRecPtrIsInvalid(cf->minRecoveryPoint))
			ereport(FATAL,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("backup taken from a standby has no usable minimum recovery point in pg_control"),
					 errhint("Restore pg_control from the same backup as backup_label.")));
		c->end = cf->minRecoveryPoint;
		pfree(cf);
	}
	return true;
}

/*
 * Is this start the first after restoring a base backup (backup_label),
 * or a start again before recovery reached the backup's end (pg_control
 * still has its start)?  Decided once per postmaster.
 */
static const BackupCopy *
backup_copy(void)
{
	bool		crc_ok;
	ControlFileData *cf;

	if (copy_known)
		return &copy;
	copy_known = true;
	memset(&copy, 0, sizeof(copy));
	if (read_backup_label(&copy))
	{
		copy.pending = true;
		return &copy;
	}
	cf = get_controlfile(DataDir, &crc_ok);
	if (crc_ok && !XLogRecPtrIsInvalid(cf->backupStartPoint))
	{
		copy.pending = true;
		copy.start = cf->checkPointCopy.redo;
		copy.tli = cf->checkPointCopy.ThisTimeLineID;
		copy.backup_start = cf->backupStartPoint;
		copy.end = cf->backupEndPoint;
		copy.source = "pg_control";
	}
	pfree(cf);
	return &copy;
}

bool
bd_backup_copy_pending(void)
{
	return backup_copy()->pending;
}

/*
 * A segment from the archive, with restore_command as core runs it: into
 * a file of our own, opened and removed at once.  -1 with errno ENOENT if
 * the command fails (the archive does not have it either).
 */
static int
restore_segment(WalFiles *w, XLogSegNo segno)
{
	char		name[MAXFNAMELEN];
	char	   *command;
	int			rc;
	int			fd;

	XLogFileName(name, w->tli, segno, wal_segment_size);
	if (unlink(RESTORED_SEGMENT) != 0 && errno != ENOENT)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", RESTORED_SEGMENT)));
	command = BuildRestoreCommand(recoveryRestoreCommand, RESTORED_SEGMENT, name, w->first);
	ereport(LOG,
			(errmsg("block device: fetching WAL segment %s of the base backup with restore_command", name)));
	fflush(NULL);
	rc = system(command);
	pfree(command);
	if (rc != 0)
	{
		errno = ENOENT;
		return -1;
	}
	fd = BasicOpenFile(RESTORED_SEGMENT, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("restore_command succeeded for WAL segment %s but \"%s\" cannot be opened: %m",
						name, RESTORED_SEGMENT)));
	(void) unlink(RESTORED_SEGMENT);
	return fd;
}

static int
wal_page_read(XLogReaderState *state, XLogRecPtr page, int reqLen,
			  XLogRecPtr target, char *buf)
{
	WalFiles   *w = state->private_data;
	XLogSegNo	segno;
	ssize_t		n;

	XLByteToSeg(page, segno, wal_segment_size);
	if (w->fd < 0 || w->segno != segno)
	{
		if (w->fd >= 0)
			close(w->fd);
		XLogFilePath(w->path, w->tli, segno, wal_segment_size);
		w->fd = BasicOpenFile(w->path, O_RDONLY | PG_BINARY);
		if (w->fd < 0 && errno == ENOENT && w->use_archive)
			w->fd = restore_segment(w, segno);
		if (w->fd < 0)
		{
			if (errno != ENOENT)
				ereport(FATAL,
						(errcode_for_file_access(),
						 errmsg("could not open file \"%s\": %m", w->path)));
			strlcpy(w->missing, w->path, sizeof(w->missing));
			return -1;
		}
		w->segno = segno;
	}
	n = pg_pread(w->fd, buf, XLOG_BLCKSZ, XLogSegmentOffset(page, wal_segment_size));
	if (n < 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\" at offset %u: %m", w->path,
						(unsigned) XLogSegmentOffset(page, wal_segment_size))));
	if (n != XLOG_BLCKSZ)
		return -1;				/* a partial segment: the WAL ends here */
	state->seg.ws_tli = w->tli;
	return XLOG_BLCKSZ;
}

/* One of this extension's block-device records, over the copied pages. */
static void
apply_record(XLogReaderState *r, bool *changed, uint32 *nextents)
{
	BdWalRecord *rec = palloc(sizeof(BdWalRecord));
	char		error[256];

	if (!bd_wal_decode((const uint8 *) XLogRecGetData(r), XLogRecGetDataLen(r),
					   rec, error, sizeof(error)))
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid block-device WAL record at %X/%X in the base backup's WAL: %s",
						LSN_FORMAT_ARGS(r->ReadRecPtr), error)));
	if (rec->op == BD_WAL_GROW && rec->key.arg > *nextents)
		*nextents = rec->key.arg;
	for (int i = 0; i < rec->npages; i++)
	{
		const BdWalPage *part = &rec->pages[i];

		if (part->address < BD_FIRST_ALLOC_MAP_PAGE || part->address >= bd->end_page)
			ereport(FATAL,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("block-device WAL record at %X/%X changes page %llu outside the metadata of \"%s\"",
							LSN_FORMAT_ARGS(r->ReadRecPtr), (unsigned long long) part->address,
							bd_dev->path)));
		switch (bd_wal_apply(part, page_ptr(part->address), r->EndRecPtr))
		{
			case BD_WAL_APPLIED:
				changed[page_index(part->address)] = true;
				break;
			case BD_WAL_ALREADY_APPLIED:
				break;
			case BD_WAL_PAGE_INVALID:
				ereport(FATAL,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("metadata page %llu of block device \"%s\" was copied damaged by the base backup and the WAL does not restore it",
								(unsigned long long) part->address, bd_dev->path),
						 errdetail("The record at %X/%X changes bytes of the page but carries no image of it; every page a checkpoint wrote during the backup should be logged whole at its first change after the backup's start (%X/%X).",
								   LSN_FORMAT_ARGS(r->ReadRecPtr), LSN_FORMAT_ARGS(copy.start)),
						 errhint("Take the base backup again; do not start this copy.")));
		}
	}
	pfree(rec);
}

/*
 * In the postmaster, instead of the checkpoint journal: the journal that
 * was copied belongs to whichever checkpoint ran when it was read, and
 * the WAL replayed here gives every page its version at the backup's end
 * without it.  The pages replayed are written back and flushed, then the
 * copied journal is removed, so that no later start applies it.
 *
 * False, with a WARNING and nothing written, if the WAL to the backup's
 * end is not within reach: the caller loads the copy as it is (the
 * copied journal applied, as every start did before this existed), and
 * its checks refuse a torn page or a layout that does not verify.
 */
bool
bd_backup_copy_settle(void)
{
	const BackupCopy *c = backup_copy();
	uint64		ncached = NCACHED(&bd_geometry);
	bool	   *changed = palloc0(ncached);
	WalFiles	files;
	XLogReaderState *reader;
	XLogRecPtr	end = InvalidXLogRecPtr;
	uint32		nextents = bd_geometry.nextents;
	uint64		nchanged = 0;
	uint64		nrecords = 0;

	Assert(c->pending);
	bd->end_page = bd_metadata_end(&bd_geometry);
	bd_data_read(BD_FIRST_ALLOC_MAP_PAGE * BD_PAGE_SIZE, bd_pages, ncached * BD_PAGE_SIZE);

	memset(&files, 0, sizeof(files));
	files.tli = c->tli;
	files.fd = -1;
	files.use_archive = recoveryRestoreCommand != NULL && recoveryRestoreCommand[0] != '\0' &&
		(access(RECOVERY_SIGNAL_FILE, F_OK) == 0 || access(STANDBY_SIGNAL_FILE, F_OK) == 0);
	{
		XLogSegNo	first;

		XLByteToSeg(c->start, first, wal_segment_size);
		XLogFileName(files.first, c->tli, first, wal_segment_size);
	}
	reader = XLogReaderAllocate(wal_segment_size, NULL,
								XL_ROUTINE(.page_read = wal_page_read), &files);
	if (reader == NULL)
		ereport(FATAL, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	XLogBeginRead(reader, c->start);
	for (;;)
	{
		char	   *errormsg = NULL;
		XLogRecord *record = XLogReadRecord(reader, &errormsg);
		uint8		info;

		if (record == NULL && !XLogRecPtrIsInvalid(c->end) && reader->EndRecPtr >= c->end)
		{
			end = c->end;
			break;
		}
		if (record == NULL)
		{
			ereport(WARNING,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot bring the block-device metadata copied by a base backup to the backup's end: the WAL ends at %X/%X, before the end of the backup that started at %X/%X",
							LSN_FORMAT_ARGS(reader->EndRecPtr), LSN_FORMAT_ARGS(c->backup_start)),
					 files.missing[0] ? errdetail("WAL segment \"%s\" is missing%s.  The metadata is loaded as it was copied (with the copied checkpoint journal, as at any start), and refused if a page is torn or the layout does not verify.", files.missing,
												  files.use_archive ? ", and restore_command did not restore it" : "")
					 : errdetail("%s.  The metadata is loaded as it was copied (with the copied checkpoint journal, as at any start), and refused if a page is torn or the layout does not verify.", errormsg ? errormsg : "The WAL ends there"),
					 errhint("Give the first start the backup's WAL, from pg_wal or, with recovery.signal or standby.signal, through restore_command: take the backup with pg_basebackup -X stream or -X fetch, copy the segments into pg_wal, or set restore_command to an archive that has them.  WAL that only streaming replication brings arrives too late for this.")));
			if (files.fd >= 0)
				close(files.fd);
			XLogReaderFree(reader);
			pfree(changed);
			return false;
		}
		if (!XLogRecPtrIsInvalid(c->end) && reader->ReadRecPtr >= c->end)
		{
			end = c->end;
			break;
		}
		info = XLogRecGetInfo(reader);
		if (XLogRecGetRmid(reader) == PGRAC_RMGR_ID && bd_rmgr_is_block_device_kind(info))
		{
			apply_record(reader, changed, &nextents);
			nrecords++;
		}
		else if (XLogRecGetRmid(reader) == RM_XLOG_ID &&
				 (info & ~XLR_INFO_MASK) == XLOG_BACKUP_END && XLogRecPtrIsInvalid(c->end))
		{
			XLogRecPtr	started;

			memcpy(&started, XLogRecGetData(reader), sizeof(started));
			if (started == c->backup_start)
			{
				end = reader->EndRecPtr;
				break;
			}
		}
	}
	if (files.fd >= 0)
		close(files.fd);
	XLogReaderFree(reader);

	/*
	 * the file as large as the backup's end had it (a copy stops at its size
	 * then)
	 */
	if (nextents > bd_geometry.nextents)
	{
		uint64		bytes = (uint64) nextents * bd_geometry.extent_pages * BD_PAGE_SIZE;

		if (nextents > bd_geometry.max_extents)
			ereport(FATAL,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the base backup's WAL grows block device \"%s\" beyond its capacity", bd_dev->path)));
		if (!bd_device_is_block() && bd_device_current_size() < bytes)
			bd_device_resize(bytes);
	}

	for (uint64 i = 0; i < ncached; i++)
		if (changed[i])
		{
			bd_data_write((BD_FIRST_ALLOC_MAP_PAGE + i) * BD_PAGE_SIZE,
						  bd_pages + i * BD_PAGE_SIZE, BD_PAGE_SIZE);
			nchanged++;
		}
	if (nextents > bd_geometry.nextents)
	{
		PGIOAlignedBlock sb;

		bd_geometry.nextents = nextents;
		bd_geometry.generation++;
		bd_superblock_encode(&bd_geometry, bd_superblock_address_for(bd_geometry.generation),
							 (uint8 *) sb.data);
		bd_data_write(bd_superblock_address_for(bd_geometry.generation) * BD_PAGE_SIZE,
					  sb.data, BD_PAGE_SIZE);
	}
	bd_data_flush();
	bd_journal_discard();
	ereport(LOG,
			(errmsg("block device \"%s\": metadata copied by a base backup brought to the backup's end at %X/%X",
					bd_dev->path, LSN_FORMAT_ARGS(end)),
			 errdetail("%llu block-device records from %X/%X (%s) rewrote %llu metadata pages.",
					   (unsigned long long) nrecords, LSN_FORMAT_ARGS(c->start), c->source,
					   (unsigned long long) nchanged)));
	pfree(changed);
	return true;
}

/*
 * bd_read_geometry(): a base backup copies a file at the length it had
 * when the copy of it began; checkpoints may have grown it since and
 * written a superblock that says so.  The extents past the copied length
 * were allocated after the backup's start, so everything in them is in
 * the WAL: the file is extended with zeroes instead of being refused.
 */
void
bd_backup_copy_grow_file(void)
{
	uint64		bytes = (uint64) bd_geometry.nextents * bd_geometry.extent_pages * BD_PAGE_SIZE;

	if (!bd_backup_copy_pending() || bd_device_is_block() || bd_device_current_size() >= bytes)
		return;
	ereport(LOG,
			(errmsg("block device \"%s\": extending the file copied by a base backup from %llu to %llu bytes",
					bd_dev->path, (unsigned long long) bd_device_current_size(),
					(unsigned long long) bytes)));
	bd_device_resize(bytes);
	(void) bd_device_current_size();
}
