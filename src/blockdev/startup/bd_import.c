/*-------------------------------------------------------------------------
 *
 * bd_import.c
 *	  First start on a device: claim it for this cluster, moving the
 *	  relation files initdb (or an earlier md-backed life) left in PGDATA
 *	  into it, in the postmaster, before any other process runs.
 *
 * The superblock's system identifier is the commit point.  Until it is
 * written the device belongs to nobody and the files are untouched: a
 * crash in the middle leaves a device whose directory has forks but no
 * owner, which the next start recognises, wipes and imports again.  Once
 * the superblock names the cluster (flushed), the files are removed; a
 * crash then leaves files nobody reads, never data in two places that
 * could both be believed.  Every import first zeroes the extents the
 * device has free, since an interrupted one may have written data into
 * extents its metadata never named (the data is copied before the
 * metadata is written), and the allocator trusts free extents to read as
 * zeroes.
 *
 * The free-space map stays in files (see bd_smgr.c); temporary relations
 * are not imported (PostgreSQL removes them at start anyway).
 *
 * src/blockdev/startup/bd_import.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_control.h"
#include "catalog/pg_tablespace_d.h"
#include "common/controldata_utils.h"
#include "common/relpath.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/fd.h"
#include "storage/reinit.h"

#include "blockdev/startup/bd_startup.h"
#include "pgrac/bd_binding.h"

typedef struct ImportFile
{
	char		path[MAXPGPATH];	/* segment 0 */
	BdForkKey	key;
	BlockNumber nblocks;
	int			nsegments;
} ImportFile;

static List *import_files = NIL;

static void
scan_database_dir(const char *dir, Oid spcoid, Oid dboid)
{
	DIR		   *d = AllocateDir(dir);
	struct dirent *de;

	while ((de = ReadDir(d, dir)) != NULL)
	{
		RelFileNumber relnumber;
		ForkNumber	fork;
		unsigned	segno;
		ImportFile *f;
		struct stat st;
		uint64		bytes = 0;

		if (!parse_filename_for_nontemp_relation(de->d_name, &relnumber, &fork, &segno))
			continue;
		if (segno != 0 || fork == FSM_FORKNUM)
			continue;
		f = palloc0(sizeof(ImportFile));
		snprintf(f->path, sizeof(f->path), "%s/%s", dir, de->d_name);
		f->key.spcoid = spcoid;
		f->key.dboid = dboid;
		f->key.relnumber = relnumber;
		f->key.fork = fork;
		/* the segments: path, path.1, path.2, ... */
		for (int s = 0;; s++)
		{
			char		seg[MAXPGPATH + 16];

			if (s == 0)
				strlcpy(seg, f->path, sizeof(seg));
			else
				snprintf(seg, sizeof(seg), "%s.%d", f->path, s);
			if (stat(seg, &st) < 0)
			{
				if (errno == ENOENT)
					break;
				ereport(FATAL,
						(errcode_for_file_access(),
						 errmsg("could not stat file \"%s\": %m", seg)));
			}
			if (st.st_size % BLCKSZ != 0)
				ereport(FATAL,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("cannot import \"%s\" into the block device: its size %lld is not a multiple of the block size",
								seg, (long long) st.st_size)));
			bytes += st.st_size;
			f->nsegments = s + 1;
		}
		f->nblocks = (BlockNumber) (bytes / BLCKSZ);
		import_files = lappend(import_files, f);
	}
	FreeDir(d);
}

static void
scan_tablespace(const char *dir, Oid spcoid)
{
	DIR		   *d = AllocateDir(dir);
	struct dirent *de;

	if (d == NULL && errno == ENOENT)
		return;
	while ((de = ReadDir(d, dir)) != NULL)
	{
		char		sub[MAXPGPATH];
		Oid			dboid;

		if (strspn(de->d_name, "0123456789") != strlen(de->d_name) || de->d_name[0] == '\0')
			continue;
		dboid = (Oid) strtoul(de->d_name, NULL, 10);
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		scan_database_dir(sub, spcoid, dboid);
	}
	FreeDir(d);
}

static void
scan_all(void)
{
	DIR		   *d;
	struct dirent *de;

	scan_database_dir("global", GLOBALTABLESPACE_OID, 0);
	scan_tablespace("base", DEFAULTTABLESPACE_OID);
	d = AllocateDir("pg_tblspc");
	while ((de = ReadDir(d, "pg_tblspc")) != NULL)
	{
		char		dir[MAXPGPATH];

		if (strspn(de->d_name, "0123456789") != strlen(de->d_name) || de->d_name[0] == '\0')
			continue;
		snprintf(dir, sizeof(dir), "pg_tblspc/%s/%s", de->d_name, TABLESPACE_VERSION_DIRECTORY);
		scan_tablespace(dir, (Oid) strtoul(de->d_name, NULL, 10));
	}
	FreeDir(d);
}

