/*
 * pgrac_powerloss: the simulated power cut of docs/power-loss.md.
 *
 *	  pgrac_powerloss --log=FILE --device=PATH --seed=N
 *
 * Reads the log a test build of pgrac_storage wrote (records of every
 * device write with its old and new bytes, and FLUSH records), undoes
 * every write after the last completed flush newest first, then replays
 * them oldest first, each dropped with probability 1/2, and a kept one
 * torn with probability 1/4 (a random subset of its 512-byte sectors).
 * Flushes the device, empties the log and prints what it did.  Run only
 * when no server process is left.
 *
 * Exit status: 0 done; 2 usage; 3 an unreadable log or device.
 *
 * Test-only: built into build/test-modules/powerloss, never installed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* must match bd_server.h */
#define PL_MAGIC	0x504C5752
#define PL_WRITE	1
#define PL_ZERO		2
#define PL_FLUSH	3
#define SECTOR		512

typedef struct Record
{
	uint32_t	kind;
	uint64_t	offset;
	uint64_t	len;
	uint64_t	pos;			/* FLUSH: the noted log size */
	uint64_t	at;				/* where the record starts in the log */
	const char *old;
	const char *new;			/* WRITE only */
} Record;

static void
die(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	fprintf(stderr, "pgrac_powerloss: error: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(3);
}

static void
put(int fd, const char *buf, uint64_t len, uint64_t offset)
{
	uint64_t	done = 0;

	while (done < len)
	{
		ssize_t		n = pwrite(fd, buf + done, len - done, (off_t) (offset + done));

		if (n <= 0)
			die("could not write %llu bytes at offset %llu: %s",
				(unsigned long long) (len - done), (unsigned long long) (offset + done),
				strerror(errno));
		done += (uint64_t) n;
	}
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{"log", required_argument, NULL, 'l'},
		{"device", required_argument, NULL, 'd'},
		{"seed", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0}
	};
	const char *log_path = NULL;
	const char *device = NULL;
	unsigned long seed = 0;
	int			c;
	int			fd;
	int			dev;
	struct stat st;
	char	   *log;
	Record	   *recs;
	size_t		nrecs = 0;
	size_t		cap = 1024;
	uint64_t	off = 0;
	uint64_t	durable = 0;	/* log position: records before it are durable */
	size_t		first_volatile;
	char	   *zeroes = NULL;
	uint64_t	zero_size = 0;
	unsigned	kept = 0,
				dropped = 0,
				torn = 0;
	unsigned long long volatile_bytes = 0;
	unsigned	nvolatile = 0;

	while ((c = getopt_long(argc, argv, "l:d:s:", options, NULL)) != -1)
	{
		switch (c)
		{
			case 'l':
				log_path = optarg;
				break;
			case 'd':
				device = optarg;
				break;
			case 's':
				seed = strtoul(optarg, NULL, 10);
				break;
			default:
				fprintf(stderr, "usage: pgrac_powerloss --log=FILE --device=PATH --seed=N\n");
				return 2;
		}
	}
	if (!log_path || !device)
	{
		fprintf(stderr, "usage: pgrac_powerloss --log=FILE --device=PATH --seed=N\n");
		return 2;
	}
	srandom((unsigned) seed);

	fd = open(log_path, O_RDWR);
	if (fd < 0)
		die("could not open log \"%s\": %s", log_path, strerror(errno));
	if (fstat(fd, &st) < 0)
		die("could not stat \"%s\": %s", log_path, strerror(errno));
	log = malloc((size_t) st.st_size + 1);
	recs = malloc(sizeof(Record) * cap);
	if (!log || !recs)
		die("out of memory");
	for (off_t done = 0; done < st.st_size;)
	{
		ssize_t		n = pread(fd, log + done, (size_t) (st.st_size - done), done);

		if (n <= 0)
			die("could not read \"%s\": %s", log_path, strerror(errno));
		done += n;
	}

	/* parse; a record cut short can only be the last one */
	while (off + 36 <= (uint64_t) st.st_size)
	{
		Record		r;
		uint32_t	magic;
		uint64_t	payload;

		memcpy(&magic, log + off, 4);
		if (magic != PL_MAGIC)
			die("bad record at log offset %llu", (unsigned long long) off);
		memcpy(&r.kind, log + off + 4, 4);
		memcpy(&r.offset, log + off + 8, 8);
		memcpy(&r.len, log + off + 16, 8);
		memcpy(&r.pos, log + off + 24, 8);
		if (r.kind != PL_WRITE && r.kind != PL_ZERO && r.kind != PL_FLUSH)
			die("bad record kind %u at log offset %llu", r.kind, (unsigned long long) off);
		payload = r.kind == PL_WRITE ? 2 * r.len : r.kind == PL_ZERO ? r.len : 0;
		if (off + 32 + payload + 4 > (uint64_t) st.st_size)
			break;
		memcpy(&magic, log + off + 32 + payload, 4);
		if (magic != PL_MAGIC)
			die("bad record end at log offset %llu", (unsigned long long) off);
		r.at = off;
		r.old = log + off + 32;
		r.new = r.kind == PL_WRITE ? log + off + 32 + r.len : NULL;
		if (nrecs == cap)
		{
			cap *= 2;
			recs = realloc(recs, sizeof(Record) * cap);
			if (!recs)
				die("out of memory");
		}
		recs[nrecs++] = r;
		if (r.kind == PL_FLUSH)
			durable = r.pos;
		off += 32 + payload + 4;
	}
	if (off != (uint64_t) st.st_size)
		fprintf(stderr, "pgrac_powerloss: note: the last %llu bytes of the log are a record cut short; its write counts as persisted\n",
				(unsigned long long) (st.st_size - off));

	first_volatile = 0;
	while (first_volatile < nrecs && recs[first_volatile].at < durable)
		first_volatile++;

	dev = open(device, O_RDWR);
	if (dev < 0)
		die("could not open device \"%s\": %s", device, strerror(errno));

	/* undo newest first: the device as the last flush left it */
	for (size_t i = nrecs; i-- > first_volatile;)
	{
		if (recs[i].kind == PL_FLUSH)
			continue;
		put(dev, recs[i].old, recs[i].len, recs[i].offset);
	}
	/* replay oldest first: each write persisted whole, torn, or not at all */
	for (size_t i = first_volatile; i < nrecs; i++)
	{
		const Record *r = &recs[i];
		const char *data;

		if (r->kind == PL_FLUSH)
			continue;
		volatile_bytes += r->len;
		nvolatile++;
		if (r->kind == PL_ZERO)
		{
			if (zero_size < r->len)
			{
				free(zeroes);
				zeroes = calloc(1, r->len);
				if (!zeroes)
					die("out of memory");
				zero_size = r->len;
			}
			data = zeroes;
		}
		else
			data = r->new;
		if (random() % 2 == 0)
		{
			dropped++;
			continue;
		}
		if (random() % 4 == 0 && r->len > SECTOR)
		{
			/* torn: a random subset of its sectors */
			torn++;
			for (uint64_t s = 0; s < r->len; s += SECTOR)
				if (random() % 2 == 0)
					put(dev, data + s, SECTOR, r->offset + s);
			continue;
		}
		kept++;
		put(dev, data, r->len, r->offset);
	}
	if (fsync(dev) < 0)
		die("could not fsync device \"%s\": %s", device, strerror(errno));
	close(dev);
	if (ftruncate(fd, 0) < 0 || fsync(fd) < 0)
		die("could not empty log \"%s\": %s", log_path, strerror(errno));
	close(fd);

	printf("seed %lu: %u volatile writes (%llu bytes) after the last flush: %u kept, %u torn, %u dropped\n",
		   seed, nvolatile, volatile_bytes, kept, torn, dropped);
	return 0;
}
