/*
 * Unit tests of the 2PC coordinator log (src/twophase/): frames, segment
 * headers and names, the scan of a segment, the recovery of a directory,
 * the outcome rules, and the store's files with injected faults.
 */
#include "c.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "port/pg_crc32c.h"

#include "pgrac/byte_order.h"
#include "pgrac/twophase_log.h"
#include "pgrac/twophase_store.h"

#define SYSID UINT64CONST(7301234567890123456)

static PgracTwophaseLive live_a[PGRAC_2PC_MAX_LIVE];
static PgracTwophaseLive live_b[PGRAC_2PC_MAX_LIVE];
static PgracTwophaseLive scratch[PGRAC_2PC_MAX_LIVE];

static void
make_begin(PgracTwophaseBegin *b, uint64 txn, int nparts)
{
	memset(b, 0, sizeof(*b));
	b->txn = txn;
	b->dboid = 5;
	pgrac_twophase_format_gid(b->gid, sizeof(b->gid), SYSID, 5, txn);
	b->nparticipants = nparts;
	for (int i = 0; i < nparts; i++)
	{
		b->participants[i].server_oid = 16384 + i;
		b->participants[i].user_oid = i % 2 ? 10 : 0;
		snprintf(b->participants[i].server_name, sizeof(b->participants[i].server_name),
				 "shard_%d", i + 1);
	}
}

/* one record of each kind, as they would sit at positions 100.. */
static int
sample_records(PgracTwophaseRecord *recs, PgracTwophaseLive *cp)
{
	recs[0].kind = PGRAC_2PC_BEGIN;
	make_begin(&recs[0].u.begin, 100, 3);
	recs[1].kind = PGRAC_2PC_COMMITTING;
	recs[1].u.committing.txn = 100;
	recs[1].u.committing.local_xid = UINT64CONST(0x100000123);
	recs[1].u.committing.decided_at = -987654321;
	recs[2].kind = PGRAC_2PC_END;
	recs[2].u.end.txn = 100;
	recs[2].u.end.outcome = PGRAC_2PC_ENDED_COMMITTED;
	memset(cp, 0, sizeof(*cp) * 2);
	make_begin(&cp[0].begin, 40, 1);
	make_begin(&cp[1].begin, 60, PGRAC_2PC_MAX_PARTICIPANTS);
	cp[1].committing = true;
	cp[1].local_xid = 77;
	cp[1].decided_at = 12345;
	recs[3].kind = PGRAC_2PC_CHECKPOINT;
	recs[3].u.checkpoint.nlive = 2;
	recs[3].u.checkpoint.live = cp;
	return 4;
}

static void
assert_begin_equal(const PgracTwophaseBegin *a, const PgracTwophaseBegin *b)
{
	assert_int_equal(a->txn, b->txn);
	assert_int_equal(a->dboid, b->dboid);
	assert_string_equal(a->gid, b->gid);
	assert_int_equal(a->nparticipants, b->nparticipants);
	for (int i = 0; i < a->nparticipants; i++)
	{
		assert_int_equal(a->participants[i].server_oid, b->participants[i].server_oid);
		assert_int_equal(a->participants[i].user_oid, b->participants[i].user_oid);
		assert_string_equal(a->participants[i].server_name, b->participants[i].server_name);
	}
}

static PgracTwophaseFrameResult
decode(const uint8 *buf, size_t len, uint64 pos, PgracTwophaseRecord *out, size_t *consumed)
{
	char		error[256];

	return pgrac_twophase_frame_decode(buf, len, pos, out, scratch, PGRAC_2PC_MAX_LIVE, consumed,
									   error, sizeof(error));
}

static void
test_round_trip(void **state)
{
	PgracTwophaseRecord recs[4];
	PgracTwophaseLive cp[2];
	int			n = sample_records(recs, cp);
	uint64		pos[] = {100, 200, 300, 400};
	char		gid[256];

	for (int i = 0; i < n; i++)
	{
		uint8		buf[8192];
		size_t		len = pgrac_twophase_record_encode(&recs[i], buf);
		size_t		consumed;
		PgracTwophaseRecord back;

		assert_int_equal(len, pgrac_twophase_record_size(&recs[i]));
		assert_int_equal(pgrac_get32(buf), len - PGRAC_2PC_FRAME_HEADER_SIZE);
		assert_int_equal(buf[8], recs[i].kind);
		assert_int_equal(buf[9], PGRAC_2PC_RECORD_VERSION);
		assert_int_equal(decode(buf, len, pos[i], &back, &consumed), PGRAC_2PC_FRAME_COMPLETE);
		assert_int_equal(consumed, len);
		assert_int_equal(back.kind, recs[i].kind);
		switch (back.kind)
		{
			case PGRAC_2PC_BEGIN:
				assert_begin_equal(&back.u.begin, &recs[i].u.begin);
				break;
			case PGRAC_2PC_COMMITTING:
				assert_int_equal(back.u.committing.txn, 100);
				assert_int_equal(back.u.committing.local_xid, UINT64CONST(0x100000123));
				assert_int_equal(back.u.committing.decided_at, -987654321);
				break;
			case PGRAC_2PC_END:
				assert_int_equal(back.u.end.txn, 100);
				assert_int_equal(back.u.end.outcome, PGRAC_2PC_ENDED_COMMITTED);
				break;
			case PGRAC_2PC_CHECKPOINT:
				assert_int_equal(back.u.checkpoint.nlive, 2);
				for (int k = 0; k < 2; k++)
				{
					assert_begin_equal(&back.u.checkpoint.live[k].begin, &cp[k].begin);
					assert_int_equal(back.u.checkpoint.live[k].committing, cp[k].committing);
					assert_int_equal(back.u.checkpoint.live[k].local_xid, cp[k].local_xid);
					assert_int_equal(back.u.checkpoint.live[k].decided_at, cp[k].decided_at);
					assert_int_equal(back.u.checkpoint.live[k].first_position, 400);
				}
				break;
		}
	}
	/* the global ids */
	assert_string_equal(recs[0].u.begin.gid, "pgrac_7301234567890123456_5_100");
	pgrac_twophase_participant_gid(gid, sizeof(gid), recs[0].u.begin.gid, 3);
	assert_string_equal(gid, "pgrac_7301234567890123456_5_100.3");
	/* the largest records fit the limits */
	assert_true(PGRAC_2PC_MAX_FRAME_LENGTH + PGRAC_2PC_FRAME_HEADER_SIZE +
				PGRAC_2PC_SEGMENT_HEADER_SIZE + PGRAC_2PC_BEGIN_MAX_PAYLOAD + 10 <
				PGRAC_2PC_SEGMENT_SIZE_MIN);
	(void) state;
}

