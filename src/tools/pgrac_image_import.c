/*-------------------------------------------------------------------------
 *
 * pgrac_image_import.c
 *	  pgrac_image import: move the relation files of a cleanly shut down
 *	  cluster into an empty device, offline.
 *
 * This is the offline twin of the server's import at its first start on a
 * device (bd_import.c), and has the same commit point: the superblock
 * naming the cluster's system identifier.  In order:
 *
 *	1. Check everything: the cluster was shut down cleanly; the device is
 *	   formatted, consistent, owned by nobody and holds no forks; every file
 *	   to import is a whole number of blocks; the free extents and metadata
 *	   pages suffice for all of them.  A refusal writes nothing.
 *	2. Write the layout naming the forks (allocation map, directory, extent
 *	   maps), and flush.
 *	3. Copy the files into their extents, and flush.  Every block of every
 *	   extent a fork gets is written: file blocks as they are (runs of zero
 *	   blocks as zeroed ranges), the rest of the last extent as zeroes.
 *	4. Write the next superblock generation naming the cluster, and flush:
 *	   the commit point.
 *	5. Remove the imported files and fsync the directories they were in.
 *
 * The layout goes to the device before the data (the server writes it
 * after), so that an import interrupted anywhere before the commit point
 * leaves forks on a device without an owner, never a device that looks
 * empty while its free extents hold data.  The server recognizes such a
 * device as an import that did not finish, wipes its metadata and imports
 * the cluster's files, untouched until the commit, itself; this tool
 * refuses it, and pgrac_image format --force starts it over.  After the
 * commit point the files are leftovers the server never reads.
 *
 * What is imported is what the server imports: main, visibility-map and
 * init forks in global, base and the tablespaces' version directories, all
 * segments; not free-space maps (they stay in files on the block device
 * too) nor temporary relations.
 *
 * src/tools/pgrac_image_import.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_tablespace_d.h"
#include "common/controldata_utils.h"
#include "common/file_utils.h"
#include "common/logging.h"
#include "common/relpath.h"
#include "storage/block.h"
#include "pgrac/bd_binding.h"
#include "pgrac_image.h"

/* blocks copied per read: 1 MB */
#define COPY_BLOCKS		128

/* A fork to import: its files, and what the device will know of it */
typedef struct ImportFile
{
	char		path[MAXPGPATH];	/* segment 0 */
	int			nsegments;		/* path, path.1, ...: all that exist */
	BdImageFork fork;			/* key and EOF */
} ImportFile;

typedef struct ImportScan
{
	ImportFile *files;
	int			nfiles;
	int			capacity;
} ImportScan;

/* Set once the layout is on the device, cleared at the commit point. */
static const char *unfinished_device = NULL;

const char *
cluster_state_name(int state)
{
	switch ((DBState) state)
	{
		case DB_STARTUP:
			return "starting up";
		case DB_SHUTDOWNED:
			return "shut down";
		case DB_SHUTDOWNED_IN_RECOVERY:
			return "shut down in recovery";
		case DB_SHUTDOWNING:
			return "shutting down";
		case DB_IN_CRASH_RECOVERY:
			return "in crash recovery";
		case DB_IN_ARCHIVE_RECOVERY:
			return "in archive recovery";
		case DB_IN_PRODUCTION:
			return "in production";
	}
	return "unrecognized";
}

/*
 * The control file of a data directory, with its checksum and the
 * compile-time sizes this tool shares with the server checked.
 * get_controlfile() exits with status 1 on a file it cannot read, which
 * here means "verify found problems": check what it would trip over first.
 */
/*
 * The control file of a data directory whose cluster must be stopped:
 * shut down cleanly and without postmaster.pid, else refuse with
 * "<action>: <subject> was not shut down cleanly ..." and the hint.
 */
