/*
 * Unit tests of a block-device backup's manifest (bd_manifest.c): what is
 * written reads back the same, and a manifest that is cut anywhere, has
 * any byte changed, or is well-formed but wrong (a version this code does
 * not know, extents out of order or beyond the device, bytes after the
 * checksum) is refused with the line it stopped at.
 */
#include "c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "port/pg_crc32c.h"

#include "pgrac/bd_format.h"
#include "pgrac/bd_manifest.h"

#define NITEMS 5

static BdManifestExtent sample_items[NITEMS] = {
	{3, 0x01234567}, {4, 0x89abcdef}, {17, 0}, {18, 0xffffffff}, {1279, 0x5a5a5a5a},
};

static void
sample(BdManifest *m)
{
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < 16; i++)
		m->device_uuid[i] = (uint8) (0x10 + i * 7);
	m->system_identifier = UINT64CONST(7412345678901234567);
	m->extent_size = 131072;
	m->nextents = 1280;
	m->max_extents = 524288;
	m->start_lsn = UINT64CONST(0x4C000200);
	m->stop_lsn = UINT64CONST(0x14D000100);
	m->timeline = 3;
	m->metadata_first_page = 2;
	m->metadata_pages = 64;
	m->metadata_crc = 0xdeadbeef;
	m->nitems = NITEMS;
	m->items = sample_items;
}

static size_t
encode(const BdManifest *m, char *buf, size_t size)
{
	size_t		len = bd_manifest_encode(m, buf, size);

	assert_true(len <= size);
	return len;
}

static bool
decode(const char *text, size_t len, BdManifest *out, char *error)
{
	static BdManifestExtent items[NITEMS + 4];
	static BdManifestRun runs[8];

	assert_true(bd_manifest_count_extents(text, len) <= lengthof(items));
	assert_true(bd_manifest_count_runs(text, len) <= lengthof(runs));
	return bd_manifest_decode(text, len, out, items,
							  bd_manifest_count_extents(text, len), runs,
							  bd_manifest_count_runs(text, len), error, 256);
}

static BdManifestRun sample_runs[3] = {{0, 3}, {5, 12}, {19, 100}};

/* the sample as an incremental backup */
static void
sample_incremental(BdManifest *m)
{
	sample(m);
	m->incremental = true;
	m->parent_start_lsn = UINT64CONST(0x3A000028);
	m->parent_stop_lsn = UINT64CONST(0x3B000100);
	m->parent_manifest_crc = 0x0badcafe;
	m->nruns = lengthof(sample_runs);
	m->runs = sample_runs;
}

/* the sample encoded, and room to decode it: what most tests start from */
typedef struct Encoded
{
	BdManifest	m;
	BdManifest	back;
	char		buf[4096];
	char		error[256];
	size_t		len;
} Encoded;

static Encoded *
encoded_sample(void)
{
	static Encoded e;

	memset(&e, 0, sizeof(e));
	sample(&e.m);
	e.len = encode(&e.m, e.buf, sizeof(e.buf));
	return &e;
}

static void
test_round_trip(void **state)
{
	Encoded    *e = encoded_sample();
	BdManifest *m = &e->m;
	BdManifest *back = &e->back;

	(void) state;
	assert_true(decode(e->buf, e->len, back, e->error));
	assert_memory_equal(back->device_uuid, m->device_uuid, 16);
	assert_true(back->system_identifier == m->system_identifier);
	assert_true(back->extent_size == m->extent_size);
	assert_int_equal(back->nextents, m->nextents);
	assert_int_equal(back->max_extents, m->max_extents);
	assert_true(back->start_lsn == m->start_lsn);
	assert_true(back->stop_lsn == m->stop_lsn);
	assert_int_equal(back->timeline, m->timeline);
	assert_true(back->metadata_first_page == 2 && back->metadata_pages == 64);
	assert_int_equal(back->metadata_crc, m->metadata_crc);
	assert_int_equal(back->nitems, NITEMS);
	assert_memory_equal(back->items, sample_items, sizeof(sample_items));
	assert_int_equal(bd_manifest_count_extents(e->buf, e->len), NITEMS);

	/* the text is what the header file documents */
	assert_true(strncmp(e->buf, BD_MANIFEST_TITLE "\nversion 2\ndevice-uuid ", 47) == 0);
	assert_non_null(strstr(e->buf, "\nstart-lsn 0/4C000200\nstop-lsn 1/4D000100\n"));
	assert_non_null(strstr(e->buf, "\nextent 1279 crc32c 5a5a5a5a\nmanifest-crc32c "));

	/* no extents at all is a valid manifest */
	m->nitems = 0;
	e->len = encode(m, e->buf, sizeof(e->buf));
	assert_true(decode(e->buf, e->len, back, e->error));
	assert_int_equal(back->nitems, 0);
}

