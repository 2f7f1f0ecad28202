/*-------------------------------------------------------------------------
 *
 * bd_wal.c
 *	  Encoding, decoding, redo and description of the block-device
 *	  backend's WAL records (see bd_wal.h).
 *
 * Record layout (little-endian):
 *
 *   0  u8  format (1)          1  u8  op        2  u8  npages   3  u8  fork
 *   4  u32 spcoid              8  u32 dboid    12  u32 relnumber
 *  16  u32 arg
 *  then per page:
 *   0  u64 address   8  u16 page type   10  u8 flags (1 = full image)
 *  11  u8  npatches
 *  then either the 8192-byte page, or npatches times
 *      u16 offset, u16 length, length bytes
 *
 * Patches cover only what follows the page header: redo sets the page's
 * LSN and checksum itself.  Decoding trusts nothing (the fuzz target):
 * every length is checked against the record, patches must be in order,
 * within the page body and non-overlapping, and the record must be
 * consumed exactly.
 *
 * src/blockdev/bd_wal.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "pgrac/bd_wal.h"

#define REC_FORMAT		1
#define REC_HEADER		20
#define PAGE_HEADER		12
#define PATCH_HEADER	4
#define FLAG_FULL_IMAGE	0x01

/* equal bytes shorter than this between two changes do not split a patch */
#define PATCH_MERGE_GAP	8

size_t
bd_wal_max_size(void)
{
	return REC_HEADER + BD_WAL_MAX_PAGES * (PAGE_HEADER + BD_PAGE_SIZE);
}

void
bd_wal_begin(BdWalBuilder *b, uint8 *buf, size_t size, BdWalOp op,
			 const BdWalKey *key)
{
	Assert(size >= REC_HEADER);
	b->buf = buf;
	b->size = size;
	b->len = REC_HEADER;
	b->npages = 0;
	b->overflow = false;
	memset(buf, 0, REC_HEADER);
	buf[0] = REC_FORMAT;
	buf[1] = (uint8) op;
	buf[3] = key->fork;
	pgrac_put32(buf + 4, key->spcoid);
	pgrac_put32(buf + 8, key->dboid);
	pgrac_put32(buf + 12, key->relnumber);
	pgrac_put32(buf + 16, key->arg);
}

static bool
room(BdWalBuilder *b, size_t n)
{
	if (b->len + n > b->size)
	{
		b->overflow = true;
		return false;
	}
	return true;
}

/*
 * Describe the change of one page from before to after.  A full image is
 * written when asked (first change after a checkpoint), when there is no
 * usable before image, or when the change is too scattered for patches.
 */
bool
bd_wal_add_page(BdWalBuilder *b, uint64 address, const uint8 *before,
				const uint8 *after, bool full_image)
{
	uint16		offsets[BD_WAL_MAX_PATCHES];
	uint16		lengths[BD_WAL_MAX_PATCHES];
	int			npatches = 0;
	uint8	   *hdr;

	if (b->npages >= BD_WAL_MAX_PAGES)
	{
		b->overflow = true;
		return false;
	}

	if (!full_image && before != NULL)
	{
		int			i = BD_HEADER_SIZE;

		while (i < BD_PAGE_SIZE)
		{
			int			start;
			int			end;

			if (before[i] == after[i])
			{
				i++;
				continue;
			}
			start = i;
			end = i + 1;
			/* extend over further changes closer than the merge gap */
			for (int j = end; j < BD_PAGE_SIZE && j < end + PATCH_MERGE_GAP; j++)
			{
				if (before[j] != after[j])
					end = j + 1;
			}
			while (end < BD_PAGE_SIZE && before[end] != after[end])
				end++;
			if (npatches == BD_WAL_MAX_PATCHES)
			{
				full_image = true;
				break;
			}
			offsets[npatches] = (uint16) start;
			lengths[npatches] = (uint16) (end - start);
			npatches++;
			i = end;
		}
	}
	else
		full_image = true;

	/* an unchanged page is not part of the record */
	if (!full_image && npatches == 0)
		return true;

	if (!room(b, PAGE_HEADER))
		return false;
	hdr = b->buf + b->len;
	pgrac_put64(hdr, address);
	pgrac_put16(hdr + 8, pgrac_get16(after + 4));	/* page type from the
													 * header */
	hdr[10] = full_image ? FLAG_FULL_IMAGE : 0;
	hdr[11] = full_image ? 0 : (uint8) npatches;
	b->len += PAGE_HEADER;

	if (full_image)
	{
		if (!room(b, BD_PAGE_SIZE))
			return false;
		memcpy(b->buf + b->len, after, BD_PAGE_SIZE);
		b->len += BD_PAGE_SIZE;
	}
	else
	{
		for (int p = 0; p < npatches; p++)
		{
			if (!room(b, PATCH_HEADER + lengths[p]))
				return false;
			pgrac_put16(b->buf + b->len, offsets[p]);
			pgrac_put16(b->buf + b->len + 2, lengths[p]);
			memcpy(b->buf + b->len + PATCH_HEADER, after + offsets[p], lengths[p]);
			b->len += PATCH_HEADER + lengths[p];
		}
	}
	b->npages++;
	b->buf[2] = (uint8) b->npages;
	return true;
}

