/*-------------------------------------------------------------------------
 *
 * twophase_record.c
 *	  Frames of the 2PC coordinator log: length, CRC-32C, kind, version and
 *	  payload, little-endian (docs/twophase.md has the layout).
 *
 * The decoder is what recovery trusts after a crash, so it tells apart
 * exactly three things: a complete frame, a strict prefix of a frame that
 * could still be valid (a torn write, if it is the tail), and anything
 * else.  Every field is checked against what a writer can produce: a
 * length in range, the CRC, a known kind and version, a payload that is
 * consumed exactly, a Begin whose transaction number is its own position,
 * and Committing and End records that name an earlier position.  A frame
 * that merely looks plausible is never skipped over: a reader that skips
 * could step past a Committing record and roll back a committed
 * transaction.
 *
 * src/twophase/twophase_record.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include <stdarg.h>

#include "port/pg_crc32c.h"

#include "pgrac/byte_order.h"
#include "pgrac/twophase_log.h"

static void
			set_error(char *error, size_t errlen, const char *fmt, va_list ap) pg_attribute_printf(3, 0);

static void
set_error(char *error, size_t errlen, const char *fmt, va_list ap)
{
	if (error && errlen > 0)
		vsnprintf(error, errlen, fmt, ap);
}

/* An error message into a caller's buffer (NULL: none wanted); false. */
bool
pgrac_twophase_error(char *error, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	set_error(error, errlen, fmt, ap);
	va_end(ap);
	return false;
}

/* The error message, and the verdict on the frame. */
static PgracTwophaseFrameResult
			corrupt(char *error, size_t errlen, const char *fmt,...) pg_attribute_printf(3, 4);

static PgracTwophaseFrameResult
corrupt(char *error, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	set_error(error, errlen, fmt, ap);
	va_end(ap);
	return PGRAC_2PC_FRAME_CORRUPT;
}

static bool
gid_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_';
}

bool
pgrac_twophase_begin_valid(const PgracTwophaseBegin *b, char *error, size_t errlen)
{
	size_t		glen = strnlen(b->gid, sizeof(b->gid));

	if (glen == 0 || glen > PGRAC_2PC_GID_MAX)
		return pgrac_twophase_error(error, errlen, "global id of length %zu (1 to %d)", glen, PGRAC_2PC_GID_MAX);
	for (size_t i = 0; i < glen; i++)
		if (!gid_char_ok(b->gid[i]))
			return pgrac_twophase_error(error, errlen, "global id has a byte 0x%02x", (unsigned char) b->gid[i]);
	if (b->nparticipants < 1 || b->nparticipants > PGRAC_2PC_MAX_PARTICIPANTS)
		return pgrac_twophase_error(error, errlen, "%d participants (1 to %d)", b->nparticipants,
									PGRAC_2PC_MAX_PARTICIPANTS);
	for (int i = 0; i < b->nparticipants; i++)
	{
		const PgracTwophaseParticipant *p = &b->participants[i];
		size_t		nlen = strnlen(p->server_name, sizeof(p->server_name));

		if (p->server_oid == 0)
			return pgrac_twophase_error(error, errlen, "participant %d has server OID 0", i + 1);
		if (nlen == 0 || nlen > PGRAC_2PC_SERVER_NAME_MAX)
			return pgrac_twophase_error(error, errlen, "participant %d has a server name of length %zu", i + 1, nlen);
	}
	return true;
}

void
pgrac_twophase_format_gid(char *out, size_t outlen, uint64 system_identifier, uint32 dboid,
						  uint64 txn)
{
	snprintf(out, outlen, "pgrac_%llu_%u_%llu", (unsigned long long) system_identifier, dboid,
			 (unsigned long long) txn);
}

void
pgrac_twophase_participant_gid(char *out, size_t outlen, const char *gid, int n)
{
	snprintf(out, outlen, "%s.%d", gid, n);
}

/* ---- payload sizes and encoding ---- */

