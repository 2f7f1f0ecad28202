/*-------------------------------------------------------------------------
 *
 * pgrac_image_backup.c
 *	  Backups of a block device: its metadata area and the extents its
 *	  allocation map shows allocated, copied while the server runs,
 *	  with a manifest (pgrac/bd_manifest.h); their offline check; and a
 *	  restore onto a device (docs/backup.md).
 *
 *	  pgrac_image backup        --device=PATH --target=DIR --start-lsn=LSN
 *	                            [--timeline=N]
 *	  pgrac_image finish-backup --target=DIR --stop-lsn=LSN
 *	  pgrac_image verify-backup --target=DIR
 *	  pgrac_image restore       --target=DIR --device=PATH
 *
 * backup runs between pg_backup_start() (whose LSN it is given) and
 * pg_backup_stop() (whose LSN finish-backup writes into the manifest).
 * It reads the device without locking it: the server writes it all the
 * while, and the restored data directory's first start brings the copied
 * metadata to the backup's end from the backup's WAL.  A backup holds:
 *
 *	  metadata            pages 0 .. end of the metadata area
 *	  extents.NNNN        the copied extents in manifest order, at most
 *	                      1 GB per file
 *	  backup_manifest     written by finish-backup (backup_manifest.partial
 *	                      until then)
 *
 * src/tools/pgrac_image_backup.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "common/file_utils.h"
#include "common/logging.h"

#include "pgrac/bd_binding.h"
#include "pgrac/bd_layout.h"
#include "pgrac/bd_manifest.h"
#include "pgrac_image.h"

#define MANIFEST_FILE		"backup_manifest"
#define PARTIAL_FILE		"backup_manifest.partial"
#define METADATA_FILE		"metadata"
#define EXTENT_FILE_BYTES	(UINT64CONST(1) << 30)
#define READ_RUN_BYTES		(UINT64CONST(4) << 20)
#define READ_DEPTH			8

/* one read of adjacent extents in flight */
typedef struct ExtentRun
{
	uint32		first;			/* index in the manifest's extents */
	uint32		n;
	char	   *buf;
	struct iovec iov;
	PgracIo		io;
} ExtentRun;

/* a buffer direct I/O accepts (PG_IO_ALIGN_SIZE, as the server's) */
static void *
aligned_buffer(size_t size)
{
	void	   *p = aligned_alloc(PG_IO_ALIGN_SIZE, TYPEALIGN(PG_IO_ALIGN_SIZE, size));

	if (p == NULL)
		device_error("out of memory");
	return p;
}
#define TORN_READ_RETRIES	200 /* 10 ms apart: a checkpoint's write of one
								 * page is over long before */

/* ---- progress on a terminal ---- */

typedef struct Progress
{
	bool		shown;
	uint64		total;
	uint64		done;
	struct timeval start;
	struct timeval last;
} Progress;

static double
seconds_between(const struct timeval *a, const struct timeval *b)
{
	return (double) (b->tv_sec - a->tv_sec) + (double) (b->tv_usec - a->tv_usec) / 1e6;
}

static void
progress_start(Progress *p, uint64 total)
{
	memset(p, 0, sizeof(*p));
	p->shown = isatty(fileno(stderr));
	p->total = total;
	gettimeofday(&p->start, NULL);
	p->last = p->start;
}

static void
progress_add(Progress *p, uint64 bytes, bool final)
{
	struct timeval now;
	double		elapsed;

	p->done += bytes;
	if (!p->shown)
		return;
	gettimeofday(&now, NULL);
	if (!final && seconds_between(&p->last, &now) < 0.5)
		return;
	p->last = now;
	elapsed = seconds_between(&p->start, &now);
	fprintf(stderr, "\r%llu/%llu MB (%d%%), %.0f MB/s%s",
			(unsigned long long) (p->done >> 20), (unsigned long long) (p->total >> 20),
			p->total > 0 ? (int) (p->done * 100 / p->total) : 100,
			elapsed > 0 ? (double) p->done / 1048576.0 / elapsed : 0.0,
			final ? "\n" : "");
}

/* ---- files of a backup ---- */

static char *
backup_path(const char *dir, const char *name)
{
	return psprintf("%s/%s", dir, name);
}

static char *
extent_file_name(uint32 file)
{
	return psprintf("extents.%04u", file);
}

static uint32
extents_per_file(uint64 extent_size)
{
	return (uint32) Max(1, EXTENT_FILE_BYTES / extent_size);
}

