/*
 * Unit tests of the device transport (include/pgrac/transport.h) and its
 * file-descriptor implementation, on image files in a temporary
 * directory: vectored transfers and their continuation after a partial
 * one, the end of the device, zeroing, resizing, the lock between two
 * opens, the synchronous and io_uring engines of submit/reap (one reap
 * completing another caller's transfer), finishing a short asynchronous
 * transfer, and the refusals of open and of SCSI on a file.
 */
#include "c.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "pgrac/transport.h"

#define KB	1024

static char dir[64];
static char path[128];
static int	nfile;

/* a fresh image file of size bytes, open writable */
static PgracTransport *
new_image(uint64 size, bool async)
{
	PgracTransportOptions o = {.writable = true,.create = true,.async = async};
	PgracTransportError e;
	PgracTransport *t;

	snprintf(path, sizeof(path), "%s/img%d", dir, nfile++);
	t = pgrac_transport_open(path, &o, &e);
	if (t == NULL)
		fail_msg("open %s: %s", path, e.message);
	assert_true(t->created);
	assert_int_equal(t->kind, PGRAC_DEVICE_FILE);
	assert_int_equal(pgrac_resize(t, size), 0);
	assert_int_equal(t->size, size);
	return t;
}

static PgracTransport *
open_again(const char *p, bool writable)
{
	PgracTransportOptions o = {.writable = writable};
	PgracTransportError e;
	PgracTransport *t = pgrac_transport_open(p, &o, &e);

	if (t == NULL)
		fail_msg("open %s: %s", p, e.message);
	return t;
}

static void
fill(uint8 *buf, size_t len, uint8 seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8) (seed + i * 7 + (i >> 9));
}

/* three buffers written at once, read back split differently */
static void
test_vectored_round_trip(void **state)
{
	PgracTransport *t = new_image(256 * KB, false);
	static uint8 out[24 * KB],
				in[24 * KB];
	struct iovec w[3] = {{out, 4 * KB}, {out + 4 * KB, 12 * KB}, {out + 16 * KB, 8 * KB}};
	struct iovec r[4] = {{in, 1}, {in + 1, 10 * KB}, {in + 1 + 10 * KB, 13 * KB - 1}, {in + 23 * KB, KB}};

	(void) state;
	fill(out, sizeof(out), 3);
	memset(in, 0xee, sizeof(in));
	assert_int_equal(pgrac_writev(t, 40 * KB, w, 3), 0);
	assert_int_equal(pgrac_readv(t, 40 * KB, r, 4), 0);
	assert_memory_equal(in, out, sizeof(out));
	/* the same bytes one buffer at a time, at an offset into them */
	assert_int_equal(pgrac_read(t, 44 * KB, in, 12 * KB), 0);
	assert_memory_equal(in, out + 4 * KB, 12 * KB);
	/* what was never written reads as zeroes */
	assert_int_equal(pgrac_read(t, 0, in, 8 * KB), 0);
	for (int i = 0; i < 8 * KB; i++)
		assert_int_equal(in[i], 0);
	pgrac_transport_close(t);
}

/*
 * A read reaching the end is an error naming where the device ended; the
 * buffers before that point were filled, the call continuing from one
 * buffer into the next after each partial preadv.
 */
static void
test_read_past_end(void **state)
{
	PgracTransport *t = new_image(64 * KB, false);
	static uint8 out[16 * KB],
				in[16 * KB];
	struct iovec r[3] = {{in, 4 * KB}, {in + 4 * KB, 8 * KB}, {in + 12 * KB, 4 * KB}};

	(void) state;
	fill(out, sizeof(out), 9);
	assert_int_equal(pgrac_write(t, 48 * KB, out, 16 * KB), 0);
	memset(in, 0, sizeof(in));
	/* device ends 10 kB into the request, inside the second buffer */
	assert_int_equal(pgrac_readv(t, 54 * KB, r, 3), -1);
	assert_int_equal(t->error.kind, PGRAC_TE_END);
	assert_non_null(strstr(t->error.message, "could not read 6144 bytes at offset 65536"));
	assert_non_null(strstr(t->error.message, "unexpected end of device"));
	assert_memory_equal(in, out + 6 * KB, 10 * KB);
	/* entirely past the end */
	assert_int_equal(pgrac_read(t, 64 * KB, in, 8 * KB), -1);
	assert_int_equal(t->error.kind, PGRAC_TE_END);
	pgrac_transport_close(t);
}

