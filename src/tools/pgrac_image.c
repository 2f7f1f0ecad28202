/*-------------------------------------------------------------------------
 *
 * pgrac_image.c
 *	  Offline tool for pgrac_storage block devices and image files.
 *
 *	  pgrac_image format --device=PATH [--size=SIZE] [--max-size=SIZE]
 *	                     [--extent-size=SIZE] [--metadata-pages=N] [--force]
 *	  pgrac_image verify --device=PATH
 *	  pgrac_image ls     --device=PATH
 *	  pgrac_image grow   --device=PATH [--size=SIZE]
 *	  pgrac_image import --device=PATH --pgdata=DIR
 *	  pgrac_image export --device=PATH --target=DIR
 *	  pgrac_image backup, finish-backup, verify-backup, restore
 *	                     (pgrac_image_backup.c)
 *
 * Exit status: 0 success; 1 verify found problems; 2 usage error; 3 the
 * device could not be read, written or understood, or the command refused
 * to act (device in use, not empty, too small, a file in the way).
 *
 * A running server holds an exclusive flock on its device.  Commands that
 * change the device (format, grow, import) take an exclusive lock as well,
 * the others (verify, ls, export) a shared one, without waiting: a device
 * in use is refused, never read half-changed or changed underneath the
 * server.  Every command checks all it can before its first write, so a
 * refusal changes nothing.
 *
 * The device is reached only through the device transport
 * (pgrac/transport.h), as the server reaches it: the same open, lock,
 * transfers, zeroing and flush, so the tool and the server cannot drift
 * apart in how they treat a device.  A failed transport call exits with
 * the transport's own sentence, which names the device, offset and length.
 *
 * This file has the commands on the device alone; import and export, which
 * move relation files between a data directory and the device, live in
 * pgrac_image_import.c and pgrac_image_export.c.
 *
 * src/tools/pgrac_image.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file_utils.h"
#include "common/logging.h"
#include "pgrac/bd_binding.h"
#include "pgrac/bd_memory.h"
#include "pgrac_image.h"

const char *progname;

static void *
dev_alloc(void *arg, size_t size)
{
	return pg_malloc0(size);
}

static void
dev_free(void *arg, void *ptr)
{
	pg_free(ptr);
}

static void
usage(void)
{
	printf("%s manages pgrac_storage block devices and image files offline.\n\n", progname);
	printf("Usage:\n");
	printf("  %s format --device=PATH [OPTION]...\n", progname);
	printf("  %s verify --device=PATH\n", progname);
	printf("  %s ls     --device=PATH\n", progname);
	printf("  %s grow   --device=PATH [--size=SIZE]\n", progname);
	printf("  %s import --device=PATH --pgdata=DIR\n", progname);
	printf("  %s export --device=PATH --target=DIR\n", progname);
	printf("  %s backup --device=PATH --target=DIR --start-lsn=LSN [--timeline=N]\n", progname);
	printf("         [--incremental-from=PARENT --pgdata=DATADIR]\n");
	printf("  %s finish-backup --target=DIR --stop-lsn=LSN\n", progname);
	printf("  %s verify-backup --target=DIR [--target=DIR ...]\n", progname);
	printf("  %s restore --device=PATH --target=DIR [--target=DIR ...]\n", progname);
	printf("\nCommands:\n");
	printf("  format   zero the device and write an empty pgrac_storage layout\n");
	printf("           (refuses to overwrite anything without --force)\n");
	printf("  verify   check every metadata page and the layout invariants\n");
	printf("  ls       list the relation forks with their EOF and extents\n");
	printf("  grow     let the device use more extents, up to the capacity it was\n");
	printf("           formatted for: an image file grows to --size, a block device\n");
	printf("           (a LUN that was enlarged) to its current size\n");
	printf("  import   move the relation files of a cleanly shut down cluster into\n");
	printf("           an empty device and make the cluster its owner\n");
	printf("  export   write the device's relations as relation files under a\n");
	printf("           directory (a stopped cluster's data directory, to go back to md)\n");
	printf("  backup   copy the metadata and the allocated extents of a device into\n");
	printf("           a directory, while its server runs, between pg_backup_start()\n");
	printf("           and pg_backup_stop() (docs/backup.md); the device is read\n");
	printf("           without a lock\n");
	printf("  finish-backup  write the manifest with pg_backup_stop()'s LSN\n");
	printf("  verify-backup  check a backup's files against its manifest; given a\n");
	printf("           chain (full, then incrementals), also that each is its\n");
	printf("           predecessor's child\n");
	printf("  restore  write a verified backup, or a chain of them, onto a device\n");
	printf("           not in use, at least as large, zeroing everything the\n");
	printf("           backup does not hold\n");
	printf("\nOptions:\n");
	printf("  -d, --device=PATH       block device or image file\n");
	printf("  -s, --size=SIZE         format: size of a new image file (default 64MB;\n");
	printf("                          a block device is used whole)\n");
	printf("                          grow: new size, a multiple of the extent size\n");
	printf("                          (required for an image file; a block device\n");
	printf("                          defaults to its current size)\n");
	printf("  -m, --max-size=SIZE     format: largest size the device may grow to (default\n");
	printf("                          64GB for an image file, a block device's size)\n");
	printf("  -e, --extent-size=SIZE  format: extent size, a power of two from 64kB\n");
	printf("                          to 1GB (default: 128kB up to 128GB of --max-size,\n");
	printf("                          larger beyond, so that the server's metadata memory\n");
	printf("                          stays within 32MB per TB)\n");
	printf("  -M, --metadata-pages=N  format: pages for directory and extent maps\n");
	printf("                          (default: sized for --max-size)\n");
	printf("  -f, --force             format: overwrite an existing pgrac_storage layout\n");
	printf("  -D, --pgdata=DIR        import: data directory of the cluster to import\n");
	printf("                          backup --incremental-from: the running server's\n");
	printf("                          data directory (its pg_wal/summaries)\n");
	printf("  -t, --target=DIR        export: directory to write the relation files\n");
	printf("                          under, at their paths relative to a data directory\n");
	printf("                          backup commands: the backup's directory;\n");
	printf("                          verify-backup and restore: repeated for a chain,\n");
	printf("                          the full backup first\n");
	printf("      --start-lsn=LSN     backup: the LSN pg_backup_start() returned\n");
	printf("      --timeline=N        backup: the server's timeline (default 1)\n");
	printf("      --incremental-from=DIR  backup: copy only what changed since the\n");
	printf("                          backup in DIR (summarize_wal must be on)\n");
	printf("      --wait-for-summaries=SECONDS  backup --incremental-from: how long to\n");
	printf("                          wait for the WAL summarizer to reach the start\n");
	printf("                          LSN (default 60)\n");
	printf("      --stop-lsn=LSN      finish-backup: the LSN pg_backup_stop() returned\n");
	printf("  -?, --help              show this help, then exit\n");
	printf("\nSIZE is a number of bytes with an optional kB, MB, GB or TB suffix (powers of 1024).\n");
	printf("\nThe device must not be in use (a device a running server holds is refused),\nexcept by backup, which reads it while the server runs.\n");
	printf("\nExit status: 0 success, 1 verify found problems, 2 usage error,\n");
	printf("3 the device could not be read, written or understood, or the command\n");
	printf("refused to act (nothing was changed then).\n");
}

/*
 * Report an error and exit with code; a usage error points at --help.
 * Everything is checked before a command's first write, so exiting here
 * never leaves a half-done change behind, except where the command says
 * otherwise (an I/O error in the middle of a copy).
 */