static int
create_file(const char *path)
{
	int			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, pg_file_create_mode);

	if (fd < 0)
		device_error("could not create file \"%s\": %m", path);
	return fd;
}

static void
write_all(int fd, const char *path, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0)
	{
		ssize_t		n = write(fd, p, len);

		if (n < 0)
			device_error("could not write file \"%s\": %m", path);
		p += n;
		len -= n;
	}
}

static void
close_durably(int fd, const char *path)
{
	if (fsync(fd) != 0)
		device_error("could not fsync file \"%s\": %m", path);
	if (close(fd) != 0)
		device_error("could not close file \"%s\": %m", path);
}

static bool
parse_lsn(const char *text, uint64 *lsn)
{
	unsigned int hi,
				lo;
	char		tail;

	if (sscanf(text, "%X/%X%c", &hi, &lo, &tail) != 2)
		return false;
	*lsn = ((uint64) hi << 32) | lo;
	return true;
}

/* the whole manifest in memory, decoded, or an exit naming what is wrong */
static char *
read_manifest(const char *dir, const char *name, BdManifest *m)
{
	char	   *path = backup_path(dir, name);
	int			fd = open(path, O_RDONLY | PG_BINARY);
	struct stat st;
	char	   *text;
	BdManifestExtent *items;
	uint32		capacity;
	char		error[512];

	if (fd < 0 && errno == ENOENT && strcmp(name, MANIFEST_FILE) == 0)
	{
		char	   *partial = backup_path(dir, PARTIAL_FILE);

		if (access(partial, F_OK) == 0)
			refuse("backup \"%s\" is not finished: it has %s but no %s; run \"%s finish-backup\" with the LSN pg_backup_stop() returned",
				   dir, PARTIAL_FILE, MANIFEST_FILE, progname);
		refuse("backup \"%s\" has no %s: it is not a block-device backup, or the manifest was lost",
			   dir, MANIFEST_FILE);
	}
	if (fd < 0)
		device_error("could not open file \"%s\": %m", path);
	if (fstat(fd, &st) != 0)
		device_error("could not stat file \"%s\": %m", path);
	text = pg_malloc(st.st_size + 1);

	if (read(fd, text, st.st_size) != st.st_size)
		device_error("could not read file \"%s\"", path);
	close(fd);
	text[		st.st_size] = '\0';

	capacity = bd_manifest_count_extents(text, st.st_size);
	items = pg_malloc(sizeof(BdManifestExtent) * Max(capacity, 1));
	if (!bd_manifest_decode(text, st.st_size, m, items, capacity, error, sizeof(error)))
		refuse("manifest \"%s\" is invalid: %s", path, error);
	return text;
}

/* write the manifest to DIR/name durably (a temporary file renamed) */
static void
write_manifest(const char *dir, const char *name, const BdManifest *m)
{
	size_t		len = bd_manifest_encode(m, NULL, 0);
	char	   *text = pg_malloc(len);
	char	   *tmp = backup_path(dir, psprintf("%s.tmp", name));
	char	   *path = backup_path(dir, name);
	int			fd;

	(void) bd_manifest_encode(m, text, len);
	(void) unlink(tmp);
	fd = create_file(tmp);
	write_all(fd, tmp, text, len);
	close_durably(fd, tmp);
	if (durable_rename(tmp, path) != 0)
		exit(EXIT_DEVICE);
	pg_free(text);
}

/* ---- backup ---- */

/*
 * A metadata page the allocation map is read from: a read that races with
 * the checkpoint writing the page can see it torn, so read it again until
 * its checksum holds.  Every other metadata page is copied as read: the
 * restore replays its changes over it, torn or not.
 */
static void
read_alloc_page(PgracTransport *dev, uint64 address, uint8 *page)
{
	BdPageError e = BD_PAGE_OK;

	for (int attempt = 0; attempt < TORN_READ_RETRIES; attempt++)
	{
		if (pgrac_read(dev, address * BD_PAGE_SIZE, page, BD_PAGE_SIZE) < 0)
			transport_error(dev);
		e = bd_page_check(page, BD_PAGE_ALLOC_MAP, address);
		if (e == BD_PAGE_OK)
			return;
		pg_usleep(10000);
	}
	refuse("allocation-map page %llu of \"%s\" fails its checks in %d reads over %d s: %s",
		   (unsigned long long) address, dev->path, TORN_READ_RETRIES, TORN_READ_RETRIES / 100,
		   bd_page_error_text(e));
}