/* Copy one fork's segments into its extents. */
static void
copy_fork(ImportFile *f)
{
	const int	chunk = BD_MAP_MAX_BLOCKS;
	char	   *buf = palloc_aligned((Size) chunk * BLCKSZ, PG_IO_ALIGN_SIZE, 0);
	BlockNumber block = 0;
	BlockNumber old_eof,
				old_mapped;

	bd_fork_create(&f->key, false, 0);
	if (f->nblocks > 0)
		bd_fork_extend(&f->key, 0, f->nblocks, false, &old_eof, &old_mapped);
	for (int s = 0; s < f->nsegments; s++)
	{
		char		seg[MAXPGPATH + 16];
		int			fd;
		ssize_t		got;

		if (s == 0)
			strlcpy(seg, f->path, sizeof(seg));
		else
			snprintf(seg, sizeof(seg), "%s.%d", f->path, s);
		fd = OpenTransientFile(seg, O_RDONLY | PG_BINARY);
		if (fd < 0)
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not open file \"%s\": %m", seg)));
		while ((got = read(fd, buf, (Size) chunk * BLCKSZ)) > 0)
		{
			BlockNumber n = (BlockNumber) (got / BLCKSZ);
			uint64		offsets[BD_MAP_MAX_BLOCKS];
			uint32		counts[BD_MAP_MAX_BLOCKS];
			int			nr;
			BlockNumber done = 0;

			if (got % BLCKSZ != 0)
				ereport(FATAL,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("could not import \"%s\": read %zd bytes, not a whole number of %d-byte blocks",
								seg, got, BLCKSZ)));
			nr = bd_fork_map(&f->key, block, n, true, offsets, counts, BD_MAP_MAX_BLOCKS);
			for (int r = 0; r < nr; r++)
			{
				bd_data_write(offsets[r], buf + (Size) done * BLCKSZ, (Size) counts[r] * BLCKSZ);
				done += counts[r];
			}
			block += n;
		}
		if (got < 0)
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", seg)));
		CloseTransientFile(fd);
	}
	/* the EOF goes into the directory entry now, not at a checkpoint */
	bd_fork_set_durable_eof(&f->key);
	pfree(buf);
}

static void
remove_fork_files(ImportFile *f)
{
	for (int s = 0; s < f->nsegments; s++)
	{
		char		seg[MAXPGPATH + 16];

		if (s == 0)
			strlcpy(seg, f->path, sizeof(seg));
		else
			snprintf(seg, sizeof(seg), "%s.%d", f->path, s);
		if (unlink(seg) < 0 && errno != ENOENT)
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not remove imported file \"%s\": %m", seg)));
	}
}

/*
 * An import moves the relation files of PGDATA onto the device.  A data
 * directory without shared catalogs in global/ has nothing to move: its
 * relations are on some other device (a binding lost or removed), and
 * claiming this one would start a cluster with no relations at all.
 */
static void
refuse_empty_import(void)
{
	foreach_ptr(ImportFile, f, import_files)
		if (f->key.spcoid == GLOBALTABLESPACE_OID)
		return;
	ereport(FATAL,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("cannot import the cluster into block device \"%s\": the data directory holds no relation files", bd_dev->path),
			 errdetail("global/ has no shared catalogs: this cluster's relation data is on another device, and the data directory has no device binding (%s) naming it.",
					   BD_BINDING_FILE),
			 errhint("Point pgrac.device at the device holding this cluster's data.")));
}

/* Bind the data directory to this device: its relations are (about to be) on it. */
static void
put_binding(const ControlFileData *cf)
{
	BdBinding	b;

	memset(&b, 0, sizeof(b));
	b.system_identifier = cf->system_identifier;
	memcpy(b.device_uuid, bd_meta_device_uuid(), 16);
	b.data_checksum_version = cf->data_checksum_version;
	strlcpy(b.device_path, bd_dev->path, sizeof(b.device_path));
	bd_binding_put(&b);
}

/*
 * The device names this cluster as owner, but pgrac_image export put the
 * relation data back into PGDATA since: the device holds the data as it
 * was then, and running on it would lose everything done on md since.
 */