void
fail(int code, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	pg_log_generic_v(PG_LOG_ERROR, PG_LOG_PRIMARY, fmt, ap);
	va_end(ap);
	if (code == EXIT_USAGE)
		pg_log_error_hint("Try \"%s --help\" for more information.", progname);
	exit(code);
}

static uint64
parse_size(const char *option, const char *value)
{
	char	   *end;
	unsigned long long n;
	uint64		unit = 1;

	errno = 0;
	n = strtoull(value, &end, 10);
	if (errno != 0 || end == value || value[0] == '-')
		usage_error("invalid value \"%s\" for option %s", value, option);
	if (pg_strcasecmp(end, "kB") == 0)
		unit = UINT64CONST(1) << 10;
	else if (pg_strcasecmp(end, "MB") == 0)
		unit = UINT64CONST(1) << 20;
	else if (pg_strcasecmp(end, "GB") == 0)
		unit = UINT64CONST(1) << 30;
	else if (pg_strcasecmp(end, "TB") == 0)
		unit = UINT64CONST(1) << 40;
	else if (*end != '\0')
		usage_error("invalid unit \"%s\" for option %s (use kB, MB, GB or TB)", end, option);
	if (n > PG_UINT64_MAX / unit)
		usage_error("value \"%s\" for option %s is too large", value, option);
	return n * unit;
}

/*
 * Open the device through the transport and lock it: exclusively to
 * change it, shared to read it.  A server holds an exclusive lock for as
 * long as it runs, so either kind fails while one does; so does a reader
 * while a writer works.  create: a new image file, which must not exist
 * yet.
 */
PgracTransport *
open_device(const char *path, bool create, bool writable)
{
	PgracTransportOptions options = {.writable = writable,.create = create};
	PgracTransportError error;
	PgracTransport *dev = pgrac_transport_open(path, &options, &error);

	if (dev == NULL)
		device_error("%s", error.message);
	if (pgrac_lock(dev, writable) < 0)
	{
		if (dev->error.kind == PGRAC_TE_IN_USE)
		{
			pg_log_error("device \"%s\" is in use by another process (a running server?)", path);
			pg_log_error_hint("Stop the server using it first; \"fuser -v %s\" names the process.", path);
			exit(EXIT_DEVICE);
		}
		transport_error(dev);
	}
	return dev;
}

/*
 * Open the device to read it while a server may be running on it, without
 * a lock (backup: what it reads may change under it, and the restore
 * repairs that from the WAL; docs/backup.md).  With direct I/O and
 * io_uring where the device allows them, so that several large reads are
 * in flight; through the page cache, one at a time, where it does not
 * (said on standard error).
 */
PgracTransport *
open_device_unlocked(const char *path)
{
	PgracTransportOptions options = {.writable = false,.create = false,
	.direct = true,.async = true,.queue_depth = 8};
	PgracTransportError error;
	PgracTransport *dev = pgrac_transport_open(path, &options, &error);

	if (dev == NULL && error.kind == PGRAC_TE_UNSUPPORTED)
	{
		pg_log_info("direct I/O or io_uring is not available on \"%s\" (%s): reading through the page cache",
					path, error.message);
		options.direct = false;
		options.async = false;
		dev = pgrac_transport_open(path, &options, &error);
	}
	if (dev == NULL)
		device_error("%s", error.message);
	return dev;
}

BdIo
device_io(PgracTransport *dev)
{
	BdIo		io = {pgrac_transport_read_page, pgrac_transport_write_page,
	dev_alloc, dev_free, dev};

	return io;
}

/* The first two pages are zero (or missing): nothing to destroy. */
static bool
device_is_blank(PgracTransport *dev)
{
	uint8		pages[2 * BD_PAGE_SIZE];
	size_t		len = (size_t) Min(dev->size, (uint64) sizeof(pages));

	/* the transport refuses a read past the end: read what there is */
	if (len > 0 && pgrac_read(dev, 0, pages, len) < 0)
		transport_error(dev);
	for (size_t i = 0; i < len; i++)
		if (pages[i] != 0)
			return false;
	return true;
}

/* bytes as "64 MB" when a whole number of a unit, else "N bytes" */
static const char *
size_text(uint64 bytes, char *buf, size_t len)
{
	static const char *const units[] = {"TB", "GB", "MB", "kB"};

	for (int i = 0; i < (int) lengthof(units); i++)
	{
		uint64		unit = UINT64CONST(1) << (10 * (4 - i));

		if (bytes >= unit && bytes % unit == 0)
		{
			snprintf(buf, len, "%llu %s", (unsigned long long) (bytes / unit), units[i]);
			return buf;
		}
	}
	snprintf(buf, len, "%llu bytes", (unsigned long long) bytes);
	return buf;
}

