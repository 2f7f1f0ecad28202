/*-------------------------------------------------------------------------
 *
 * pgrac_image_export.c
 *	  pgrac_image export: write the live forks of a device as relation
 *	  files, the way back from the block device to md.
 *
 * Export a stopped server's device into its data directory, set
 * pgrac.storage_backend = 'md', start it: each live fork has become the
 * files md.c would have kept, at its path relative to a data directory
 * (global/, base/DB/ or pg_tblspc/SPC/<version directory>/DB/), in
 * segments of RELSEG_SIZE blocks, exactly EOF blocks long.  The free-space
 * maps never left the data directory; tombstones (forks unlinked, awaiting
 * a checkpoint) are not exported.
 *
 * Nothing is written before everything was checked: the device is
 * consistent, no file to write exists yet, every directory on the way is
 * a directory or can be created.  Writing into a data directory, the
 * cluster must be shut down cleanly and be the device's owner.  Every
 * file written is fsynced, then every directory that got a new entry.  An
 * export interrupted halfway leaves the files written so far and an
 * unchanged device: remove those files and export again.
 *
 * The device is only read: it still holds the relations afterwards, and
 * goes stale as soon as the cluster runs on md.  Format it before using it
 * again.
 *
 * src/tools/pgrac_image_export.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "common/file_utils.h"
#include "common/logging.h"
#include "common/relpath.h"
#include "storage/procnumber.h"
#include "pgrac/bd_binding.h"
#include "pgrac_image.h"

/* blocks copied per write: 1 MB */
#define COPY_BLOCKS		128

typedef struct ExportFork
{
	char	   *relpath;		/* relative to the target, segment 0 */
	const BdLoadedFork *fork;
	int			nsegments;
} ExportFork;

/* Directories that got a new entry, to be fsynced at the end */
typedef struct DirList
{
	char	  **dirs;
	int			count;
	int			capacity;
} DirList;

static void
dir_list_add(DirList *list, const char *dir)
{
	for (int i = 0; i < list->count; i++)
		if (strcmp(list->dirs[i], dir) == 0)
			return;
	if (list->count == list->capacity)
	{
		list->capacity = Max(16, list->capacity * 2);
		list->dirs = pg_realloc(list->dirs, sizeof(char *) * list->capacity);
	}
	list->dirs[list->count++] = pg_strdup(dir);
}

/* The directory holding path ("." for a bare name) */
static void
parent_dir(char *out, size_t size, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		strlcpy(out, ".", size);
	else if (slash == path)
		strlcpy(out, "/", size);
	else
		strlcpy(out, path, Min(size, (size_t) (slash - path) + 1));
}

/*
 * Each existing component of dir must be a directory (or a link to one, as
 * pg_tblspc's entries are); the missing ones will be created.
 */
static void
check_directory_path(const char *dir)
{
	char		path[MAXPGPATH];

	strlcpy(path, dir, sizeof(path));
	for (char *p = path + 1;; p++)
	{
		if (*p == '/' || *p == '\0')
		{
			char		save = *p;
			struct stat st;

			*p = '\0';
			if (stat(path, &st) < 0)
			{
				if (errno == ENOENT)
					return;
				refuse("could not stat \"%s\": %m", path);
			}
			if (!S_ISDIR(st.st_mode))
				refuse("cannot export into \"%s\": \"%s\" is not a directory", dir, path);
			*p = save;
			if (save == '\0')
				return;
		}
	}
}

/* Create dir and any missing parents, noting what must be fsynced. */
static void
make_directories(const char *dir, DirList *to_sync)
{
	char		path[MAXPGPATH];

	strlcpy(path, dir, sizeof(path));
	for (char *p = path + 1;; p++)
	{
		if (*p == '/' || *p == '\0')
		{
			char		save = *p;

			*p = '\0';
			if (mkdir(path, pg_dir_create_mode) == 0)
			{
				char		parent[MAXPGPATH];

				parent_dir(parent, sizeof(parent), path);
				dir_list_add(to_sync, parent);
				dir_list_add(to_sync, path);
			}
			else if (errno != EEXIST)
				device_error("could not create directory \"%s\": %m", path);
			*p = save;
			if (save == '\0')
				return;
		}
	}
}

static int
compare_relpaths(const void *a, const void *b)
{
	return strcmp(((const ExportFork *) a)->relpath, ((const ExportFork *) b)->relpath);
}

static void
segment_file(char *out, size_t size, const char *target, const char *relpath,
			 int segno)
{
	if (segno == 0)
		snprintf(out, size, "%s/%s", target, relpath);
	else
		snprintf(out, size, "%s/%s.%d", target, relpath, segno);
}

