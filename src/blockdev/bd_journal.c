/*-------------------------------------------------------------------------
 *
 * bd_journal.c
 *	  Encoding and checking of the checkpoint journal (bd_journal.h).
 *
 * The journal is trusted only whole: its CRC covers the header and every
 * page, so a journal torn by a crash while it was written is ignored, which
 * is safe because the in-place writes it protects start only after it is
 * durable.  Each page must also pass its own metadata-page checks and lie
 * where its type belongs, so that even a journal with a good CRC cannot
 * write outside the metadata area.
 *
 * src/blockdev/bd_journal.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "pgrac/bd_journal.h"
#include "port/pg_crc32c.h"

/* header field offsets */
#define JH_MAGIC		0
#define JH_VERSION		4
#define JH_NPAGES		8
#define JH_UUID			16
#define JH_GENERATION	32
#define JH_CRC			40

/* start the CRC with the header's fields, its own field taken as zero */
static void
crc_header(pg_crc32c *crc, const uint8 *header)
{
	uint8		copy[JH_CRC + 4];

	memcpy(copy, header, sizeof(copy));
	pgrac_put32(copy + JH_CRC, 0);
	INIT_CRC32C(*crc);
	COMP_CRC32C(*crc, copy, sizeof(copy));
}

void
bd_journal_encode(uint8 *header, const uint8 device_uuid[16], uint64 generation,
				  const uint8 *const *pages, uint32 npages)
{
	pg_crc32c	crc;

	memset(header, 0, BD_PAGE_SIZE);
	pgrac_put32(header + JH_MAGIC, BD_JOURNAL_MAGIC);
	pgrac_put16(header + JH_VERSION, BD_JOURNAL_VERSION);
	pgrac_put32(header + JH_NPAGES, npages);
	memcpy(header + JH_UUID, device_uuid, 16);
	pgrac_put64(header + JH_GENERATION, generation);
	crc_header(&crc, header);
	for (uint32 i = 0; i < npages; i++)
		COMP_CRC32C(crc, pages[i], BD_PAGE_SIZE);
	FIN_CRC32C(crc);
	pgrac_put32(header + JH_CRC, crc);
}

BdJournalError
bd_journal_decode_header(const uint8 *header, BdJournalHeader *out)
{
	if (pgrac_get32(header + JH_MAGIC) != BD_JOURNAL_MAGIC)
		return BD_JOURNAL_BAD_MAGIC;
	if (pgrac_get16(header + JH_VERSION) != BD_JOURNAL_VERSION)
		return BD_JOURNAL_BAD_VERSION;
	out->npages = pgrac_get32(header + JH_NPAGES);
	memcpy(out->device_uuid, header + JH_UUID, 16);
	out->generation = pgrac_get64(header + JH_GENERATION);
	if (out->npages == 0)
		return BD_JOURNAL_BAD_LENGTH;
	return BD_JOURNAL_OK;
}

BdJournalError
bd_journal_check(const uint8 *header, const uint8 *pages, uint32 navail,
				 BdSuperblock *sb, uint32 *bad_page)
{
	BdJournalHeader h;
	BdJournalError error = bd_journal_decode_header(header, &h);
	const uint8 *last;
	BdPageHeader ph;
	pg_crc32c	crc;

	if (error != BD_JOURNAL_OK)
		return error;
	if (h.npages > navail)
		return BD_JOURNAL_BAD_LENGTH;

	/* the CRC first: nothing in a torn journal means anything */
	crc_header(&crc, header);
	COMP_CRC32C(crc, pages, (size_t) h.npages * BD_PAGE_SIZE);
	FIN_CRC32C(crc);
	if (crc != pgrac_get32(header + JH_CRC))
		return BD_JOURNAL_BAD_CHECKSUM;

	/* the superblock, last, names the geometry the other pages must fit */
	last = pages + (size_t) (h.npages - 1) * BD_PAGE_SIZE;
	if (bd_superblock_decode(last, bd_superblock_address_for(h.generation), sb) != BD_PAGE_OK ||
		sb->generation != h.generation ||
		memcmp(sb->device_uuid, h.device_uuid, 16) != 0 ||
		bd_superblock_validate(sb) != BD_SB_OK)
		return BD_JOURNAL_BAD_SUPERBLOCK;

	for (uint32 i = 0; i + 1 < h.npages; i++)
	{
		const uint8 *page = pages + (size_t) i * BD_PAGE_SIZE;
		bool		inside;

		bd_page_read_header(page, &ph);
		*bad_page = i;
		if (bd_page_check(page, ph.type, ph.address) != BD_PAGE_OK)
			return BD_JOURNAL_BAD_PAGE;
		switch (ph.type)
		{
			case BD_PAGE_ALLOC_MAP:
				inside = ph.address >= BD_FIRST_ALLOC_MAP_PAGE &&
					ph.address < sb->directory_root;
				break;
			case BD_PAGE_DIRECTORY:
			case BD_PAGE_EXTENT_MAP:
				inside = ph.address >= sb->directory_root &&
					ph.address < bd_metadata_end(sb);
				break;
			default:
				/* a superblock belongs only last; nothing else is metadata */
				inside = false;
				break;
		}
		if (!inside)
			return BD_JOURNAL_PAGE_OUTSIDE;
	}
	return BD_JOURNAL_OK;
}

const char *
bd_journal_error_text(BdJournalError error)
{
	switch (error)
	{
		case BD_JOURNAL_OK:
			return "valid";
		case BD_JOURNAL_BAD_MAGIC:
			return "not a pgrac_storage checkpoint journal (bad magic number)";
		case BD_JOURNAL_BAD_VERSION:
			return "unknown journal version";
		case BD_JOURNAL_BAD_LENGTH:
			return "shorter than its header says";
		case BD_JOURNAL_BAD_CHECKSUM:
			return "checksum mismatch (torn or corrupted write)";
		case BD_JOURNAL_BAD_PAGE:
			return "a page fails its checks";
		case BD_JOURNAL_BAD_SUPERBLOCK:
			return "its last page is not the superblock it names";
		case BD_JOURNAL_PAGE_OUTSIDE:
			return "a page lies outside the metadata area";
	}
	return "unknown error";
}