/*
 * The image file format created, removed again if format fails before it
 * is done: a refused format leaves no file behind.  The inode is compared
 * so that only the file this process created is removed.
 */
static const char *created_path;
static dev_t created_dev;
static ino_t created_ino;

static void
remove_created_file(void)
{
	struct stat st;

	if (created_path != NULL && stat(created_path, &st) == 0 &&
		st.st_dev == created_dev && st.st_ino == created_ino)
		unlink(created_path);
}

/*
 * The geometry of a format with these sizes, or a refusal naming the
 * option at fault and what it allows.  size is the image file's size or
 * the block device's; nothing has been changed yet.
 */
static void
plan_format(const char *path, bool is_block_device, uint64 size,
			uint64 max_size, bool max_size_given, uint64 extent_bytes,
			uint32 metadata_pages, BdFormatParams *p)
{
	char		error[512];
	char		s1[32],
				s2[32],
				s3[32];
	BdSuperblock planned;
	uint32		min_extents;
	bool		max_is_device = is_block_device && !max_size_given;
	const char *too_small;

	memset(p, 0, sizeof(*p));
	p->extent_pages = (uint32) (extent_bytes / BD_PAGE_SIZE);
	p->metadata_pages = metadata_pages; /* 0: sized for max_extents */
	if (max_size / extent_bytes > PG_UINT32_MAX)
		usage_error("%s (%s) would need more than %u extents of %s: give a larger --extent-size",
					max_is_device ? "the block device" : "--max-size",
					size_text(max_size, s1, sizeof(s1)), PG_UINT32_MAX,
					size_text(extent_bytes, s2, sizeof(s2)));
	p->max_extents = (uint32) (max_size / extent_bytes);
	p->nextents = (uint32) (size / extent_bytes);

	/*
	 * The metadata is sized for the maximum size, so the smallest device
	 * depends on --max-size (or --metadata-pages) as much as on the extent
	 * size.  A maximum too small for the metadata it needs makes the device
	 * too small too; the maximum it takes is found by raising it until the
	 * metadata sized for it fits (a few rounds: the default metadata grows by
	 * about a page per 680 extents).
	 */
	min_extents = bd_image_min_extents(p);
	if (!is_block_device && p->max_extents < min_extents)
	{
		BdFormatParams q = *p;

		do
		{
			q.max_extents = min_extents;
			min_extents = bd_image_min_extents(&q);
		} while (q.max_extents < min_extents);
		too_small = "--max-size";
		size = max_size;
	}
	else if (p->nextents < min_extents)
		too_small = is_block_device ? "block device" : "--size";
	else
		too_small = NULL;
	if (too_small)
	{
		uint64		min_bytes = (uint64) min_extents * extent_bytes;

		if (is_block_device)
			pg_log_error("block device \"%s\" (%s) is too small: its metadata fills %u extent%s of %s, so the device needs at least %u (%s)",
						 path, size_text(size, s1, sizeof(s1)), min_extents - 1,
						 min_extents - 1 == 1 ? "" : "s", size_text(extent_bytes, s2, sizeof(s2)),
						 min_extents, size_text(min_bytes, s3, sizeof(s3)));
		else
			pg_log_error("%s (%s) is too small: the metadata fills %u extent%s of %s, so an image needs at least %u extents (%s)",
						 too_small, size_text(size, s1, sizeof(s1)), min_extents - 1,
						 min_extents - 1 == 1 ? "" : "s", size_text(extent_bytes, s2, sizeof(s2)),
						 min_extents, size_text(min_bytes, s3, sizeof(s3)));
		if (metadata_pages == 0)
			pg_log_error_detail("The metadata is sized for %s (%s): %u pages of directory and extent maps, besides the allocation map.",
								max_is_device ? "the device's size" : "--max-size",
								size_text(max_size, s1, sizeof(s1)),
								bd_default_metadata_pages(p->max_extents));
		if (is_block_device)
			pg_log_error_hint("Use a larger device, or give a smaller %s--metadata-pages or --extent-size.",
							  max_size_given ? "--max-size, " : "");
		else if (strcmp(too_small, "--max-size") == 0)
			pg_log_error_hint("Give a --max-size (and a --size) of at least %s, or a smaller --metadata-pages or --extent-size.",
							  size_text(min_bytes, s1, sizeof(s1)));
		else
			pg_log_error_hint("Give a --size of at least %s, or a smaller --max-size, --metadata-pages or --extent-size.",
							  size_text(min_bytes, s1, sizeof(s1)));

		/*
		 * a device too small is what was found; an option too small, a usage
		 * error
		 */
		exit(is_block_device ? EXIT_DEVICE : EXIT_USAGE);
	}

	if (!bd_uuid_generate(p->device_uuid))
		device_error("could not generate a UUID for the device: no strong random source");
	/* anything left to catch, in the shared code's words */
	if (!bd_image_check_params(p, &planned, error, sizeof(error)))
		usage_error("cannot format \"%s\": %s", path, error);
}

/*
 * The extent size to format with: the one given, or the default for a
 * device that may grow to max_size (bd_default_extent_pages(): larger
 * extents for large devices, so that the server's metadata memory stays
 * within its budget per TiB).
 */
static uint64
format_extent_bytes(uint64 extent_size, uint64 max_size)
{
	if (extent_size != 0)
		return extent_size;
	return (uint64) bd_default_extent_pages(max_size) * BD_PAGE_SIZE;
}

/* The metadata area a format with these parameters gets. */
static uint32
planned_metadata_pages(const BdFormatParams *p)
{
	return p->metadata_pages != 0 ? p->metadata_pages :
		bd_default_metadata_pages(p->max_extents);
}

/*
 * Everything is checked before the device is opened for writing where
 * that can be done without it (an image file's geometry), and before the
 * first write otherwise (a block device's size, what the device holds), so
 * that a refusal changes nothing and creates nothing.
 */