static void
write_file(int fd, const char *path, const char *buf, size_t len)
{
	size_t		done = 0;

	while (done < len)
	{
		ssize_t		n = write(fd, buf + done, len - done);

		if (n <= 0)
		{
			/* a short write without an error means the disk is full */
			if (n == 0 || errno == 0)
				errno = ENOSPC;
			device_error("could not write file \"%s\": %m", path);
		}
		done += n;
	}
}

/*
 * Write one segment: blocks [first, first + count) of the fork, read from
 * its extents; a block no extent maps reads as zeroes (the verifier
 * refuses an EOF beyond the extents, so that is a precaution).
 */
static void
export_segment(PgracTransport *dev, const BdSuperblock *sb, const BdLoadedFork *f,
			   const char *path, uint32 first, uint32 count, char *buf)
{
	int			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY,
						  pg_file_create_mode);
	uint32		block = first;

	if (fd < 0)
		device_error("could not create file \"%s\": %m", path);
	while (block < first + count)
	{
		uint32		extent_index = block / sb->extent_pages;
		uint32		n = Min(COPY_BLOCKS, first + count - block);

		/* a chunk stays within one extent, so it is contiguous on the device */
		n = Min(n, sb->extent_pages - block % sb->extent_pages);
		if (extent_index >= f->entry.nextents)
			memset(buf, 0, (size_t) n * BLCKSZ);
		else if (pgrac_read(dev, ((uint64) f->extents[extent_index] * sb->extent_pages +
								  block % sb->extent_pages) * BLCKSZ,
							buf, (size_t) n * BLCKSZ) < 0)
			transport_error(dev);
		write_file(fd, path, buf, (size_t) n * BLCKSZ);
		block += n;
	}
	if (fsync(fd) != 0)
		device_error("could not fsync file \"%s\": %m", path);
	if (close(fd) != 0)
		device_error("could not close file \"%s\": %m", path);
}

/*
 * When the target is a data directory: it must be stopped cleanly, belong
 * to the device's owner, and decides the permissions of what is created
 * (group access or not), as initdb set them.
 */
static bool
check_target_cluster(const char *target, const BdSuperblock *sb, const char *path)
{
	char		control[MAXPGPATH];
	struct stat st;
	ControlFileData *cf;

	snprintf(control, sizeof(control), "%s/global/pg_control", target);
	if (stat(control, &st) < 0)
	{
		if (errno == ENOENT)
			return false;		/* not a data directory: plain files */
		refuse("could not stat \"%s\": %m", control);
	}
	snprintf(control, sizeof(control), "cannot export into the data directory \"%s\"", target);
	cf = read_stopped_control_file(target, control, "its cluster",
								   "Shut the server down cleanly first.");
	if (sb->system_identifier != 0 && sb->system_identifier != cf->system_identifier)
		refuse("device \"%s\" belongs to the cluster with system identifier %llu, not to the one in \"%s\" (%llu)",
			   path, (unsigned long long) sb->system_identifier, target,
			   (unsigned long long) cf->system_identifier);
	{
		BdBinding	b;
		char		uuid[37];

		if (binding_read(target, &b) && !b.exported && memcmp(b.device_uuid, sb->device_uuid, 16) != 0)
		{
			bd_uuid_format(b.device_uuid, uuid);
			refuse("the data directory \"%s\" keeps its relation data on device %s (then at \"%s\"), not on \"%s\"",
				   target, uuid, b.device_path, path);
		}
	}
	if (!GetDataDirectoryCreatePerm(target))
		refuse("could not read the permissions of directory \"%s\": %m", target);
	umask(pg_mode_mask);
	pg_free(cf);
	return true;
}

