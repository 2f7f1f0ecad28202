/*-------------------------------------------------------------------------
 *
 * pgrac_image_incremental.c
 *	  What an incremental backup (pgrac_image backup --incremental-from)
 *	  copies: PostgreSQL's WAL summaries from the parent's start LSN to
 *	  this backup's, read from the running server's pg_wal/summaries, and
 *	  the two metadata copies, handed to the planner (bd_incremental.c).
 *
 * src/tools/pgrac_image_incremental.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/blkreftable.h"
#include "common/relpath.h"
#include "storage/relfilelocator.h"

#include "pgrac_image.h"
#include "pgrac_image_incremental.h"


/* ---- a metadata copy in memory, as page I/O for bd_image_check() ---- */

typedef struct MemoryMeta
{
	const uint8 *pages;
	uint64		npages;
} MemoryMeta;

static bool
memory_read_page(void *arg, uint64 address, uint8 *page)
{
	MemoryMeta *m = arg;

	if (address >= m->npages)
		return false;
	memcpy(page, m->pages + address * BD_PAGE_SIZE, BD_PAGE_SIZE);
	return true;
}

static bool
memory_write_page(void *arg, uint64 address, const uint8 *page)
{
	return false;				/* a copy is never written */
}

static void *
memory_alloc(void *arg, size_t size)
{
	return pg_malloc0(Max(size, 1));
}

static void
memory_free(void *arg, void *ptr)
{
	pg_free(ptr);
}

/* Load a metadata copy, going on past damaged pages as verify does. */
static void
load_copy(const char *what, const uint8 *pages, uint64 npages, MemoryMeta *mm,
		  BdIo *io, BdLoadedLayout *layout)
{
	char		error[512];

	mm->pages = pages;
	mm->npages = npages;
	io->read_page = memory_read_page;
	io->write_page = memory_write_page;
	io->alloc = memory_alloc;
	io->free = memory_free;
	io->arg = mm;
	if (!bd_image_check(io, layout, error, sizeof(error)))
		refuse("the metadata copy of %s cannot be read: %s", what, error);
}

/* ---- the WAL summaries ---- */

typedef struct SummaryFile
{
	char	   *path;
	uint64		start;
	uint64		end;
} SummaryFile;

static int
compare_summary_files(const void *a, const void *b)
{
	const SummaryFile *x = a;
	const SummaryFile *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

/*
 * The summary files of timeline tli in dir that overlap [from, to), sorted;
 * *covered is set to how far from `from` they reach without a gap.
 */
static SummaryFile *
list_summaries(const char *dir, uint32 tli, uint64 from, uint64 to, int *n,
			   uint64 *covered)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	SummaryFile *files = NULL;
	int			nfiles = 0,
				capacity = 0;

	if (d == NULL)
		device_error("could not open WAL summary directory \"%s\": %m", dir);
	while ((de = readdir(d)) != NULL)
	{
		uint32		t,
					shi,
					slo,
					ehi,
					elo;
		char		tail[16];
		uint64		start,
					end;

		if (strlen(de->d_name) != 48 ||
			sscanf(de->d_name, "%08X%08X%08X%08X%08X%15s", &t, &shi, &slo, &ehi, &elo, tail) != 6 ||
			strcmp(tail, ".summary") != 0)
			continue;
		start = ((uint64) shi << 32) | slo;
		end = ((uint64) ehi << 32) | elo;
		if (t != tli || end <= from || start >= to)
			continue;
		if (nfiles == capacity)
		{
			capacity = Max(16, capacity * 2);
			files = pg_realloc(files, sizeof(SummaryFile) * capacity);
		}
		files[nfiles].path = psprintf("%s/%s", dir, de->d_name);
		files[nfiles].start = start;
		files[nfiles].end = end;
		nfiles++;
	}
	closedir(d);
	if (nfiles > 1)
		qsort(files, nfiles, sizeof(SummaryFile), compare_summary_files);
	*covered = from;
	for (int i = 0; i < nfiles && files[i].start <= *covered; i++)
		*covered = Max(*covered, files[i].end);
	*n = nfiles;
	return files;
}

typedef struct ReadState
{
	int			fd;
	const char *path;
} ReadState;

static int
summary_read(void *arg, void *data, int length)
{
	ReadState  *rs = arg;
	int			n = read(rs->fd, data, length);

	if (n < 0)
		device_error("could not read WAL summary \"%s\": %m", rs->path);
	return n;
}

pg_attribute_printf(2, 3)
static void
summary_error(void *arg, char *fmt,...)
{
	va_list		ap;
	char		msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	refuse("a WAL summary cannot be read: %s", msg);
}

