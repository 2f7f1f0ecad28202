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
#include "pgrac_image_incremental.h"

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
	BdManifestRun *runs;
	uint32		capacity;
	uint32		runs_capacity;
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
	runs_capacity = bd_manifest_count_runs(text, st.st_size);
	runs = pg_malloc(sizeof(BdManifestRun) * Max(runs_capacity, 1));
	if (!bd_manifest_decode(text, st.st_size, m, items, capacity, runs, runs_capacity,
							error, sizeof(error)))
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

static uint8 *read_metadata_file(const char *target, const BdManifest *m);

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

/*
 * The parent of an incremental backup: finished, of the same device and
 * cluster, on the same timeline, and over before this backup starts; its
 * metadata copy intact.  Then the plan (pgrac_image_incremental.c).
 */
static void
plan_parent(const char *parent_dir, const char *pgdata, int wait_seconds, BdManifest *m,
			const uint8 *meta, const uint32 *allocated, uint32 nallocated,
			uint8 *reasons, IncrementalStats *stats)
{
	BdManifest	pm;
	uint8	   *parent_meta;

	(void) read_manifest(parent_dir, MANIFEST_FILE, &pm);
	if (memcmp(pm.device_uuid, m->device_uuid, 16) != 0 ||
		pm.system_identifier != m->system_identifier)
		refuse("the parent backup \"%s\" is of another device or cluster", parent_dir);
	if (pm.extent_size != m->extent_size)
		refuse("the parent backup \"%s\" has extents of %llu bytes, the device %llu",
			   parent_dir, (unsigned long long) pm.extent_size,
			   (unsigned long long) m->extent_size);
	if (pm.timeline != m->timeline)
		refuse("the parent backup \"%s\" is on timeline %u, this backup on %u: a chain of backups cannot cross a timeline switch; take a full backup",
			   parent_dir, pm.timeline, m->timeline);
	if (pm.stop_lsn > m->start_lsn || pm.start_lsn >= m->start_lsn)
		refuse("the parent backup \"%s\" (%X/%X to %X/%X) does not end before this backup's start %X/%X",
			   parent_dir, (uint32) (pm.start_lsn >> 32), (uint32) pm.start_lsn,
			   (uint32) (pm.stop_lsn >> 32), (uint32) pm.stop_lsn,
			   (uint32) (m->start_lsn >> 32), (uint32) m->start_lsn);
	parent_meta = read_metadata_file(parent_dir, &pm);
	plan_incremental(pgdata, wait_seconds, &pm, parent_meta, m, meta, allocated, nallocated,
					 reasons, stats);
	m->incremental = true;
	m->parent_start_lsn = pm.start_lsn;
	m->parent_stop_lsn = pm.stop_lsn;
	m->parent_manifest_crc = pm.manifest_crc;
	pg_free(parent_meta);
}