int
cmd_backup(const char *path, const char *target, const char *start_text, uint32 timeline)
{
	PgracTransport *dev;
	PGIOAlignedBlock a,
				b;
	BdPageError ea,
				eb;
	BdSuperblock sb;
	uint64		end_page;
	uint64		extent_size;
	uint32		reserved;
	uint8	   *meta;
	uint32	   *allocated;
	uint32		nallocated = 0;
	BdManifest	m;
	BdManifestExtent *items;
	Progress	progress;
	ExtentRun	runs[READ_DEPTH];
	uint32		per_file;
	uint32		run_extents;
	int			fd = -1;
	char	   *file_path = NULL;
	struct stat st;

	memset(&m, 0, sizeof(m));
	if (!parse_lsn(start_text, &m.start_lsn))
		usage_error("--start-lsn must be an LSN such as 0/5000028 (what pg_backup_start() returned), not \"%s\"",
					start_text);
	if (stat(target, &st) == 0)
	{
		if (!S_ISDIR(st.st_mode))
			refuse("target \"%s\" exists and is not a directory", target);
		if (access(backup_path(target, METADATA_FILE), F_OK) == 0 ||
			access(backup_path(target, PARTIAL_FILE), F_OK) == 0 ||
			access(backup_path(target, MANIFEST_FILE), F_OK) == 0)
			refuse("target \"%s\" already holds a backup", target);
	}
	else if (pg_mkdir_p(pstrdup(target), pg_dir_create_mode) != 0)
		device_error("could not create directory \"%s\": %m", target);

	/* read without a lock: the server holds its exclusive one throughout */
	dev = open_device_unlocked(path);
	if (pgrac_read(dev, BD_SUPERBLOCK_A * BD_PAGE_SIZE, a.data, BD_PAGE_SIZE) < 0 ||
		pgrac_read(dev, BD_SUPERBLOCK_B * BD_PAGE_SIZE, b.data, BD_PAGE_SIZE) < 0)
		transport_error(dev);
	if (bd_superblock_choose((uint8 *) a.data, (uint8 *) b.data, &sb, &ea, &eb) < 0)
		refuse("\"%s\" has no valid superblock (copy A: %s; copy B: %s)", path,
			   bd_page_error_text(ea), bd_page_error_text(eb));
	if (sb.system_identifier == 0)
		refuse("device \"%s\" is owned by no cluster: there is nothing to back up", path);
	extent_size = (uint64) sb.extent_pages * BD_PAGE_SIZE;
	end_page = bd_metadata_end(&sb);
	reserved = bd_reserved_extents(sb.extent_pages, end_page - 1);

	/* the metadata area: the allocation map read whole, the rest as it is */
	meta = aligned_buffer((size_t) end_page * BD_PAGE_SIZE);
	if (pgrac_read(dev, 0, meta, (size_t) end_page * BD_PAGE_SIZE) < 0)
		transport_error(dev);
	for (uint32 i = 0; i < sb.alloc_map_pages; i++)
	{
		uint64		address = BD_FIRST_ALLOC_MAP_PAGE + i;
		uint8	   *page = meta + address * BD_PAGE_SIZE;

		if (bd_page_check(page, BD_PAGE_ALLOC_MAP, address) != BD_PAGE_OK)
			read_alloc_page(dev, address, page);
	}
	allocated = pg_malloc(sizeof(uint32) * Max(sb.nextents, 1));
	for (uint32 e = reserved; e < sb.nextents; e++)
	{
		const uint8 *page = meta + (BD_FIRST_ALLOC_MAP_PAGE + e / BD_ALLOC_BITS_PER_PAGE) * BD_PAGE_SIZE;
		uint32		bit = e % BD_ALLOC_BITS_PER_PAGE;

		if ((page[BD_HEADER_SIZE + bit / 8] >> (bit % 8)) & 1)
			allocated[nallocated++] = e;
	}

	fd = create_file(backup_path(target, METADATA_FILE));
	write_all(fd, METADATA_FILE, meta, (size_t) end_page * BD_PAGE_SIZE);
	close_durably(fd, backup_path(target, METADATA_FILE));
	fd = -1;

	memcpy(m.device_uuid, sb.device_uuid, 16);
	m.system_identifier = sb.system_identifier;
	m.extent_size = extent_size;
	m.nextents = sb.nextents;
	m.max_extents = sb.max_extents;
	m.stop_lsn = m.start_lsn;	/* until finish-backup */
	m.timeline = timeline;
	m.metadata_first_page = 0;
	m.metadata_pages = end_page;
	m.metadata_crc = bd_crc32c(meta, (size_t) end_page * BD_PAGE_SIZE);
	free(meta);

	/*
	 * The allocated extents, in order, into files of at most 1 GB: runs of
	 * adjacent extents (up to READ_RUN_BYTES, never across an extent file)
	 * read as one transfer, READ_DEPTH of them in flight, each written out in
	 * order as it completes.
	 */
	items = pg_malloc(sizeof(BdManifestExtent) * Max(nallocated, 1));
	run_extents = (uint32) Max(1, READ_RUN_BYTES / extent_size);
	per_file = extents_per_file(extent_size);
	for (int r = 0; r < READ_DEPTH; r++)
		runs[r].buf = aligned_buffer((size_t) run_extents * extent_size);
	progress_start(&progress, (uint64) nallocated * extent_size);
	for (uint32 next = 0, head = 0, queued = 0;;)
	{
		ExtentRun  *run;

		while (queued < READ_DEPTH && next < nallocated)
		{
			PgracIo    *io;

			run = &runs[(head + queued) % READ_DEPTH];
			run->first = next;
			run->n = 1;
			while (run->n < run_extents && next + run->n < nallocated &&
				   allocated[next + run->n] == allocated[next] + run->n &&
				   (next + run->n) % per_file != 0)
				run->n++;
			run->iov.iov_base = run->buf;
			run->iov.iov_len = (size_t) run->n * extent_size;
			memset(&run->io, 0, sizeof(run->io));
			run->io.offset = (uint64) allocated[next] * extent_size;
			run->io.iov = &run->iov;
			run->io.iovcnt = 1;
			run->io.len = run->iov.iov_len;
			io = &run->io;
			if (pgrac_submit(dev, &io, 1) < 0)
				transport_error(dev);
			next += run->n;
			queued++;
		}
		if (queued == 0)
			break;
		run = &runs[head];
		while (run->io.state != PGRAC_IO_DONE)
			if (pgrac_reap(dev, &run->io) < 0)
				transport_error(dev);
		if (pgrac_io_finish(dev, &run->io) < 0)
			transport_error(dev);
		if (run->first % per_file == 0)
		{
			if (fd >= 0)
				close_durably(fd, file_path);
			file_path = backup_path(target, extent_file_name(run->first / per_file));
			fd = create_file(file_path);
		}
		for (uint32 k = 0; k < run->n; k++)
		{
			items[run->first + k].extent = allocated[run->first + k];
			items[run->first + k].crc = bd_crc32c(run->buf + (size_t) k * extent_size, extent_size);
		}
		write_all(fd, file_path, run->buf, run->iov.iov_len);
		progress_add(&progress, run->iov.iov_len, false);
		head = (head + 1) % READ_DEPTH;
		queued--;
	}
	if (fd >= 0 && nallocated > 0)
		close_durably(fd, file_path);
	progress_add(&progress, 0, true);
	m.nitems = nallocated;
	m.items = items;
	write_manifest(target, PARTIAL_FILE, &m);
	if (fsync_fname(target, true) != 0)
		exit(EXIT_DEVICE);
	pgrac_transport_close(dev);
	printf("copied %u of %u extents (%llu MB) and %llu metadata pages of \"%s\" into \"%s\"\n",
		   nallocated, sb.nextents - reserved,
		   (unsigned long long) ((uint64) nallocated * extent_size >> 20),
		   (unsigned long long) end_page, path, target);
	printf("next: pg_backup_stop(), then \"%s finish-backup --target=%s --stop-lsn=<its lsn>\"\n",
		   progname, target);
	return 0;
}