/* a buffer too small: the length needed comes back, nothing overruns */
static void
test_encode_reports_length(void **state)
{
	BdManifest	m;
	char		buf[4096];
	char		small[64];
	size_t		len;

	(void) state;

	sample(&m);
	len = bd_manifest_encode(&m, buf, sizeof(buf));
	memset(small, 'x', sizeof(small));
	assert_true(bd_manifest_encode(&m, small, 40) == len);
	assert_int_equal(small[40], 'x');
}

static void
test_every_prefix_refused(void **state)
{
	Encoded    *e = encoded_sample();

	(void) state;
	for (size_t cut = 0; cut < e->len; cut++)
		if (decode(e->buf, cut, &e->back, e->error))
			fail_msg("a manifest cut at byte %zu of %zu was accepted", cut, e->len);
	/* and the message of a cut between lines says truncated */
	assert_false(decode(e->buf, (size_t) (strstr(e->buf, "\nextent 17") - e->buf) + 1,
						&e->back, e->error));
	assert_non_null(strstr(e->error, "truncated"));
}

static void
test_every_byte_change_refused(void **state)
{
	Encoded    *e = encoded_sample();

	(void) state;
	for (size_t i = 0; i < e->len; i++)
		for (int bit = 0; bit < 8; bit++)
		{
			e->buf[i] ^= (char) (1 << bit);
			if (decode(e->buf, e->len, &e->back, e->error))
				fail_msg("a manifest with bit %d of byte %zu flipped was accepted", bit, i);
			e->buf[i] ^= (char) (1 << bit);
		}
	assert_true(decode(e->buf, e->len, &e->back, e->error));
}

/* rewrite the text and give it a correct closing CRC again */
static size_t
reseal(char *buf)
{
	char	   *crcline = strstr(buf, "manifest-crc32c ");
	pg_crc32c	crc;

	assert_non_null(crcline);
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf, crcline - buf);
	FIN_CRC32C(crc);
	return (size_t) (crcline - buf) + sprintf(crcline, "manifest-crc32c %08x\n", crc);
}

/* the manifest of make(), with from replaced by to, refused with message */
static void
expect_refused_of(void (*make) (BdManifest *m), const char *from, const char *to,
				  const char *message)
{
	BdManifest	m,
				back;
	char		buf[4096];
	char		edited[4096];
	char		error[256];
	size_t		len;
	char	   *at;

	make(&m);
	len = encode(&m, buf, sizeof(buf));
	buf[len] = '\0';
	at = strstr(buf, from);
	assert_non_null(at);
	snprintf(edited, sizeof(edited), "%.*s%s%s", (int) (at - buf), buf, to, at + strlen(from));
	len = reseal(edited);
	if (decode(edited, len, &back, error))
		fail_msg("accepted with \"%s\" in place of \"%s\"", to, from);
	if (strstr(error, message) == NULL)
		fail_msg("refused with \"%s\", expected \"%s\"", error, message);
}

static void
expect_refused(const char *from, const char *to, const char *message)
{
	expect_refused_of(sample, from, to, message);
}

static void
test_wrong_contents_refused(void **state)
{
	(void) state;
	expect_refused("version 2\n", "version 3\n", "manifest version 3 is not supported");
	expect_refused("version 2\n", "version 0\n", "out of range");
	expect_refused("extent 17 ", "extent 4 ", "extent 4 is not after extent 4");
	expect_refused("extent 1279 ", "extent 1280 ", "is not an extent of the device");
	expect_refused("extent-size 131072", "extent-size 131000", "not a whole number of 8 kB pages");
	expect_refused("max-extents 524288", "max-extents 1000", "out of range");
	expect_refused("stop-lsn 1/4D000100", "stop-lsn 0/100", "stop LSN is before the start LSN");
	expect_refused("metadata 2 64", "metadata 2 99999", "does not fit in the device");
	expect_refused("device-uuid ", "device-uid ", "expected \"device-uuid <UUID>\"");
	expect_refused("timeline 3\n", "", "expected \"timeline\"");
	expect_refused("extent 18 crc32c ffffffff\n", "extent 18 crc32c fffffff\n", "expected \" crc32c <8 hex digits>\"");
	expect_refused("pgrac block device", "pgrac block devise", "not a block-device backup manifest");
	expect_refused("timeline 3\n", "timeline 03\n", "is not a number");
}