static int
cmd_format(const char *path, uint64 size, bool size_given, uint64 max_size,
		   bool max_size_given, uint64 extent_size, uint32 metadata_pages,
		   bool force)
{
	PgracTransport *dev;
	BdIo		io;
	BdFormatParams p;
	BdLoadedLayout existing;
	char		error[512];
	char		s1[32],
				s2[32];
	struct stat st;
	bool		exists;
	uint64		extent_bytes;
	uint64		memory;

	if (extent_size != 0 &&
		(extent_size < 65536 || extent_size > (UINT64CONST(1) << 30) ||
		 (extent_size & (extent_size - 1)) != 0))
		usage_error("--extent-size (%s) must be a power of two from 64kB to 1GB",
					size_text(extent_size, s1, sizeof(s1)));

	if (stat(path, &st) == 0)
	{
		exists = true;
		if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode))
			device_error("\"%s\" is neither a block device nor a regular file", path);
	}
	else if (errno == ENOENT)
		exists = false;
	else
		device_error("could not stat \"%s\": %m", path);

	if (exists && S_ISBLK(st.st_mode))
	{
		/*
		 * Used whole; the metadata may be sized for more, so that the device
		 * can grow when its LUN is enlarged (pgrac_image grow).  Its size
		 * needs it opened, which changes nothing.
		 */
		if (size_given)
			usage_error("--size does not apply to a block device, which is used whole");
		dev = open_device(path, false, true);
		size = dev->size;
		if (!max_size_given)
			max_size = dev->size;
		else if (max_size < size)
			usage_error("--max-size (%s) is smaller than block device \"%s\" (%s)",
						size_text(max_size, s1, sizeof(s1)), path, size_text(size, s2, sizeof(s2)));
		extent_bytes = format_extent_bytes(extent_size, max_size);
		plan_format(path, true, size, max_size, max_size_given, extent_bytes,
					metadata_pages, &p);
	}
	else
	{
		if (size > max_size)
			usage_error("--size (%s) exceeds --max-size (%s)",
						size_text(size, s1, sizeof(s1)), size_text(max_size, s2, sizeof(s2)));
		extent_bytes = format_extent_bytes(extent_size, max_size);
		plan_format(path, false, size, max_size, max_size_given, extent_bytes,
					metadata_pages, &p);
		dev = open_device(path, !exists, true);
		if (!exists)
		{
			/* the file open just created (O_EXCL): its inode, for the cleanup */
			if (stat(path, &st) < 0)
				device_error("could not stat \"%s\": %m", path);
			created_path = path;
			created_dev = st.st_dev;
			created_ino = st.st_ino;
			atexit(remove_created_file);
		}
	}
	io = device_io(dev);

	/* never destroy anything by accident */
	if (!force && !device_is_blank(dev))
	{
		bool		ours = bd_image_load(&io, &existing, error, sizeof(error));

		bd_image_release(&io, &existing);
		device_error("\"%s\" %s; use --force to overwrite it", path,
					 ours ? "already holds a pgrac_storage layout" :
					 "is not empty (its first 16 kB are not zero)");
	}

	/*
	 * The server hands out only extents that read as zeroes, and trusts a
	 * freshly formatted device to be all zeroes: zero it first (a block
	 * device with BLKZEROOUT, which thin devices and loop devices turn into
	 * discards; an image file by truncating it to nothing).  An image file to
	 * be enlarged is enlarged first, so that a size the file system refuses
	 * (EFBIG, a quota) is refused with the file as it was.
	 */
	if (dev->kind == PGRAC_DEVICE_BLOCK)
	{
		if (pgrac_zero(dev, 0, dev->size) < 0)
			transport_error(dev);
	}
	else if ((size > dev->size && pgrac_resize(dev, size) < 0) ||
			 pgrac_resize(dev, 0) < 0 || pgrac_resize(dev, size) < 0)
		device_error("could not resize image file \"%s\" to %s: %s",
					 path, size_text(size, s1, sizeof(s1)), strerror(dev->error.errnum));

	if (!bd_image_format(&io, &p, error, sizeof(error)))
		device_error("could not format \"%s\": %s", path, error);
	if (pgrac_flush(dev) < 0)
		transport_error(dev);
	pgrac_transport_close(dev);
	created_path = NULL;
	printf("formatted \"%s\": %u extents of %llu kB (%llu MB), metadata sized for %u extents\n",
		   path, p.nextents, (unsigned long long) extent_bytes / 1024,
		   (unsigned long long) (uint64) p.nextents * extent_bytes / (1024 * 1024),
		   p.max_extents);
	memory = bd_memory_bytes(p.max_extents, planned_metadata_pages(&p));
	printf("a server on it needs at most %llu MB of shared memory for the metadata%s\n",
		   (unsigned long long) ((memory + (1 << 20) - 1) >> 20),
		   memory > bd_memory_budget(max_size) ?
		   " (over the default's budget: a larger --extent-size or a smaller --max-size or --metadata-pages needs less)" : "");
	return 0;
}

void
load_or_die(PgracTransport *dev, const BdIo *io, BdLoadedLayout *layout)
{
	char		error[512];

	if (!bd_image_load(io, layout, error, sizeof(error)))
		device_error("\"%s\": %s", dev->path, error);
}

/* The device must be at least as large as its superblock says. */
void
check_device_size(PgracTransport *dev, const BdSuperblock *sb)
{
	uint64		bytes = (uint64) sb->nextents * sb->extent_pages * BD_PAGE_SIZE;

	if (bytes > dev->size)
		device_error("\"%s\": the superblock describes %llu bytes but the device has %llu",
					 dev->path, (unsigned long long) bytes,
					 (unsigned long long) dev->size);
}

/*
 * Commands that copy relation data trust the layout only when the verifier
 * finds nothing wrong with it.
 */