/* Append what one summary file says to *changes. */
static void
read_summary(const SummaryFile *f, BdForkChanges **changes, int *nchanges,
			 int *capacity)
{
	ReadState	rs = {open(f->path, O_RDONLY | PG_BINARY), f->path};
	BlockRefTableReader *reader;
	RelFileLocator rlocator;
	ForkNumber	forknum;
	BlockNumber limit;

	if (rs.fd < 0)
		device_error("could not open WAL summary \"%s\": %m", f->path);
	reader = CreateBlockRefTableReader(summary_read, &rs, (char *) f->path,
									   summary_error, NULL);
	while (BlockRefTableReaderNextRelation(reader, &rlocator, &forknum, &limit))
	{
		BdForkChanges *c;
		uint32	   *blocks = NULL;
		unsigned	nblocks = 0,
					room = 0;

		for (;;)
		{
			unsigned	got;

			if (nblocks == room)
			{
				room = Max(256, room * 2);
				blocks = pg_realloc(blocks, sizeof(uint32) * room);
			}
			got = BlockRefTableReaderGetBlocks(reader, blocks + nblocks, room - nblocks);
			nblocks += got;
			if (nblocks < room)
				break;
		}
		if (*nchanges == *capacity)
		{
			*capacity = Max(64, *capacity * 2);
			*changes = pg_realloc(*changes, sizeof(BdForkChanges) * *capacity);
		}
		c = &(*changes)[(*nchanges)++];
		c->spcoid = rlocator.spcOid;
		c->dboid = rlocator.dbOid;
		c->relnumber = rlocator.relNumber;
		c->fork = (uint8) forknum;
		c->limit_block = limit == InvalidBlockNumber ? BD_NO_LIMIT_BLOCK : limit;
		c->nblocks = nblocks;
		c->blocks = blocks;
	}
	DestroyBlockRefTableReader(reader);
	close(rs.fd);
}

/*
 * What the summaries in dir say of [from, to) on timeline tli, waiting up
 * to wait_seconds for the summarizer to reach `to`.
 */
static void
read_summaries(const char *pgdata, uint32 tli, uint64 from, uint64 to,
			   int wait_seconds, BdForkChanges **changes, int *nchanges,
			   int *nfiles_out)
{
	char	   *dir = psprintf("%s/pg_wal/summaries", pgdata);
	SummaryFile *files;
	int			nfiles;
	int			capacity = 0;
	uint64		covered;

	for (int waited = 0;; waited++)
	{
		files = list_summaries(dir, tli, from, to, &nfiles, &covered);
		if (covered >= to)
			break;
		if (waited >= wait_seconds)
			refuse("the WAL summaries in \"%s\" on timeline %u cover %X/%X to %X/%X but not %X/%X to %X/%X, which this incremental backup needs (is summarize_wal on, and was it on since the parent backup began?)",
				   dir, tli, (uint32) (from >> 32), (uint32) from,
				   (uint32) (covered >> 32), (uint32) covered,
				   (uint32) (covered >> 32), (uint32) covered,
				   (uint32) (to >> 32), (uint32) to);
		if (waited == 0)
			fprintf(stderr, "%s: waiting up to %d s for the WAL summarizer to reach %X/%X (summarize_wal must be on)\n",
					progname, wait_seconds, (uint32) (to >> 32), (uint32) to);
		for (int i = 0; i < nfiles; i++)
			pg_free(files[i].path);
		pg_free(files);
		sleep(1);
	}
	*changes = NULL;
	*nchanges = 0;
	for (int i = 0; i < nfiles; i++)
		read_summary(&files[i], changes, nchanges, &capacity);
	*nfiles_out = nfiles;
}

/* ---- the plan ---- */

void
plan_incremental(const char *pgdata, int wait_seconds, const BdManifest *parent,
				 const uint8 *parent_meta, const BdManifest *m,
				 const uint8 *meta, const uint32 *allocated,
				 uint32 nallocated, uint8 *reasons, IncrementalStats *stats)
{
	MemoryMeta	cur_mm,
				parent_mm;
	BdIo		cur_io,
				parent_io;
	BdLoadedLayout cur,
				prev;
	BdForkChanges *changes;
	int			nchanges;
	void	   *scratch;

	load_copy("this backup", meta, m->metadata_pages, &cur_mm, &cur_io, &cur);
	load_copy("the parent backup", parent_meta, parent->metadata_pages,
			  &parent_mm, &parent_io, &prev);
	if (prev.sb.nextents > cur.sb.nextents)
		refuse("the device has %u extents, fewer than the %u of the parent backup: it is not the device the parent was taken of",
			   cur.sb.nextents, prev.sb.nextents);

	read_summaries(pgdata, m->timeline, parent->start_lsn, m->start_lsn,
				   wait_seconds, &changes, &nchanges, &stats->summary_files);
	stats->summarized_forks = nchanges;

	scratch = pg_malloc(bd_incremental_scratch_size(&cur, &prev));
	stats->copied = bd_incremental_plan(&cur, &prev, changes, nchanges,
										allocated, nallocated, scratch, reasons);
	pg_free(scratch);
	memset(stats->by_reason, 0, sizeof(stats->by_reason));
	for (uint32 i = 0; i < nallocated; i++)
		stats->by_reason[reasons[i]]++;
	for (int c = 0; c < nchanges; c++)
		pg_free((void *) changes[c].blocks);
	pg_free(changes);
	bd_image_release(&cur_io, &cur);
	bd_image_release(&parent_io, &prev);
}