/* Length of the finished record, or 0 if it did not fit. */
size_t
bd_wal_finish(BdWalBuilder *b)
{
	return b->overflow || b->npages == 0 ? 0 : b->len;
}

#define decode_error bd_format_error

bool
bd_wal_decode(const uint8 *data, size_t len, BdWalRecord *rec,
			  char *error, size_t error_size)
{
	size_t		pos = REC_HEADER;

	memset(rec, 0, sizeof(*rec));
	if (len < REC_HEADER)
	{
		decode_error(error, error_size, "record too short (%zu bytes)", len);
		return false;
	}
	if (data[0] != REC_FORMAT)
	{
		decode_error(error, error_size, "unknown record format %u", data[0]);
		return false;
	}
	if (data[1] < 1 || data[1] > BD_WAL_MAX_OP)
	{
		decode_error(error, error_size, "unknown operation %u", data[1]);
		return false;
	}
	if (data[2] < 1 || data[2] > BD_WAL_MAX_PAGES)
	{
		decode_error(error, error_size, "invalid page count %u", data[2]);
		return false;
	}
	if (data[3] > 3)
	{
		decode_error(error, error_size, "invalid fork number %u", data[3]);
		return false;
	}
	rec->op = (BdWalOp) data[1];
	rec->npages = data[2];
	rec->key.fork = data[3];
	rec->key.spcoid = pgrac_get32(data + 4);
	rec->key.dboid = pgrac_get32(data + 8);
	rec->key.relnumber = pgrac_get32(data + 12);
	rec->key.arg = pgrac_get32(data + 16);

	for (int p = 0; p < rec->npages; p++)
	{
		BdWalPage  *part = &rec->pages[p];
		uint8		flags;

		if (len - pos < PAGE_HEADER)
		{
			decode_error(error, error_size, "page %d: truncated page header", p);
			return false;
		}
		part->address = pgrac_get64(data + pos);
		part->type = pgrac_get16(data + pos + 8);
		flags = data[pos + 10];
		part->npatches = data[pos + 11];
		pos += PAGE_HEADER;
		if (part->type < BD_PAGE_SUPERBLOCK || part->type > BD_PAGE_EXTENT_MAP)
		{
			decode_error(error, error_size, "page %d: invalid page type %u", p, part->type);
			return false;
		}
		if ((flags & ~FLAG_FULL_IMAGE) != 0)
		{
			decode_error(error, error_size, "page %d: unknown flags 0x%02x", p, flags);
			return false;
		}
		for (int q = 0; q < p; q++)
		{
			if (rec->pages[q].address == part->address)
			{
				decode_error(error, error_size, "page %d: address %llu appears twice",
							 p, (unsigned long long) part->address);
				return false;
			}
		}
		part->full_image = (flags & FLAG_FULL_IMAGE) != 0;
		if (part->full_image)
		{
			BdPageHeader h;

			if (part->npatches != 0 || len - pos < BD_PAGE_SIZE)
			{
				decode_error(error, error_size, "page %d: malformed full image", p);
				return false;
			}
			part->image = data + pos;
			bd_page_read_header(part->image, &h);
			if (pgrac_get32(part->image) != BD_MAGIC || h.version != BD_FORMAT_VERSION ||
				h.type != part->type || h.address != part->address)
			{
				decode_error(error, error_size,
							 "page %d: full image does not describe page %llu of type %u",
							 p, (unsigned long long) part->address, part->type);
				return false;
			}
			pos += BD_PAGE_SIZE;
			continue;
		}
		if (part->npatches < 1 || part->npatches > BD_WAL_MAX_PATCHES)
		{
			decode_error(error, error_size, "page %d: invalid patch count %d", p, part->npatches);
			return false;
		}
		for (int i = 0; i < part->npatches; i++)
		{
			BdWalPatch *patch = &part->patches[i];

			if (len - pos < PATCH_HEADER)
			{
				decode_error(error, error_size, "page %d, patch %d: truncated", p, i);
				return false;
			}
			patch->offset = pgrac_get16(data + pos);
			patch->length = pgrac_get16(data + pos + 2);
			pos += PATCH_HEADER;
			if (patch->offset < BD_HEADER_SIZE || patch->length == 0 ||
				(uint32) patch->offset + patch->length > BD_PAGE_SIZE ||
				(i > 0 && patch->offset < part->patches[i - 1].offset + part->patches[i - 1].length))
			{
				decode_error(error, error_size,
							 "page %d, patch %d: range %u+%u is outside the page body or overlaps",
							 p, i, patch->offset, patch->length);
				return false;
			}
			if (len - pos < patch->length)
			{
				decode_error(error, error_size, "page %d, patch %d: truncated data", p, i);
				return false;
			}
			patch->bytes = data + pos;
			pos += patch->length;
		}
	}
	if (pos != len)
	{
		decode_error(error, error_size, "%zu trailing bytes", len - pos);
		return false;
	}
	return true;
}