int
cmd_backup(const char *path, const char *target, const char *start_text, uint32 timeline,
		   const char *parent_dir, const char *pgdata, int wait_seconds)
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
	uint32	   *to_copy;
	uint32		ncopy;
	IncrementalStats stats;
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

	/* an incremental backup copies what may differ from its parent's */
	ncopy = nallocated;
	to_copy = allocated;
	if (parent_dir != NULL)
	{
		uint8	   *reasons = pg_malloc0(Max(nallocated, 1));

		plan_parent(parent_dir, pgdata, wait_seconds, &m, meta, allocated, nallocated, reasons, &stats);
		to_copy = pg_malloc(sizeof(uint32) * Max(stats.copied, 1));
		m.runs = pg_malloc(sizeof(BdManifestRun) * Max(nallocated - stats.copied, 1));
		ncopy = 0;
		for (uint32 i = 0; i < nallocated; i++)
		{
			BdManifestRun *last = m.nruns > 0 ? &m.runs[m.nruns - 1] : NULL;

			if (reasons[i] != BD_INCR_UNCHANGED)
				to_copy[ncopy++] = allocated[i];
			else if (last != NULL && last->first + last->count == allocated[i])
				last->count++;
			else
			{
				m.runs[m.nruns].first = allocated[i];
				m.runs[m.nruns].count = 1;
				m.nruns++;
			}
		}
		pg_free(reasons);
	}

	/* only now, when nothing is refused any more, does the target fill */
	fd = create_file(backup_path(target, METADATA_FILE));
	write_all(fd, METADATA_FILE, meta, (size_t) end_page * BD_PAGE_SIZE);
	close_durably(fd, backup_path(target, METADATA_FILE));
	fd = -1;
	free(meta);

	/*
	 * The allocated extents, in order, into files of at most 1 GB: runs of
	 * adjacent extents (up to READ_RUN_BYTES, never across an extent file)
	 * read as one transfer, READ_DEPTH of them in flight, each written out in
	 * order as it completes.
	 */
	items = pg_malloc(sizeof(BdManifestExtent) * Max(ncopy, 1));
	run_extents = (uint32) Max(1, READ_RUN_BYTES / extent_size);
	per_file = extents_per_file(extent_size);
	for (int r = 0; r < READ_DEPTH; r++)
		runs[r].buf = aligned_buffer((size_t) run_extents * extent_size);
	progress_start(&progress, (uint64) ncopy * extent_size);
	for (uint32 next = 0, head = 0, queued = 0;;)
	{
		ExtentRun  *run;

		while (queued < READ_DEPTH && next < ncopy)
		{
			PgracIo    *io;

			run = &runs[(head + queued) % READ_DEPTH];
			run->first = next;
			run->n = 1;
			while (run->n < run_extents && next + run->n < ncopy &&
				   to_copy[next + run->n] == to_copy[next] + run->n &&
				   (next + run->n) % per_file != 0)
				run->n++;
			run->iov.iov_base = run->buf;
			run->iov.iov_len = (size_t) run->n * extent_size;
			memset(&run->io, 0, sizeof(run->io));
			run->io.offset = (uint64) to_copy[next] * extent_size;
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
			items[run->first + k].extent = to_copy[run->first + k];
			items[run->first + k].crc = bd_crc32c(run->buf + (size_t) k * extent_size, extent_size);
		}
		write_all(fd, file_path, run->buf, run->iov.iov_len);
		progress_add(&progress, run->iov.iov_len, false);
		head = (head + 1) % READ_DEPTH;
		queued--;
	}
	if (fd >= 0 && ncopy > 0)
		close_durably(fd, file_path);
	progress_add(&progress, 0, true);
	m.nitems = ncopy;
	m.items = items;
	write_manifest(target, PARTIAL_FILE, &m);
	if (fsync_fname(target, true) != 0)
		exit(EXIT_DEVICE);
	pgrac_transport_close(dev);
	if (parent_dir == NULL)
		printf("copied %u of %u extents (%llu MB) and %llu metadata pages of \"%s\" into \"%s\"\n",
			   nallocated, sb.nextents - reserved,
			   (unsigned long long) ((uint64) nallocated * extent_size >> 20),
			   (unsigned long long) end_page, path, target);
	else
		printf("incremental backup of \"%s\" into \"%s\": copied %u of %u allocated extents (%llu MB; modified %u, truncated or created %u, new owner %u, owner unknown %u), %u unchanged since the parent \"%s\" (%u WAL summary files, %d fork entries), and %llu metadata pages\n",
			   path, target, ncopy, nallocated,
			   (unsigned long long) ((uint64) ncopy * extent_size >> 20),
			   stats.by_reason[BD_INCR_MODIFIED], stats.by_reason[BD_INCR_LIMIT],
			   stats.by_reason[BD_INCR_NEW_OWNER], stats.by_reason[BD_INCR_OWNER_UNKNOWN],
			   nallocated - ncopy, parent_dir, stats.summary_files, stats.summarized_forks,
			   (unsigned long long) end_page);
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

/* the extents an incremental backup takes from its parent */
static uint32
run_extents_total(const BdManifest *m)
{
	uint32		n = 0;

	for (uint32 r = 0; r < m->nruns; r++)
		n += m->runs[r].count;
	return n;
}