int
cmd_export(const char *path, const char *target)
{
	PgracTransport *dev;
	BdIo		io;
	BdLoadedLayout l;
	ExportFork *forks;
	int			nforks = 0;
	int			ntombstones = 0;
	struct stat st;
	DirList		to_sync = {0};
	char	   *buf;
	uint64		nblocks = 0;
	int			nfiles = 0;
	bool		into_cluster = false;

	umask(pg_mode_mask);
	dev = open_device(path, false, false);
	io = device_io(dev);
	load_or_die(dev, &io, &l);
	check_device_size(dev, &l.sb);
	check_layout_or_die(dev, &io, &l);

	/*
	 * Forks on a device without an owner are an import that did not finish:
	 * pgrac_image import writes the layout before the data, so they may not
	 * hold what their EOF says.  The cluster's own files are still intact.
	 */
	if (l.sb.system_identifier == 0 && l.nforks > 0)
	{
		pg_log_error("device \"%s\" holds %d relation forks but no owner: an import that did not finish, whose data may be incomplete",
					 path, l.nforks);
		pg_log_error_hint("The cluster's relation files are still in its data directory; nothing needs exporting.");
		exit(EXIT_DEVICE);
	}

	/* the target: ours to write into */
	if (stat(target, &st) == 0)
	{
		if (!S_ISDIR(st.st_mode))
			refuse("cannot export into \"%s\": it is not a directory", target);
		if (st.st_uid != geteuid())
			refuse("cannot export into \"%s\": it belongs to user ID %u, and this process runs as %u; run %s as the directory's owner so that the server can use the files",
				   target, (unsigned) st.st_uid, (unsigned) geteuid(), progname);
		into_cluster = check_target_cluster(target, &l.sb, path);
	}
	else if (errno != ENOENT)
		refuse("could not stat \"%s\": %m", target);

	/* every file it will write, none of which may exist */
	forks = pg_malloc(sizeof(ExportFork) * Max(l.nforks, 1));
	for (int i = 0; i < l.nforks; i++)
	{
		const BdLoadedFork *f = &l.forks[i];

		if (f->entry.state != BD_ENTRY_LIVE)
		{
			ntombstones++;
			continue;
		}
		forks[nforks].fork = f;
		forks[nforks].relpath = GetRelationPath(f->entry.dboid, f->entry.spcoid,
												f->entry.relnumber, INVALID_PROC_NUMBER,
												(ForkNumber) f->entry.fork);
		forks[nforks].nsegments = f->entry.nblocks == 0 ? 1 :
			(int) ((f->entry.nblocks + (uint64) RELSEG_SIZE - 1) / RELSEG_SIZE);
		nforks++;
	}
	if (nforks > 0)
		qsort(forks, nforks, sizeof(ExportFork), compare_relpaths);
	for (int i = 0; i < nforks; i++)
	{
		char		dir[MAXPGPATH];
		char		file[MAXPGPATH + 16];

		if (i > 0 && strcmp(forks[i].relpath, forks[i - 1].relpath) == 0)
			refuse("device \"%s\" lists relation fork \"%s\" twice (directory pages %llu and %llu)",
				   path, forks[i].relpath,
				   (unsigned long long) forks[i - 1].fork->dir_page,
				   (unsigned long long) forks[i].fork->dir_page);
		for (int s = 0; s < forks[i].nsegments; s++)
		{
			segment_file(file, sizeof(file), target, forks[i].relpath, s);
			if (lstat(file, &st) == 0)
				refuse("file \"%s\" already exists; export does not overwrite files", file);
			if (errno != ENOENT)
				refuse("could not stat \"%s\": %m", file);
		}
		parent_dir(dir, sizeof(dir), file);
		check_directory_path(dir);
	}

	/* write */
	buf = pg_malloc((size_t) COPY_BLOCKS * BLCKSZ);
	make_directories(target, &to_sync);
	for (int i = 0; i < nforks; i++)
	{
		const BdLoadedFork *f = forks[i].fork;
		char		file[MAXPGPATH + 16];
		char		dir[MAXPGPATH];

		segment_file(file, sizeof(file), target, forks[i].relpath, 0);
		parent_dir(dir, sizeof(dir), file);
		make_directories(dir, &to_sync);
		dir_list_add(&to_sync, dir);
		for (int s = 0; s < forks[i].nsegments; s++)
		{
			uint32		first = (uint32) s * RELSEG_SIZE;

			segment_file(file, sizeof(file), target, forks[i].relpath, s);
			export_segment(dev, &l.sb, f, file, first,
						   Min((uint32) RELSEG_SIZE, f->entry.nblocks - first), buf);
			nfiles++;
		}
		nblocks += f->entry.nblocks;
	}
	pg_free(buf);

	/* the new entries: files first (done), then the directories */
	for (int i = 0; i < to_sync.count; i++)
		if (fsync_fname(to_sync.dirs[i], true) != 0)
			exit(EXIT_DEVICE);

	/*
	 * The files are durable: the data directory holds its data again, and the
	 * device, still naming the cluster as owner, goes stale.
	 */
	if (into_cluster)
	{
		BdBinding	b;

		if (!binding_read(target, &b))
		{
			memset(&b, 0, sizeof(b));
			b.system_identifier = l.sb.system_identifier;
			memcpy(b.device_uuid, l.sb.device_uuid, 16);
			strlcpy(b.device_path, path, sizeof(b.device_path));
		}
		b.exported = true;
		binding_write(target, &b);
	}

	printf("exported %d relation forks (%d files, %llu blocks, %llu MB) from \"%s\" into \"%s\"",
		   nforks, nfiles, (unsigned long long) nblocks,
		   (unsigned long long) (nblocks * BLCKSZ >> 20), path, target);
	if (ntombstones > 0)
		printf("; %d unlinked forks skipped", ntombstones);
	printf("\n");
	for (int i = 0; i < nforks; i++)
		pg_free(forks[i].relpath);
	pg_free(forks);
	bd_image_release(&io, &l);
	pgrac_transport_close(dev);
	return 0;
}