ControlFileData *
read_stopped_control_file(const char *pgdata, const char *action,
						  const char *subject, const char *hint)
{
	ControlFileData *cf = read_control_file(pgdata);
	char		pidfile[MAXPGPATH];
	struct stat st;

	if (cf->state != DB_SHUTDOWNED)
	{
		pg_log_error("%s: %s was not shut down cleanly (its state is \"%s\")",
					 action, subject, cluster_state_name(cf->state));
		pg_log_error_hint("%s", hint);
		exit(EXIT_DEVICE);
	}
	snprintf(pidfile, sizeof(pidfile), "%s/postmaster.pid", pgdata);
	if (stat(pidfile, &st) == 0)
		refuse("%s: \"%s\" exists (is a server running?)", action, pidfile);
	return cf;
}

ControlFileData *
read_control_file(const char *pgdata)
{
	char		path[MAXPGPATH];
	struct stat st;
	int			fd;
	bool		crc_ok;
	ControlFileData *cf;

	snprintf(path, sizeof(path), "%s/global/pg_control", pgdata);
	if (stat(path, &st) < 0)
		refuse("\"%s\" is not a PostgreSQL data directory: could not stat \"%s\": %m",
			   pgdata, path);
	if ((fd = open(path, O_RDONLY | PG_BINARY, 0)) < 0)
		refuse("could not open file \"%s\" for reading: %m", path);
	close(fd);
	if (st.st_size < (off_t) sizeof(ControlFileData))
		refuse("control file \"%s\" is too short (%lld bytes)", path, (long long) st.st_size);

	cf = get_controlfile(pgdata, &crc_ok);
	if (!crc_ok)
		refuse("calculated CRC checksum does not match value stored in control file \"%s\"", path);
	if (cf->pg_control_version != PG_CONTROL_VERSION)
		refuse("control file \"%s\" has version %u; this pgrac_image understands %u",
			   path, cf->pg_control_version, PG_CONTROL_VERSION);
	if (cf->blcksz != BLCKSZ || cf->relseg_size != RELSEG_SIZE)
		refuse("the cluster in \"%s\" has blocks of %u bytes and segments of %u blocks; pgrac_image was built for %d and %d",
			   pgdata, cf->blcksz, cf->relseg_size, BLCKSZ, RELSEG_SIZE);
	return cf;
}

static void
segment_path(char *out, size_t size, const char *path, int segno)
{
	if (segno == 0)
		strlcpy(out, path, size);
	else
		snprintf(out, size, "%s.%d", path, segno);
}

/*
 * The first segment of a main, visibility-map or init fork: "<relnumber>"
 * or "<relnumber>_<fork>".  Further segments (".N"), temporary relations
 * ("t<proc>_<relnumber>") and anything else do not match; free-space maps
 * match and are left to the caller.
 */
static bool
parse_relation_file(const char *name, RelFileNumber *relnumber, ForkNumber *fork)
{
	size_t		digits = strspn(name, "0123456789");
	size_t		pos = digits;
	unsigned long n;

	if (digits == 0 || digits > OIDCHARS)
		return false;
	*fork = MAIN_FORKNUM;
	if (name[pos] == '_')
	{
		int			len = forkname_chars(name + pos + 1, fork);

		if (len == 0)
			return false;
		pos += len + 1;
	}
	if (name[pos] != '\0')
		return false;
	errno = 0;
	n = strtoul(name, NULL, 10);
	if (errno != 0 || n == 0 || n > PG_UINT32_MAX)
		return false;
	*relnumber = (RelFileNumber) n;
	return true;
}

/*
 * The fork's size, as md.c would see it: segments of RELSEG_SIZE blocks
 * each but the last; segments after a short one may only be empty (md.c
 * truncates segments it no longer uses to nothing and leaves them).
 */
