/*-------------------------------------------------------------------------
 *
 * backup_history.c
 *	  Lines of the backup history file (include/pgrac/backup_history.h).
 *
 * The reader is strict: every field present and in range, the CRC right,
 * nothing after the last field but the text; a line it accepts encodes
 * back to the same bytes.
 *
 * src/backup/backup_history.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include <inttypes.h>
#include <stdarg.h>

#include "pgrac/backup_history.h"
#include "pgrac/bd_format.h"

static const char *const result_names[] = {
	[PGRAC_BACKUP_IN_PROGRESS] = "in-progress",
	[PGRAC_BACKUP_COMPLETED] = "completed",
	[PGRAC_BACKUP_ABORTED] = "aborted",
};

const char *
pgrac_backup_result_name(PgracBackupResult result)
{
	if (result >= PGRAC_BACKUP_IN_PROGRESS && result <= PGRAC_BACKUP_ABORTED)
		return result_names[result];
	return "?";
}

/* an appender that stops at the end of its buffer */
typedef struct Out
{
	char	   *buf;
	size_t		size;
	size_t		len;
	bool		overflow;
} Out;

pg_attribute_printf(2, 3)
static void
put(Out *o, const char *fmt,...)
{
	va_list		ap;
	int			n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t) n >= o->size - o->len)
		o->overflow = true;
	else
		o->len += n;
}

static void
put_lsn(Out *o, uint64 lsn)
{
	if (lsn == 0)
		put(o, " -");
	else
		put(o, " %X/%X", (uint32) (lsn >> 32), (uint32) lsn);
}

static void
put_text(Out *o, const char *s)
{
	put(o, " ");
	for (; *s; s++)
	{
		if (*s == '\\')
			put(o, "\\\\");
		else if (*s == '\n')
			put(o, "\\n");
		else if (*s == '\t')
			put(o, "\\t");
		else
			put(o, "%c", *s);
	}
}

size_t
pgrac_history_encode(const PgracHistoryEntry *e, char *buf, size_t size)
{
	Out			o = {buf, size, 9, false};	/* room for "<crc> " */

	if (size < 10)
		return 0;
	if (e->kind == PGRAC_HISTORY_BACKUP)
	{
		put(&o, "backup %u %s %s", e->id, pgrac_backup_result_name(e->result),
			e->incremental ? "incremental" : "full");
		put_lsn(&o, e->start_lsn);
		put_lsn(&o, e->stop_lsn);
		put(&o, " %u %" PRId64, e->timeline, e->started_at);
		if (e->stopped_at == 0)
			put(&o, " -");
		else
			put(&o, " %" PRId64, e->stopped_at);
		if (e->device_bytes < 0)
			put(&o, " -");
		else
			put(&o, " %" PRId64, e->device_bytes);
		put(&o, " %d %" PRId64, e->pid, e->postmaster_start);
	}
	else
	{
		put(&o, "restore-point %u", e->id);
		put_lsn(&o, e->start_lsn);
		put(&o, " %u %" PRId64, e->timeline, e->started_at);
	}
	put_text(&o, e->text);
	put(&o, "\n");
	if (o.overflow)
		return 0;
	{
		char		crc[10];

		snprintf(crc, sizeof(crc), "%08x ", bd_crc32c(buf + 9, o.len - 10));
		memcpy(buf, crc, 9);
	}
	return o.len;
}

/* ---- reading ---- */

typedef struct In
{
	const char *s;
	const char *end;
	char	   *error;
	size_t		error_size;
} In;

pg_attribute_printf(2, 3)
static bool
bad(In *in, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(in->error, in->error_size, fmt, ap);
	va_end(ap);
	return false;
}

/* the next space-separated field into buf */
static bool
field(In *in, const char *what, char *buf, size_t size)
{
	size_t		n = 0;

	if (in->s >= in->end || *in->s != ' ')
		return bad(in, "%s is missing", what);
	in->s++;
	while (in->s < in->end && *in->s != ' ')
	{
		if (n + 1 >= size)
			return bad(in, "%s is too long", what);
		buf[n++] = *in->s++;
	}
	buf[n] = '\0';
	if (n == 0)
		return bad(in, "%s is empty", what);
	return true;
}

