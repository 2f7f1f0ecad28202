/*-------------------------------------------------------------------------
 *
 * twophase_store.c
 *	  The files of the 2PC coordinator log: open (recovery and its repairs),
 *	  append a batch of frames with one write and one fdatasync, start a new
 *	  segment, remove segments no live transaction needs, and the lock file.
 *
 * Every system call goes through a PgracTwophaseIo table, so that the
 * unit tests can make any write short or any fsync fail; the server and
 * any tool use pgrac_twophase_posix_io.  The store knows nothing of
 * shared memory or of concurrency: the server calls it from the one
 * process that holds its write lock.
 *
 * Durability, step by step:
 *	- a batch is acknowledged only after pwrite() wrote all of it and
 *	  fdatasync() returned 0;
 *	- a new segment gets its header and first record (a Checkpoint) and is
 *	  fsynced, then its directory is fsynced, before anything is appended
 *	  to it; the previous segment was fully synced before;
 *	- a truncation (torn tail) is fsynced before appending resumes; a rename
 *	  to ".broken" and a removal are followed by a directory fsync.
 * Any failure is sticky: the store refuses every later append until it is
 * opened again, because after a failed fsync nothing tells what the file
 * holds (the kernel may have dropped the dirty pages and cleared the
 * error).  There is no fallback to not syncing.
 *
 * src/twophase/twophase_store.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgrac/twophase_log.h"
#include "pgrac/twophase_store.h"

static int
posix_open(const char *path, int flags, int mode)
{
	return open(path, flags, mode);
}

static void *
posix_alloc(size_t size)
{
	return malloc(size);
}

const PgracTwophaseIo pgrac_twophase_posix_io = {
	.open = posix_open,
	.pread = pread,
	.pwrite = pwrite,
	.fdatasync = fdatasync,
	.fsync = fsync,
	.ftruncate = ftruncate,
	.close = close,
	.rename = rename,
	.unlink = unlink,
	.alloc = posix_alloc,
	.release = free,
};

static bool
			store_fail(PgracTwophaseStore *st, const char *fmt,...) pg_attribute_printf(2, 3);

static bool
store_fail(PgracTwophaseStore *st, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(st->error, sizeof(st->error), fmt, ap);
	va_end(ap);
	st->failed = true;
	return false;
}

static void
path_of(const PgracTwophaseStore *st, uint64 start, bool broken, char *out, size_t outlen)
{
	char		name[PGRAC_2PC_NAME_MAX];

	pgrac_twophase_segment_name(start, name, sizeof(name));
	snprintf(out, outlen, "%s/%s%s", st->dir, name, broken ? PGRAC_2PC_BROKEN_SUFFIX : "");
}

static bool
fsync_dir(PgracTwophaseStore *st)
{
	int			fd = st->io->open(st->dir, O_RDONLY, 0);
	int			save;

	if (fd < 0)
		return store_fail(st, "could not open directory \"%s\": %s", st->dir, strerror(errno));
	if (st->io->fsync(fd) != 0)
	{
		save = errno;
		st->io->close(fd);
		return store_fail(st, "could not fsync directory \"%s\": %s", st->dir, strerror(save));
	}
	st->io->close(fd);
	return true;
}

/* all of buf at off, however many calls it takes; false on an error or no progress */
static bool
write_all(PgracTwophaseStore *st, int fd, const uint8 *buf, size_t len, off_t off,
		  const char *path)
{
	while (len > 0)
	{
		ssize_t		n = st->io->pwrite(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return store_fail(st, "could not write %zu bytes at offset %lld of \"%s\": %s", len,
							  (long long) off, path, n < 0 ? strerror(errno) : "no progress");
		buf += n;
		len -= (size_t) n;
		off += n;
	}
	return true;
}

static bool
read_file(PgracTwophaseStore *st, const char *path, uint8 **data, size_t *len)
{
	struct stat sb;
	int			fd = st->io->open(path, O_RDONLY, 0);
	size_t		done = 0;

	*data = NULL;
	if (fd < 0)
		return store_fail(st, "could not open \"%s\": %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0)
	{
		st->io->close(fd);
		return store_fail(st, "could not stat \"%s\": %s", path, strerror(errno));
	}
	if ((uint64) sb.st_size > PGRAC_2PC_SEGMENT_SIZE_MAX)
	{
		/* no writer makes such a file; reading it could exhaust memory */
		st->io->close(fd);
		return store_fail(st, "\"%s\" is %lld bytes, larger than any segment (at most %d); move it away",
						  path, (long long) sb.st_size, PGRAC_2PC_SEGMENT_SIZE_MAX);
	}
	*len = (size_t) sb.st_size;
	*data = st->io->alloc(*len > 0 ? *len : 1);
	if (*data == NULL)
	{
		st->io->close(fd);
		return store_fail(st, "out of memory reading \"%s\" (%zu bytes)", path, *len);
	}
	while (done < *len)
	{
		ssize_t		n = st->io->pread(fd, *data + done, *len - done, (off_t) done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			int			save = errno;

			st->io->close(fd);
			st->io->release(*data);
			*data = NULL;
			return store_fail(st, "could not read \"%s\": %s", path,
							  n < 0 ? strerror(save) : "unexpected end of file");
		}
		done += (size_t) n;
	}
	st->io->close(fd);
	return true;
}

static int
list_segments(PgracTwophaseStore *st, PgracTwophaseSegmentInput *segs, int max)
{
	DIR		   *d = opendir(st->dir);
	struct dirent *de;
	int			n = 0;

	if (d == NULL)
	{
		store_fail(st, "could not open directory \"%s\": %s", st->dir, strerror(errno));
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL)
	{
		uint64		start;
		bool		broken;

		if (!pgrac_twophase_parse_segment_name(de->d_name, &start, &broken))
			continue;
		if (n >= max)
		{
			closedir(d);
			store_fail(st, "more than %d segments in \"%s\"", max, st->dir);
			return -1;
		}
		memset(&segs[n], 0, sizeof(segs[n]));
		segs[n].start = start;
		segs[n].broken = broken;
		n++;
	}
	if (errno != 0)
	{
		int			save = errno;

		closedir(d);
		store_fail(st, "could not read directory \"%s\": %s", st->dir, strerror(save));
		return -1;
	}
	closedir(d);
	pgrac_twophase_sort_segments(segs, n);
	return n;
}

static bool
apply_plan(PgracTwophaseStore *st, const PgracTwophaseSegmentInput *s,
		   const PgracTwophaseSegmentPlan *p)
{
	char		path[1100];
	char		broken[1100];
	int			fd;

	path_of(st, s->start, s->broken, path, sizeof(path));
	switch (p->action)
	{
		case PGRAC_2PC_KEEP:
			return true;
		case PGRAC_2PC_TRUNCATE:
			fd = st->io->open(path, O_RDWR, 0);
			if (fd < 0)
				return store_fail(st, "could not open \"%s\": %s", path, strerror(errno));
			if (st->io->ftruncate(fd, (off_t) p->truncate_at) != 0 || st->io->fsync(fd) != 0)
			{
				int			save = errno;

				st->io->close(fd);
				return store_fail(st, "could not truncate \"%s\" to %zu bytes: %s", path,
								  p->truncate_at, strerror(save));
			}
			st->io->close(fd);
			st->ntruncated++;
			return true;
		case PGRAC_2PC_RENAME_BROKEN:
			path_of(st, s->start, true, broken, sizeof(broken));
			if (st->io->rename(path, broken) != 0)
				return store_fail(st, "could not rename \"%s\" to \"%s\": %s", path, broken,
								  strerror(errno));
			st->nrenamed++;
			return fsync_dir(st);
		case PGRAC_2PC_REMOVE:
			if (st->io->unlink(path) != 0)
				return store_fail(st, "could not remove \"%s\": %s", path, strerror(errno));
			st->nremoved++;
			return fsync_dir(st);
	}
	return true;
}

/*
 * A new segment at position start: header and a Checkpoint of the live
 * transactions, synced with its directory before it is used.
 */
static bool
create_segment(PgracTwophaseStore *st, uint64 start, const PgracTwophaseLive *live, int nlive)
{
	PgracTwophaseSegmentHeader h = {.version = PGRAC_2PC_FORMAT_VERSION,
		.system_identifier = st->system_identifier,.start = start,
	.size_limit = st->new_segment_size};
	PgracTwophaseRecord cp = {.kind = PGRAC_2PC_CHECKPOINT};
	char		path[1100];
	uint8	   *buf;
	size_t		len;
	int			fd;

	cp.u.checkpoint.nlive = nlive;
	cp.u.checkpoint.live = (PgracTwophaseLive *) live;
	len = PGRAC_2PC_SEGMENT_HEADER_SIZE + pgrac_twophase_record_size(&cp);
	buf = st->io->alloc(len);
	if (buf == NULL)
		return store_fail(st, "out of memory for a new segment's first record");
	pgrac_twophase_segment_header_encode(&h, buf);
	pgrac_twophase_record_encode(&cp, buf + PGRAC_2PC_SEGMENT_HEADER_SIZE);

	path_of(st, start, false, path, sizeof(path));
	fd = st->io->open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
	{
		st->io->release(buf);
		return store_fail(st, "could not create \"%s\": %s", path, strerror(errno));
	}
	if (!write_all(st, fd, buf, len, 0, path))
	{
		st->io->release(buf);
		st->io->close(fd);
		return false;
	}
	st->io->release(buf);
	if (st->io->fsync(fd) != 0)
	{
		int			save = errno;

		st->io->close(fd);
		return store_fail(st, "could not fsync \"%s\": %s", path, strerror(save));
	}
	if (!fsync_dir(st))
	{
		st->io->close(fd);
		return false;
	}
	if (st->fd >= 0)
		st->io->close(st->fd);
	st->fd = fd;
	st->seg_start = start;
	st->seg_limit = st->new_segment_size;
	st->seg_size = len;
	if (st->nsegments < PGRAC_2PC_MAX_SEGMENTS)
		st->segments[st->nsegments++] = start;
	else
		st->untracked = true;
	st->nsegments_created++;
	return true;
}

bool
pgrac_twophase_store_open(PgracTwophaseStore *st, const char *dir, uint64 system_identifier,
						  uint64 new_segment_size, const PgracTwophaseIo *io,
						  PgracTwophaseRecovery *rec, PgracTwophaseLive *live,
						  PgracTwophaseLive *scratch)
{
	PgracTwophaseSegmentInput *segs;
	PgracTwophaseSegmentPlan *plans;
	int			n;
	bool		ok = true;

	memset(st, 0, sizeof(*st));
	st->fd = -1;
	st->io = io;
	st->system_identifier = system_identifier;
	st->new_segment_size = new_segment_size;
	snprintf(st->dir, sizeof(st->dir), "%s", dir);
	pgrac_twophase_recovery_init(rec, system_identifier, live, scratch);
	if (new_segment_size < PGRAC_2PC_SEGMENT_SIZE_MIN || new_segment_size > PGRAC_2PC_SEGMENT_SIZE_MAX)
		return store_fail(st, "segment size %llu out of range", (unsigned long long) new_segment_size);

	segs = io->alloc(sizeof(*segs) * PGRAC_2PC_MAX_SEGMENTS);
	plans = io->alloc(sizeof(*plans) * PGRAC_2PC_MAX_SEGMENTS);
	if (segs == NULL || plans == NULL)
	{
		if (segs)
			io->release(segs);
		if (plans)
			io->release(plans);
		return store_fail(st, "out of memory listing \"%s\"", dir);
	}
	n = list_segments(st, segs, PGRAC_2PC_MAX_SEGMENTS);
	ok = n >= 0;

	/* read and scan one segment at a time */
	for (int i = 0; ok && i < n; i++)
	{
		char		path[1100];
		uint8	   *data;

		path_of(st, segs[i].start, segs[i].broken, path, sizeof(path));
		if (!read_file(st, path, &data, &segs[i].len))
		{
			ok = false;
			break;
		}
		segs[i].data = data;
		pgrac_twophase_recovery_add(rec, &segs[i], i == n - 1, &plans[i]);
		io->release(data);
		segs[i].data = NULL;
		if (!rec->ok)
		{
			ok = store_fail(st, "%s", rec->error);
			break;
		}
	}
	if (ok)
		pgrac_twophase_recovery_finish(rec, segs, plans, n);

	/* repairs: truncate a torn tail, keep broken files, remove the unneeded */
	for (int i = 0; ok && i < n; i++)
	{
		if (!apply_plan(st, &segs[i], &plans[i]))
			ok = false;
		else if (!segs[i].broken && plans[i].action != PGRAC_2PC_REMOVE &&
				 plans[i].action != PGRAC_2PC_RENAME_BROKEN && i != rec->append_segment)
		{
			if (st->nsegments < PGRAC_2PC_MAX_SEGMENTS)
				st->segments[st->nsegments++] = segs[i].start;
		}
	}
	st->ncorrupt = rec->ncorrupt;

	/* where appending resumes */
	if (ok && rec->append_segment >= 0)
	{
		char		path[1100];
		const PgracTwophaseSegmentInput *s = &segs[rec->append_segment];

		path_of(st, s->start, false, path, sizeof(path));
		st->fd = io->open(path, O_RDWR, 0);
		if (st->fd < 0)
			ok = store_fail(st, "could not open \"%s\": %s", path, strerror(errno));
		else
		{
			st->seg_start = s->start;
			st->seg_limit = rec->append_size_limit;
			st->seg_size = rec->append_offset;
			st->segments[st->nsegments++] = s->start;
		}
	}
	else if (ok)
		ok = create_segment(st, rec->append_position, rec->live, rec->nlive);

	io->release(segs);
	io->release(plans);
	return ok;
}

uint64
pgrac_twophase_store_position(const PgracTwophaseStore *st)
{
	return st->seg_start + (st->seg_size - PGRAC_2PC_SEGMENT_HEADER_SIZE);
}

size_t
pgrac_twophase_store_room(const PgracTwophaseStore *st)
{
	return st->seg_size >= st->seg_limit ? 0 : (size_t) (st->seg_limit - st->seg_size);
}

bool
pgrac_twophase_store_append(PgracTwophaseStore *st, const uint8 *frames, size_t len)
{
	char		path[1100];

	if (st->failed)
		return false;
	if (st->fd < 0)
		return store_fail(st, "the log has no segment open");
	path_of(st, st->seg_start, false, path, sizeof(path));
	if (len > pgrac_twophase_store_room(st))
		return store_fail(st, "a batch of %zu bytes does not fit in \"%s\" (%zu bytes left)", len,
						  path, pgrac_twophase_store_room(st));
	if (!write_all(st, st->fd, frames, len, (off_t) st->seg_size, path))
		return false;
	if (st->io->fdatasync(st->fd) != 0)
		return store_fail(st, "could not fdatasync \"%s\": %s", path, strerror(errno));
	st->seg_size += len;
	st->nbatches++;
	return true;
}

bool
pgrac_twophase_store_rotate(PgracTwophaseStore *st, const PgracTwophaseLive *live, int nlive)
{
	if (st->failed)
		return false;
	return create_segment(st, pgrac_twophase_store_position(st), live, nlive);
}

int
pgrac_twophase_store_remove_unneeded(PgracTwophaseStore *st, const PgracTwophaseLive *live,
									 int nlive)
{
	int			removed = 0;
	int			kept = 0;

	if (st->failed)
		return -1;
	for (int i = 0; i < st->nsegments; i++)
	{
		uint64		start = st->segments[i];
		char		path[1100];

		/* the last tracked one is the segment appended to */
		if (i + 1 < st->nsegments &&
			pgrac_twophase_segment_removable(start, st->segments[i + 1], live, nlive))
		{
			path_of(st, start, false, path, sizeof(path));
			if (st->io->unlink(path) != 0)
			{
				store_fail(st, "could not remove \"%s\": %s", path, strerror(errno));
				return -1;
			}
			removed++;
			continue;
		}
		st->segments[kept++] = start;
	}
	st->nsegments = kept;
	if (removed > 0 && !fsync_dir(st))
		return -1;
	st->nremoved += removed;
	return removed;
}

void
pgrac_twophase_store_close(PgracTwophaseStore *st)
{
	if (st->fd >= 0)
		st->io->close(st->fd);
	st->fd = -1;
}

/*
 * The lock file: flock() on dir/lock for as long as *fd stays open (and in
 * every child that inherits it), holding a line naming the holder.  On
 * conflict, holder gets what the file says.
 */
PgracTwophaseLockResult
pgrac_twophase_lock(const char *dir, const char *holder_text, int *fd, char *holder,
					size_t holderlen, char *error, size_t errlen)
{
	char		path[1100];
	ssize_t		n;
	size_t		len = strlen(holder_text);

	snprintf(path, sizeof(path), "%s/lock", dir);
	*fd = open(path, O_RDWR | O_CREAT, 0600);
	if (*fd < 0)
	{
		snprintf(error, errlen, "could not open \"%s\": %s", path, strerror(errno));
		return PGRAC_2PC_LOCK_ERROR;
	}
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0)
	{
		int			save = errno;

		if (save == EWOULDBLOCK)
		{
			n = pread(*fd, holder, holderlen - 1, 0);
			holder[n > 0 ? n : 0] = '\0';
			while (n > 0 && (holder[n - 1] == '\n' || holder[n - 1] == '\r'))
				holder[--n] = '\0';
			close(*fd);
			*fd = -1;
			return PGRAC_2PC_LOCK_HELD;
		}
		close(*fd);
		*fd = -1;
		snprintf(error, errlen, "could not lock \"%s\": %s", path, strerror(save));
		return PGRAC_2PC_LOCK_ERROR;
	}
	if (ftruncate(*fd, 0) != 0 || pwrite(*fd, holder_text, len, 0) != (ssize_t) len ||
		pwrite(*fd, "\n", 1, (off_t) len) != 1 || fsync(*fd) != 0)
	{
		snprintf(error, errlen, "could not write \"%s\": %s", path, strerror(errno));
		close(*fd);
		*fd = -1;
		return PGRAC_2PC_LOCK_ERROR;
	}
	return PGRAC_2PC_LOCK_ACQUIRED;
}
