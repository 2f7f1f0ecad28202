/*-------------------------------------------------------------------------
 *
 * bd_binding.c
 *	  Encoding of the device binding file (include/pgrac/bd_binding.h).
 *
 * The decoder accepts exactly what the encoder writes: the header line,
 * the keys in their order, a CRC-32C over the bytes before the "crc32c="
 * line, and nothing after it.  A binding that does not decode is never
 * guessed at: the caller refuses to start and says how to recover.
 *
 * src/blockdev/bd_binding.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include <ctype.h>

#include "port/pg_crc32c.h"

#include "pgrac/bd_binding.h"
#include "pgrac/bd_format.h"

#define HEADER	"pgrac_storage device binding "

bool
bd_uuid_generate(uint8 uuid[16])
{
	if (!pg_strong_random(uuid, 16))
		return false;
	uuid[6] = (uuid[6] & 0x0f) | 0x40;	/* version 4 */
	uuid[8] = (uuid[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	return true;
}

void
bd_uuid_format(const uint8 uuid[16], char *out)
{
	static const char hex[] = "0123456789abcdef";
	char	   *p = out;

	for (int i = 0; i < 16; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[uuid[i] >> 4];
		*p++ = hex[uuid[i] & 0x0f];
	}
	*p = '\0';
}

bool
bd_uuid_parse(const char *text, uint8 uuid[16])
{
	int			n = 0;

	for (const char *p = text; *p; p++)
	{
		int			hi,
					lo;

		if (*p == '-' && (n == 4 || n == 6 || n == 8 || n == 10))
			continue;
		if (n == 16 || !isxdigit((unsigned char) p[0]) || !isxdigit((unsigned char) p[1]))
			return false;
		hi = isdigit((unsigned char) p[0]) ? p[0] - '0' : tolower((unsigned char) p[0]) - 'a' + 10;
		lo = isdigit((unsigned char) p[1]) ? p[1] - '0' : tolower((unsigned char) p[1]) - 'a' + 10;
		uuid[n++] = (uint8) ((hi << 4) | lo);
		p++;
	}
	return n == 16;
}

size_t
bd_binding_encode(const BdBinding *b, char *buf)
{
	char		uuid[37];
	char		path[MAXPGPATH];
	size_t		len;

	bd_uuid_format(b->device_uuid, uuid);
	/* the path is informational; a newline in it would end the line */
	strlcpy(path, b->device_path, sizeof(path));
	for (char *p = path; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = '?';
	len = snprintf(buf, BD_BINDING_MAX_SIZE,
				   HEADER "%d\n"
				   "system_identifier=" UINT64_FORMAT "\n"
				   "device_uuid=%s\n"
				   "data_checksum_version=%u\n"
				   "relation_data=%s\n"
				   "device_path=%s\n",
				   BD_BINDING_VERSION, b->system_identifier, uuid,
				   b->data_checksum_version, b->exported ? "pgdata" : "device", path);
	len += snprintf(buf + len, BD_BINDING_MAX_SIZE - len, "crc32c=%08x\n",
					bd_crc32c(buf, len));
	return len;
}

/* The next line's value after "key=", NUL-terminated in place of '\n'. */
static char *
take_line(char **cursor, char *end, const char *key)
{
	char	   *line = *cursor;
	char	   *nl;
	size_t		klen = strlen(key);

	if (line >= end)
		return NULL;
	nl = memchr(line, '\n', end - line);
	if (nl == NULL || (size_t) (nl - line) < klen + 1 ||
		strncmp(line, key, klen) != 0 || line[klen] != '=')
		return NULL;
	*nl = '\0';
	*cursor = nl + 1;
	return line + klen + 1;
}

static bool
parse_u64(const char *text, uint64 *out)
{
	uint64		v = 0;

	if (*text == '\0')
		return false;
	for (const char *p = text; *p; p++)
	{
		if (!isdigit((unsigned char) *p) || v > (PG_UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64) (*p - '0');
	}
	*out = v;
	return true;
}

bool
bd_binding_decode(const char *text, size_t len, BdBinding *b,
				  char *error, size_t errsize)
{
	char		buf[BD_BINDING_MAX_SIZE + 1];
	char	   *cursor = buf;
	char	   *end;
	char	   *crc_line;
	char	   *v;
	uint64		n;
	unsigned int stored_crc;
	char		tail;

	memset(b, 0, sizeof(*b));
	if (len > BD_BINDING_MAX_SIZE)
	{
		bd_format_error(error, errsize, "it is %zu bytes long, more than a binding can be", len);
		return false;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	end = buf + len;
	if (memchr(buf, '\0', len) != NULL)
	{
		bd_format_error(error, errsize, "it contains a NUL byte");
		return false;
	}

	/* the checksum line is last; it covers everything before it */
	crc_line = NULL;
	for (char *p = buf; p < end; p++)
		if ((p == buf || p[-1] == '\n') && strncmp(p, "crc32c=", 7) == 0)
			crc_line = p;
	if (crc_line == NULL ||
		sscanf(crc_line, "crc32c=%8x%c", &stored_crc, &tail) != 2 || tail != '\n' ||
		crc_line + strlen("crc32c=") + 9 != end)
	{
		bd_format_error(error, errsize, "its last line is not \"crc32c=<8 hex digits>\"");
		return false;
	}
	if (bd_crc32c(buf, crc_line - buf) != (pg_crc32c) stored_crc)
	{
		bd_format_error(error, errsize, "its CRC-32C does not match its contents");
		return false;
	}
	end = crc_line;

	if (strncmp(buf, HEADER, strlen(HEADER)) != 0)
	{
		bd_format_error(error, errsize, "its first line is not \"" HEADER "%d\"", BD_BINDING_VERSION);
		return false;
	}
	cursor = buf + strlen(HEADER);
	{
		char	   *nl = memchr(cursor, '\n', end - cursor);

		if (nl == NULL)
		{
			bd_format_error(error, errsize, "it has no version");
			return false;
		}
		*nl = '\0';
		if (!parse_u64(cursor, &n) || n != BD_BINDING_VERSION)
		{
			bd_format_error(error, errsize, "it has version \"%s\"; this pgrac_storage reads version %d",
							cursor, BD_BINDING_VERSION);
			return false;
		}
		cursor = nl + 1;
	}

	if ((v = take_line(&cursor, end, "system_identifier")) == NULL ||
		!parse_u64(v, &b->system_identifier))
	{
		bd_format_error(error, errsize, "its system_identifier line is missing or invalid");
		return false;
	}
	if ((v = take_line(&cursor, end, "device_uuid")) == NULL ||
		strlen(v) != 36 || !bd_uuid_parse(v, b->device_uuid))
	{
		bd_format_error(error, errsize, "its device_uuid line is missing or invalid");
		return false;
	}
	if ((v = take_line(&cursor, end, "data_checksum_version")) == NULL ||
		!parse_u64(v, &n) || n > PG_UINT32_MAX)
	{
		bd_format_error(error, errsize, "its data_checksum_version line is missing or invalid");
		return false;
	}
	b->data_checksum_version = (uint32) n;
	if ((v = take_line(&cursor, end, "relation_data")) == NULL ||
		(strcmp(v, "device") != 0 && strcmp(v, "pgdata") != 0))
	{
		bd_format_error(error, errsize, "its relation_data line is missing or not \"device\" or \"pgdata\"");
		return false;
	}
	b->exported = strcmp(v, "pgdata") == 0;
	if ((v = take_line(&cursor, end, "device_path")) == NULL)
	{
		bd_format_error(error, errsize, "its device_path line is missing");
		return false;
	}
	strlcpy(b->device_path, v, sizeof(b->device_path));
	if (cursor != end)
	{
		bd_format_error(error, errsize, "it has lines this version does not know");
		return false;
	}
	return true;
}
