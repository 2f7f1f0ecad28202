/*-------------------------------------------------------------------------
 *
 * bd_manifest.c
 *	  Encoding and checking of a block-device backup's manifest
 *	  (include/pgrac/bd_manifest.h).
 *
 * The reader is strict: every line in its place, numbers in range and
 * fully consumed, extent numbers increasing and inside the device, the
 * closing CRC present and right.  A manifest it accepts describes one
 * copy exactly; anything else is refused with the line it stopped at.
 *
 * src/blockdev/bd_manifest.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include <inttypes.h>
#include <stdarg.h>


#include "pgrac/bd_binding.h"
#include "pgrac/bd_format.h"
#include "pgrac/bd_manifest.h"

/* an appender that counts what it could not write */
typedef struct Out
{
	char	   *buf;
	size_t		size;
	size_t		len;
} Out;

pg_attribute_printf(2, 3)
static void
out_printf(Out *o, const char *fmt,...)
{
	va_list		ap;
	char		line[128];
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	Assert(n >= 0 && (size_t) n < sizeof(line));
	if (o->len < o->size)
		memcpy(o->buf + o->len, line, Min((size_t) n, o->size - o->len));
	o->len += n;
}

size_t
bd_manifest_encode(const BdManifest *m, char *buf, size_t size)
{
	Out			o = {buf, size, 0};
	char		uuid[37];

	bd_uuid_format(m->device_uuid, uuid);
	out_printf(&o, "%s\n", BD_MANIFEST_TITLE);
	/* a manifest read is written again in its own version */
	out_printf(&o, "version %u\n", m->version != 0 ? m->version : (unsigned) BD_MANIFEST_VERSION);
	out_printf(&o, "device-uuid %s\n", uuid);
	out_printf(&o, "system-identifier %" PRIu64 "\n", m->system_identifier);
	out_printf(&o, "extent-size %" PRIu64 "\n", m->extent_size);
	out_printf(&o, "extents %u\n", m->nextents);
	out_printf(&o, "max-extents %u\n", m->max_extents);
	out_printf(&o, "start-lsn %X/%X\n", (uint32) (m->start_lsn >> 32), (uint32) m->start_lsn);
	out_printf(&o, "stop-lsn %X/%X\n", (uint32) (m->stop_lsn >> 32), (uint32) m->stop_lsn);
	out_printf(&o, "timeline %u\n", m->timeline);
	if (m->incremental && m->version != 1)
		out_printf(&o, "parent %X/%X %X/%X crc32c %08x\n",
				   (uint32) (m->parent_start_lsn >> 32), (uint32) m->parent_start_lsn,
				   (uint32) (m->parent_stop_lsn >> 32), (uint32) m->parent_stop_lsn,
				   m->parent_manifest_crc);
	out_printf(&o, "metadata %" PRIu64 " %" PRIu64 " crc32c %08x\n",
			   m->metadata_first_page, m->metadata_pages, m->metadata_crc);
	for (uint32 i = 0; i < m->nitems; i++)
		out_printf(&o, "extent %u crc32c %08x\n", m->items[i].extent, m->items[i].crc);
	for (uint32 i = 0; m->incremental && m->version != 1 && i < m->nruns; i++)
		out_printf(&o, "unchanged %u %u\n", m->runs[i].first, m->runs[i].count);
	/* the CRC covers what is written so far: only if all of it fitted */
	out_printf(&o, "manifest-crc32c %08x\n",
			   o.len <= o.size ? bd_crc32c(buf, o.len) : 0);
	return o.len;
}

static uint32
count_lines(const char *text, size_t len, const char *prefix)
{
	uint32		n = 0;
	size_t		start = 0;
	size_t		plen = strlen(prefix);

	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n')
		{
			if (i - start >= plen && memcmp(text +start, prefix, plen) == 0)
				n++;
			start = i + 1;
		}
	return n;
}

uint32
bd_manifest_count_extents(const char *text, size_t len)
{
	return count_lines(text, len, "extent ");
}

uint32
bd_manifest_count_runs(const char *text, size_t len)
{
	return count_lines(text, len, "unchanged ");
}