/* A backup's metadata copy, checked against its manifest. */
static uint8 *
read_metadata_file(const char *target, const BdManifest *m)
{
	char	   *path = backup_path(target, METADATA_FILE);
	size_t		len = m->metadata_pages * BD_PAGE_SIZE;
	struct stat st;
	uint8	   *buf;
	int			fd;

	if (stat(path, &st) != 0)
		refuse("backup \"%s\": file \"%s\" is missing", target, METADATA_FILE);
	if ((uint64) st.st_size != len)
		refuse("backup \"%s\": file \"%s\" has %lld bytes, the manifest says %llu",
			   target, METADATA_FILE, (long long) st.st_size, (unsigned long long) len);
	buf = pg_malloc(len);
	if ((fd = open(path, O_RDONLY | PG_BINARY)) < 0 || read(fd, buf, len) != (ssize_t) len)
		device_error("could not read file \"%s\": %m", path);
	close(fd);
	if (bd_crc32c(buf, len) != m->metadata_crc)
		refuse("backup \"%s\": file \"%s\" does not match its CRC-32C in the manifest", target, METADATA_FILE);
	return buf;
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
	Progress	progress;
	ExtentReader reader;

	(void) read_manifest(target, MANIFEST_FILE, m);
	per_file = extents_per_file(m->extent_size);
	nfiles = (m->nitems + per_file - 1) / per_file;

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
	pg_free(read_metadata_file(target, m));

	buf = pg_malloc(m->extent_size);
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

/*
 * A chain: a full backup, then incrementals, each the child of the one
 * before (its parent line names that one's LSNs and manifest CRC), all of
 * one device, cluster and timeline, every extent an incremental calls
 * unchanged held by its parent.  Each backup's files are checked too.
 */
static BdManifest *
check_chain(char *const *targets, int n, bool quiet)
{
	BdManifest *ms = pg_malloc0(sizeof(BdManifest) * n);

	for (int i = 0; i < n; i++)
	{
		BdManifest *m = &ms[i];
		BdManifest *p = i > 0 ? &ms[i - 1] : NULL;

		check_backup(targets[i], m, quiet);
		if (p == NULL)
		{
			if (m->incremental && n > 1)
				refuse("backup \"%s\" is incremental (its parent started at %X/%X): a chain begins with a full backup",
					   targets[i], (uint32) (m->parent_start_lsn >> 32), (uint32) m->parent_start_lsn);
			continue;
		}
		if (!m->incremental)
			refuse("backup \"%s\" is a full backup: only incremental backups follow the first of a chain",
				   targets[i]);
		if (m->parent_start_lsn != p->start_lsn || m->parent_stop_lsn != p->stop_lsn ||
			m->parent_manifest_crc != p->manifest_crc)
			refuse("backup \"%s\" is not the child of \"%s\": its parent is the backup of %X/%X to %X/%X with manifest CRC %08x, not %X/%X to %X/%X with %08x",
				   targets[i], targets[i - 1],
				   (uint32) (m->parent_start_lsn >> 32), (uint32) m->parent_start_lsn,
				   (uint32) (m->parent_stop_lsn >> 32), (uint32) m->parent_stop_lsn,
				   m->parent_manifest_crc,
				   (uint32) (p->start_lsn >> 32), (uint32) p->start_lsn,
				   (uint32) (p->stop_lsn >> 32), (uint32) p->stop_lsn, p->manifest_crc);
		if (memcmp(m->device_uuid, p->device_uuid, 16) != 0 ||
			m->system_identifier != p->system_identifier || m->extent_size != p->extent_size)
			refuse("backup \"%s\" is of another device or cluster than \"%s\"", targets[i], targets[i - 1]);
		if (m->timeline != p->timeline)
			refuse("backup \"%s\" is on timeline %u, its parent \"%s\" on %u: a chain cannot cross a timeline switch",
				   targets[i], m->timeline, targets[i - 1], p->timeline);
		for (uint32 r = 0; r < m->nruns; r++)
			for (uint32 k = 0; k < m->runs[r].count; k++)
			{
				uint32		e = m->runs[r].first + k;

				if (!bd_manifest_copied(p, e, NULL) && !bd_manifest_unchanged(p, e))
					refuse("backup \"%s\" takes extent %u from its parent \"%s\", which does not hold it",
						   targets[i], e, targets[i - 1]);
			}
	}
	if (ms[n - 1].incremental && n == 1)
		refuse("backup \"%s\" is incremental: give its whole chain, the full backup first (--target=FULL --target=... --target=%s)",
			   targets[0], targets[0]);
	return ms;
}

int
cmd_verify_backup(char *const *targets, int n)
{
	BdManifest *ms;
	char		uuid[37];

	/* a single incremental backup: its own files only */
	if (n == 1)
	{
		BdManifest	m;

		check_backup(targets[0], &m, false);
		bd_uuid_format(m.device_uuid, uuid);
		printf("backup \"%s\": %s backup of device %s of the cluster with system identifier %llu, %X/%X to %X/%X on timeline %u; %u extents of %llu kB and %llu metadata pages, every CRC-32C matches\n",
			   targets[0], m.incremental ? "an incremental" : "a full",
			   uuid, (unsigned long long) m.system_identifier,
			   (uint32) (m.start_lsn >> 32), (uint32) m.start_lsn,
			   (uint32) (m.stop_lsn >> 32), (uint32) m.stop_lsn, m.timeline,
			   m.nitems, (unsigned long long) (m.extent_size >> 10),
			   (unsigned long long) m.metadata_pages);
		if (m.incremental)
			printf("it takes %u more extents from its parent (the backup of %X/%X to %X/%X); give the whole chain to check its links\n",
				   run_extents_total(&m),
				   (uint32) (m.parent_start_lsn >> 32), (uint32) m.parent_start_lsn,
				   (uint32) (m.parent_stop_lsn >> 32), (uint32) m.parent_stop_lsn);
		return 0;
	}
	ms = check_chain(targets, n, false);
	for (int i = 0; i < n; i++)
		printf("backup \"%s\": %s, %X/%X to %X/%X, %u extents copied%s, every CRC-32C matches\n",
			   targets[i], i == 0 ? "full" : "incremental",
			   (uint32) (ms[i].start_lsn >> 32), (uint32) ms[i].start_lsn,
			   (uint32) (ms[i].stop_lsn >> 32), (uint32) ms[i].stop_lsn, ms[i].nitems,
			   i == 0 ? "" : psprintf(", %u from its parent", run_extents_total(&ms[i])));
	printf("a chain of %d backups on timeline %u: each is the child of the one before, and every extent taken from a parent is there\n",
		   n, ms[0].timeline);
	return 0;
}

/*
 * Onto a device not in use and at least as large as the last backup's:
 * every extent past the metadata zeroed (free extents must read as
 * zeroes), each extent the last backup holds written from the newest
 * backup of the chain that copied it, the last backup's metadata area
 * last, then one flush.
 */
int
cmd_restore(const char *path, char *const *targets, int n)
{
	BdManifest *ms;
	BdManifest *last;
	PgracTransport *dev;
	uint64		needed;
	uint64		data_start;
	char	   *buf;
	uint8	   *meta;
	Progress	progress;
	uint64		total = 0;
	uint32		written = 0;

	ms = check_chain(targets, n, true);
	last = &ms[n - 1];
	dev = open_device(path, false, true);
	needed = (uint64) last->nextents * last->extent_size;
	if (dev->size < needed)
		refuse("device \"%s\" has %llu bytes; the backup needs at least %llu (%u extents of %llu kB)",
			   path, (unsigned long long) dev->size, (unsigned long long) needed,
			   last->nextents, (unsigned long long) (last->extent_size >> 10));

	data_start = last->metadata_pages * BD_PAGE_SIZE;
	if (data_start < needed && pgrac_zero(dev, data_start, needed - data_start) < 0)
		transport_error(dev);

	for (int i = 0; i < n; i++)
		total += (uint64) ms[i].nitems * ms[i].extent_size;
	buf = pg_malloc(last->extent_size);
	progress_start(&progress, total);
	for (int i = 0; i < n; i++)
	{
		ExtentReader reader;

		/* checked again as read: a file changed since would be refused */
		extent_reader_open(&reader, targets[i], &ms[i]);
		for (uint32 x = 0; x < ms[i].nitems; x++)
		{
			uint32		e = ms[i].items[x].extent;
			bool		newest = true;

			extent_reader_next(&reader, x, buf);
			progress_add(&progress, ms[i].extent_size, false);
			/* every later backup must take it from its parent */
			for (int j = i + 1; j < n && newest; j++)
				newest = bd_manifest_unchanged(&ms[j], e);
			if (!newest)
				continue;
			if (pgrac_write(dev, (uint64) e * last->extent_size, buf, last->extent_size) < 0)
				transport_error(dev);
			written++;
		}
		extent_reader_close(&reader);
	}
	progress_add(&progress, 0, true);

	meta = read_metadata_file(targets[n - 1], last);
	if (pgrac_write(dev, 0, meta, last->metadata_pages * BD_PAGE_SIZE) < 0 || pgrac_flush(dev) < 0)
		transport_error(dev);
	pgrac_transport_close(dev);
	if (n == 1)
		printf("restored %u extents and %llu metadata pages onto \"%s\"; start the restored data directory (with the backup_label of this backup) to bring the metadata to the backup's end\n",
			   written, (unsigned long long) last->metadata_pages, path);
	else
		printf("restored a chain of %d backups onto \"%s\": %u extents and the last backup's %llu metadata pages; start the restored data directory (with the backup_label of the last backup) to bring the metadata to its end\n",
			   n, path, written, (unsigned long long) last->metadata_pages);
	return 0;
}