int
cmd_finish_backup(const char *target, const char *stop_text)
{
	BdManifest	m;
	uint64		stop;

	if (!parse_lsn(stop_text, &stop))
		usage_error("--stop-lsn must be an LSN such as 0/6000100 (what pg_backup_stop() returned), not \"%s\"",
					stop_text);
	if (access(backup_path(target, MANIFEST_FILE), F_OK) == 0)
		refuse("backup \"%s\" is finished already", target);
	(void) read_manifest(target, PARTIAL_FILE, &m);
	if (stop < m.start_lsn)
		refuse("stop LSN %X/%X is before the backup's start LSN %X/%X",
			   (uint32) (stop >> 32), (uint32) stop,
			   (uint32) (m.start_lsn >> 32), (uint32) m.start_lsn);
	m.stop_lsn = stop;
	write_manifest(target, MANIFEST_FILE, &m);
	if (unlink(backup_path(target, PARTIAL_FILE)) != 0)
		device_error("could not remove file \"%s\": %m", backup_path(target, PARTIAL_FILE));
	if (fsync_fname(target, true) != 0)
		exit(EXIT_DEVICE);
	printf("backup \"%s\" finished: %X/%X to %X/%X, timeline %u\n", target,
		   (uint32) (m.start_lsn >> 32), (uint32) m.start_lsn,
		   (uint32) (stop >> 32), (uint32) stop, m.timeline);
	return 0;
}