static bool
parse_unsigned(const char *s, uint64 max, uint64 *out)
{
	uint64		v = 0;

	if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
		return false;
	for (; *s; s++)
	{
		if (*s < '0' || *s > '9' || v > (max - (uint64) (*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64) (*s - '0');
	}
	*out = v;
	return true;
}

static bool
number(In *in, const char *what, uint64 max, uint64 *out)
{
	char		buf[32];

	if (!field(in, what, buf, sizeof(buf)))
		return false;
	if (!parse_unsigned(buf, max, out))
		return bad(in, "%s \"%s\" is not a number in range", what, buf);
	return true;
}

/* a number, or "-" for none (*out = none) */
static bool
number_or_none(In *in, const char *what, uint64 max, uint64 none, uint64 *out)
{
	char		buf[32];

	if (!field(in, what, buf, sizeof(buf)))
		return false;
	if (strcmp(buf, "-") == 0)
	{
		*out = none;
		return true;
	}
	if (!parse_unsigned(buf, max, out) || *out == none)
		return bad(in, "%s \"%s\" is not a number in range", what, buf);
	return true;
}

static bool
parse_hex32(const char *s, const char **end, uint32 *out)
{
	uint32		v = 0;
	int			n = 0;

	for (; n < 8 && ((*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'F')); s++, n++)
		v = v * 16 + (uint32) (*s <= '9' ? *s - '0' : *s - 'A' + 10);
	if (n == 0 || (n > 1 && s[-n] == '0'))
		return false;
	*end = s;
	*out = v;
	return true;
}

static bool
lsn(In *in, const char *what, bool none_allowed, uint64 *out)
{
	char		buf[32];
	const char *s;
	uint32		hi,
				lo;

	if (!field(in, what, buf, sizeof(buf)))
		return false;
	if (none_allowed && strcmp(buf, "-") == 0)
	{
		*out = 0;
		return true;
	}
	if (!parse_hex32(buf, &s, &hi) || *s != '/' || !parse_hex32(s + 1, &s, &lo) ||
		*s != '\0' || ((uint64) hi << 32 | lo) == 0)
		return bad(in, "%s \"%s\" is not an LSN", what, buf);
	*out = (uint64) hi << 32 | lo;
	return true;
}

static bool
read_text(In *in, const char *what, char *out)
{
	size_t		n = 0;

	if (in->s >= in->end || *in->s != ' ')
		return bad(in, "%s is missing", what);
	for (in->s++; in->s < in->end; in->s++)
	{
		char		c = *in->s;

		if (c == '\\')
		{
			if (++in->s >= in->end)
				return bad(in, "%s ends in a lone backslash", what);
			c = *in->s == 'n' ? '\n' : *in->s == 't' ? '\t' : *in->s == '\\' ? '\\' : 0;
			if (c == 0)
				return bad(in, "%s has an unknown escape", what);
		}
		else if (c == '\n' || c == '\t' || c == '\0')
			return bad(in, "%s has an unescaped control character", what);
		if (n >= PGRAC_HISTORY_TEXT_MAX)
			return bad(in, "%s is too long", what);
		out[n++] = c;
	}
	out[n] = '\0';
	return true;
}

bool
pgrac_history_decode(const char *line, size_t len, PgracHistoryEntry *e,
					 char *error, size_t error_size)
{
	In			in = {line, line + len, error, error_size};
	uint32		crc = 0;
	char		word[32];
	uint64		v;

	memset(e, 0, sizeof(*e));
	if (len < 10 || line[8] != ' ')
		return bad(&in, "no checksum");
	for (int i = 0; i < 8; i++)
	{
		char		c = line[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return bad(&in, "no checksum");
		crc = crc * 16 + (uint32) (c <= '9' ? c - '0' : c - 'a' + 10);
	}
	if (bd_crc32c(line + 9, len - 9) != crc)
		return bad(&in, "checksum mismatch");
	in.s = line + 8;
	if (!field(&in, "kind", word, sizeof(word)))
		return false;
	if (strcmp(word, "backup") == 0)
	{
		int			r;

		e->kind = PGRAC_HISTORY_BACKUP;
		if (!number(&in, "id", PG_UINT32_MAX, &v))
			return false;
		e->id = (uint32) v;
		if (!field(&in, "result", word, sizeof(word)))
			return false;
		for (r = PGRAC_BACKUP_IN_PROGRESS; r <= PGRAC_BACKUP_ABORTED; r++)
			if (strcmp(word, result_names[r]) == 0)
				break;
		if (r > PGRAC_BACKUP_ABORTED)
			return bad(&in, "result \"%s\" is unknown", word);
		e->result = (PgracBackupResult) r;
		if (!field(&in, "backup kind", word, sizeof(word)))
			return false;
		if (strcmp(word, "incremental") == 0)
			e->incremental = true;
		else if (strcmp(word, "full") != 0)
			return bad(&in, "backup kind \"%s\" is unknown", word);
		if (!lsn(&in, "start LSN", false, &e->start_lsn) ||
			!lsn(&in, "stop LSN", true, &e->stop_lsn) ||
			!number(&in, "timeline", PG_UINT32_MAX, &v))
			return false;
		e->timeline = (uint32) v;
		if (!number(&in, "start time", PG_INT64_MAX, &v))
			return false;
		e->started_at = (int64) v;
		if (!number_or_none(&in, "stop time", PG_INT64_MAX, 0, &v))
			return false;
		e->stopped_at = (int64) v;
		if (!number_or_none(&in, "device bytes", PG_INT64_MAX, PG_UINT64_MAX, &v))
			return false;
		e->device_bytes = v == PG_UINT64_MAX ? -1 : (int64) v;
		if (!number(&in, "pid", PG_INT32_MAX, &v))
			return false;
		e->pid = (int32) v;
		if (!number(&in, "postmaster start", PG_INT64_MAX, &v))
			return false;
		e->postmaster_start = (int64) v;
		if ((e->stop_lsn != 0) != (e->stopped_at != 0) ||
			(e->stop_lsn != 0 && e->stop_lsn < e->start_lsn))
			return bad(&in, "stop LSN and stop time do not agree");
		if ((e->result == PGRAC_BACKUP_COMPLETED) != (e->stop_lsn != 0))
			return bad(&in, "a completed backup has a stop LSN, and only it");
		return read_text(&in, "label", e->text);
	}
	if (strcmp(word, "restore-point") == 0)
	{
		e->kind = PGRAC_HISTORY_RESTORE_POINT;
		if (!number(&in, "id", PG_UINT32_MAX, &v))
			return false;
		e->id = (uint32) v;
		if (!lsn(&in, "LSN", false, &e->start_lsn) ||
			!number(&in, "timeline", PG_UINT32_MAX, &v))
			return false;
		e->timeline = (uint32) v;
		if (!number(&in, "time", PG_INT64_MAX, &v))
			return false;
		e->started_at = (int64) v;
		return read_text(&in, "name", e->text);
	}
	return bad(&in, "kind \"%s\" is unknown", word);
}