void
check_layout_or_die(PgracTransport *dev, const BdIo *io, const BdLoadedLayout *layout)
{
	BdProblem	problem;
	int			n = bd_image_verify(io, layout, &problem, 1);

	if (n > 0)
	{
		pg_log_error("\"%s\" has an inconsistent layout (%d problem%s; the first: %s, extent %u)",
					 dev->path, n, n == 1 ? "" : "s", bd_problem_text(problem.kind),
					 problem.extent);
		pg_log_error_hint("\"%s verify --device=%s\" lists them.", progname, dev->path);
		exit(EXIT_DEVICE);
	}
}

/* "an allocation map", "a directory", ... */
static const char *
page_type_with_article(uint16 type)
{
	switch (type)
	{
		case BD_PAGE_SUPERBLOCK:
			return "a superblock";
		case BD_PAGE_ALLOC_MAP:
			return "an allocation map";
		case BD_PAGE_DIRECTORY:
			return "a directory";
		case BD_PAGE_EXTENT_MAP:
			return "an extent map";
	}
	return "an unknown type of";
}

/* "fork S/D/R/F (directory page P, entry N)" of a loaded fork */
static void
print_fork(const BdLoadedLayout *l, int fork)
{
	const BdLoadedFork *f = &l->forks[fork];

	printf("fork %u/%u/%u/%u (directory page %llu, entry %d)",
		   f->entry.spcoid, f->entry.dboid, f->entry.relnumber, f->entry.fork,
		   (unsigned long long) f->dir_page, f->slot);
}

/*
 * One metadata problem: what is wrong with which page, as a load says it,
 * then on a second line where the page was reached from and what the
 * check could not look at because of it.
 */
static void
print_meta_problem(const BdLoadedLayout *l, const BdMetaProblem *p)
{
	char text[	512];

	bd_image_meta_problem_text(l, p, text, sizeof(text));
	printf("problem: %s", text);
	if (p->kind == BD_META_DAMAGED && p->page_error == BD_PAGE_WRONG_ADDRESS)
		printf("; the page there says it belongs at page address %llu",
			   (unsigned long long) p->found_address);
	else if (p->kind == BD_META_DAMAGED && p->page_error == BD_PAGE_WRONG_TYPE)
		printf("; the page there is %s page", page_type_with_article(p->found_type));
	printf("\n");

	if (p->kind == BD_META_BAD_ENTRY)
		printf("  the entry is skipped: the extents of its fork, if it has any, are not checked\n");
	else if (p->fork >= 0)
	{
		const BdLoadedFork *f = &l->forks[p->fork];

		printf("  in the extent map of ");
		print_fork(l, p->fork);
		if (p->kind != BD_META_MAP_SHORT)
			printf(", reached from %s page %llu",
				   p->from == f->dir_page ? "its directory" : "extent map",
				   (unsigned long long) p->from);
		printf(": %u of its %u extents are not checked, nor is its EOF\n",
			   f->entry.nextents - p->extents_read, f->entry.nextents);
	}
	else if (p->type == BD_PAGE_ALLOC_MAP)
	{
		uint64		start = (p->address - BD_FIRST_ALLOC_MAP_PAGE) * BD_ALLOC_BITS_PER_PAGE;
		uint32		first;
		uint32		last;

		/* the reserved extents are allocated whatever the map says */
		first = (uint32) Max(start, l->alloc.reserved);
		last = (uint32) Min(start + BD_ALLOC_BITS_PER_PAGE, l->sb.nextents) - 1;
		if (start >= l->sb.nextents)
			printf("  it covers only extents beyond the device's current size, none of which is checked against it\n");
		else
			printf("  whether extents %u .. %u are free or allocated is not known; they are not checked against it\n",
				   first, last);
	}
	else if (p->type == BD_PAGE_DIRECTORY && p->from == 0)
		printf("  it is the directory's first page: no fork is checked\n");
	else if (p->type == BD_PAGE_DIRECTORY)
		printf("  reached from directory page %llu; the directory is not followed past it: the forks of any later page are not checked\n",
			   (unsigned long long) p->from);
}

static void
print_layout_problem(const BdLoadedLayout *l, const BdProblem *p)
{
	printf("problem: %s", bd_problem_text(p->kind));
	if (p->extent != BD_NO_EXTENT)
		printf(": extent %u (byte offset %llu)", p->extent,
			   (unsigned long long) p->extent * l->sb.extent_pages * BD_PAGE_SIZE);
	if (p->fork >= 0)
	{
		printf(", ");
		print_fork(l, p->fork);
	}
	if (p->kind == BD_PROBLEM_EXTENT_OWNED_TWICE && p->other_fork >= 0)
	{
		printf(", and ");
		print_fork(l, p->other_fork);
	}
	printf("\n");
}

/*
 * Everything wrong with the device, as far as it can be read: each problem
 * with a metadata page or entry, the layout invariants over what could be
 * read, notes for what could not be checked, and a count.  Exit 1 when
 * anything is wrong; 3 (as every command) when there is no superblock to
 * start from.
 */