/* an incremental backup's manifest: its parent and unchanged runs */
static void
test_incremental_round_trip(void **state)
{
	BdManifest	m,
				back;
	char		buf[4096];
	char		error[256];
	size_t		len;
	uint32		at;

	(void) state;
	sample_incremental(&m);
	len = encode(&m, buf, sizeof(buf));
	buf[len] = '\0';
	assert_non_null(strstr(buf, "\ntimeline 3\nparent 0/3A000028 0/3B000100 crc32c 0badcafe\nmetadata 2 64 "));
	assert_non_null(strstr(buf, "\nextent 1279 crc32c 5a5a5a5a\nunchanged 0 3\nunchanged 5 12\nunchanged 19 100\nmanifest-crc32c "));
	assert_true(decode(buf, len, &back, error));
	assert_true(back.incremental);
	assert_true(back.parent_start_lsn == m.parent_start_lsn);
	assert_true(back.parent_stop_lsn == m.parent_stop_lsn);
	assert_int_equal(back.parent_manifest_crc, 0x0badcafe);
	assert_int_equal(back.nruns, 3);
	assert_memory_equal(back.runs, sample_runs, sizeof(sample_runs));
	/* what a restore asks of it */
	assert_true(bd_manifest_copied(&back, 17, &at) && at == 2);
	assert_false(bd_manifest_copied(&back, 16, NULL));
	assert_true(bd_manifest_unchanged(&back, 0) && bd_manifest_unchanged(&back, 2));
	assert_false(bd_manifest_unchanged(&back, 3) || bd_manifest_unchanged(&back, 4));
	assert_true(bd_manifest_unchanged(&back, 16) && bd_manifest_unchanged(&back, 118));
	assert_false(bd_manifest_unchanged(&back, 17) || bd_manifest_unchanged(&back, 119));
	/* the closing CRC is what a child names as its parent's */
	assert_int_equal(back.manifest_crc, bd_crc32c(buf, strstr(buf, "manifest-crc32c") - buf));

	/* a full backup has neither */
	sample(&m);
	len = encode(&m, buf, sizeof(buf));
	buf[len] = '\0';
	assert_null(strstr(buf, "parent"));
	assert_true(decode(buf, len, &back, error));
	assert_false(back.incremental);
	assert_int_equal(back.nruns, 0);
}

static void
expect_incremental_refused(const char *from, const char *to, const char *message)
{
	expect_refused_of(sample_incremental, from, to, message);
}

static void
test_incremental_wrong_contents_refused(void **state)
{
	(void) state;
	expect_incremental_refused("unchanged 5 12\n", "unchanged 5 13\n", "include a copied one");
	expect_incremental_refused("unchanged 5 12\n", "unchanged 4 1\n", "include a copied one");
	expect_incremental_refused("unchanged 19 100\n", "unchanged 10 1\n", "not after the run before");
	expect_incremental_refused("unchanged 19 100\n", "unchanged 19 0\n", "is not a run of extents");
	expect_incremental_refused("unchanged 19 100\n", "unchanged 1200 81\n", "is not a run of extents");
	expect_incremental_refused("parent 0/3A000028 0/3B000100", "parent 0/4C000200 0/4C000300", "does not start before this backup");
	expect_incremental_refused("0/3B000100 crc32c", "0/3A000000 crc32c", "stop LSN is before its start LSN");
	expect_incremental_refused("parent 0/3A000028 ", "parent 0/3A00002G ", "expected \"parent <start LSN>");
	/* runs belong to an incremental backup, after the copied extents */
	expect_incremental_refused("parent 0/3A000028 0/3B000100 crc32c 0badcafe\n", "",
							   "found \"unchanged 0 3\"");
	expect_incremental_refused("extent 1279 crc32c 5a5a5a5a\nunchanged 0 3\n",
							   "unchanged 0 3\nextent 1279 crc32c 5a5a5a5a\n",
							   "expected \"extent\", \"unchanged\" or \"manifest-crc32c\"");
	/* version 1 knows no parent */
	expect_incremental_refused("version 2\n", "version 1\n", "expected \"metadata");
}

/* a version 1 manifest (a full backup) reads, and writes back as it was */
static void
test_version_1_read(void **state)
{
	Encoded    *e = encoded_sample();
	char		again[4096];
	char	   *v = strstr(e->buf, "version 2\n");

	(void) state;
	v[8] = '1';
	e->len = reseal(e->buf);
	assert_true(decode(e->buf, e->len, &e->back, e->error));
	assert_int_equal(e->back.version, 1);
	assert_int_equal(bd_manifest_encode(&e->back, again, sizeof(again)), e->len);
	assert_memory_equal(again, e->buf, e->len);
}

static void
test_trailing_bytes_refused(void **state)
{
	Encoded    *e = encoded_sample();

	(void) state;
	memcpy(e->buf + e->len, "extent 1 crc32c 00000000\n", 25);
	assert_false(decode(e->buf, e->len + 25, &e->back, e->error));
	assert_non_null(strstr(e->error, "bytes after the manifest's checksum"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_encode_reports_length),
		cmocka_unit_test(test_every_prefix_refused),
		cmocka_unit_test(test_every_byte_change_refused),
		cmocka_unit_test(test_wrong_contents_refused),
		cmocka_unit_test(test_trailing_bytes_refused),
		cmocka_unit_test(test_incremental_round_trip),
		cmocka_unit_test(test_incremental_wrong_contents_refused),
		cmocka_unit_test(test_version_1_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