/*
 * A partial write continued: under a file size limit pwritev writes what
 * fits and returns a short count; the transport goes on from there (into
 * the middle of the second buffer) and only then meets EFBIG, at the
 * limit.  An implementation that gave up on the short count, or restarted
 * at the wrong place, would report another offset or leave other bytes.
 */
static void
test_partial_write_continued(void **state)
{
	PgracTransport *t = new_image(0, false);
	static uint8 out[24 * KB],
				in[24 * KB];
	struct iovec w[3] = {{out, 8 * KB}, {out + 8 * KB, 8 * KB}, {out + 16 * KB, 8 * KB}};
	struct rlimit saved,
				limited;
	int			rc;

	(void) state;
	fill(out, sizeof(out), 5);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	limited = saved;
	limited.rlim_cur = 12 * KB;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &limited), 0);
	rc = pgrac_writev(t, 0, w, 3);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, SIG_DFL);

	assert_int_equal(rc, -1);
	assert_int_equal(t->error.kind, PGRAC_TE_IO);
	assert_int_equal(t->error.errnum, EFBIG);
	assert_non_null(strstr(t->error.message, "could not write 12288 bytes at offset 12288"));
	/* the 12 kB before the limit are there, from both buffers */
	assert_int_equal(pgrac_read(t, 0, in, 12 * KB), 0);
	assert_memory_equal(in, out, 12 * KB);
	/* without the limit the same call goes through */
	assert_int_equal(pgrac_writev(t, 0, w, 3), 0);
	assert_int_equal(pgrac_read(t, 0, in, sizeof(in)), 0);
	assert_memory_equal(in, out, sizeof(out));
	pgrac_transport_close(t);
}

/*
 * A partial read continued: Linux transfers at most 0x7ffff000 bytes in
 * one call (MAX_RW_COUNT), so a 2 GB preadv of a sparse file returns
 * short 4 kB before the end, inside the last buffer; the transport reads
 * the rest from that offset into the rest of that buffer.  The first 31
 * buffers are one 64 MB mapping read into again and again (holes read as
 * zeroes, without disk I/O); the last 8 kB of the file hold a pattern.
 */
static void
test_partial_read_continued(void **state)
{
	const size_t chunk = (size_t) 64 * 1024 * KB;
	const uint64 total = (uint64) 32 * chunk;	/* 2 GB */
	PgracTransport *t = new_image(total, false);
	uint8	   *a = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8	   *b = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	static uint8 tail[8 * KB];
	struct iovec iov[32];

	(void) state;
	assert_true(a != MAP_FAILED && b != MAP_FAILED);
	fill(tail, sizeof(tail), 23);
	assert_int_equal(pgrac_write(t, total - sizeof(tail), tail, sizeof(tail)), 0);
	for (int i = 0; i < 31; i++)
		iov[i] = (struct iovec)
	{
		a, chunk
	};
	iov[31] = (struct iovec)
	{
		b, chunk
	};
	assert_int_equal(pgrac_readv(t, 0, iov, 32), 0);
	/* 4 kB of it before the cut, 4 kB read by the continuation */
	assert_memory_equal(b + chunk - sizeof(tail), tail, sizeof(tail));
	munmap(a, chunk);
	munmap(b, chunk);
	pgrac_transport_close(t);
}

/* a zeroed range reads as zeroes; its neighbours keep their bytes */
static void
test_zero(void **state)
{
	PgracTransport *t = new_image(1024 * KB, false);
	static uint8 out[1024 * KB],
				in[1024 * KB];
	struct stat before,
				after;

	(void) state;
	fill(out, sizeof(out), 1);
	assert_int_equal(pgrac_write(t, 0, out, sizeof(out)), 0);
	assert_int_equal(pgrac_flush(t), 0);
	assert_int_equal(stat(path, &before), 0);
	assert_int_equal(pgrac_zero(t, 128 * KB, 512 * KB), 0);
	assert_int_equal(pgrac_zero(t, 0, 0), 0);
	assert_int_equal(pgrac_read(t, 0, in, sizeof(in)), 0);
	assert_memory_equal(in, out, 128 * KB);
	for (int i = 128 * KB; i < 640 * KB; i++)
		if (in[i] != 0)
			fail_msg("byte %d is %d after zeroing", i, in[i]);
	assert_memory_equal(in + 640 * KB, out + 640 * KB, 384 * KB);
	/* an image file: a punched hole, so the file holds fewer blocks */
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	assert_true(after.st_blocks < before.st_blocks);
	pgrac_transport_close(t);
}