static int
cmd_verify(const char *path)
{
	PgracTransport *dev;
	BdIo		io;
	BdLoadedLayout l;
	char		error[512];
	BdProblem	first[100];
	BdProblem  *problems = first;
	int			n;
	int			total;
	int			unsettled = 0;

	dev = open_device(path, false, false);
	io = device_io(dev);
	if (!bd_image_check(&io, &l, error, sizeof(error)))
		device_error("\"%s\": %s", path, error);
	check_device_size(dev, &l.sb);
	{
		char		uuid[37];

		bd_uuid_format(l.sb.device_uuid, uuid);
		if (l.sb.system_identifier != 0)
			printf("device UUID %s, owned by the cluster with system identifier %llu\n",
				   uuid, (unsigned long long) l.sb.system_identifier);
		else
			printf("device UUID %s, owned by no cluster\n", uuid);
	}
	if (l.sb_error_a != BD_PAGE_OK || l.sb_error_b != BD_PAGE_OK)
		printf("note: superblock copy %c is damaged (%s); copy %c (generation %llu) is in use\n",
			   l.sb_error_a != BD_PAGE_OK ? 'A' : 'B',
			   bd_page_error_text(l.sb_error_a != BD_PAGE_OK ? l.sb_error_a : l.sb_error_b),
			   l.sb_copy == 0 ? 'A' : 'B', (unsigned long long) l.sb.generation);

	for (int i = 0; i < l.nmeta_problems; i++)
		print_meta_problem(&l, &l.meta_problems[i]);

	/* every layout problem, however many */
	n = bd_image_verify(&io, &l, first, lengthof(first));
	if (n > (int) lengthof(first))
	{
		problems = pg_malloc(n * sizeof(BdProblem));
		n = bd_image_verify(&io, &l, problems, n);
	}
	for (int i = 0; i < n; i++)
		print_layout_problem(&l, &problems[i]);
	if (l.owners_unknown)
		printf("note: no extent is reported as owned by nobody: not every fork's extents could be read\n");
	/* not problems: the server settles or reclaims them (block-device.md) */
	for (int i = 0; i < l.nforks; i++)
	{
		const BdDirEntry *e = &l.forks[i].entry;

		if (e->state == BD_ENTRY_LIVE && e->create_xid != 0)
		{
			printf("note: relation %u/%u/%u was created by transaction %u, not yet known to have committed when the device was last written; the server keeps it if that transaction committed or is prepared, and reclaims its space otherwise, at its next checkpoint\n",
				   e->spcoid, e->dboid, e->relnumber, e->create_xid);
			unsettled++;
		}
	}

	total = l.nmeta_problems + n;
	printf("%s: %d fork%s%s, ", path, l.nforks, l.nforks == 1 ? "" : "s",
		   l.directory_cut ? " read" : "");
	if (l.nalloc_pages_unknown == 0)
		printf("%u of %u extents free, ", l.alloc.nfree, l.alloc.nextents);
	else
		printf("free extents unknown, ");
	printf("%d problem%s", total, total == 1 ? "" : "s");
	if (total > 0)
		printf(" (%d in metadata pages, %d in the layout)", l.nmeta_problems, n);
	if (unsettled > 0)
		printf("; %d relation%s of creators not known to have committed", unsettled,
			   unsettled == 1 ? "" : "s");
	printf("\n");

	if (problems != first)
		pg_free(problems);
	bd_image_release(&io, &l);
	pgrac_transport_close(dev);
	return total == 0 ? 0 : EXIT_PROBLEMS;
}

static int
cmd_ls(const char *path)
{
	PgracTransport *dev;
	BdIo		io;
	BdLoadedLayout l;
	uint64		extent_bytes;
	static const char *const forknames[] = {"main", "fsm", "vm", "init"};

	dev = open_device(path, false, false);
	io = device_io(dev);
	load_or_die(dev, &io, &l);
	extent_bytes = (uint64) l.sb.extent_pages * BD_PAGE_SIZE;
	printf("%-10s %-10s %-12s %-5s %-10s %-10s %s\n",
		   "spcoid", "dboid", "relfilenode", "fork", "state", "nblocks", "extents");
	for (int i = 0; i < l.nforks; i++)
	{
		const BdLoadedFork *f = &l.forks[i];
		uint32		j = 0;

		printf("%-10u %-10u %-12u %-5s %-10s %-10u ",
			   f->entry.spcoid, f->entry.dboid, f->entry.relnumber,
			   forknames[f->entry.fork],
			   f->entry.state == BD_ENTRY_LIVE ? "live" : "tombstone",
			   f->entry.nblocks);
		/* extents as ranges of consecutive numbers */
		while (j < f->entry.nextents)
		{
			uint32		k = j;

			while (k + 1 < f->entry.nextents && f->extents[k + 1] == f->extents[k] + 1)
				k++;
			if (k == j)
				printf("%s%u", j ? "," : "", f->extents[j]);
			else
				printf("%s%u-%u", j ? "," : "", f->extents[j], f->extents[k]);
			j = k + 1;
		}
		printf("%s", f->entry.nextents == 0 ? "-" : "");
		if (f->entry.create_xid != 0)
			printf(" (created by transaction %u)", f->entry.create_xid);
		printf("\n");
	}
	printf("(%d forks; %u of %u extents free; extent size %u kB; size %llu MB, may grow to %llu MB)\n",
		   l.nforks, l.alloc.nfree, l.alloc.nextents, l.sb.extent_pages * BD_PAGE_SIZE / 1024,
		   (unsigned long long) ((uint64) l.sb.nextents * extent_bytes >> 20),
		   (unsigned long long) ((uint64) l.sb.max_extents * extent_bytes >> 20));
	bd_image_release(&io, &l);
	pgrac_transport_close(dev);
	return 0;
}

/*
 * Let the device use more extents.  The new extents are made to exist and
 * read as zeroes (the server hands out free extents unzeroed), and that is
 * flushed, before the next superblock generation names the new count; a
 * crash in between leaves the old superblock, and a device larger than it
 * says, which is harmless.
 */