static void
refuse_exported_device(void)
{
	BdBinding	b;

	if (!bd_binding_get(&b) || !b.exported)
		return;
	ereport(FATAL,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("block device \"%s\" is stale: this cluster's relation data was exported from it into the data directory", bd_dev->path),
			 errdetail("The data directory's %s says so; the device still holds the relations as they were at the export.", BD_BINDING_FILE),
			 errhint("%s",
					 bd_device_embedded() ?
					 "To move the cluster onto a block device again, remove pg_pgrac/device.img: the next start creates a new image and imports the data directory.  Or set pgrac.storage_backend = 'md'." :
					 "To move the cluster onto this device again, format it (pgrac_image format --force): the next start imports the data directory.  Or set pgrac.storage_backend = 'md'.")));
}

/*
 * pg_checksums works on the files of a stopped cluster: on a block-device
 * cluster it rewrites only the files left in PGDATA, then records the new
 * state in pg_control.  Pages on the device were written in the state the
 * binding records; a cluster that now claims checksums the device's pages
 * lack would fail every read.  Turning them off only stops verification,
 * so it is recorded (later writes carry none).
 */
static void
check_checksum_state(const ControlFileData *cf)
{
	BdBinding	b;

	if (!bd_binding_get(&b))
	{
		/* a cluster a release without bindings imported */
		put_binding(cf);
		ereport(LOG,
				(errmsg("wrote device binding %s for block device \"%s\", which this cluster owns",
						BD_BINDING_FILE, bd_dev->path)));
		return;
	}
	if (cf->data_checksum_version == b.data_checksum_version)
		return;
	if (cf->data_checksum_version > b.data_checksum_version)
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("data checksums are enabled in pg_control, but the relation data on block device \"%s\" was written without them", bd_dev->path),
				 errdetail("pg_control has data checksum version %u; the device binding records version %u.  pg_checksums rewrote only the files left in the data directory.",
						   cf->data_checksum_version, b.data_checksum_version),
				 errhint("Run \"pg_checksums --disable\" on the stopped cluster: it changes only pg_control.")));
	ereport(LOG,
			(errmsg("data checksums were disabled in pg_control; block device \"%s\" is written without them from now on", bd_dev->path)));
	b.data_checksum_version = cf->data_checksum_version;
	bd_binding_put(&b);
}

/*
 * Called by the postmaster once the device's metadata is loaded: make sure
 * the device belongs to this cluster, importing the cluster's files when
 * the device is new.
 */
void
bd_import_if_needed(void)
{
	bool		crc_ok;
	ControlFileData *cf = get_controlfile(DataDir, &crc_ok);
	uint64		owner = bd_meta_owner();
	BdStatus	st;
	long		nblocks = 0;

	if (!crc_ok)
		ereport(FATAL,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("calculated CRC checksum does not match value stored in control file")));
	if (owner == cf->system_identifier)
	{
		refuse_exported_device();
		check_checksum_state(cf);
		pfree(cf);
		return;
	}
	if (owner != 0)
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("block device \"%s\" belongs to another cluster", bd_dev->path),
				 errdetail("The device's system identifier is %llu; this cluster's is %llu.",
						   (unsigned long long) owner,
						   (unsigned long long) cf->system_identifier),
				 errhint("Point pgrac.device at this cluster's device.")));

	if (cf->state != DB_SHUTDOWNED)
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot import the cluster into block device \"%s\": it was not shut down cleanly", bd_dev->path),
				 errhint("Start it once with pgrac.storage_backend = 'md', shut it down cleanly, then start it on the block device.")));

	bd_status(&st);
	if (st.forks > 0)
	{
		ereport(LOG,
				(errmsg("block device \"%s\" holds an import that did not finish; starting it over", bd_dev->path)));
		bd_meta_reset();
	}
	/* an interrupted import may have left data in extents marked free */
	bd_zero_free_extents();

	scan_all();
	refuse_empty_import();
	foreach_ptr(ImportFile, f, import_files)
	{
		copy_fork(f);
		nblocks += f->nblocks;
	}
	/* data and metadata durable, the binding, then the commit point */
	bd_meta_write_all();
	put_binding(cf);
	bd_meta_claim(cf->system_identifier);

	foreach_ptr(ImportFile, f, import_files)
		remove_fork_files(f);
	/* the directories the files were removed from, each once */
	{
		char		last[MAXPGPATH] = "";

		foreach_ptr(ImportFile, f, import_files)
		{
			char		dir[MAXPGPATH];

			strlcpy(dir, f->path, sizeof(dir));
			*strrchr(dir, '/') = '\0';
			if (strcmp(dir, last) != 0)
				fsync_fname(dir, true);
			strlcpy(last, dir, sizeof(last));
		}
	}
	ereport(LOG,
			(errmsg("imported %d relation forks (%ld blocks) into block device \"%s\"",
					list_length(import_files), nblocks, bd_dev->path)));
	list_free_deep(import_files);
	import_files = NIL;
	pfree(cf);
}