/*
 * Redo one page's part of a record at lsn.  A full image is restored
 * unconditionally (later records are replayed on top of it, as for
 * PostgreSQL's own full-page images); patches are applied only to an
 * intact page older than the record.
 */
BdWalApplyResult
bd_wal_apply(const BdWalPage *part, uint8 *page, uint64 lsn)
{
	BdPageHeader h;

	if (part->full_image)
	{
		memcpy(page, part->image, BD_PAGE_SIZE);
	}
	else
	{
		if (bd_page_check(page, part->type, part->address) != BD_PAGE_OK)
			return BD_WAL_PAGE_INVALID;
		bd_page_read_header(page, &h);
		if (h.lsn >= lsn)
			return BD_WAL_ALREADY_APPLIED;
		for (int i = 0; i < part->npatches; i++)
			memcpy(page + part->patches[i].offset, part->patches[i].bytes,
				   part->patches[i].length);
	}
	bd_page_set_lsn(page, lsn);
	bd_page_seal(page);
	return BD_WAL_APPLIED;
}

const char *
bd_wal_op_name(BdWalOp op)
{
	switch (op)
	{
		case BD_WAL_CREATE_FORK:
			return "CREATE_FORK";
		case BD_WAL_EXTEND:
			return "EXTEND";
		case BD_WAL_SET_EOF:
			return "SET_EOF";
		case BD_WAL_TRUNCATE:
			return "TRUNCATE";
		case BD_WAL_UNLINK:
			return "UNLINK";
		case BD_WAL_FREE:
			return "FREE";
		case BD_WAL_GROW:
			return "GROW";
		case BD_WAL_SUPERBLOCK:
			return "SUPERBLOCK";
		case BD_WAL_IMAGE:
			return "IMAGE";
		case BD_WAL_SETTLE:
			return "SETTLE";
		case BD_WAL_RECLAIM:
			return "RECLAIM";
	}
	return "UNKNOWN";
}

/* For rm_desc: "rel 1663/5/16384 fork 0 arg 12; pages 3 (2 patches), 320 (full image)" */
void
bd_wal_describe(const BdWalRecord *rec, char *out, size_t size)
{
	size_t		used;

	used = snprintf(out, size, "rel %u/%u/%u fork %u arg %u; pages",
					rec->key.spcoid, rec->key.dboid, rec->key.relnumber,
					rec->key.fork, rec->key.arg);
	for (int p = 0; p < rec->npages && used < size; p++)
	{
		const BdWalPage *part = &rec->pages[p];

		if (part->full_image)
			used += snprintf(out + used, size - used, "%s %llu (full image)",
							 p ? "," : "", (unsigned long long) part->address);
		else
			used += snprintf(out + used, size - used, "%s %llu (%d patch%s)",
							 p ? "," : "", (unsigned long long) part->address,
							 part->npatches, part->npatches == 1 ? "" : "es");
	}
}