static void
test_resize(void **state)
{
	PgracTransport *t = new_image(64 * KB, false);
	PgracTransport *again;
	struct stat st;
	uint8		page[8 * KB];

	(void) state;
	assert_int_equal(pgrac_resize(t, 3 * 1024 * KB), 0);
	assert_int_equal(t->size, 3 * 1024 * KB);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 3 * 1024 * KB);
	assert_int_equal(pgrac_read(t, 3 * 1024 * KB - sizeof(page), page, sizeof(page)), 0);
	assert_int_equal(pgrac_resize(t, 16 * KB), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 16 * KB);
	/* a new open sees the size */
	again = open_again(path, false);
	assert_int_equal(again->size, 16 * KB);
	assert_int_equal(pgrac_read(again, 16 * KB, page, 1), -1);
	assert_int_equal(again->error.kind, PGRAC_TE_END);
	pgrac_transport_close(again);
	pgrac_transport_close(t);
}

/* flock belongs to the open file description: two opens exclude each other */
static void
test_lock(void **state)
{
	PgracTransport *a = new_image(64 * KB, false);
	PgracTransport *b = open_again(path, true);
	PgracTransport *c;

	(void) state;
	assert_int_equal(pgrac_lock(a, true), 0);
	assert_int_equal(pgrac_lock(b, true), -1);
	assert_int_equal(b->error.kind, PGRAC_TE_IN_USE);
	assert_non_null(strstr(b->error.message, "is in use by another process"));
	assert_int_equal(pgrac_lock(b, false), -1);
	assert_int_equal(b->error.kind, PGRAC_TE_IN_USE);
	/* the lock goes with its holder's close */
	pgrac_transport_close(a);
	assert_int_equal(pgrac_lock(b, false), 0);
	/* readers share; a writer is refused beside them */
	c = open_again(path, false);
	assert_int_equal(pgrac_lock(c, false), 0);
	assert_int_equal(pgrac_lock(c, true), -1);
	assert_int_equal(c->error.kind, PGRAC_TE_IN_USE);
	pgrac_transport_close(c);
	pgrac_transport_close(b);
}

/* the synchronous engine: submit transfers at once, reap has nothing to do */
static void
test_submit_sync(void **state)
{
	PgracTransport *t = new_image(256 * KB, false);
	static uint8 out[32 * KB],
				in[32 * KB];
	struct iovec w[2] = {{out, 16 * KB}, {out + 16 * KB, 16 * KB}};
	struct iovec r = {in, 32 * KB};
	struct iovec past = {in, 8 * KB};
	PgracIo		wio = {.write = true,.offset = 64 * KB,.iov = w,.iovcnt = 2,.len = 32 * KB};
	PgracIo		rio = {.offset = 64 * KB,.iov = &r,.iovcnt = 1,.len = 32 * KB};
	PgracIo		end = {.offset = 252 * KB,.iov = &past,.iovcnt = 1,.len = 8 * KB};
	PgracIo    *ios[1];

	(void) state;
	assert_false(t->async);
	fill(out, sizeof(out), 11);
	ios[0] = &wio;
	assert_int_equal(pgrac_submit(t, ios, 1), 0);
	assert_int_equal(wio.state, PGRAC_IO_DONE);
	assert_int_equal(wio.result, 32 * KB);
	ios[0] = &rio;
	assert_int_equal(pgrac_submit(t, ios, 1), 0);
	assert_int_equal(rio.state, PGRAC_IO_DONE);
	assert_int_equal(pgrac_reap(t, &rio), 0);
	assert_int_equal(pgrac_io_finish(t, &rio), 0);
	assert_memory_equal(in, out, sizeof(out));
	/* a transfer that fails records the error in the PgracIo */
	ios[0] = &end;
	assert_int_equal(pgrac_submit(t, ios, 1), 0);
	assert_int_equal(end.state, PGRAC_IO_DONE);
	assert_true(end.result < 0);
	assert_int_equal(t->in_flight, 0);
	pgrac_transport_close(t);
}