static size_t
begin_size(const PgracTwophaseBegin *b)
{
	size_t		n = 8 + 4 + 1 + strlen(b->gid) + 1;

	for (int i = 0; i < b->nparticipants; i++)
		n += 4 + 4 + 1 + strlen(b->participants[i].server_name);
	return n;
}

static uint8 *
begin_put(uint8 *p, const PgracTwophaseBegin *b)
{
	size_t		glen = strlen(b->gid);

	pgrac_put64(p, b->txn);
	pgrac_put32(p + 8, b->dboid);
	p[12] = (uint8) glen;
	memcpy(p + 13, b->gid, glen);
	p += 13 + glen;
	*p++ = (uint8) b->nparticipants;
	for (int i = 0; i < b->nparticipants; i++)
	{
		const PgracTwophaseParticipant *pt = &b->participants[i];
		size_t		nlen = strlen(pt->server_name);

		pgrac_put32(p, pt->server_oid);
		pgrac_put32(p + 4, pt->user_oid);
		p[8] = (uint8) nlen;
		memcpy(p + 9, pt->server_name, nlen);
		p += 9 + nlen;
	}
	return p;
}

static size_t
payload_size(const PgracTwophaseRecord *rec)
{
	size_t		n;

	switch (rec->kind)
	{
		case PGRAC_2PC_BEGIN:
			return begin_size(&rec->u.begin);
		case PGRAC_2PC_COMMITTING:
			return 24;
		case PGRAC_2PC_END:
			return 9;
		case PGRAC_2PC_CHECKPOINT:
			n = 2;
			for (int i = 0; i < rec->u.checkpoint.nlive; i++)
				n += begin_size(&rec->u.checkpoint.live[i].begin) + 1 + 8 + 8;
			return n;
	}
	return 0;
}

size_t
pgrac_twophase_record_size(const PgracTwophaseRecord *rec)
{
	return PGRAC_2PC_FRAME_HEADER_SIZE + 2 + payload_size(rec);
}

size_t
pgrac_twophase_record_encode(const PgracTwophaseRecord *rec, uint8 *out)
{
	size_t		len = 2 + payload_size(rec);
	uint8	   *p = out + PGRAC_2PC_FRAME_HEADER_SIZE;
	pg_crc32c	crc;

	p[0] = (uint8) rec->kind;
	p[1] = PGRAC_2PC_RECORD_VERSION;
	p += 2;
	switch (rec->kind)
	{
		case PGRAC_2PC_BEGIN:
			p = begin_put(p, &rec->u.begin);
			break;
		case PGRAC_2PC_COMMITTING:
			pgrac_put64(p, rec->u.committing.txn);
			pgrac_put64(p + 8, rec->u.committing.local_xid);
			pgrac_put64(p + 16, (uint64) rec->u.committing.decided_at);
			p += 24;
			break;
		case PGRAC_2PC_END:
			pgrac_put64(p, rec->u.end.txn);
			p[8] = (uint8) rec->u.end.outcome;
			p += 9;
			break;
		case PGRAC_2PC_CHECKPOINT:
			pgrac_put16(p, (uint16) rec->u.checkpoint.nlive);
			p += 2;
			for (int i = 0; i < rec->u.checkpoint.nlive; i++)
			{
				const PgracTwophaseLive *l = &rec->u.checkpoint.live[i];

				p = begin_put(p, &l->begin);
				*p++ = l->committing ? 1 : 0;
				pgrac_put64(p, l->local_xid);
				pgrac_put64(p + 8, (uint64) l->decided_at);
				p += 16;
			}
			break;
	}
	Assert((size_t) (p - out) == PGRAC_2PC_FRAME_HEADER_SIZE + len);
	pgrac_put32(out, (uint32) len);
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, out + PGRAC_2PC_FRAME_HEADER_SIZE, len);
	FIN_CRC32C(crc);
	pgrac_put32(out + 4, crc);
	return PGRAC_2PC_FRAME_HEADER_SIZE + len;
}

/* ---- decoding ---- */

typedef struct Reader
{
	const uint8 *p;
	const uint8 *end;
} Reader;