static uint32
measure_fork(ImportFile *f)
{
	uint64		blocks = 0;
	bool		short_seen = false;

	for (int s = 0;; s++)
	{
		char		seg[MAXPGPATH + 16];
		struct stat st;

		segment_path(seg, sizeof(seg), f->path, s);
		if (stat(seg, &st) < 0)
		{
			if (errno == ENOENT)
				break;
			refuse("could not stat file \"%s\": %m", seg);
		}
		if (!S_ISREG(st.st_mode))
			refuse("cannot import \"%s\": it is not a regular file", seg);
		if (st.st_size % BLCKSZ != 0)
			refuse("cannot import \"%s\": its size %lld is not a multiple of the block size (%d)",
				   seg, (long long) st.st_size, BLCKSZ);
		if (st.st_size > (off_t) RELSEG_SIZE * BLCKSZ)
			refuse("cannot import \"%s\": it is larger than a segment (%d blocks)",
				   seg, RELSEG_SIZE);
		if (short_seen && st.st_size > 0)
			refuse("cannot import \"%s\": it follows a segment shorter than %d blocks, which PostgreSQL would not read past",
				   seg, RELSEG_SIZE);
		if (st.st_size < (off_t) RELSEG_SIZE * BLCKSZ)
			short_seen = true;
		blocks += st.st_size / BLCKSZ;
		f->nsegments = s + 1;
	}
	if (blocks > MaxBlockNumber)
		refuse("cannot import \"%s\": %llu blocks are more than a relation may have",
			   f->path, (unsigned long long) blocks);
	return (uint32) blocks;
}

static void
scan_database_dir(ImportScan *scan, const char *dir, Oid spcoid, Oid dboid)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		refuse("could not open directory \"%s\": %m", dir);
	while (errno = 0, (de = readdir(d)) != NULL)
	{
		RelFileNumber relnumber;
		ForkNumber	fork;
		ImportFile *f;

		if (!parse_relation_file(de->d_name, &relnumber, &fork) || fork == FSM_FORKNUM)
			continue;
		if (scan->nfiles == scan->capacity)
		{
			scan->capacity = Max(256, scan->capacity * 2);
			scan->files = pg_realloc(scan->files, sizeof(ImportFile) * scan->capacity);
		}
		f = &scan->files[scan->nfiles++];
		memset(f, 0, sizeof(*f));
		snprintf(f->path, sizeof(f->path), "%s/%s", dir, de->d_name);
		f->fork.spcoid = spcoid;
		f->fork.dboid = dboid;
		f->fork.relnumber = relnumber;
		f->fork.fork = (uint8) fork;
		f->fork.nblocks = measure_fork(f);
	}
	if (errno != 0)
		refuse("could not read directory \"%s\": %m", dir);
	closedir(d);
}

/* The database directories of a tablespace directory, if it exists */
static void
scan_tablespace(ImportScan *scan, const char *dir, Oid spcoid)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
	{
		if (errno == ENOENT)
			return;				/* a tablespace of another major version */
		refuse("could not open directory \"%s\": %m", dir);
	}
	while (errno = 0, (de = readdir(d)) != NULL)
	{
		char		sub[MAXPGPATH];

		if (de->d_name[0] == '\0' ||
			strspn(de->d_name, "0123456789") != strlen(de->d_name))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		scan_database_dir(scan, sub, spcoid, (Oid) strtoul(de->d_name, NULL, 10));
	}
	if (errno != 0)
		refuse("could not read directory \"%s\": %m", dir);
	closedir(d);
}

static void
scan_cluster(ImportScan *scan, const char *pgdata)
{
	char		dir[MAXPGPATH];
	DIR		   *d;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "%s/global", pgdata);
	scan_database_dir(scan, dir, GLOBALTABLESPACE_OID, 0);
	snprintf(dir, sizeof(dir), "%s/base", pgdata);
	scan_tablespace(scan, dir, DEFAULTTABLESPACE_OID);

	snprintf(dir, sizeof(dir), "%s/pg_tblspc", pgdata);
	if ((d = opendir(dir)) == NULL)
		refuse("could not open directory \"%s\": %m", dir);
	while (errno = 0, (de = readdir(d)) != NULL)
	{
		char		spcdir[MAXPGPATH];

		if (de->d_name[0] == '\0' ||
			strspn(de->d_name, "0123456789") != strlen(de->d_name))
			continue;
		snprintf(spcdir, sizeof(spcdir), "%s/pg_tblspc/%s/%s", pgdata, de->d_name,
				 TABLESPACE_VERSION_DIRECTORY);
		scan_tablespace(scan, spcdir, (Oid) strtoul(de->d_name, NULL, 10));
	}
	if (errno != 0)
		refuse("could not read directory \"%s\": %m", dir);
	closedir(d);
}

