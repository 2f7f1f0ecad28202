/*-------------------------------------------------------------------------
 *
 * twophase_segment.c
 *	  Segments of the 2PC coordinator log: the header, the file name, and
 *	  the scan of one segment's bytes into records and a verdict on its
 *	  tail.
 *
 * The verdict is the heart of crash recovery.  Appends are batched and a
 * committer is told its record is durable only after the fdatasync of its
 * batch; a crash can therefore tear only the last batch of the last
 * segment.  After the last complete frame, bytes that do not form one are
 * a torn tail only if no complete frame follows anywhere after them: a
 * complete frame beyond a bad one means the bad bytes were once
 * acknowledged data, and truncating there would throw away a decision.
 * That case is corruption, and recovery keeps the file as ".broken".  The
 * same holds for a frame that reads as incomplete, since a damaged length
 * can make any frame look like the start of a longer one; only the very
 * last frame's damaged length is indistinguishable from a torn write.  (A
 * crash can also persist a later page of the last batch before an earlier
 * one; that too reads as corruption, the safe direction: an operator looks,
 * nothing is rolled back.)
 *
 * src/twophase/twophase_segment.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "port/pg_crc32c.h"

#include "pgrac/byte_order.h"
#include "pgrac/twophase_log.h"

void
pgrac_twophase_segment_header_encode(const PgracTwophaseSegmentHeader *h, uint8 *out)
{
	pg_crc32c	crc;

	memset(out, 0, PGRAC_2PC_SEGMENT_HEADER_SIZE);
	memcpy(out, PGRAC_2PC_SEGMENT_MAGIC, 8);
	pgrac_put32(out + 8, h->version);
	pgrac_put32(out + 12, PGRAC_2PC_SEGMENT_HEADER_SIZE);
	pgrac_put64(out + 16, h->system_identifier);
	pgrac_put64(out + 24, h->start);
	pgrac_put64(out + 32, h->size_limit);
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, out, PGRAC_2PC_SEGMENT_HEADER_SIZE - 4);
	FIN_CRC32C(crc);
	pgrac_put32(out + PGRAC_2PC_SEGMENT_HEADER_SIZE - 4, crc);
}

bool
pgrac_twophase_segment_header_decode(const uint8 *buf, size_t len, PgracTwophaseSegmentHeader *h,
									 char *error, size_t errlen)
{
	pg_crc32c	crc;

	if (len < PGRAC_2PC_SEGMENT_HEADER_SIZE)
		return pgrac_twophase_error(error, errlen, "segment header truncated at %zu bytes", len);
	if (memcmp(buf, PGRAC_2PC_SEGMENT_MAGIC, 8) != 0)
		return pgrac_twophase_error(error, errlen, "not a 2PC log segment (bad magic)");
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf, PGRAC_2PC_SEGMENT_HEADER_SIZE - 4);
	FIN_CRC32C(crc);
	if (crc != pgrac_get32(buf + PGRAC_2PC_SEGMENT_HEADER_SIZE - 4))
		return pgrac_twophase_error(error, errlen, "segment header CRC mismatch");
	h->version = pgrac_get32(buf + 8);
	if (h->version != PGRAC_2PC_FORMAT_VERSION)
		return pgrac_twophase_error(error, errlen, "segment format version %u (this release reads %d)",
									h->version, PGRAC_2PC_FORMAT_VERSION);
	if (pgrac_get32(buf + 12) != PGRAC_2PC_SEGMENT_HEADER_SIZE)
		return pgrac_twophase_error(error, errlen, "segment header size %u", pgrac_get32(buf + 12));
	for (int i = 40; i < PGRAC_2PC_SEGMENT_HEADER_SIZE - 4; i++)
		if (buf[i] != 0)
			return pgrac_twophase_error(error, errlen, "segment header byte %d is not zero", i);
	h->system_identifier = pgrac_get64(buf + 16);
	h->start = pgrac_get64(buf + 24);
	h->size_limit = pgrac_get64(buf + 32);
	if (h->size_limit < PGRAC_2PC_SEGMENT_SIZE_MIN || h->size_limit > PGRAC_2PC_SEGMENT_SIZE_MAX)
		return pgrac_twophase_error(error, errlen, "segment size limit %llu out of range",
									(unsigned long long) h->size_limit);
	return true;
}

void
pgrac_twophase_segment_name(uint64 start, char *out, size_t outlen)
{
	snprintf(out, outlen, "%016llX%s", (unsigned long long) start, PGRAC_2PC_SEGMENT_SUFFIX);
}

bool
pgrac_twophase_parse_segment_name(const char *name, uint64 *start, bool *broken)
{
	uint64		v = 0;
	const char *rest = name + 16;

	for (int i = 0; i < 16; i++)
	{
		char		c = name[i];

		if (c >= '0' && c <= '9')
			v = (v << 4) | (uint64) (c - '0');
		else if (c >= 'A' && c <= 'F')
			v = (v << 4) | (uint64) (c - 'A' + 10);
		else
			return false;
	}
	if (strncmp(rest, PGRAC_2PC_SEGMENT_SUFFIX, strlen(PGRAC_2PC_SEGMENT_SUFFIX)) != 0)
		return false;
	rest += strlen(PGRAC_2PC_SEGMENT_SUFFIX);
	if (*rest == '\0')
		*broken = false;
	else if (strcmp(rest, PGRAC_2PC_BROKEN_SUFFIX) == 0)
		*broken = true;
	else
		return false;
	*start = v;
	return true;
}

/*
 * Is there a complete frame at some offset after "from"?  Candidates are
 * filtered on what costs nothing (length in range and inside the file,
 * known kind and version) before the CRC is computed, so that the search
 * through a torn tail of zeros or garbage stays linear in practice.
 */