static bool
take(Reader *r, size_t n, const uint8 **at)
{
	if ((size_t) (r->end - r->p) < n)
		return false;
	*at = r->p;
	r->p += n;
	return true;
}

static bool
take_string(Reader *r, char *out, size_t max)
{
	const uint8 *at;
	size_t		n;

	if (!take(r, 1, &at))
		return false;
	n = at[0];
	if (n == 0 || n > max || !take(r, n, &at))
		return false;
	if (memchr(at, '\0', n) != NULL)
		return false;
	memcpy(out, at, n);
	out[n] = '\0';
	return true;
}

static bool
begin_get(Reader *r, PgracTwophaseBegin *b, char *error, size_t errlen)
{
	const uint8 *at;

	memset(b, 0, sizeof(*b));
	if (!take(r, 12, &at))
		return pgrac_twophase_error(error, errlen, "Begin payload truncated");
	b->txn = pgrac_get64(at);
	b->dboid = pgrac_get32(at + 8);
	if (!take_string(r, b->gid, PGRAC_2PC_GID_MAX))
		return pgrac_twophase_error(error, errlen, "Begin global id unreadable");
	if (!take(r, 1, &at))
		return pgrac_twophase_error(error, errlen, "Begin payload truncated");
	b->nparticipants = at[0];
	if (b->nparticipants < 1 || b->nparticipants > PGRAC_2PC_MAX_PARTICIPANTS)
		return pgrac_twophase_error(error, errlen, "Begin with %d participants", b->nparticipants);
	for (int i = 0; i < b->nparticipants; i++)
	{
		PgracTwophaseParticipant *p = &b->participants[i];

		if (!take(r, 8, &at))
			return pgrac_twophase_error(error, errlen, "Begin participant %d truncated", i + 1);
		p->server_oid = pgrac_get32(at);
		p->user_oid = pgrac_get32(at + 4);
		if (!take_string(r, p->server_name, PGRAC_2PC_SERVER_NAME_MAX))
			return pgrac_twophase_error(error, errlen, "Begin participant %d: server name unreadable", i + 1);
	}
	return pgrac_twophase_begin_valid(b, error, errlen);
}