/* every strict prefix of every record reads as "need more", never as corrupt */
static void
test_every_prefix_is_incomplete(void **state)
{
	PgracTwophaseRecord recs[4];
	PgracTwophaseLive cp[2];
	int			n = sample_records(recs, cp);
	uint64		pos[] = {100, 200, 300, 400};

	for (int i = 0; i < n; i++)
	{
		uint8		buf[8192];
		size_t		len = pgrac_twophase_record_encode(&recs[i], buf);

		for (size_t cut = 0; cut < len; cut++)
		{
			PgracTwophaseRecord back;
			size_t		consumed = 99;

			assert_int_equal(decode(buf, cut, pos[i], &back, &consumed), PGRAC_2PC_FRAME_INCOMPLETE);
			assert_int_equal(consumed, 0);
		}
	}
	(void) state;
}

/*
 * Every single-bit flip is refused: corrupt, or, for a flip in the length
 * that makes the frame look longer than the bytes present, incomplete
 * (which the segment scan then treats as corruption unless it is the very
 * last frame; see test_segment_scan).
 */
static void
test_every_bit_flip_is_refused(void **state)
{
	PgracTwophaseRecord recs[4];
	PgracTwophaseLive cp[2];
	int			n = sample_records(recs, cp);
	uint64		pos[] = {100, 200, 300, 400};

	for (int i = 0; i < n; i++)
	{
		uint8		buf[8192];
		size_t		len = pgrac_twophase_record_encode(&recs[i], buf);

		for (size_t byte = 0; byte < len; byte++)
			for (int bit = 0; bit < 8; bit++)
			{
				PgracTwophaseRecord back;
				size_t		consumed;
				PgracTwophaseFrameResult r;

				buf[byte] ^= (uint8) (1 << bit);
				r = decode(buf, len, pos[i], &back, &consumed);
				if (byte < 4 && pgrac_get32(buf) > len - PGRAC_2PC_FRAME_HEADER_SIZE &&
					pgrac_get32(buf) <= PGRAC_2PC_MAX_FRAME_LENGTH)
					assert_int_equal(r, PGRAC_2PC_FRAME_INCOMPLETE);
				else
					assert_int_equal(r, PGRAC_2PC_FRAME_CORRUPT);
				buf[byte] ^= (uint8) (1 << bit);
			}
	}
	(void) state;
}

/* re-seal a frame after editing its body, so that only the edit is wrong */
static void
reseal(uint8 *buf)
{
	uint32		len = pgrac_get32(buf);
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf + 8, len);
	FIN_CRC32C(crc);
	pgrac_put32(buf + 4, crc);
}

static void
test_semantic_refusals(void **state)
{
	PgracTwophaseRecord recs[4];
	PgracTwophaseLive cp[2];
	PgracTwophaseRecord back;
	uint8		buf[8192];
	size_t		len,
				consumed;

	sample_records(recs, cp);

	/* unknown kind and version, even with a good CRC */
	len = pgrac_twophase_record_encode(&recs[2], buf);
	buf[8] = 5;
	reseal(buf);
	assert_int_equal(decode(buf, len, 300, &back, &consumed), PGRAC_2PC_FRAME_CORRUPT);
	buf[8] = 0;
	reseal(buf);
	assert_int_equal(decode(buf, len, 300, &back, &consumed), PGRAC_2PC_FRAME_CORRUPT);
	/* ... and seen before the whole frame is there */
	assert_int_equal(decode(buf, 9, 300, &back, &consumed), PGRAC_2PC_FRAME_CORRUPT);
	buf[8] = PGRAC_2PC_END;
	buf[9] = 2;
	reseal(buf);
	assert_int_equal(decode(buf, len, 300, &back, &consumed), PGRAC_2PC_FRAME_CORRUPT);
	buf[9] = PGRAC_2PC_RECORD_VERSION;
	/* End with an unknown outcome */
	buf[10 + 8] = 3;
	reseal(buf);
	assert_int_equal(decode(buf, len, 300, &back, &consumed), PGRAC_2PC_FRAME_CORRUPT);

	/* Begin away from its own position, Committing and End naming a later one */
	len = pgrac_twophase_record_encode(&recs[0], buf);
	assert_int_equal(decode(buf, len, 101, &back, &consumed), PGRAC_2PC_FRAME_CORRUPT);
	len = pgrac_twophase_record_encode(&recs[1], buf);
	assert_int_equal(decode(buf, len, 100, &back, &consumed), PGRAC_2PC_FRAME_CORRUPT);
	assert_int_equal(decode(buf, len, 101, &back, &consumed), PGRAC_2PC_FRAME_COMPLETE);
	len = pgrac_twophase_record_encode(&recs[2], buf);
	assert_int_equal(decode(buf, len, 50, &back, &consumed), PGRAC_2PC_FRAME_CORRUPT);

	/*
	 * a Checkpoint naming one transaction twice, or more than the caller
	 * holds
	 */
	cp[1].begin = cp[0].begin;
	len = pgrac_twophase_record_encode(&recs[3], buf);
	assert_int_equal(decode(buf, len, 400, &back, &consumed), PGRAC_2PC_FRAME_CORRUPT);
	sample_records(recs, cp);
	len = pgrac_twophase_record_encode(&recs[3], buf);
	{
		char		error[128];

		assert_int_equal(pgrac_twophase_frame_decode(buf, len, 400, &back, scratch, 1, &consumed,
													 error, sizeof(error)),
						 PGRAC_2PC_FRAME_CORRUPT);
	}
	/* an undecided entry carrying a decision */
	cp[0].local_xid = 5;
	len = pgrac_twophase_record_encode(&recs[3], buf);
	assert_int_equal(decode(buf, len, 400, &back, &consumed), PGRAC_2PC_FRAME_CORRUPT);
	cp[0].local_xid = 0;

	/* bytes after the payload, under a good CRC */
	len = pgrac_twophase_record_encode(&recs[2], buf);
	buf[len] = 0;
	pgrac_put32(buf, pgrac_get32(buf) + 1);
	reseal(buf);
	assert_int_equal(decode(buf, len + 1, 300, &back, &consumed), PGRAC_2PC_FRAME_CORRUPT);

	/* lengths out of range */
	pgrac_put32(buf, 1);
	assert_int_equal(decode(buf, len, 300, &back, &consumed), PGRAC_2PC_FRAME_CORRUPT);
	pgrac_put32(buf, PGRAC_2PC_MAX_FRAME_LENGTH + 1);
	assert_int_equal(decode(buf, 4, 300, &back, &consumed), PGRAC_2PC_FRAME_CORRUPT);

	/* a global id a writer never makes; a participant without a server */
	recs[0].u.begin.gid[3] = '\'';
	assert_false(pgrac_twophase_begin_valid(&recs[0].u.begin, NULL, 0));
	len = pgrac_twophase_record_encode(&recs[0], buf);
	assert_int_equal(decode(buf, len, 100, &back, &consumed), PGRAC_2PC_FRAME_CORRUPT);
	make_begin(&recs[0].u.begin, 100, 2);
	recs[0].u.begin.participants[1].server_oid = 0;
	assert_false(pgrac_twophase_begin_valid(&recs[0].u.begin, NULL, 0));
	make_begin(&recs[0].u.begin, 100, 0);
	assert_false(pgrac_twophase_begin_valid(&recs[0].u.begin, NULL, 0));
	(void) state;
}

