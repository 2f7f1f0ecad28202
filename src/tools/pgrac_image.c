/*-------------------------------------------------------------------------
 *
 * pgrac_image.c
 *	  Offline tool for pgrac_storage block devices and image files.
 *
 *	  pgrac_image format --device=PATH [--size=SIZE] [--max-size=SIZE]
 *	                     [--extent-size=SIZE] [--force]
 *	  pgrac_image verify --device=PATH
 *	  pgrac_image ls     --device=PATH
 *
 * Exit status: 0 success; 1 verify found problems; 2 usage error; 3 the
 * device could not be read, written or understood.
 *
 * The device must not be in use by a running server: this tool takes no
 * part in its locking.  (import, export and grow follow with the server
 * side of the backend; see docs/block-device.md.)
 *
 * src/tools/pgrac_image.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <fcntl.h>
#include <getopt.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/logging.h"
#include "pgrac/bd_image.h"

#define EXIT_PROBLEMS	1
#define EXIT_USAGE		2
#define EXIT_DEVICE		3

static const char *progname;

typedef struct Device
{
	int			fd;
	const char *path;
	bool		is_block_device;
	uint64		size;			/* bytes */
} Device;

static bool
dev_read(void *arg, uint64 address, uint8 *page)
{
	Device	   *dev = arg;

	return pg_pread(dev->fd, page, BD_PAGE_SIZE, (off_t) (address * BD_PAGE_SIZE)) == BD_PAGE_SIZE;
}

static bool
dev_write(void *arg, uint64 address, const uint8 *page)
{
	Device	   *dev = arg;

	return pg_pwrite(dev->fd, page, BD_PAGE_SIZE, (off_t) (address * BD_PAGE_SIZE)) == BD_PAGE_SIZE;
}

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
	printf("\nCommands:\n");
	printf("  format   zero the device and write an empty pgrac_storage layout\n");
	printf("           (refuses to overwrite anything without --force)\n");
	printf("  verify   check every metadata page and the layout invariants\n");
	printf("  ls       list the relation forks with their EOF and extents\n");
	printf("\nOptions:\n");
	printf("  -d, --device=PATH       block device or image file\n");
	printf("  -s, --size=SIZE         format: size of a new image file (default 64MB;\n");
	printf("                          a block device is used whole)\n");
	printf("  -m, --max-size=SIZE     format: largest size the image may grow to\n");
	printf("                          (default 1TB; the metadata is sized for it)\n");
	printf("  -e, --extent-size=SIZE  format: extent size, a power of two from 64kB\n");
	printf("                          to 1GB (default 1MB)\n");
	printf("  -M, --metadata-pages=N  format: pages for directory and extent maps\n");
	printf("                          (default: sized for --max-size)\n");
	printf("  -f, --force             format: overwrite an existing pgrac_storage layout\n");
	printf("  -?, --help              show this help, then exit\n");
	printf("\nSIZE is a number of bytes with an optional kB, MB, GB or TB suffix (powers of 1024).\n");
	printf("\nExit status: 0 success, 1 verify found problems, 2 usage error,\n");
	printf("3 the device could not be read, written or understood.\n");
}