/* ---- verify-backup and restore ---- */

/*
 * The copied extents of a backup, read in manifest order across its
 * extent files, each checked against its CRC-32C (refused, naming the
 * extent and where it is, if it does not match).
 */
typedef struct ExtentReader
{
	const char *target;
	const BdManifest *m;
	uint32		per_file;
	int			fd;
	char	   *path;
} ExtentReader;

static void
extent_reader_open(ExtentReader *r, const char *target, const BdManifest *m)
{
	r->target = target;
	r->m = m;
	r->per_file = extents_per_file(m->extent_size);
	r->fd = -1;
	r->path = NULL;
}

static void
extent_reader_next(ExtentReader *r, uint32 i, char *buf)
{
	const BdManifest *m = r->m;

	if (i % r->per_file == 0)
	{
		if (r->fd >= 0)
			close(r->fd);
		r->path = backup_path(r->target, extent_file_name(i / r->per_file));
		if ((r->fd = open(r->path, O_RDONLY | PG_BINARY)) < 0)
			device_error("could not open file \"%s\": %m", r->path);
	}
	if (read(r->fd, buf, m->extent_size) != (ssize_t) m->extent_size)
		device_error("could not read file \"%s\": %m", r->path);
	if (bd_crc32c(buf, m->extent_size) != m->items[i].crc)
		refuse("backup \"%s\": extent %u (in \"%s\" at offset %llu) does not match its CRC-32C in the manifest",
			   r->target, m->items[i].extent, extent_file_name(i / r->per_file),
			   (unsigned long long) ((uint64) (i % r->per_file) * m->extent_size));
}

static void
extent_reader_close(ExtentReader *r)
{
	if (r->fd >= 0)
		close(r->fd);
}

/*
 * Check every file of a backup against its manifest: lengths first (a
 * missing or short file is named before anything is read), then every
 * CRC.  Exits on the first problem; returns the manifest.
 */
static void
check_backup(const char *target, BdManifest *m, bool quiet)
{
	char	   *path;
	struct stat st;
	uint32		per_file;
	uint32		nfiles;
	char	   *buf;
	int			fd;
	Progress	progress;
	ExtentReader reader;

	(void) read_manifest(target, MANIFEST_FILE, m);
	per_file = extents_per_file(m->extent_size);
	nfiles = (m->nitems + per_file - 1) / per_file;

	path = backup_path(target, METADATA_FILE);
	if (stat(path, &st) != 0)
		refuse("backup \"%s\": file \"%s\" is missing", target, METADATA_FILE);
	if ((uint64) st.st_size != m->metadata_pages * BD_PAGE_SIZE)
		refuse("backup \"%s\": file \"%s\" has %lld bytes, the manifest says %llu",
			   target, METADATA_FILE, (long long) st.st_size,
			   (unsigned long long) (m->metadata_pages * BD_PAGE_SIZE));
	for (uint32 f = 0; f < nfiles; f++)
	{
		uint32		in_file = Min(per_file, m->nitems - f * per_file);

		path = backup_path(target, extent_file_name(f));
		if (stat(path, &st) != 0)
			refuse("backup \"%s\": file \"%s\" is missing (extents %u to %u of the manifest)",
				   target, extent_file_name(f), m->items[f * per_file].extent,
				   m->items[f * per_file + in_file - 1].extent);
		if ((uint64) st.st_size != (uint64) in_file * m->extent_size)
			refuse("backup \"%s\": file \"%s\" has %lld bytes, the manifest says %llu",
				   target, extent_file_name(f), (long long) st.st_size,
				   (unsigned long long) ((uint64) in_file * m->extent_size));
	}

	buf = pg_malloc(Max(m->extent_size, m->metadata_pages * BD_PAGE_SIZE));
	path = backup_path(target, METADATA_FILE);
	if ((fd = open(path, O_RDONLY | PG_BINARY)) < 0 ||
		read(fd, buf, m->metadata_pages * BD_PAGE_SIZE) != (ssize_t) (m->metadata_pages * BD_PAGE_SIZE))
		device_error("could not read file \"%s\": %m", path);
	close(fd);
	if (bd_crc32c(buf, m->metadata_pages * BD_PAGE_SIZE) != m->metadata_crc)
		refuse("backup \"%s\": file \"%s\" does not match its CRC-32C in the manifest", target, METADATA_FILE);

	if (!quiet)
		progress_start(&progress, (uint64) m->nitems * m->extent_size);
	extent_reader_open(&reader, target, m);
	for (uint32 i = 0; i < m->nitems; i++)
	{
		extent_reader_next(&reader, i, buf);
		if (!quiet)
			progress_add(&progress, m->extent_size, false);
	}
	extent_reader_close(&reader);
	if (!quiet)
		progress_add(&progress, 0, true);
	pg_free(buf);
}