/*
 * io_uring: two callers submit separately; the one reap that waits for
 * the second marks the first done too, since the first's completion is
 * in the same ring.  Nobody reaps for the first.
 */
static void
test_submit_async(void **state)
{
	PgracTransport *t = new_image(1024 * KB, true);
	static uint8 out[64 * KB],
				in1[32 * KB],
				in2[32 * KB];
	struct iovec w = {out, 64 * KB};
	struct iovec r1[2] = {{in1, 8 * KB}, {in1 + 8 * KB, 24 * KB}};
	struct iovec r2 = {in2, 32 * KB};
	PgracIo		wio = {.write = true,.offset = 256 * KB,.iov = &w,.iovcnt = 1,.len = 64 * KB};
	PgracIo		first = {.offset = 256 * KB,.iov = r1,.iovcnt = 2,.len = 32 * KB};
	PgracIo		second = {.offset = 288 * KB,.iov = &r2,.iovcnt = 1,.len = 32 * KB};
	PgracIo    *ios[1];

	(void) state;
	assert_true(t->async);
	fill(out, sizeof(out), 13);
	ios[0] = &wio;
	assert_int_equal(pgrac_submit(t, ios, 1), 0);
	while (wio.state != PGRAC_IO_DONE)
		assert_int_equal(pgrac_reap(t, &wio), 0);
	assert_int_equal(pgrac_io_finish(t, &wio), 0);
	assert_int_equal(t->in_flight, 0);

	ios[0] = &first;
	assert_int_equal(pgrac_submit(t, ios, 1), 0);
	assert_int_equal(first.state, PGRAC_IO_IN_FLIGHT);
	assert_int_equal(t->in_flight, 1);
	usleep(20 * 1000);			/* the first completes meanwhile */
	ios[0] = &second;
	assert_int_equal(pgrac_submit(t, ios, 1), 0);
	assert_int_equal(pgrac_io_room(t), t->queue_depth - 2);
	while (second.state != PGRAC_IO_DONE)
		assert_int_equal(pgrac_reap(t, &second), 0);
	assert_int_equal(first.state, PGRAC_IO_DONE);
	assert_int_equal(t->in_flight, 0);
	assert_int_equal(pgrac_io_finish(t, &first), 0);
	assert_int_equal(pgrac_io_finish(t, &second), 0);
	assert_memory_equal(in1, out, 32 * KB);
	assert_memory_equal(in2, out + 32 * KB, 32 * KB);
	/* a reap with nothing in flight returns at once */
	assert_int_equal(pgrac_reap(t, NULL), 0);
	pgrac_transport_close(t);
}

/*
 * A short completion is finished synchronously from where it stopped (in
 * the middle of the second buffer); the bytes already there are left
 * alone.  A failed one is an error; one not yet done is refused.
 */
static void
test_io_finish(void **state)
{
	PgracTransport *t = new_image(256 * KB, false);
	static uint8 out[24 * KB],
				in[24 * KB];
	struct iovec r[3] = {{in, 8 * KB}, {in + 8 * KB, 8 * KB}, {in + 16 * KB, 8 * KB}};
	PgracIo		io = {.offset = 32 * KB,.iov = r,.iovcnt = 3,.len = 24 * KB};

	(void) state;
	fill(out, sizeof(out), 17);
	assert_int_equal(pgrac_write(t, 32 * KB, out, sizeof(out)), 0);
	memset(in, 0xa5, sizeof(in));
	io.state = PGRAC_IO_DONE;
	io.result = 10 * KB;		/* as if the kernel had stopped there */
	assert_int_equal(pgrac_io_finish(t, &io), 0);
	assert_int_equal(io.result, 24 * KB);
	for (int i = 0; i < 10 * KB; i++)
		assert_int_equal(in[i], 0xa5);
	assert_memory_equal(in + 10 * KB, out + 10 * KB, 14 * KB);

	/* to be retried: the whole transfer again */
	memset(in, 0, sizeof(in));
	io.result = -EAGAIN;
	assert_int_equal(pgrac_io_finish(t, &io), 0);
	assert_memory_equal(in, out, sizeof(out));

	io.result = -EIO;
	assert_int_equal(pgrac_io_finish(t, &io), -1);
	assert_int_equal(t->error.kind, PGRAC_TE_IO);
	assert_int_equal(t->error.errnum, EIO);

	io.state = PGRAC_IO_IN_FLIGHT;
	assert_int_equal(pgrac_io_finish(t, &io), -1);
	assert_int_equal(t->error.kind, PGRAC_TE_INVALID);

	/* a short read that the rest cannot finish: the end of the device */
	io.state = PGRAC_IO_DONE;
	io.offset = 240 * KB;
	io.result = 8 * KB;
	assert_int_equal(pgrac_io_finish(t, &io), -1);
	assert_int_equal(t->error.kind, PGRAC_TE_END);
	pgrac_transport_close(t);
}