/* ---- segments ---- */

/* a segment image: header, then records at consecutive positions */
static size_t
build_segment(uint8 *out, uint64 start, PgracTwophaseRecord *recs, int n, size_t *offsets)
{
	PgracTwophaseSegmentHeader h = {.version = 1,.system_identifier = SYSID,.start = start,
	.size_limit = PGRAC_2PC_SEGMENT_SIZE_MIN};
	size_t		off = PGRAC_2PC_SEGMENT_HEADER_SIZE;

	pgrac_twophase_segment_header_encode(&h, out);
	for (int i = 0; i < n; i++)
	{
		uint64		pos = start + (off - PGRAC_2PC_SEGMENT_HEADER_SIZE);

		if (recs[i].kind == PGRAC_2PC_BEGIN)
		{
			recs[i].u.begin.txn = pos;
			pgrac_twophase_format_gid(recs[i].u.begin.gid, sizeof(recs[i].u.begin.gid), SYSID, 5, pos);
		}
		if (offsets)
			offsets[i] = off;
		off += pgrac_twophase_record_encode(&recs[i], out + off);
	}
	return off;
}

typedef struct Seen
{
	int			n;
	uint64		pos[64];
	PgracTwophaseKind kind[64];
} Seen;

static void
remember(void *arg, uint64 pos, const PgracTwophaseRecord *rec)
{
	Seen	   *s = arg;

	s->pos[s->n] = pos;
	s->kind[s->n] = rec->kind;
	s->n++;
}

static void
test_segment_header_and_names(void **state)
{
	PgracTwophaseSegmentHeader h = {.version = 1,.system_identifier = SYSID,.start = 0xA0000,
	.size_limit = 16 * 1024 * 1024}, back;
	uint8		buf[PGRAC_2PC_SEGMENT_HEADER_SIZE];
	char		name[PGRAC_2PC_NAME_MAX];
	uint64		start;
	bool		broken;

	pgrac_twophase_segment_header_encode(&h, buf);
	assert_memory_equal(buf, "PGRAC2PC", 8);
	assert_true(pgrac_twophase_segment_header_decode(buf, sizeof(buf), &back, NULL, 0));
	assert_int_equal(back.system_identifier, SYSID);
	assert_int_equal(back.start, 0xA0000);
	assert_int_equal(back.size_limit, 16 * 1024 * 1024);
	for (size_t i = 0; i < sizeof(buf); i++)
		for (int bit = 0; bit < 8; bit++)
		{
			buf[i] ^= (uint8) (1 << bit);
			assert_false(pgrac_twophase_segment_header_decode(buf, sizeof(buf), &back, NULL, 0));
			buf[i] ^= (uint8) (1 << bit);
		}
	assert_false(pgrac_twophase_segment_header_decode(buf, sizeof(buf) - 1, &back, NULL, 0));
	/* a version this release does not read, resealed */
	h.version = 2;
	pgrac_twophase_segment_header_encode(&h, buf);
	assert_false(pgrac_twophase_segment_header_decode(buf, sizeof(buf), &back, NULL, 0));
	h.version = 1;
	h.size_limit = 1024;
	pgrac_twophase_segment_header_encode(&h, buf);
	assert_false(pgrac_twophase_segment_header_decode(buf, sizeof(buf), &back, NULL, 0));

	pgrac_twophase_segment_name(0xA0000, name, sizeof(name));
	assert_string_equal(name, "00000000000A0000.seg");
	assert_true(pgrac_twophase_parse_segment_name(name, &start, &broken));
	assert_int_equal(start, 0xA0000);
	assert_false(broken);
	assert_true(pgrac_twophase_parse_segment_name("00000000000A0000.seg.broken", &start, &broken));
	assert_true(broken);
	assert_false(pgrac_twophase_parse_segment_name("00000000000a0000.seg", &start, &broken));
	assert_false(pgrac_twophase_parse_segment_name("00000000000A0000.seg.tmp", &start, &broken));
	assert_false(pgrac_twophase_parse_segment_name("0000000000A0000.seg", &start, &broken));
	assert_false(pgrac_twophase_parse_segment_name("lock", &start, &broken));
	(void) state;
}

static uint8 segbuf[1 << 16];