static bool
complete_frame_after(const uint8 *data, size_t len, size_t from, uint64 from_pos,
					 PgracTwophaseLive *cp_live, int cp_capacity, size_t *found)
{
	PgracTwophaseRecord rec;
	size_t		consumed;

	for (size_t off = from + 1; off + PGRAC_2PC_FRAME_HEADER_SIZE + 2 <= len; off++)
	{
		uint32		flen = pgrac_get32(data + off);

		if (flen < PGRAC_2PC_MIN_FRAME_LENGTH || flen > len - off - PGRAC_2PC_FRAME_HEADER_SIZE)
			continue;
		if (data[off + 8] < PGRAC_2PC_BEGIN || data[off + 8] > PGRAC_2PC_CHECKPOINT ||
			data[off + 9] != PGRAC_2PC_RECORD_VERSION)
			continue;
		if (pgrac_twophase_frame_decode(data + off, len - off, from_pos + (off - from), &rec,
										cp_live, cp_capacity, &consumed, NULL, 0) ==
			PGRAC_2PC_FRAME_COMPLETE)
		{
			*found = off;
			return true;
		}
	}
	return false;
}

void
pgrac_twophase_scan_segment(const uint8 *data, size_t len, uint64 named_start,
							uint64 system_identifier, PgracTwophaseLive *cp_live, int cp_capacity,
							PgracTwophaseRecordCallback cb, void *arg,
							PgracTwophaseSegmentScan *scan)
{
	PgracTwophaseSegmentHeader h;
	PgracTwophaseRecord rec;
	char		why[200];
	size_t		off = PGRAC_2PC_SEGMENT_HEADER_SIZE;
	uint64		pos = named_start;

	memset(scan, 0, sizeof(*scan));
	scan->end_position = named_start;
	scan->file_end_position = named_start +
		(len > PGRAC_2PC_SEGMENT_HEADER_SIZE ? len - PGRAC_2PC_SEGMENT_HEADER_SIZE : 0);
	if (len < PGRAC_2PC_SEGMENT_HEADER_SIZE)
	{
		scan->status = PGRAC_2PC_SEG_SHORT_HEADER;
		snprintf(scan->error, sizeof(scan->error), "the file ends within its header (%zu bytes)", len);
		return;
	}
	if (!pgrac_twophase_segment_header_decode(data, len, &h, why, sizeof(why)))
	{
		scan->status = PGRAC_2PC_SEG_CORRUPT;
		snprintf(scan->error, sizeof(scan->error), "%s", why);
		return;
	}
	if (h.system_identifier != system_identifier)
	{
		scan->status = PGRAC_2PC_SEG_FOREIGN;
		snprintf(scan->error, sizeof(scan->error),
				 "the segment belongs to database system %llu, not to this one (%llu)",
				 (unsigned long long) h.system_identifier, (unsigned long long) system_identifier);
		return;
	}
	if (h.start != named_start)
	{
		scan->status = PGRAC_2PC_SEG_CORRUPT;
		snprintf(scan->error, sizeof(scan->error),
				 "the header gives start position %016llX, the name %016llX",
				 (unsigned long long) h.start, (unsigned long long) named_start);
		return;
	}
	if (len > h.size_limit)
	{
		scan->status = PGRAC_2PC_SEG_CORRUPT;
		snprintf(scan->error, sizeof(scan->error), "%zu bytes, more than its size limit %llu",
				 len, (unsigned long long) h.size_limit);
		return;
	}

	scan->status = PGRAC_2PC_SEG_CLEAN;
	scan->size_limit = h.size_limit;
	while (off < len)
	{
		size_t		consumed;
		size_t		later;
		PgracTwophaseFrameResult r;

		r = pgrac_twophase_frame_decode(data + off, len - off, pos, &rec, cp_live, cp_capacity,
										&consumed, why, sizeof(why));
		if (r == PGRAC_2PC_FRAME_COMPLETE)
		{
			if (cb)
				cb(arg, pos, &rec);
			off += consumed;
			pos += consumed;
			continue;
		}
		if (r == PGRAC_2PC_FRAME_INCOMPLETE)
			snprintf(why, sizeof(why), "incomplete: %zu bytes to the end of the file", len - off);
		/* incomplete counts too: a damaged length can make a frame look so */
		if (complete_frame_after(data, len, off, pos, cp_live, cp_capacity, &later))
		{
			scan->status = PGRAC_2PC_SEG_CORRUPT;
			snprintf(scan->error, sizeof(scan->error),
					 "a bad frame at offset %zu (%s), and a complete frame after it at offset %zu",
					 off, why, later);
		}
		else
		{
			scan->status = PGRAC_2PC_SEG_TORN_TAIL;
			snprintf(scan->error, sizeof(scan->error),
					 "a bad frame at offset %zu (%s), nothing complete after it", off, why);
		}
		break;
	}
	scan->valid_end = off;
	scan->end_position = pos;
}