static int
cmd_grow(const char *path, uint64 size, bool size_given)
{
	PgracTransport *dev;
	BdIo		io;
	BdLoadedLayout l;
	char		error[512];
	uint64		extent_bytes;
	uint64		old_bytes;
	uint64		new_bytes;
	uint32		old_nextents;
	uint64		nextents;

	dev = open_device(path, false, true);
	io = device_io(dev);
	load_or_die(dev, &io, &l);
	check_device_size(dev, &l.sb);
	extent_bytes = (uint64) l.sb.extent_pages * BD_PAGE_SIZE;
	old_nextents = l.sb.nextents;
	old_bytes = (uint64) old_nextents * extent_bytes;

	if (!size_given)
	{
		if (dev->kind != PGRAC_DEVICE_BLOCK)
			usage_error("--size is required to grow an image file");
		/* a block device: its current size, in whole extents */
		size = dev->size - dev->size % extent_bytes;
		if (size != dev->size)
			printf("note: block device \"%s\" has %llu bytes; the last %llu do not fill an extent and stay unused\n",
				   path, (unsigned long long) dev->size,
				   (unsigned long long) (dev->size - size));
	}
	else if (size % extent_bytes != 0)
		usage_error("--size (%llu bytes) is not a multiple of the extent size (%llu kB)",
					(unsigned long long) size, (unsigned long long) extent_bytes / 1024);
	else if (dev->kind == PGRAC_DEVICE_BLOCK && size > dev->size)
		device_error("cannot grow \"%s\" to %llu bytes: the block device has only %llu",
					 path, (unsigned long long) size, (unsigned long long) dev->size);

	nextents = size / extent_bytes;
	if (!bd_image_check_grow(&l.sb, (uint32) Min(nextents, (uint64) PG_UINT32_MAX), error, sizeof(error)))
		device_error("cannot grow \"%s\": %s", path, error);
	if (nextents == old_nextents)
	{
		printf("\"%s\" already has %u extents (%llu MB); nothing to do\n",
			   path, old_nextents, (unsigned long long) (old_bytes >> 20));
		return 0;
	}
	new_bytes = nextents * extent_bytes;

	/*
	 * The new extents must read as zeroes: a block device's new part may hold
	 * anything, and an image file may already extend past its old end (a grow
	 * interrupted after the extension).
	 */
	if (dev->kind == PGRAC_DEVICE_BLOCK)
	{
		if (pgrac_zero(dev, old_bytes, new_bytes - old_bytes) < 0)
			transport_error(dev);
	}
	else
	{
		if (dev->size > old_bytes &&
			pgrac_zero(dev, old_bytes, Min(dev->size, new_bytes) - old_bytes) < 0)
			transport_error(dev);
		if (dev->size < new_bytes && pgrac_resize(dev, new_bytes) < 0)
			transport_error(dev);
	}
	if (pgrac_flush(dev) < 0)
		transport_error(dev);

	if (!bd_image_grow(&io, &l, (uint32) nextents, error, sizeof(error)))
		device_error("could not grow \"%s\": %s", path, error);
	if (pgrac_flush(dev) < 0)
		transport_error(dev);
	printf("grew \"%s\" from %u to %u extents (%llu MB to %llu MB); it may grow to %u extents (%llu MB)\n",
		   path, old_nextents, l.sb.nextents, (unsigned long long) (old_bytes >> 20),
		   (unsigned long long) (new_bytes >> 20), l.sb.max_extents,
		   (unsigned long long) ((uint64) l.sb.max_extents * extent_bytes >> 20));
	bd_image_release(&io, &l);
	pgrac_transport_close(dev);
	return 0;
}

/* Which options each command takes */
typedef enum Command
{
	CMD_FORMAT,
	CMD_VERIFY,
	CMD_LS,
	CMD_GROW,
	CMD_IMPORT,
	CMD_EXPORT,
	CMD_BACKUP,
	CMD_FINISH_BACKUP,
	CMD_VERIFY_BACKUP,
	CMD_RESTORE,
} Command;

static const char *const command_names[] = {
	"format", "verify", "ls", "grow", "import", "export",
	"backup", "finish-backup", "verify-backup", "restore"
};

/* an option given to a command that does not take it */
static void
check_option(Command command, const char *option, bool given, uint32 commands)
{
	if (given && (commands & (1 << command)) == 0)
		usage_error("option %s does not apply to %s", option, command_names[command]);
}