static void
test_segment_scan(void **state)
{
	PgracTwophaseRecord recs[6];
	PgracTwophaseLive cp[2];
	size_t		offsets[6];
	size_t		len;
	PgracTwophaseSegmentScan scan;
	Seen		seen;

	sample_records(recs, cp);
	recs[3].u.checkpoint.nlive = 0;
	recs[4] = recs[0];
	recs[5] = recs[2];
	/* Committing and End of the first Begin (at position 1000) */
	recs[1].u.committing.txn = 1000;
	recs[2].u.end.txn = 1000;
	recs[5].u.end.txn = 1000;
	len = build_segment(segbuf, 1000, recs, 6, offsets);

	memset(&seen, 0, sizeof(seen));
	pgrac_twophase_scan_segment(segbuf, len, 1000, SYSID, scratch, PGRAC_2PC_MAX_LIVE, remember,
								&seen, &scan);
	assert_int_equal(scan.status, PGRAC_2PC_SEG_CLEAN);
	assert_int_equal(seen.n, 6);
	assert_int_equal(seen.pos[0], 1000);
	assert_int_equal(seen.pos[4], 1000 + offsets[4] - PGRAC_2PC_SEGMENT_HEADER_SIZE);
	assert_int_equal(scan.valid_end, len);
	assert_int_equal(scan.end_position, 1000 + len - PGRAC_2PC_SEGMENT_HEADER_SIZE);

	/* the file cut anywhere inside its last frame: a torn tail, at its start */
	for (size_t cut = offsets[5] + 1; cut < len; cut++)
	{
		pgrac_twophase_scan_segment(segbuf, cut, 1000, SYSID, scratch, PGRAC_2PC_MAX_LIVE, NULL,
									NULL, &scan);
		assert_int_equal(scan.status, PGRAC_2PC_SEG_TORN_TAIL);
		assert_int_equal(scan.valid_end, offsets[5]);
	}
	/* zeros or garbage after the last frame: a torn tail */
	memset(segbuf + len, 0, 5000);
	pgrac_twophase_scan_segment(segbuf, len + 5000, 1000, SYSID, scratch, PGRAC_2PC_MAX_LIVE, NULL,
								NULL, &scan);
	assert_int_equal(scan.status, PGRAC_2PC_SEG_TORN_TAIL);
	assert_int_equal(scan.valid_end, len);
	srandom(7);
	for (int i = 0; i < 5000; i++)
		segbuf[len + i] = (uint8) random();
	pgrac_twophase_scan_segment(segbuf, len + 5000, 1000, SYSID, scratch, PGRAC_2PC_MAX_LIVE, NULL,
								NULL, &scan);
	assert_int_equal(scan.status, PGRAC_2PC_SEG_TORN_TAIL);
	assert_int_equal(scan.valid_end, len);

	/*
	 * A flip in any frame but the last, length bits included: corruption,
	 * because a complete frame follows; the frames before it still count.
	 */
	for (int r = 0; r < 5; r++)
		for (size_t byte = offsets[r]; byte < offsets[r + 1]; byte += 3)
		{
			segbuf[byte] ^= 0x10;
			memset(&seen, 0, sizeof(seen));
			pgrac_twophase_scan_segment(segbuf, len, 1000, SYSID, scratch, PGRAC_2PC_MAX_LIVE,
										remember, &seen, &scan);
			assert_int_equal(scan.status, PGRAC_2PC_SEG_CORRUPT);
			assert_int_equal(scan.valid_end, offsets[r]);
			assert_int_equal(seen.n, r);
			segbuf[byte] ^= 0x10;
		}

	/*
	 * A length grown past the end of the file makes a frame look incomplete;
	 * anywhere but in the last frame that is still corruption.
	 */
	for (int r = 0; r < 5; r++)
	{
		segbuf[offsets[r] + 2] ^= 0x01;
		pgrac_twophase_scan_segment(segbuf, len, 1000, SYSID, scratch, PGRAC_2PC_MAX_LIVE, NULL,
									NULL, &scan);
		assert_int_equal(scan.status, PGRAC_2PC_SEG_CORRUPT);
		assert_int_equal(scan.valid_end, offsets[r]);
		segbuf[offsets[r] + 2] ^= 0x01;
	}
	/* in the last frame it cannot be told from a torn write */
	segbuf[offsets[5] + 2] ^= 0x01;
	pgrac_twophase_scan_segment(segbuf, len, 1000, SYSID, scratch, PGRAC_2PC_MAX_LIVE, NULL, NULL,
								&scan);
	assert_int_equal(scan.status, PGRAC_2PC_SEG_TORN_TAIL);
	segbuf[offsets[5] + 2] ^= 0x01;

	/* the header: another cluster's, a name that does not match, too short */
	pgrac_twophase_scan_segment(segbuf, len, 1000, SYSID + 1, scratch, PGRAC_2PC_MAX_LIVE, NULL,
								NULL, &scan);
	assert_int_equal(scan.status, PGRAC_2PC_SEG_FOREIGN);
	pgrac_twophase_scan_segment(segbuf, len, 2000, SYSID, scratch, PGRAC_2PC_MAX_LIVE, NULL, NULL,
								&scan);
	assert_int_equal(scan.status, PGRAC_2PC_SEG_CORRUPT);
	pgrac_twophase_scan_segment(segbuf, 63, 1000, SYSID, scratch, PGRAC_2PC_MAX_LIVE, NULL, NULL,
								&scan);
	assert_int_equal(scan.status, PGRAC_2PC_SEG_SHORT_HEADER);
	segbuf[20] ^= 1;
	pgrac_twophase_scan_segment(segbuf, len, 1000, SYSID, scratch, PGRAC_2PC_MAX_LIVE, NULL, NULL,
								&scan);
	assert_int_equal(scan.status, PGRAC_2PC_SEG_CORRUPT);
	segbuf[20] ^= 1;
	(void) state;
}

/* ---- recovery of a directory ---- */

static uint8 seg1[1 << 16],
			seg2[1 << 16],
			seg3[1 << 16];

/*
 * Three segments: T1 (Begin in seg1, decided in seg2), T2 (begun and ended
 * in seg1), T3 (begun in seg2, undecided), T4 (begun in seg3).  Each segment
 * after the first opens with a Checkpoint of what was live.
 */
typedef struct Dir
{
	PgracTwophaseSegmentInput in[3];
	uint64		t1,
				t2,
				t3,
				t4;
	size_t		off3_last;
} Dir;

static void
build_dir(Dir *d)
{
	PgracTwophaseRecord r[4];
	PgracTwophaseLive cpl[2];
	size_t		offs[4];
	size_t		len;
	uint64		start;

	/* seg1: Begin T1, Begin T2, End T2 */
	r[0].kind = PGRAC_2PC_BEGIN;
	make_begin(&r[0].u.begin, 0, 2);
	r[1].kind = PGRAC_2PC_BEGIN;
	make_begin(&r[1].u.begin, 0, 1);
	len = build_segment(seg1, 0, r, 2, offs);
	d->t1 = 0;
	d->t2 = offs[1] - PGRAC_2PC_SEGMENT_HEADER_SIZE;
	r[2].kind = PGRAC_2PC_END;
	r[2].u.end.txn = d->t2;
	r[2].u.end.outcome = PGRAC_2PC_ENDED_ROLLED_BACK;
	len += pgrac_twophase_record_encode(&r[2], seg1 + len);
	d->in[0] = (PgracTwophaseSegmentInput)
	{
		.start = 0,.data = seg1,.len = len
	};

	/* seg2: Checkpoint {T1}, Committing T1, Begin T3 */
	start = len - PGRAC_2PC_SEGMENT_HEADER_SIZE;
	memset(cpl, 0, sizeof(cpl));
	make_begin(&cpl[0].begin, d->t1, 2);
	r[0].kind = PGRAC_2PC_CHECKPOINT;
	r[0].u.checkpoint.nlive = 1;
	r[0].u.checkpoint.live = cpl;
	r[1].kind = PGRAC_2PC_COMMITTING;
	r[1].u.committing.txn = d->t1;
	r[1].u.committing.local_xid = 900;
	r[1].u.committing.decided_at = 1;
	r[2].kind = PGRAC_2PC_BEGIN;
	make_begin(&r[2].u.begin, 0, 3);
	len = build_segment(seg2, start, r, 3, offs);
	d->t3 = start + offs[2] - PGRAC_2PC_SEGMENT_HEADER_SIZE;
	d->in[1] = (PgracTwophaseSegmentInput)
	{
		.start = start,.data = seg2,.len = len
	};

	/* seg3: Checkpoint {T1 decided, T3}, Begin T4 */
	start += len - PGRAC_2PC_SEGMENT_HEADER_SIZE;
	cpl[0].committing = true;
	cpl[0].local_xid = 900;
	cpl[0].decided_at = 1;
	make_begin(&cpl[1].begin, d->t3, 3);
	r[0].kind = PGRAC_2PC_CHECKPOINT;
	r[0].u.checkpoint.nlive = 2;
	r[0].u.checkpoint.live = cpl;
	r[1].kind = PGRAC_2PC_BEGIN;
	make_begin(&r[1].u.begin, 0, 1);
	len = build_segment(seg3, start, r, 2, offs);
	d->t4 = start + offs[1] - PGRAC_2PC_SEGMENT_HEADER_SIZE;
	d->off3_last = offs[1];
	d->in[2] = (PgracTwophaseSegmentInput)
	{
		.start = start,.data = seg3,.len = len
	};
}