/* Print "progname: error: ..." and exit with code; usage errors add a hint. */
static void
fail(int code, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

static void
fail(int code, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: error: ", progname);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	if (code == EXIT_USAGE)
		fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
	exit(code);
}

#define usage_error(...)	fail(EXIT_USAGE, __VA_ARGS__)
#define device_error(...)	fail(EXIT_DEVICE, __VA_ARGS__)

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

static void
open_device(Device *dev, const char *path, bool create, bool writable)
{
	struct stat st;
	int			flags = writable ? O_RDWR : O_RDONLY;

	if (create)
		flags |= O_CREAT;
	dev->path = path;
	dev->fd = open(path, flags | PG_BINARY, 0600);
	if (dev->fd < 0)
		device_error("could not open device \"%s\": %m", path);
	if (fstat(dev->fd, &st) < 0)
		device_error("could not stat device \"%s\": %m", path);
	dev->is_block_device = S_ISBLK(st.st_mode);
	if (dev->is_block_device)
	{
		uint64		bytes;

		if (ioctl(dev->fd, BLKGETSIZE64, &bytes) < 0)
			device_error("could not get the size of block device \"%s\": %m", path);
		dev->size = bytes;
	}
	else if (S_ISREG(st.st_mode))
		dev->size = (uint64) st.st_size;
	else
		device_error("\"%s\" is neither a block device nor a regular file", path);
}

static BdIo
device_io(Device *dev)
{
	BdIo		io = {dev_read, dev_write, dev_alloc, dev_free, dev};

	return io;
}

static void
fill_uuid(uint8 *uuid)
{
	int			fd = open("/dev/urandom", O_RDONLY);

	if (fd < 0 || read(fd, uuid, 16) != 16)
		device_error("could not read random bytes for the device UUID: %m");
	close(fd);
	uuid[6] = (uuid[6] & 0x0f) | 0x40;	/* version 4 */
	uuid[8] = (uuid[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
}

/* The first two pages are zero (or missing): nothing to destroy. */
static bool
device_is_blank(Device *dev)
{
	uint8		page[BD_PAGE_SIZE];

	for (uint64 address = 0; address < 2; address++)
	{
		ssize_t		got = pg_pread(dev->fd, page, BD_PAGE_SIZE, (off_t) (address * BD_PAGE_SIZE));

		if (got < 0)
			device_error("could not read \"%s\": %m", dev->path);
		for (ssize_t i = 0; i < got; i++)
			if (page[i] != 0)
				return false;
	}
	return true;
}

static int
cmd_format(const char *path, uint64 size, uint64 max_size, bool size_given,
		   uint64 extent_size, uint32 metadata_pages, bool force)
{
	Device		dev;
	BdIo		io;
	BdFormatParams p;
	BdSuperblock planned;
	BdLoadedLayout existing;
	char		error[512];
	uint64		extent_bytes;

	if (extent_size < 65536 || extent_size > (UINT64CONST(1) << 30) ||
		(extent_size & (extent_size - 1)) != 0)
		usage_error("extent size must be a power of two from 64kB to 1GB");
	extent_bytes = extent_size;

	open_device(&dev, path, true, true);
	io = device_io(&dev);

	/* never destroy anything by accident */
	if (!force && !device_is_blank(&dev))
	{
		bool		ours = bd_image_load(&io, &existing, error, sizeof(error));

		bd_image_release(&io, &existing);
		device_error("\"%s\" %s; use --force to overwrite it", path,
					 ours ? "already holds a pgrac_storage layout" :
					 "is not empty (its first 16 kB are not zero)");
	}

	if (dev.is_block_device)
	{
		if (size_given)
			usage_error("--size and --max-size do not apply to a block device, which is used whole");
		size = dev.size;
		max_size = dev.size;
	}
	else if (size > max_size)
		usage_error("--size (%llu bytes) exceeds --max-size (%llu bytes)",
					(unsigned long long) size, (unsigned long long) max_size);

	/* every check before anything is destroyed */
	memset(&p, 0, sizeof(p));
	p.extent_pages = (uint32) (extent_bytes / BD_PAGE_SIZE);
	if (size / extent_bytes > PG_UINT32_MAX || max_size / extent_bytes > PG_UINT32_MAX)
		usage_error("too many extents: use a larger --extent-size");
	p.nextents = (uint32) (size / extent_bytes);
	p.max_extents = (uint32) (max_size / extent_bytes);
	p.metadata_pages = metadata_pages;	/* 0: sized for max_extents */
	fill_uuid(p.device_uuid);
	if (!bd_image_check_params(&p, &planned, error, sizeof(error)))
		device_error("could not format \"%s\": %s", path, error);

	/*
	 * The server hands out only extents that read as zeroes, and trusts a
	 * freshly formatted device to be all zeroes: zero it first (a block
	 * device with BLKZEROOUT, which thin devices and loop devices turn into
	 * discards; an image file by truncating it to nothing).
	 */
	if (dev.is_block_device)
	{
		uint64		range[2] = {0, dev.size};

		if (ioctl(dev.fd, BLKZEROOUT, range) < 0)
			device_error("could not zero block device \"%s\": %m", path);
	}
	else if (ftruncate(dev.fd, 0) < 0 || ftruncate(dev.fd, (off_t) size) < 0)
		device_error("could not resize image file \"%s\" to %llu bytes: %m",
					 path, (unsigned long long) size);

	if (!bd_image_format(&io, &p, error, sizeof(error)))
		device_error("could not format \"%s\": %s", path, error);
	if (fsync(dev.fd) < 0)
		device_error("could not fsync \"%s\": %m", path);
	close(dev.fd);
	printf("formatted \"%s\": %u extents of %llu kB (%llu MB), metadata sized for %u extents\n",
		   path, p.nextents, (unsigned long long) extent_bytes / 1024,
		   (unsigned long long) (uint64) p.nextents * extent_bytes / (1024 * 1024),
		   p.max_extents);
	return 0;
}

static void
load_or_die(Device *dev, BdIo *io, BdLoadedLayout *layout)
{
	char		error[512];

	if (!bd_image_load(io, layout, error, sizeof(error)))
		device_error("\"%s\": %s", dev->path, error);
}

static int
cmd_verify(const char *path)
{
	Device		dev;
	BdIo		io;
	BdLoadedLayout l;
	BdProblem	problems[100];
	int			n;

	open_device(&dev, path, false, false);
	io = device_io(&dev);
	load_or_die(&dev, &io, &l);
	if ((uint64) l.sb.nextents * l.sb.extent_pages * BD_PAGE_SIZE > dev.size)
		device_error("\"%s\": the superblock describes %llu bytes but the device has %llu",
					 path, (unsigned long long) l.sb.nextents * l.sb.extent_pages * BD_PAGE_SIZE,
					 (unsigned long long) dev.size);
	if (l.sb_error_a != BD_PAGE_OK || l.sb_error_b != BD_PAGE_OK)
		printf("note: superblock copy %c is damaged (%s); copy %c (generation %llu) is in use\n",
			   l.sb_error_a != BD_PAGE_OK ? 'A' : 'B',
			   bd_page_error_text(l.sb_error_a != BD_PAGE_OK ? l.sb_error_a : l.sb_error_b),
			   l.sb_copy == 0 ? 'A' : 'B', (unsigned long long) l.sb.generation);

	n = bd_image_verify(&io, &l, problems, lengthof(problems));
	for (int i = 0; i < Min(n, (int) lengthof(problems)); i++)
	{
		const BdProblem *p = &problems[i];

		printf("problem: %s", bd_problem_text(p->kind));
		if (p->extent != BD_NO_EXTENT)
			printf(": extent %u (byte offset %llu)", p->extent,
				   (unsigned long long) p->extent * l.sb.extent_pages * BD_PAGE_SIZE);
		if (p->fork >= 0)
		{
			const BdDirEntry *e = &l.forks[p->fork].entry;

			printf(", fork %u/%u/%u/%u (directory page %llu, entry %d)",
				   e->spcoid, e->dboid, e->relnumber, e->fork,
				   (unsigned long long) l.forks[p->fork].dir_page, l.forks[p->fork].slot);
		}
		printf("\n");
	}
	if (n > (int) lengthof(problems))
		printf("... and %d more problems\n", n - (int) lengthof(problems));
	printf("%s: %d forks, %u of %u extents free, %d problem%s\n", path,
		   l.nforks, l.alloc.nfree, l.alloc.nextents, n, n == 1 ? "" : "s");
	bd_image_release(&io, &l);
	close(dev.fd);
	return n == 0 ? 0 : EXIT_PROBLEMS;
}

static int
cmd_ls(const char *path)
{
	Device		dev;
	BdIo		io;
	BdLoadedLayout l;
	static const char *const forknames[] = {"main", "fsm", "vm", "init"};

	open_device(&dev, path, false, false);
	io = device_io(&dev);
	load_or_die(&dev, &io, &l);
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
		printf("%s\n", f->entry.nextents == 0 ? "-" : "");
	}
	printf("(%d forks; %u of %u extents free; extent size %u kB)\n", l.nforks,
		   l.alloc.nfree, l.alloc.nextents, l.sb.extent_pages * BD_PAGE_SIZE / 1024);
	bd_image_release(&io, &l);
	close(dev.fd);
	return 0;
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
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *command;
	const char *device = NULL;
	uint64		size = UINT64CONST(64) << 20;
	uint64		max_size = UINT64CONST(1) << 40;
	uint64		extent_size = UINT64CONST(1) << 20;
	uint32		metadata_pages = 0;
	bool		force = false;
	bool		size_given = false;
	bool		format_options = false;
	int			c;

	pg_logging_init(argv[0]);
	progname = get_progname(argv[0]);

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-?") == 0))
	{
		usage();
		exit(0);
	}
	if (argc < 2 || argv[1][0] == '-')
		usage_error("no command given (format, verify or ls)");
	command = argv[1];
	if (strcmp(command, "format") != 0 && strcmp(command, "verify") != 0 &&
		strcmp(command, "ls") != 0)
		usage_error("unknown command \"%s\" (format, verify or ls)", command);

	optind = 2;
	while ((c = getopt_long(argc, argv, "d:s:m:e:M:f", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				device = optarg;
				break;
			case 's':
				size = parse_size("--size", optarg);
				size_given = true;
				format_options = true;
				break;
			case 'm':
				max_size = parse_size("--max-size", optarg);
				size_given = true;
				format_options = true;
				break;
			case 'e':
				extent_size = parse_size("--extent-size", optarg);
				format_options = true;
				break;
			case 'M':
				{
					char	   *end;
					unsigned long v = strtoul(optarg, &end, 10);

					if (*end != '\0' || v < 1 || v > BD_MAX_METADATA_PAGES)
						usage_error("--metadata-pages must be a number of pages from 1 to %d",
									BD_MAX_METADATA_PAGES);
					metadata_pages = (uint32) v;
					format_options = true;
				}
				break;
			case 'f':
				force = true;
				format_options = true;
				break;
			case 'h':
				usage();
				exit(0);
			default:
				/* getopt_long has said what was wrong */
				fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
				exit(EXIT_USAGE);
		}
	}
	if (optind < argc)
		usage_error("too many command-line arguments (first is \"%s\")", argv[optind]);
	if (device == NULL)
		usage_error("no device specified (--device)");
	if (format_options && strcmp(command, "format") != 0)
		usage_error("--size, --max-size, --extent-size, --metadata-pages and --force apply to format only");

	if (strcmp(command, "format") == 0)
		return cmd_format(device, size, max_size, size_given, extent_size,
						  metadata_pages, force);
	if (strcmp(command, "verify") == 0)
		return cmd_verify(device);
	return cmd_ls(device);
}