int
main(int argc, char **argv)
{
	static struct option long_options[] = {
		{"device", required_argument, NULL, 'd'},
		{"size", required_argument, NULL, 's'},
		{"max-size", required_argument, NULL, 'm'},
		{"extent-size", required_argument, NULL, 'e'},
		{"metadata-pages", required_argument, NULL, 'M'},
		{"force", no_argument, NULL, 'f'},
		{"pgdata", required_argument, NULL, 'D'},
		{"target", required_argument, NULL, 't'},
		{"start-lsn", required_argument, NULL, 'S'},
		{"stop-lsn", required_argument, NULL, 'P'},
		{"timeline", required_argument, NULL, 'T'},
		{"incremental-from", required_argument, NULL, 'I'},
		{"wait-for-summaries", required_argument, NULL, 'W'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	Command		command = CMD_FORMAT;
	const char *device = NULL;
	const char *pgdata = NULL;
	const char *target = NULL;
	char	  **targets = pg_malloc(sizeof(char *) * argc);
	int			ntargets = 0;
	const char *parent_dir = NULL;
	int			wait_seconds = 60;
	bool		wait_given = false;
	const char *start_lsn = NULL;
	const char *stop_lsn = NULL;
	uint32		timeline = 1;
	bool		timeline_given = false;
	uint64		size = UINT64CONST(64) << 20;

	/*
	 * The defaults of the server's embedded image (pgrac.image_max_size,
	 * pgrac.image_extent_size), so that an image formatted here without
	 * options is shaped like the one the server creates.
	 */
	uint64		max_size = UINT64CONST(64) << 30;
	uint64		extent_size = 0;	/* chosen from the maximum size */
	uint32		metadata_pages = 0;
	bool		force = false;
	bool		size_given = false;
	bool		max_size_given = false;
	bool		extent_size_given = false;
	int			c;
	int			i;

	pg_logging_init(argv[0]);
	progname = get_progname(argv[0]);

	/*
	 * A file size limit (ulimit -f) must fail the write or truncation that
	 * exceeds it with EFBIG, which is reported and, by format, cleaned up,
	 * rather than kill the process halfway.
	 */
	pqsignal(SIGXFSZ, SIG_IGN);

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-?") == 0))
	{
		usage();
		exit(0);
	}
	if (argc < 2 || argv[1][0] == '-')
		usage_error("no command given (format, verify, ls, grow, import, export, backup, finish-backup, verify-backup or restore)");
	for (i = 0; i < (int) lengthof(command_names); i++)
		if (strcmp(argv[1], command_names[i]) == 0)
			break;
	if (i == (int) lengthof(command_names))
		usage_error("unknown command \"%s\" (format, verify, ls, grow, import, export, backup, finish-backup, verify-backup or restore)", argv[1]);
	command = (Command) i;

	optind = 2;
	while ((c = getopt_long(argc, argv, "d:s:m:e:M:fD:t:S:P:T:I:W:", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				device = optarg;
				break;
			case 's':
				size = parse_size("--size", optarg);
				size_given = true;
				break;
			case 'm':
				max_size = parse_size("--max-size", optarg);
				max_size_given = true;
				break;
			case 'e':
				extent_size = parse_size("--extent-size", optarg);
				extent_size_given = true;
				if (extent_size == 0)
					usage_error("--extent-size must be a power of two from 64kB to 1GB");
				break;
			case 'M':
				{
					char	   *end;
					unsigned long v = strtoul(optarg, &end, 10);

					if (*end != '\0' || v < 1 || v > BD_MAX_METADATA_PAGES)
						usage_error("--metadata-pages must be a number of pages from 1 to %d",
									BD_MAX_METADATA_PAGES);
					metadata_pages = (uint32) v;
				}
				break;
			case 'f':
				force = true;
				break;
			case 'D':
				pgdata = optarg;
				break;
			case 't':
				target = optarg;
				targets[ntargets++] = optarg;
				break;
			case 'I':
				parent_dir = optarg;
				break;
			case 'W':
				{
					char	   *end;
					long		v = strtol(optarg, &end, 10);

					if (*end != '\0' || v < 0 || v > 86400)
						usage_error("--wait-for-summaries must be a number of seconds from 0 to 86400, not \"%s\"", optarg);
					wait_seconds = (int) v;
					wait_given = true;
				}
				break;
			case 'S':
				start_lsn = optarg;
				break;
			case 'P':
				stop_lsn = optarg;
				break;
			case 'T':
				{
					char	   *end;
					unsigned long v = strtoul(optarg, &end, 10);

					if (*end != '\0' || v < 1 || v > PG_UINT32_MAX)
						usage_error("--timeline must be a timeline ID (1 or more), not \"%s\"", optarg);
					timeline = (uint32) v;
					timeline_given = true;
				}
				break;
			case 'h':
				usage();
				exit(0);
			default:
				/* getopt_long has said what was wrong */
				pg_log_error_hint("Try \"%s --help\" for more information.", progname);
				exit(EXIT_USAGE);
		}
	}
	if (optind < argc)
		usage_error("too many command-line arguments (first is \"%s\")", argv[optind]);
	if (device == NULL && command != CMD_FINISH_BACKUP && command != CMD_VERIFY_BACKUP)
		usage_error("no device specified (--device)");
	check_option(command, "--device", device != NULL,
				 ~((1 << CMD_FINISH_BACKUP) | (1 << CMD_VERIFY_BACKUP)));
	check_option(command, "--size", size_given, (1 << CMD_FORMAT) | (1 << CMD_GROW));
	check_option(command, "--max-size", max_size_given, 1 << CMD_FORMAT);
	check_option(command, "--extent-size", extent_size_given, 1 << CMD_FORMAT);
	check_option(command, "--metadata-pages", metadata_pages != 0, 1 << CMD_FORMAT);
	check_option(command, "--force", force, 1 << CMD_FORMAT);
	check_option(command, "--pgdata", pgdata != NULL, (1 << CMD_IMPORT) | (1 << CMD_BACKUP));
	check_option(command, "--incremental-from", parent_dir != NULL, 1 << CMD_BACKUP);
	if (wait_given && parent_dir == NULL)
		usage_error("--wait-for-summaries applies to backup with --incremental-from only");
	if (command == CMD_BACKUP && (parent_dir != NULL) != (pgdata != NULL))
		usage_error(parent_dir != NULL ?
					"an incremental backup needs --pgdata: the running server's data directory, whose pg_wal/summaries it reads" :
					"--pgdata applies to backup only with --incremental-from");
	if (ntargets > 1 && command != CMD_VERIFY_BACKUP && command != CMD_RESTORE)
		usage_error("%s takes one --target (verify-backup and restore take a chain: the full backup, then each incremental)",
					command_names[command]);
	check_option(command, "--target", target != NULL,
				 (1 << CMD_EXPORT) | (1 << CMD_BACKUP) | (1 << CMD_FINISH_BACKUP) |
				 (1 << CMD_VERIFY_BACKUP) | (1 << CMD_RESTORE));
	check_option(command, "--start-lsn", start_lsn != NULL, 1 << CMD_BACKUP);
	check_option(command, "--timeline", timeline_given, 1 << CMD_BACKUP);
	check_option(command, "--stop-lsn", stop_lsn != NULL, 1 << CMD_FINISH_BACKUP);
	if (target == NULL && command >= CMD_EXPORT)
		usage_error("no target directory specified (--target)");
	if (command == CMD_BACKUP && start_lsn == NULL)
		usage_error("no start LSN specified (--start-lsn: the LSN pg_backup_start() returned)");
	if (command == CMD_FINISH_BACKUP && stop_lsn == NULL)
		usage_error("no stop LSN specified (--stop-lsn: the LSN pg_backup_stop() returned)");

	switch (command)
	{
		case CMD_FORMAT:
			return cmd_format(device, size, size_given, max_size, max_size_given,
							  extent_size, metadata_pages, force);
		case CMD_VERIFY:
			return cmd_verify(device);
		case CMD_LS:
			return cmd_ls(device);
		case CMD_GROW:
			return cmd_grow(device, size, size_given);
		case CMD_IMPORT:
			if (pgdata == NULL)
				usage_error("no data directory specified (--pgdata)");
			return cmd_import(device, pgdata);
		case CMD_EXPORT:
			return cmd_export(device, target);
		case CMD_BACKUP:
			return cmd_backup(device, target, start_lsn, timeline, parent_dir, pgdata,
							  wait_seconds);
		case CMD_FINISH_BACKUP:
			return cmd_finish_backup(target, stop_lsn);
		case CMD_VERIFY_BACKUP:
			return cmd_verify_backup(targets, ntargets);
		case CMD_RESTORE:
			return cmd_restore(device, targets, ntargets);
	}
	return EXIT_USAGE;			/* not reached */
}