static const PgracTwophaseLive *
find(const PgracTwophaseRecovery *r, uint64 txn)
{
	for (int i = 0; i < r->nlive; i++)
		if (r->live[i].begin.txn == txn)
			return &r->live[i];
	return NULL;
}

static void
test_recovery(void **state)
{
	Dir			d;
	PgracTwophaseSegmentPlan plans[3];
	PgracTwophaseRecovery r;

	build_dir(&d);
	pgrac_twophase_recover(d.in, 3, SYSID, plans, live_a, scratch, &r);
	assert_true(r.ok);
	assert_int_equal(r.nlive, 3);
	assert_non_null(find(&r, d.t1));
	assert_true(find(&r, d.t1)->committing);
	assert_int_equal(find(&r, d.t1)->local_xid, 900);
	assert_null(find(&r, d.t2));
	assert_false(find(&r, d.t3)->committing);
	assert_int_equal(find(&r, d.t3)->first_position, d.t3);
	assert_non_null(find(&r, d.t4));
	assert_int_equal(r.ncorrupt, 0);
	assert_int_equal(r.corrupt_before, 0);
	assert_int_equal(r.append_segment, 2);
	assert_int_equal(r.append_offset, d.in[2].len);
	assert_int_equal(r.append_position, d.in[2].start + d.in[2].len - PGRAC_2PC_SEGMENT_HEADER_SIZE);
	/* seg1 holds T1's Begin, seg2 T3's: both kept */
	assert_int_equal(plans[0].action, PGRAC_2PC_KEEP);
	assert_int_equal(plans[1].action, PGRAC_2PC_KEEP);
	assert_int_equal(plans[2].action, PGRAC_2PC_KEEP);

	/* the last segment torn inside T4's Begin: truncated there, T4 unknown */
	d.in[2].len -= 3;
	pgrac_twophase_recover(d.in, 3, SYSID, plans, live_a, scratch, &r);
	assert_true(r.ok);
	assert_int_equal(plans[2].action, PGRAC_2PC_TRUNCATE);
	assert_int_equal(plans[2].truncate_at, d.off3_last);
	assert_int_equal(r.append_offset, d.off3_last);
	assert_int_equal(r.append_position, d.t4);
	assert_null(find(&r, d.t4));
	assert_int_equal(r.ncorrupt, 0);

	/*
	 * seg1 damaged in T1's Begin: renamed .broken, T1 still known (and
	 * decided) through seg2's Checkpoint; T3 begun after the damage is not
	 * held for an operator, but corrupt_before covers all of seg1.
	 */
	build_dir(&d);
	seg1[PGRAC_2PC_SEGMENT_HEADER_SIZE + 20] ^= 0xFF;
	pgrac_twophase_recover(d.in, 3, SYSID, plans, live_a, scratch, &r);
	assert_true(r.ok);
	assert_int_equal(plans[0].action, PGRAC_2PC_RENAME_BROKEN);
	assert_int_equal(r.ncorrupt, 1);
	assert_int_equal(r.corrupt_before, d.in[1].start);
	assert_true(find(&r, d.t1)->committing);
	assert_int_equal(find(&r, d.t1)->first_position, d.in[1].start);
	/* T2's Begin and End were after the damage: neither is read */
	assert_null(find(&r, d.t2));
	assert_int_equal(r.norphans, 0);
	assert_int_equal(pgrac_twophase_outcome(find(&r, d.t3), false, PGRAC_LOCAL_NONE, r.corrupt_before),
					 PGRAC_2PC_OUTCOME_ROLLBACK);
	/* the same, as a file already named .broken: kept, still counted */
	d.in[0].broken = true;
	pgrac_twophase_recover(d.in, 3, SYSID, plans, live_a, scratch, &r);
	assert_true(r.ok);
	assert_int_equal(plans[0].action, PGRAC_2PC_KEEP);
	assert_int_equal(r.ncorrupt, 1);

	/* damage in the middle of the last segment: broken too, and a new one */
	build_dir(&d);
	seg3[PGRAC_2PC_SEGMENT_HEADER_SIZE + 30] ^= 0xFF;
	pgrac_twophase_recover(d.in, 3, SYSID, plans, live_a, scratch, &r);
	assert_true(r.ok);
	assert_int_equal(plans[2].action, PGRAC_2PC_RENAME_BROKEN);
	assert_int_equal(r.append_segment, -1);
	/* positions never go back: past the whole broken file */
	assert_int_equal(r.append_position, d.in[2].start + d.in[2].len - PGRAC_2PC_SEGMENT_HEADER_SIZE);
	/* T3 is undecided and began before the damage: an operator's */
	assert_int_equal(pgrac_twophase_outcome(find(&r, d.t3), false, PGRAC_LOCAL_NONE, r.corrupt_before),
					 PGRAC_2PC_OUTCOME_OPERATOR);

	/* a last segment that never got its header: removed, its start reused */
	build_dir(&d);
	d.in[2].len = 10;
	pgrac_twophase_recover(d.in, 3, SYSID, plans, live_a, scratch, &r);
	assert_true(r.ok);
	assert_int_equal(plans[2].action, PGRAC_2PC_REMOVE);
	assert_int_equal(r.append_segment, -1);
	assert_int_equal(r.append_position, d.in[2].start);
	/* ... but an older one like it is corruption */
	build_dir(&d);
	d.in[1].len = 10;
	pgrac_twophase_recover(d.in, 3, SYSID, plans, live_a, scratch, &r);
	assert_true(r.ok);
	assert_int_equal(plans[1].action, PGRAC_2PC_RENAME_BROKEN);

	/* another cluster's segment: the log is not opened */
	build_dir(&d);
	pgrac_twophase_recover(d.in, 3, SYSID + 1, plans, live_a, scratch, &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.error, "belongs to database system"));

	/* overlapping segments: the later one is corrupt */
	build_dir(&d);
	d.in[2].start -= 8;
	pgrac_twophase_recover(d.in, 3, SYSID, plans, live_a, scratch, &r);
	assert_true(r.ok);
	assert_int_equal(plans[2].action, PGRAC_2PC_RENAME_BROKEN);
	assert_null(find(&r, d.t4));

	/* out of order input is refused */
	build_dir(&d);
	{
		PgracTwophaseSegmentInput swapped[2] = {d.in[1], d.in[0]};

		pgrac_twophase_recover(swapped, 2, SYSID, plans, live_a, scratch, &r);
		assert_false(r.ok);
		pgrac_twophase_sort_segments(swapped, 2);
		pgrac_twophase_recover(swapped, 2, SYSID, plans, live_a, scratch, &r);
		assert_true(r.ok);
	}
	(void) state;
}