static void
test_scsi_on_a_file(void **state)
{
	PgracTransport *t = new_image(64 * KB, false);
	static const uint8 tur[6] = {0};	/* TEST UNIT READY */
	PgracScsiCommand cmd = {.cdb = tur,.cdb_len = 6,.direction = PGRAC_SCSI_NONE};

	(void) state;
	assert_int_equal(pgrac_scsi(t, &cmd), -1);
	assert_int_equal(t->error.kind, PGRAC_TE_UNSUPPORTED);
	assert_non_null(strstr(t->error.message, "is an image file"));
	pgrac_transport_close(t);
}

static void
test_open_refusals(void **state)
{
	PgracTransportOptions o = {.writable = true};
	PgracTransportOptions create = {.writable = true,.create = true};
	PgracTransportOptions plain = {0};
	PgracTransportError e;
	PgracTransport *t;
	char		spec[160];

	(void) state;
	memset(&e, 0, sizeof(e));
	assert_null(pgrac_transport_open("iscsi://192.0.2.1/iqn.2025-01.example:lun0", &o, &e));
	assert_int_equal(e.kind, PGRAC_TE_UNSUPPORTED);
	assert_non_null(strstr(e.message, "has no iscsi transport"));
	assert_false(pgrac_transport_scheme_known("iscsi://192.0.2.1/lun0"));

	memset(&e, 0, sizeof(e));
	assert_null(pgrac_transport_open("nbd://192.0.2.1/export", &o, &e));
	assert_int_equal(e.kind, PGRAC_TE_INVALID);
	assert_non_null(strstr(e.message, "unknown transport scheme"));

	snprintf(spec, sizeof(spec), "%s/missing.img", dir);
	assert_null(pgrac_transport_open(spec, &o, &e));
	assert_int_equal(e.kind, PGRAC_TE_NOT_FOUND);
	assert_int_equal(e.errnum, ENOENT);

	/* file:PATH is the same file as PATH; create refuses an existing one */
	t = new_image(64 * KB, false);
	pgrac_transport_close(t);
	snprintf(spec, sizeof(spec), "file:%s", path);
	assert_true(pgrac_transport_scheme_known(spec));
	t = open_again(spec, false);
	assert_int_equal(t->size, 64 * KB);
	pgrac_transport_close(t);
	assert_null(pgrac_transport_open(path, &create, &e));
	assert_int_equal(e.errnum, EEXIST);
	/* and a directory is neither a device nor an image file */
	assert_null(pgrac_transport_open(dir, &plain, &e));
	assert_int_equal(e.kind, PGRAC_TE_INVALID);
}

static int
setup(void **state)
{
	(void) state;
	strlcpy(dir, "/tmp/pgrac-transport-XXXXXX", sizeof(dir));
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char		p[160];

	(void) state;
	for (int i = 0; i < nfile; i++)
	{
		snprintf(p, sizeof(p), "%s/img%d", dir, i);
		unlink(p);
	}
	return rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectored_round_trip),
		cmocka_unit_test(test_read_past_end),
		cmocka_unit_test(test_partial_write_continued),
		cmocka_unit_test(test_partial_read_continued),
		cmocka_unit_test(test_zero),
		cmocka_unit_test(test_resize),
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_submit_sync),
		cmocka_unit_test(test_submit_async),
		cmocka_unit_test(test_io_finish),
		cmocka_unit_test(test_scsi_on_a_file),
		cmocka_unit_test(test_open_refusals),
	};

	return cmocka_run_group_tests_name("transport", tests, setup, teardown);
}