/* by path: the forks of one directory together, in a stable order */
static int
compare_paths(const void *a, const void *b)
{
	return strcmp(((const ImportFile *) a)->path, ((const ImportFile *) b)->path);
}

static bool
block_is_zero(const char *block)
{
	const uint64 *word = (const uint64 *) block;

	for (int i = 0; i < BLCKSZ / (int) sizeof(uint64); i++)
		if (word[i] != 0)
			return false;
	return true;
}

/*
 * Put nblocks blocks at a device offset: runs of non-zero blocks written,
 * runs of zero blocks zeroed (a hole in an image file), so that the range
 * holds exactly the file's bytes whatever it held before.
 */
static void
put_blocks(PgracTransport *dev, uint64 offset, const char *buf, uint32 nblocks)
{
	uint32		i = 0;

	while (i < nblocks)
	{
		bool		zero = block_is_zero(buf + (size_t) i * BLCKSZ);
		uint32		j = i + 1;

		while (j < nblocks && block_is_zero(buf + (size_t) j * BLCKSZ) == zero)
			j++;
		if (zero ?
			pgrac_zero(dev, offset + (uint64) i * BLCKSZ, (uint64) (j - i) * BLCKSZ) :
			pgrac_write(dev, offset + (uint64) i * BLCKSZ, buf + (size_t) i * BLCKSZ,
						(size_t) (j - i) * BLCKSZ))
			transport_error(dev);
		i = j;
	}
}

static uint64
block_offset(const BdSuperblock *sb, const BdImageFork *bf, uint32 block)
{
	return ((uint64) bf->extents[block / sb->extent_pages] * sb->extent_pages +
			block % sb->extent_pages) * BLCKSZ;
}