static void
test_removal_rule(void **state)
{
	Dir			d;
	PgracTwophaseSegmentPlan plans[3];
	PgracTwophaseRecovery r;
	PgracTwophaseRecord end;
	uint8		buf[64];
	size_t		add;

	/* T1 ends at the tail of seg3: seg1 is no longer needed; seg2 holds T3 */
	build_dir(&d);
	end.kind = PGRAC_2PC_END;
	end.u.end.txn = d.t1;
	end.u.end.outcome = PGRAC_2PC_ENDED_COMMITTED;
	add = pgrac_twophase_record_encode(&end, buf);
	memcpy(seg3 + d.in[2].len, buf, add);
	d.in[2].len += add;
	pgrac_twophase_recover(d.in, 3, SYSID, plans, live_a, scratch, &r);
	assert_true(r.ok);
	assert_int_equal(plans[0].action, PGRAC_2PC_REMOVE);
	assert_int_equal(plans[1].action, PGRAC_2PC_KEEP);
	assert_int_equal(plans[2].action, PGRAC_2PC_KEEP);

	/* the rule alone: [start, end) holds a live first position or not */
	memset(live_b, 0, sizeof(PgracTwophaseLive) * 2);
	live_b[0].first_position = 100;
	live_b[1].first_position = 250;
	assert_false(pgrac_twophase_segment_removable(100, 200, live_b, 2));
	assert_true(pgrac_twophase_segment_removable(101, 250, live_b, 2));
	assert_false(pgrac_twophase_segment_removable(200, 300, live_b, 2));
	assert_true(pgrac_twophase_segment_removable(0, 100, live_b, 2));
	assert_true(pgrac_twophase_segment_removable(0, 100, live_b, 0));
	(void) state;
}

static void
test_outcome_rules(void **state)
{
	PgracTwophaseLive t;

	memset(&t, 0, sizeof(t));
	t.begin.txn = 500;
	/* the coordinator at work: never touched */
	assert_int_equal(pgrac_twophase_outcome(&t, true, PGRAC_LOCAL_NONE, 0), PGRAC_2PC_OUTCOME_WAIT);
	/* Begin only: presumed abort, unless the log lost something before it */
	assert_int_equal(pgrac_twophase_outcome(&t, false, PGRAC_LOCAL_NONE, 0), PGRAC_2PC_OUTCOME_ROLLBACK);
	assert_int_equal(pgrac_twophase_outcome(&t, false, PGRAC_LOCAL_NONE, 500), PGRAC_2PC_OUTCOME_ROLLBACK);
	assert_int_equal(pgrac_twophase_outcome(&t, false, PGRAC_LOCAL_NONE, 501), PGRAC_2PC_OUTCOME_OPERATOR);
	/* decided without a local xid: commit */
	t.committing = true;
	assert_int_equal(pgrac_twophase_outcome(&t, false, PGRAC_LOCAL_NONE, 501), PGRAC_2PC_OUTCOME_COMMIT);
	/* decided with one: core's commit log is the other half */
	t.local_xid = 1234;
	assert_int_equal(pgrac_twophase_outcome(&t, false, PGRAC_LOCAL_COMMITTED, 0), PGRAC_2PC_OUTCOME_COMMIT);
	assert_int_equal(pgrac_twophase_outcome(&t, false, PGRAC_LOCAL_ABORTED, 0), PGRAC_2PC_OUTCOME_ROLLBACK);
	assert_int_equal(pgrac_twophase_outcome(&t, false, PGRAC_LOCAL_RUNNING, 0), PGRAC_2PC_OUTCOME_WAIT);
	assert_int_equal(pgrac_twophase_outcome(&t, false, PGRAC_LOCAL_UNKNOWN, 0), PGRAC_2PC_OUTCOME_OPERATOR);
	assert_string_equal(pgrac_twophase_outcome_name(PGRAC_2PC_OUTCOME_OPERATOR), "needs operator");
	(void) state;
}

/* ---- the store, on a real directory, with injected faults ---- */

static char tmpdir[256];
static int	fail_pwrite_after = -1; /* calls before pwrite fails; -1 never */
static bool short_writes = false;
static int	fail_fdatasync_after = -1;
static int	fail_fsync_after = -1;

static ssize_t
faulty_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	if (fail_pwrite_after == 0)
	{
		errno = ENOSPC;
		return -1;
	}
	if (fail_pwrite_after > 0)
		fail_pwrite_after--;
	if (short_writes && len > 1)
		len = len / 2;
	return pwrite(fd, buf, len, off);
}

static int
faulty_fdatasync(int fd)
{
	if (fail_fdatasync_after == 0)
	{
		errno = EIO;
		return -1;
	}
	if (fail_fdatasync_after > 0)
		fail_fdatasync_after--;
	return fdatasync(fd);
}

static int
faulty_fsync(int fd)
{
	if (fail_fsync_after == 0)
	{
		errno = EIO;
		return -1;
	}
	if (fail_fsync_after > 0)
		fail_fsync_after--;
	return fsync(fd);
}

static PgracTwophaseIo faulty_io;

static int
store_setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pgrac-2pc-test-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	faulty_io = pgrac_twophase_posix_io;
	faulty_io.pwrite = faulty_pwrite;
	faulty_io.fdatasync = faulty_fdatasync;
	faulty_io.fsync = faulty_fsync;
	fail_pwrite_after = fail_fdatasync_after = fail_fsync_after = -1;
	short_writes = false;
	(void) state;
	return 0;
}

static int
store_teardown(void **state)
{
	char		cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	(void) state;
	return 0;
}

static int
count_files(const char *suffix)
{
	char		cmd[400];
	FILE	   *f;
	int			n = -1;

	snprintf(cmd, sizeof(cmd), "ls '%s' | grep -c -- '%s$'", tmpdir, suffix);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &n), 1);
	pclose(f);
	return n;
}

