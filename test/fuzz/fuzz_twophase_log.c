/*
 * Fuzz target: the 2PC coordinator log as recovery reads it after a crash
 * (src/twophase/).  The first byte chooses what the rest is:
 *   0  one frame at a log position (the next 8 bytes);
 *   1  one segment file named for the position in its header;
 *   2  a directory of up to three segments (each preceded by a 2-byte
 *      length), the last one named .broken when bit 7 of byte 0 is set.
 * A frame that decodes must encode back to its very bytes; a scan's
 * complete frames must account for the bytes up to valid_end exactly;
 * recovery must name only live transactions that are behind the append
 * position, and never resume appending before the end of a file.
 */
#include "fuzz_device.h"

#include "pgrac/byte_order.h"
#include "pgrac/twophase_log.h"

int			LLVMFuzzerTestOneInput(const uint8 *data, size_t size);

#define SYSID UINT64CONST(7301234567890123456)

static PgracTwophaseLive live[PGRAC_2PC_MAX_LIVE];
static PgracTwophaseLive scratch[PGRAC_2PC_MAX_LIVE];
static PgracTwophaseLive scratch2[PGRAC_2PC_MAX_LIVE];
static uint8 again[PGRAC_2PC_MAX_FRAME_LENGTH + 64];

typedef struct Replay
{
	const uint8 *seg;
	size_t		expect_off;
	bool		ok;
} Replay;

/* each complete frame, re-encoded, must be the bytes it was read from */
static void
check_record(void *arg, uint64 pos, const PgracTwophaseRecord *rec)
{
	Replay	   *r = arg;
	size_t		len = pgrac_twophase_record_encode(rec, again);

	(void) pos;
	FUZZ_REQUIRE(memcmp(again, r->seg + r->expect_off, len) == 0,
				 "a frame at offset %zu does not encode back to its bytes", r->expect_off);
	r->expect_off += len;
}

static void
one_frame(const uint8 *data, size_t size)
{
	PgracTwophaseRecord rec;
	size_t		consumed;
	char		error[256];
	uint64		pos;

	if (size < 8)
		return;
	pos = pgrac_get64(data);
	if (pgrac_twophase_frame_decode(data + 8, size - 8, pos, &rec, scratch, PGRAC_2PC_MAX_LIVE,
									&consumed, error, sizeof(error)) != PGRAC_2PC_FRAME_COMPLETE)
		return;
	FUZZ_REQUIRE(consumed <= size - 8, "consumed %zu of %zu bytes", consumed, size - 8);
	FUZZ_REQUIRE(pgrac_twophase_record_size(&rec) == consumed, "size %zu, consumed %zu",
				 pgrac_twophase_record_size(&rec), consumed);
	pgrac_twophase_record_encode(&rec, again);
	FUZZ_REQUIRE(memcmp(again, data + 8, consumed) == 0, "a frame does not encode back");
	if (rec.kind == PGRAC_2PC_BEGIN)
		FUZZ_REQUIRE(rec.u.begin.txn == pos && pgrac_twophase_begin_valid(&rec.u.begin, NULL, 0),
					 "a Begin accepted at the wrong position or invalid");
}

static void
one_segment(const uint8 *data, size_t size)
{
	PgracTwophaseSegmentScan scan;
	Replay		r = {.seg = data,.expect_off = PGRAC_2PC_SEGMENT_HEADER_SIZE};
	uint64		start = size >= 32 ? pgrac_get64(data + 24) : 0;

	pgrac_twophase_scan_segment(data, size, start, SYSID, scratch, PGRAC_2PC_MAX_LIVE,
								check_record, &r, &scan);
	if (scan.status == PGRAC_2PC_SEG_CLEAN || scan.status == PGRAC_2PC_SEG_TORN_TAIL ||
		(scan.status == PGRAC_2PC_SEG_CORRUPT && scan.valid_end > 0))
	{
		FUZZ_REQUIRE(scan.valid_end == r.expect_off, "valid_end %zu, frames end at %zu",
					 scan.valid_end, r.expect_off);
		FUZZ_REQUIRE(scan.end_position == start + (scan.valid_end - PGRAC_2PC_SEGMENT_HEADER_SIZE),
					 "end position does not match valid_end");
	}
	if (scan.status == PGRAC_2PC_SEG_CLEAN)
		FUZZ_REQUIRE(scan.valid_end == size, "a clean segment with bytes after its frames");
}

static void
directory(const uint8 *data, size_t size)
{
	PgracTwophaseSegmentInput in[3];
	PgracTwophaseSegmentPlan plans[3];
	PgracTwophaseRecovery rec;
	int			n = 0;
	size_t		off = 1;
	bool		last_broken = (data[0] & 0x80) != 0;

	while (n < 3 && off + 2 <= size)
	{
		size_t		len = pgrac_get16(data + off);

		off += 2;
		if (len > size - off)
			len = size - off;
		in[n].data = data + off;
		in[n].len = len;
		in[n].broken = false;
		in[n].start = len >= 32 ? pgrac_get64(data + off + 24) : (uint64) n * 1000;
		off += len;
		n++;
	}
	if (n == 0)
		return;
	in[n - 1].broken = last_broken;
	pgrac_twophase_sort_segments(in, n);
	pgrac_twophase_recover(in, n, SYSID, plans, live, scratch2, &rec);
	if (!rec.ok)
		return;
	FUZZ_REQUIRE(rec.nlive >= 0 && rec.nlive <= PGRAC_2PC_MAX_LIVE, "%d live", rec.nlive);
	for (int i = 0; i < rec.nlive; i++)
		FUZZ_REQUIRE(rec.live[i].begin.txn < rec.append_position,
					 "a live transaction at or after the append position");
	for (int i = 0; i < n; i++)
	{
		if (plans[i].action == PGRAC_2PC_REMOVE && plans[i].scan.status == PGRAC_2PC_SEG_SHORT_HEADER)
			continue;
		if (plans[i].action == PGRAC_2PC_TRUNCATE)
			FUZZ_REQUIRE(rec.append_position >= plans[i].scan.end_position, "appending inside kept data");
		else
			FUZZ_REQUIRE(rec.append_position >= plans[i].scan.file_end_position ||
						 plans[i].action == PGRAC_2PC_REMOVE,
						 "appending before the end of a file");
		FUZZ_REQUIRE(!in[i].broken || plans[i].action == PGRAC_2PC_KEEP, "a broken file touched");
	}
	if (rec.ncorrupt > 0)
		FUZZ_REQUIRE(rec.corrupt_before > 0 || rec.ncorrupt > 0, "corruption without a bound");
}

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] & 3)
	{
		case 0:
			one_frame(data + 1, size - 1);
			break;
		case 1:
			one_segment(data + 1, size - 1);
			break;
		default:
			directory(data, size);
			break;
	}
	return 0;
}