PgracTwophaseFrameResult
pgrac_twophase_frame_decode(const uint8 *buf, size_t avail, uint64 pos,
							PgracTwophaseRecord *rec, PgracTwophaseLive *cp_live, int cp_capacity,
							size_t *consumed, char *error, size_t errlen)
{
	uint32		len;
	pg_crc32c	crc;
	Reader		r;
	const uint8 *at;
	uint8		kind;

	*consumed = 0;
	if (avail < 4)
		return PGRAC_2PC_FRAME_INCOMPLETE;
	len = pgrac_get32(buf);
	if (len < PGRAC_2PC_MIN_FRAME_LENGTH || len > PGRAC_2PC_MAX_FRAME_LENGTH)
		return corrupt(error, errlen, "frame length %u out of range", len);
	/* a known kind and version are visible before the whole frame is */
	if (avail >= PGRAC_2PC_FRAME_HEADER_SIZE + 1 &&
		(buf[8] < PGRAC_2PC_BEGIN || buf[8] > PGRAC_2PC_CHECKPOINT))
		return corrupt(error, errlen, "unknown record kind %u", buf[8]);
	if (avail >= PGRAC_2PC_FRAME_HEADER_SIZE + 2 && buf[9] != PGRAC_2PC_RECORD_VERSION)
		return corrupt(error, errlen, "record version %u of kind %u unknown", buf[9], buf[8]);
	if (avail < PGRAC_2PC_FRAME_HEADER_SIZE + (size_t) len)
		return PGRAC_2PC_FRAME_INCOMPLETE;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf + PGRAC_2PC_FRAME_HEADER_SIZE, len);
	FIN_CRC32C(crc);
	if (crc != pgrac_get32(buf + 4))
		return corrupt(error, errlen, "CRC mismatch (computed %08x, stored %08x)", crc, pgrac_get32(buf + 4));

	kind = buf[8];
	r.p = buf + PGRAC_2PC_FRAME_HEADER_SIZE + 2;
	r.end = buf + PGRAC_2PC_FRAME_HEADER_SIZE + len;
	memset(rec, 0, offsetof(PgracTwophaseRecord, u));
	rec->kind = (PgracTwophaseKind) kind;
	switch (rec->kind)
	{
		case PGRAC_2PC_BEGIN:
			if (!begin_get(&r, &rec->u.begin, error, errlen))
				return PGRAC_2PC_FRAME_CORRUPT;
			if (rec->u.begin.txn != pos)
				return corrupt(error, errlen, "Begin of transaction %llu found at position %llu",
							   (unsigned long long) rec->u.begin.txn, (unsigned long long) pos);
			break;
		case PGRAC_2PC_COMMITTING:
			if (!take(&r, 24, &at))
				return corrupt(error, errlen, "Committing payload truncated");
			rec->u.committing.txn = pgrac_get64(at);
			rec->u.committing.local_xid = pgrac_get64(at + 8);
			rec->u.committing.decided_at = (int64) pgrac_get64(at + 16);
			if (rec->u.committing.txn >= pos)
				return corrupt(error, errlen, "Committing at position %llu names transaction %llu",
							   (unsigned long long) pos, (unsigned long long) rec->u.committing.txn);
			break;
		case PGRAC_2PC_END:
			if (!take(&r, 9, &at))
				return corrupt(error, errlen, "End payload truncated");
			rec->u.end.txn = pgrac_get64(at);
			rec->u.end.outcome = (PgracTwophaseEndOutcome) at[8];
			if (at[8] != PGRAC_2PC_ENDED_COMMITTED && at[8] != PGRAC_2PC_ENDED_ROLLED_BACK)
				return corrupt(error, errlen, "End with outcome %u", at[8]);
			if (rec->u.end.txn >= pos)
				return corrupt(error, errlen, "End at position %llu names transaction %llu",
							   (unsigned long long) pos, (unsigned long long) rec->u.end.txn);
			break;
		case PGRAC_2PC_CHECKPOINT:
			{
				int			n;

				if (!take(&r, 2, &at))
					return corrupt(error, errlen, "Checkpoint payload truncated");
				n = pgrac_get16(at);
				if (n > PGRAC_2PC_MAX_LIVE || n > cp_capacity)
					return corrupt(error, errlen, "Checkpoint of %d transactions (at most %d)", n,
								   Min(cp_capacity, PGRAC_2PC_MAX_LIVE));
				rec->u.checkpoint.nlive = n;
				rec->u.checkpoint.live = cp_live;
				for (int i = 0; i < n; i++)
				{
					PgracTwophaseLive *l = &cp_live[i];

					if (!begin_get(&r, &l->begin, error, errlen))
						return PGRAC_2PC_FRAME_CORRUPT;
					if (!take(&r, 17, &at))
						return corrupt(error, errlen, "Checkpoint entry %d truncated", i + 1);
					l->committing = at[0] == 1;
					l->local_xid = pgrac_get64(at + 1);
					l->decided_at = (int64) pgrac_get64(at + 9);
					l->first_position = pos;
					if (at[0] > 1 || (!l->committing && (l->local_xid != 0 || l->decided_at != 0)))
						return corrupt(error, errlen, "Checkpoint entry %d has an impossible decision", i + 1);
					if (l->begin.txn >= pos)
						return corrupt(error, errlen, "Checkpoint at position %llu names transaction %llu",
									   (unsigned long long) pos, (unsigned long long) l->begin.txn);
					for (int j = 0; j < i; j++)
						if (cp_live[j].begin.txn == l->begin.txn)
							return corrupt(error, errlen, "Checkpoint names transaction %llu twice",
										   (unsigned long long) l->begin.txn);
				}
			}
			break;
	}
	if (r.p != r.end)
		return corrupt(error, errlen, "%zu bytes after the payload of a kind %u record",
					   (size_t) (r.end - r.p), kind);
	*consumed = PGRAC_2PC_FRAME_HEADER_SIZE + len;
	return PGRAC_2PC_FRAME_COMPLETE;
}