int
cmd_verify_backup(const char *target)
{
	BdManifest	m;
	char		uuid[37];

	check_backup(target, &m, false);
	bd_uuid_format(m.device_uuid, uuid);
	printf("backup \"%s\": device %s of the cluster with system identifier %llu, %X/%X to %X/%X on timeline %u; %u extents of %llu kB and %llu metadata pages, every CRC-32C matches\n",
		   target, uuid, (unsigned long long) m.system_identifier,
		   (uint32) (m.start_lsn >> 32), (uint32) m.start_lsn,
		   (uint32) (m.stop_lsn >> 32), (uint32) m.stop_lsn, m.timeline,
		   m.nitems, (unsigned long long) (m.extent_size >> 10),
		   (unsigned long long) m.metadata_pages);
	return 0;
}

/*
 * Onto a device not in use and at least as large as the backup's: every
 * extent past the metadata zeroed (free extents must read as zeroes), the
 * copied extents written, the metadata area last, then one flush.
 */
int
cmd_restore(const char *path, const char *target)
{
	BdManifest	m;
	PgracTransport *dev;
	uint64		needed;
	uint64		data_start;
	char	   *buf;
	int			fd;
	char	   *file_path;
	Progress	progress;
	ExtentReader reader;

	check_backup(target, &m, true);
	dev = open_device(path, false, true);
	needed = (uint64) m.nextents * m.extent_size;
	if (dev->size < needed)
		refuse("device \"%s\" has %llu bytes; the backup needs at least %llu (%u extents of %llu kB)",
			   path, (unsigned long long) dev->size, (unsigned long long) needed,
			   m.nextents, (unsigned long long) (m.extent_size >> 10));

	data_start = m.metadata_pages * BD_PAGE_SIZE;
	if (data_start < needed && pgrac_zero(dev, data_start, needed - data_start) < 0)
		transport_error(dev);

	buf = pg_malloc(Max(m.extent_size, m.metadata_pages * BD_PAGE_SIZE));
	progress_start(&progress, (uint64) m.nitems * m.extent_size);
	/* checked again as written: a file changed since would be refused */
	extent_reader_open(&reader, target, &m);
	for (uint32 i = 0; i < m.nitems; i++)
	{
		extent_reader_next(&reader, i, buf);
		if (pgrac_write(dev, (uint64) m.items[i].extent * m.extent_size, buf, m.extent_size) < 0)
			transport_error(dev);
		progress_add(&progress, m.extent_size, false);
	}
	extent_reader_close(&reader);
	progress_add(&progress, 0, true);

	file_path = backup_path(target, METADATA_FILE);
	if ((fd = open(file_path, O_RDONLY | PG_BINARY)) < 0 ||
		read(fd, buf, m.metadata_pages * BD_PAGE_SIZE) != (ssize_t) (m.metadata_pages * BD_PAGE_SIZE))
		device_error("could not read file \"%s\": %m", file_path);
	close(fd);
	if (pgrac_write(dev, 0, buf, m.metadata_pages * BD_PAGE_SIZE) < 0 || pgrac_flush(dev) < 0)
		transport_error(dev);
	pgrac_transport_close(dev);
	printf("restored %u extents and %llu metadata pages onto \"%s\"; start the restored data directory (with the backup_label of this backup) to bring the metadata to the backup's end\n",
		   m.nitems, (unsigned long long) m.metadata_pages, path);
	return 0;
}