/* Read up to len bytes; fewer only at the end of the file. */
static size_t
read_file(int fd, const char *path, char *buf, size_t len)
{
	size_t		done = 0;

	while (done < len)
	{
		ssize_t		n = read(fd, buf + done, len - done);

		if (n < 0)
			device_error("could not read file \"%s\": %m", path);
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

/* Copy one fork's segments into its extents, and zero the rest of them. */
static void
copy_fork(PgracTransport *dev, const BdSuperblock *sb, const ImportFile *f,
		  const BdImageFork *bf, char *buf)
{
	uint32		block = 0;
	uint32		mapped = bf->nextents * sb->extent_pages;

	for (int s = 0; s < f->nsegments; s++)
	{
		char		seg[MAXPGPATH + 16];
		int			fd;

		segment_path(seg, sizeof(seg), f->path, s);
		if ((fd = open(seg, O_RDONLY | PG_BINARY, 0)) < 0)
			device_error("could not open file \"%s\": %m", seg);
		for (;;)
		{
			/* never past the end of an extent: a chunk is contiguous */
			uint32		want = Min(COPY_BLOCKS, sb->extent_pages - block % sb->extent_pages);
			size_t		got = read_file(fd, seg, buf, (size_t) want * BLCKSZ);
			uint32		n = (uint32) (got / BLCKSZ);

			if (got % BLCKSZ != 0 || (uint64) block + n > bf->nblocks)
				device_error("file \"%s\" changed during the import", seg);
			put_blocks(dev, block_offset(sb, bf, block), buf, n);
			block += n;
			if (n < want)
				break;
		}
		close(fd);
	}
	if (block != bf->nblocks)
		device_error("file \"%s\" changed during the import (%u blocks copied, %u expected)",
					 f->path, block, bf->nblocks);
	if (mapped > block &&
		pgrac_zero(dev, block_offset(sb, bf, block), (uint64) (mapped - block) * BLCKSZ) < 0)
		transport_error(dev);
}

static void
report_unfinished_import(void)
{
	if (unfinished_device == NULL)
		return;
	pg_log_error_detail("\"%s\" now holds an import that did not finish; the cluster's files are untouched.",
						unfinished_device);
	pg_log_error_hint("\"%s format --force --device=%s\" starts the device over (a server started on it imports the cluster itself).",
					  progname, unfinished_device);
}

int
cmd_import(const char *path, const char *pgdata)
{
	PgracTransport *dev;
	BdIo		io;
	BdLoadedLayout l;
	ControlFileData *cf;
	ImportScan	scan = {0};
	BdImageFork *forks;
	char		action[MAXPGPATH + 64];
	char		error[512];
	char	   *buf;
	uint64		nblocks = 0;
	int			nfailed = 0;
	char		last_dir[MAXPGPATH] = "";

	/* the device: not in use, consistent */
	dev = open_device(path, false, true);
	io = device_io(dev);
	load_or_die(dev, &io, &l);
	check_device_size(dev, &l.sb);
	check_layout_or_die(dev, &io, &l);

	/* the cluster: stopped cleanly, and a cluster this tool understands */
	snprintf(action, sizeof(action), "cannot import the cluster in \"%s\"", pgdata);
	cf = read_stopped_control_file(pgdata, action, "it",
								   "Start it with pgrac.storage_backend = 'md', shut it down cleanly, then import it.");

	/* the device again: owned by nobody and empty */
	if (l.sb.system_identifier != 0)
	{
		if (l.sb.system_identifier == cf->system_identifier)
			pg_log_error("device \"%s\" already belongs to the cluster in \"%s\" (system identifier %llu)",
						 path, pgdata, (unsigned long long) l.sb.system_identifier);
		else
			pg_log_error("device \"%s\" belongs to another cluster (system identifier %llu; the cluster in \"%s\" has %llu)",
						 path, (unsigned long long) l.sb.system_identifier, pgdata,
						 (unsigned long long) cf->system_identifier);
		pg_log_error_hint("Import only into an empty device; \"%s format --force\" starts a device over, destroying what it holds.",
						  progname);
		exit(EXIT_DEVICE);
	}
	if (l.nforks > 0)
	{
		pg_log_error("device \"%s\" holds %d relation forks but no owner: an import that did not finish",
					 path, l.nforks);
		pg_log_error_hint("\"%s format --force --device=%s\" starts it over; the files of a cluster are removed only when its import completes.",
						  progname, path);
		exit(EXIT_DEVICE);
	}

	/* a cluster whose data already moved has nothing here to import */
	{
		BdBinding	b;
		char		uuid[37];

		if (binding_read(pgdata, &b) && !b.exported && memcmp(b.device_uuid, l.sb.device_uuid, 16) != 0)
		{
			bd_uuid_format(b.device_uuid, uuid);
			pg_log_error("cannot import the cluster in \"%s\": its relation data is on device %s (then at \"%s\")",
						 pgdata, uuid, b.device_path);
			pg_log_error_hint("Its data directory's %s says so.  Export it from that device first (%s export) to move it.",
							  BD_BINDING_FILE, progname);
			exit(EXIT_DEVICE);
		}
	}

	/* what to import, and room for it */
	scan_cluster(&scan, pgdata);
	if (scan.nfiles > 0)
		qsort(scan.files, scan.nfiles, sizeof(ImportFile), compare_paths);
	forks = pg_malloc(sizeof(BdImageFork) * Max(scan.nfiles, 1));
	for (int i = 0; i < scan.nfiles; i++)
		forks[i] = scan.files[i].fork;
	if (!bd_image_place_forks(&io, &l.sb, &l.alloc, forks, scan.nfiles,
							  error, sizeof(error)))
	{
		pg_log_error("cannot import the cluster in \"%s\" into \"%s\": %s", pgdata, path, error);
		pg_log_error_hint("Every fork takes whole extents.  Grow the device (%s grow), or format one that is larger, has smaller extents (--extent-size) or more metadata pages (--metadata-pages).",
						  progname);
		exit(EXIT_DEVICE);
	}

	/*
	 * The layout first: from here on, an interruption leaves forks on a
	 * device without an owner, recognizably an unfinished import.
	 */
	unfinished_device = path;
	atexit(report_unfinished_import);
	if (!bd_image_write_layout(&io, &l.sb, &l.alloc, forks, scan.nfiles,
							   error, sizeof(error)))
		device_error("could not write the layout to \"%s\": %s", path, error);
	if (pgrac_flush(dev) < 0)
		transport_error(dev);

	buf = pg_malloc((size_t) COPY_BLOCKS * BLCKSZ);
	for (int i = 0; i < scan.nfiles; i++)
	{
		copy_fork(dev, &l.sb, &scan.files[i], &forks[i], buf);
		nblocks += forks[i].nblocks;
	}
	pg_free(buf);
	if (pgrac_flush(dev) < 0)
		transport_error(dev);

	/* the binding, then the commit point */
	{
		BdBinding	b;

		memset(&b, 0, sizeof(b));
		b.system_identifier = cf->system_identifier;
		memcpy(b.device_uuid, l.sb.device_uuid, 16);
		b.data_checksum_version = cf->data_checksum_version;
		strlcpy(b.device_path, path, sizeof(b.device_path));
		binding_write(pgdata, &b);
	}
	l.sb.system_identifier = cf->system_identifier;
	if (!bd_image_write_superblock(&io, &l.sb, error, sizeof(error)))
		device_error("could not write the superblock of \"%s\": %s", path, error);
	if (pgrac_flush(dev) < 0)
		transport_error(dev);
	unfinished_device = NULL;

	/* the files are leftovers now; their directories are in order */
	for (int i = 0; i < scan.nfiles; i++)
	{
		char		dir[MAXPGPATH];

		for (int s = 0; s < scan.files[i].nsegments; s++)
		{
			char		seg[MAXPGPATH + 16];

			segment_path(seg, sizeof(seg), scan.files[i].path, s);
			if (unlink(seg) < 0 && errno != ENOENT)
			{
				pg_log_error("could not remove imported file \"%s\": %m", seg);
				nfailed++;
			}
		}
		strlcpy(dir, scan.files[i].path, sizeof(dir));
		*strrchr(dir, '/') = '\0';
		if (strcmp(dir, last_dir) != 0)
		{
			if (last_dir[0] != '\0' && fsync_fname(last_dir, true) != 0)
				nfailed++;
			strlcpy(last_dir, dir, sizeof(last_dir));
		}
	}
	if (last_dir[0] != '\0' && fsync_fname(last_dir, true) != 0)
		nfailed++;

	printf("imported %d relation forks (%llu blocks, %llu MB) of the cluster in \"%s\" into \"%s\", which now belongs to it (system identifier %llu)\n",
		   scan.nfiles, (unsigned long long) nblocks,
		   (unsigned long long) (nblocks * BLCKSZ >> 20), pgdata, path,
		   (unsigned long long) cf->system_identifier);
	if (nfailed > 0)
	{
		pg_log_error("the import is complete, but %d imported files or directories could not be removed or synced", nfailed);
		pg_log_error_hint("The server does not read them; remove the files named above by hand.");
		exit(EXIT_DEVICE);
	}
	bd_image_release_forks(&io, forks, scan.nfiles);
	pg_free(forks);
	pg_free(scan.files);
	bd_image_release(&io, &l);
	pgrac_transport_close(dev);
	return 0;
}