/* a Begin at the store's position, appended; returns its txn */
static uint64
append_begin(PgracTwophaseStore *st, bool expect_ok)
{
	PgracTwophaseRecord r = {.kind = PGRAC_2PC_BEGIN};
	uint8		buf[4096];
	size_t		len;
	uint64		pos = pgrac_twophase_store_position(st);

	make_begin(&r.u.begin, pos, 2);
	len = pgrac_twophase_record_encode(&r, buf);
	assert_int_equal(pgrac_twophase_store_append(st, buf, len), expect_ok);
	return pos;
}

static void
append_end(PgracTwophaseStore *st, uint64 txn)
{
	PgracTwophaseRecord r = {.kind = PGRAC_2PC_END};
	uint8		buf[64];
	size_t		len;

	r.u.end.txn = txn;
	r.u.end.outcome = PGRAC_2PC_ENDED_ROLLED_BACK;
	len = pgrac_twophase_record_encode(&r, buf);
	assert_true(pgrac_twophase_store_append(st, buf, len));
}

static PgracTwophaseStore st_a;
static PgracTwophaseRecovery rec_a;

static void
test_store_open_append_reopen(void **state)
{
	uint64		t1,
				t2;

	/* an empty directory: a first segment at 0, opening with a Checkpoint */
	assert_true(pgrac_twophase_store_open(&st_a, tmpdir, SYSID, PGRAC_2PC_SEGMENT_SIZE_MIN,
										  &faulty_io, &rec_a, live_a, scratch));
	assert_int_equal(count_files(".seg"), 1);
	assert_int_equal(st_a.seg_start, 0);
	assert_int_equal(st_a.nsegments_created, 1);
	t1 = append_begin(&st_a, true);
	t2 = append_begin(&st_a, true);
	append_end(&st_a, t1);
	pgrac_twophase_store_close(&st_a);

	assert_true(pgrac_twophase_store_open(&st_a, tmpdir, SYSID, PGRAC_2PC_SEGMENT_SIZE_MIN,
										  &faulty_io, &rec_a, live_a, scratch));
	assert_int_equal(rec_a.nlive, 1);
	assert_int_equal(rec_a.live[0].begin.txn, t2);
	assert_int_equal(st_a.nsegments_created, 0);
	assert_int_equal(st_a.ntruncated, 0);

	/* a torn batch: half a Begin at the end of the file, truncated at open */
	{
		PgracTwophaseRecord r = {.kind = PGRAC_2PC_BEGIN};
		uint8		buf[4096];
		size_t		len;

		make_begin(&r.u.begin, pgrac_twophase_store_position(&st_a), 2);
		len = pgrac_twophase_record_encode(&r, buf);
		assert_int_equal(pwrite(st_a.fd, buf, len / 2, (off_t) st_a.seg_size), (ssize_t) (len / 2));
	}
	pgrac_twophase_store_close(&st_a);
	assert_true(pgrac_twophase_store_open(&st_a, tmpdir, SYSID, PGRAC_2PC_SEGMENT_SIZE_MIN,
										  &faulty_io, &rec_a, live_a, scratch));
	assert_int_equal(st_a.ntruncated, 1);
	assert_int_equal(rec_a.nlive, 1);
	/* appending resumes where the torn frame began */
	assert_int_equal(append_begin(&st_a, true), rec_a.append_position);
	pgrac_twophase_store_close(&st_a);

	/* another cluster's directory is not opened */
	assert_false(pgrac_twophase_store_open(&st_a, tmpdir, SYSID + 1, PGRAC_2PC_SEGMENT_SIZE_MIN,
										   &faulty_io, &rec_a, live_a, scratch));
	assert_non_null(strstr(st_a.error, "belongs to database system"));
	(void) state;
}

static void
test_store_faults(void **state)
{
	uint64		t;
	size_t		before;

	assert_true(pgrac_twophase_store_open(&st_a, tmpdir, SYSID, PGRAC_2PC_SEGMENT_SIZE_MIN,
										  &faulty_io, &rec_a, live_a, scratch));
	/* short writes are finished by more writes */
	short_writes = true;
	t = append_begin(&st_a, true);
	short_writes = false;
	append_end(&st_a, t);

	/* a failed write: refused, and every append after it, until reopened */
	fail_pwrite_after = 0;
	before = st_a.seg_size;
	append_begin(&st_a, false);
	assert_true(st_a.failed);
	assert_non_null(strstr(st_a.error, "No space left"));
	fail_pwrite_after = -1;
	append_begin(&st_a, false);
	assert_int_equal(st_a.seg_size, before);
	pgrac_twophase_store_close(&st_a);

	/* a failed fdatasync: the same, even though the bytes were written */
	assert_true(pgrac_twophase_store_open(&st_a, tmpdir, SYSID, PGRAC_2PC_SEGMENT_SIZE_MIN,
										  &faulty_io, &rec_a, live_a, scratch));
	fail_fdatasync_after = 0;
	append_begin(&st_a, false);
	assert_true(st_a.failed);
	assert_non_null(strstr(st_a.error, "fdatasync"));
	fail_fdatasync_after = -1;
	append_begin(&st_a, false);
	pgrac_twophase_store_close(&st_a);

	/*
	 * Reopened, the unsynced Begin may or may not be there (here it is: the
	 * write went to the page cache); either is consistent, because its
	 * committer was told it failed and never sent a PREPARE.
	 */
	assert_true(pgrac_twophase_store_open(&st_a, tmpdir, SYSID, PGRAC_2PC_SEGMENT_SIZE_MIN,
										  &faulty_io, &rec_a, live_a, scratch));
	assert_int_equal(rec_a.nlive, 1);
	pgrac_twophase_store_close(&st_a);

	/* a new segment whose fsync fails: the open fails, naming the file */
	assert_true(pgrac_twophase_store_open(&st_a, tmpdir, SYSID, PGRAC_2PC_SEGMENT_SIZE_MIN,
										  &faulty_io, &rec_a, live_a, scratch));
	fail_fsync_after = 0;
	assert_false(pgrac_twophase_store_rotate(&st_a, rec_a.live, rec_a.nlive));
	assert_non_null(strstr(st_a.error, "could not fsync"));
	fail_fsync_after = -1;
	pgrac_twophase_store_close(&st_a);
	(void) state;
}