/* the first of items[0..n) whose extent is at least e */
static uint32
lower_bound(const BdManifestExtent *items, uint32 n, uint32 e)
{
	uint32		lo = 0,
				hi = n;

	while (lo < hi)
	{
		uint32		mid = lo + (hi - lo) / 2;

		if (items[mid].extent < e)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool
bd_manifest_copied(const BdManifest *m, uint32 e, uint32 *index)
{
	uint32		lo = lower_bound(m->items, m->nitems, e);

	if (lo < m->nitems && m->items[lo].extent == e)
	{
		if (index)
			*index = lo;
		return true;
	}
	return false;
}

bool
bd_manifest_unchanged(const BdManifest *m, uint32 e)
{
	uint32		lo = 0,
				hi = m->nruns;

	/* the last run starting at or before e */
	while (lo < hi)
	{
		uint32		mid = lo + (hi - lo) / 2;

		if (m->runs[mid].first <= e)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && e - m->runs[lo - 1].first < m->runs[lo - 1].count;
}

/* the reader's position: the current line, zero-terminated */
typedef struct In
{
	const char *text;
	size_t		len;
	size_t		pos;			/* start of the next line */
	size_t		line_start;
	int			lineno;
	char		line[160];
	char	   *error;
	size_t		error_size;
} In;

pg_attribute_printf(2, 3)
static bool
fail(In *in, const char *fmt,...)
{
	va_list		ap;
	int			n;

	n = snprintf(in->error, in->error_size, "line %d: ", in->lineno);
	va_start(ap, fmt);
	if (n >= 0 && (size_t) n < in->error_size)
		vsnprintf(in->error + n, in->error_size - n, fmt, ap);
	va_end(ap);
	return false;
}

/* the next line into in->line; false (with the error) at the end */
static bool
next_line(In *in, const char *expected)
{
	size_t		end = in->pos;

	in->lineno++;
	while (end < in->len && in->text[end] != '\n')
		end++;
	if (end >= in->len)
		return fail(in, "the manifest ends before \"%s\" (truncated)", expected);
	if (end - in->pos >= sizeof(in->line))
		return fail(in, "line too long where \"%s\" belongs", expected);
	memcpy(in->line, in->text +in->pos, end - in->pos);
	in->line[end - in->pos] = '\0';
	if (memchr(in->line, '\0', end - in->pos) != NULL)
		return fail(in, "a zero byte where \"%s\" belongs", expected);
	in->line_start = in->pos;
	in->pos = end + 1;
	return true;
}

/* "<key> <value>": the value, or NULL if the key is not the line's */
static const char *
value_of(In *in, const char *key)
{
	size_t		k = strlen(key);

	if (strncmp(in->line, key, k) != 0 || in->line[k] != ' ')
		return NULL;
	return in->line + k + 1;
}

static bool
parse_u64(const char *s, uint64 *out, const char **end)
{
	uint64		v = 0;

	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
		return false;			/* no digits, or a leading zero */
	for (; *s >= '0' && *s <= '9'; s++)
	{
		if (v > (PG_UINT64_MAX - (uint64) (*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64) (*s - '0');
	}
	*out = v;
	*end = s;
	return true;
}

/*
 * Hexadecimal digits in the one case the writer uses (upper for LSNs, as
 * PostgreSQL prints them, lower for CRCs), so that a text has one spelling.
 */
static bool
parse_hex(const char *s, int maxdigits, bool upper, uint64 *out, const char **end)
{
	uint64		v = 0;
	int			n = 0;
	char		a = upper ? 'A' : 'a';

	for (; n < maxdigits; s++, n++)
	{
		int			d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= a && *s <= a + 5)
			d = *s - a + 10;
		else
			break;
		v = (v << 4) | (uint64) d;
	}
	if (n == 0)
		return false;
	*out = v;
	*end = s;
	return true;
}

/* one "<key> <decimal>" line, the number in [min, max] */
static bool
read_number(In *in, const char *key, uint64 min, uint64 max, uint64 *out)
{
	const char *v;
	const char *end;

	if (!next_line(in, key))
		return false;
	if ((v = value_of(in, key)) == NULL)
		return fail(in, "expected \"%s\", found \"%s\"", key, in->line);
	if (!parse_u64(v, out, &end) || *end != '\0')
		return fail(in, "\"%s\" is not a number", v);
	if (*out < min || *out > max)
		return fail(in, "%s %s is out of range", key, v);
	return true;
}

static bool
read_lsn(In *in, const char *key, uint64 *out)
{
	const char *v;
	const char *end;
	uint64		hi,
				lo;

	if (!next_line(in, key))
		return false;
	if ((v = value_of(in, key)) == NULL)
		return fail(in, "expected \"%s\", found \"%s\"", key, in->line);
	if (!parse_hex(v, 8, true, &hi, &end) || *end != '/' ||
		!parse_hex(end + 1, 8, true, &lo, &end) || *end != '\0')
		return fail(in, "\"%s\" is not an LSN", v);
	*out = (hi << 32) | lo;
	return true;
}

/* " crc32c <8 hex digits>" at s, to the end of the line */
static bool
read_crc(In *in, const char *s, uint32 *out)
{
	const char *end;
	uint64		v;

	if (strncmp(s, " crc32c ", 8) != 0 || !parse_hex(s + 8, 8, false, &v, &end) ||
		end != s + 16 || *end != '\0')
		return fail(in, "expected \" crc32c <8 hex digits>\" after \"%.*s\"",
					(int) (s - in->line), in->line);
	*out = (uint32) v;
	return true;
}

bool
bd_manifest_decode(const char *text, size_t len, BdManifest *m,
				   BdManifestExtent *items, uint32 capacity,
				   BdManifestRun *runs, uint32 runs_capacity,
				   char *error, size_t error_size)
{
	In			in;
	uint64		v;
	const char *s;
	const char *end;
	uint64		crc;
	uint32		computed;

	memset(&in, 0, sizeof(in));
	in.text = text;

	in.len = len;
	in.error = error;
	in.error_size = error_size;
	memset(m, 0, sizeof(*m));
	m->items = items;
	m->runs = runs;

	if (!next_line(&in, BD_MANIFEST_TITLE))
		return false;
	if (strcmp(in.line, BD_MANIFEST_TITLE) != 0)
		return fail(&in, "not a block-device backup manifest (\"%s\")", in.line);
	if (!read_number(&in, "version", 1, PG_UINT32_MAX, &v))
		return false;
	if (v != 1 && v != BD_MANIFEST_VERSION)
		return fail(&in, "manifest version %" PRIu64 " is not supported (this pgrac_image reads versions 1 to %d)",
					v, BD_MANIFEST_VERSION);
	m->version = (uint32) v;

	if (!next_line(&in, "device-uuid"))
		return false;
	if ((s = value_of(&in, "device-uuid")) == NULL || strlen(s) != 36 ||
		!bd_uuid_parse(s, m->device_uuid))
		return fail(&in, "expected \"device-uuid <UUID>\", found \"%s\"", in.line);
	if (!read_number(&in, "system-identifier", 0, PG_UINT64_MAX, &m->system_identifier) ||
		!read_number(&in, "extent-size", 8192, (uint64) 1 << 30, &m->extent_size))
		return false;
	if (m->extent_size % 8192 != 0)
		return fail(&in, "extent-size %" PRIu64 " is not a whole number of 8 kB pages", m->extent_size);
	if (!read_number(&in, "extents", 1, PG_UINT32_MAX, &v))
		return false;
	m->nextents = (uint32) v;
	if (!read_number(&in, "max-extents", m->nextents, PG_UINT32_MAX, &v))
		return false;
	m->max_extents = (uint32) v;
	if (!read_lsn(&in, "start-lsn", &m->start_lsn) ||
		!read_lsn(&in, "stop-lsn", &m->stop_lsn))
		return false;
	if (m->stop_lsn < m->start_lsn)
		return fail(&in, "the stop LSN is before the start LSN");
	if (!read_number(&in, "timeline", 1, PG_UINT32_MAX, &v))
		return false;
	m->timeline = (uint32) v;

	if (!next_line(&in, m->version >= 2 ? "parent or metadata" : "metadata"))
		return false;
	if (m->version >= 2 && (s = value_of(&in, "parent")) != NULL)
	{
		uint64		hi,
					lo;

		m->incremental = true;
		if (!parse_hex(s, 8, true, &hi, &end) || *end != '/' ||
			!parse_hex(end + 1, 8, true, &lo, &end) || *end != ' ')
			return fail(&in, "expected \"parent <start LSN> <stop LSN> crc32c <crc>\", found \"%s\"", in.line);
		m->parent_start_lsn = (hi << 32) | lo;
		if (!parse_hex(end + 1, 8, true, &hi, &end) || *end != '/' ||
			!parse_hex(end + 1, 8, true, &lo, &end))
			return fail(&in, "expected \"parent <start LSN> <stop LSN> crc32c <crc>\", found \"%s\"", in.line);
		m->parent_stop_lsn = (hi << 32) | lo;
		if (!read_crc(&in, end, &m->parent_manifest_crc))
			return false;
		if (m->parent_stop_lsn < m->parent_start_lsn)
			return fail(&in, "the parent's stop LSN is before its start LSN");
		if (m->parent_start_lsn >= m->start_lsn)
			return fail(&in, "the parent does not start before this backup");
		if (!next_line(&in, "metadata"))
			return false;
	}
	if ((s = value_of(&in, "metadata")) == NULL ||
		!parse_u64(s, &m->metadata_first_page, &end) || *end != ' ' ||
		!parse_u64(end + 1, &m->metadata_pages, &end))
		return fail(&in, "expected \"metadata <first page> <pages> crc32c <crc>\", found \"%s\"", in.line);
	if (m->metadata_pages == 0 ||
		(m->metadata_first_page + m->metadata_pages) * 8192 > (uint64) m->nextents * m->extent_size)
		return fail(&in, "the metadata area does not fit in the device");
	if (!read_crc(&in, end, &m->metadata_crc))
		return false;

	for (;;)
	{
		if (!next_line(&in, "extent or manifest-crc32c"))
			return false;
		if ((s = value_of(&in, "extent")) == NULL)
			break;
		if (!parse_u64(s, &v, &end) || v >= m->nextents)
			return fail(&in, "extent \"%s\" is not an extent of the device (%u extents)",
						s, m->nextents);
		if (m->nitems > 0 && v <= items[m->nitems - 1].extent)
			return fail(&in, "extent %" PRIu64 " is not after extent %u", v,
						items[m->nitems - 1].extent);
		if (m->nitems >= capacity)
			return fail(&in, "more extents than the %u counted", capacity);
		items[m->nitems].extent = (uint32) v;
		if (!read_crc(&in, end, &items[m->nitems].crc))
			return false;
		m->nitems++;
	}
	while (m->incremental && (s = value_of(&in, "unchanged")) != NULL)
	{
		uint64		count;
		uint32		at;

		if (!parse_u64(s, &v, &end) || *end != ' ' ||
			!parse_u64(end + 1, &count, &end) || *end != '\0' ||
			count == 0 || v >= m->nextents || count > m->nextents - v)
			return fail(&in, "\"%s\" is not a run of extents of the device (%u extents)",
						s, m->nextents);
		if (m->nruns > 0 &&
			v <= (uint64) runs[m->nruns - 1].first + runs[m->nruns - 1].count - 1)
			return fail(&in, "unchanged extents %" PRIu64 " are not after the run before", v);
		if (m->nruns >= runs_capacity)
			return fail(&in, "more runs than the %u counted", runs_capacity);
		/* the first copied extent at or after v must be past the run */
		at = lower_bound(items, m->nitems, (uint32) v);
		if (at < m->nitems && items[at].extent < v + count)
			return fail(&in, "unchanged extents %" PRIu64 " to %" PRIu64 " include a copied one",
						v, v + count - 1);
		runs[m->nruns].first = (uint32) v;
		runs[m->nruns].count = (uint32) count;
		m->nruns++;
		if (!next_line(&in, "unchanged or manifest-crc32c"))
			return false;
	}
	if ((s = value_of(&in, "manifest-crc32c")) == NULL)
		return fail(&in, "expected \"extent\"%s or \"manifest-crc32c\", found \"%s\"",
					m->incremental ? ", \"unchanged\"" : "", in.line);
	if (!parse_hex(s, 8, false, &crc, &end) || end != s + 8 || *end != '\0')
		return fail(&in, "\"%s\" is not a CRC-32C", s);
	computed = bd_crc32c(text, in.line_start);
	if ((uint32) crc != computed)
		return fail(&in, "manifest checksum mismatch: it says %08x, its contents give %08x",
					(uint32) crc, computed);
	m->manifest_crc = computed;
	if (in.pos != len)
		return fail(&in, "%zu bytes after the manifest's checksum", len - in.pos);
	return true;
}