static void
test_store_rotation_and_removal(void **state)
{
	uint64		first,
				txns[3];
	int			live_n;

	assert_true(pgrac_twophase_store_open(&st_a, tmpdir, SYSID, PGRAC_2PC_SEGMENT_SIZE_MIN,
										  &faulty_io, &rec_a, live_a, scratch));
	first = append_begin(&st_a, true);
	/* rotate by hand, twice, with "first" live throughout */
	memset(live_b, 0, sizeof(PgracTwophaseLive));
	live_b[0].begin.txn = first;
	make_begin(&live_b[0].begin, first, 2);
	live_b[0].first_position = first;
	live_n = 1;
	assert_true(pgrac_twophase_store_rotate(&st_a, live_b, live_n));
	txns[0] = append_begin(&st_a, true);
	append_end(&st_a, txns[0]);
	assert_true(pgrac_twophase_store_rotate(&st_a, live_b, live_n));
	txns[1] = append_begin(&st_a, true);
	assert_int_equal(count_files(".seg"), 3);
	/* the first segment holds a live Begin, the second nothing live */
	make_begin(&live_b[1].begin, txns[1], 2);
	live_b[1].first_position = txns[1];
	live_n = 2;
	assert_int_equal(pgrac_twophase_store_remove_unneeded(&st_a, live_b, live_n), 1);
	assert_int_equal(count_files(".seg"), 2);

	/*
	 * the first ends (End first, then memory): its segment goes too, never
	 * the current one
	 */
	append_end(&st_a, first);
	live_b[0] = live_b[1];
	live_n = 1;
	assert_int_equal(pgrac_twophase_store_remove_unneeded(&st_a, live_b, live_n), 1);
	assert_int_equal(count_files(".seg"), 1);
	assert_int_equal(pgrac_twophase_store_remove_unneeded(&st_a, live_b, 0), 0);
	assert_int_equal(count_files(".seg"), 1);
	pgrac_twophase_store_close(&st_a);

	/* reopened: the survivors, and a batch that does not fit is refused */
	assert_true(pgrac_twophase_store_open(&st_a, tmpdir, SYSID, PGRAC_2PC_SEGMENT_SIZE_MIN,
										  &faulty_io, &rec_a, live_a, scratch));
	assert_int_equal(rec_a.nlive, 1);
	assert_int_equal(rec_a.live[0].begin.txn, txns[1]);
	{
		static uint8 big[PGRAC_2PC_SEGMENT_SIZE_MIN];

		memset(big, 0, sizeof(big));
		assert_false(pgrac_twophase_store_append(&st_a, big, sizeof(big)));
		assert_non_null(strstr(st_a.error, "does not fit"));
	}
	pgrac_twophase_store_close(&st_a);
	(void) state;
}

static void
test_store_corrupt_segment_renamed(void **state)
{
	char		path[400];
	char		name[PGRAC_2PC_NAME_MAX];
	uint64		t,
				seg0;
	int			fd;

	assert_true(pgrac_twophase_store_open(&st_a, tmpdir, SYSID, PGRAC_2PC_SEGMENT_SIZE_MIN,
										  &faulty_io, &rec_a, live_a, scratch));
	seg0 = st_a.seg_start;
	t = append_begin(&st_a, true);
	memset(live_b, 0, sizeof(PgracTwophaseLive));
	make_begin(&live_b[0].begin, t, 2);
	live_b[0].first_position = t;
	assert_true(pgrac_twophase_store_rotate(&st_a, live_b, 1));
	append_begin(&st_a, true);
	pgrac_twophase_store_close(&st_a);

	/* damage the first segment's Begin */
	pgrac_twophase_segment_name(seg0, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	{
		uint8		b;
		off_t		at = PGRAC_2PC_SEGMENT_HEADER_SIZE + (off_t) (t - seg0) + 30;

		assert_int_equal(pread(fd, &b, 1, at), 1);
		b ^= 0x55;
		assert_int_equal(pwrite(fd, &b, 1, at), 1);
	}
	close(fd);

	assert_true(pgrac_twophase_store_open(&st_a, tmpdir, SYSID, PGRAC_2PC_SEGMENT_SIZE_MIN,
										  &faulty_io, &rec_a, live_a, scratch));
	assert_int_equal(st_a.nrenamed, 1);
	assert_int_equal(count_files(".seg.broken"), 1);
	assert_int_equal(rec_a.ncorrupt, 1);
	/* the damaged Begin's transaction is still known, from the Checkpoint */
	assert_int_equal(rec_a.nlive, 2);
	pgrac_twophase_store_close(&st_a);
	/* and the broken file stays counted at the next open */
	assert_true(pgrac_twophase_store_open(&st_a, tmpdir, SYSID, PGRAC_2PC_SEGMENT_SIZE_MIN,
										  &faulty_io, &rec_a, live_a, scratch));
	assert_int_equal(rec_a.ncorrupt, 1);
	assert_int_equal(st_a.nrenamed, 0);
	pgrac_twophase_store_close(&st_a);
	(void) state;
}

static void
test_lock_file(void **state)
{
	int			fd1,
				fd2;
	char		holder[200];
	char		error[200];

	assert_int_equal(pgrac_twophase_lock(tmpdir, "pid 4242 started 2026-12-02 10:00:00 UTC", &fd1,
										 holder, sizeof(holder), error, sizeof(error)),
					 PGRAC_2PC_LOCK_ACQUIRED);
	/* a second open file description conflicts, even in this process */
	assert_int_equal(pgrac_twophase_lock(tmpdir, "pid 5151", &fd2, holder, sizeof(holder), error,
										 sizeof(error)),
					 PGRAC_2PC_LOCK_HELD);
	assert_string_equal(holder, "pid 4242 started 2026-12-02 10:00:00 UTC");
	assert_int_equal(fd2, -1);
	close(fd1);
	/* released with its descriptor */
	assert_int_equal(pgrac_twophase_lock(tmpdir, "pid 5151", &fd2, holder, sizeof(holder), error,
										 sizeof(error)),
					 PGRAC_2PC_LOCK_ACQUIRED);
	close(fd2);
	/* a directory that is not there */
	assert_int_equal(pgrac_twophase_lock("/nonexistent/pgrac", "x", &fd2, holder, sizeof(holder),
										 error, sizeof(error)),
					 PGRAC_2PC_LOCK_ERROR);
	assert_non_null(strstr(error, "/nonexistent/pgrac/lock"));
	(void) state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_every_prefix_is_incomplete),
		cmocka_unit_test(test_every_bit_flip_is_refused),
		cmocka_unit_test(test_semantic_refusals),
		cmocka_unit_test(test_segment_header_and_names),
		cmocka_unit_test(test_segment_scan),
		cmocka_unit_test(test_recovery),
		cmocka_unit_test(test_removal_rule),
		cmocka_unit_test(test_outcome_rules),
		cmocka_unit_test_setup_teardown(test_store_open_append_reopen, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_store_faults, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_store_rotation_and_removal, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_store_corrupt_segment_renamed, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_lock_file, store_setup, store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
