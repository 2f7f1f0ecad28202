/*-------------------------------------------------------------------------
 *
 * bd_format.c
 *	  Encoding and checking of the block-device backend's metadata pages
 *	  and superblock (on-disk format version 1, docs/block-device.md).
 *
 * A metadata page is trusted only when everything the reader can know in
 * advance matches: magic, type, version, the page's own address, and the
 * CRC-32C over the page.  Each check catches a different failure: a torn
 * write breaks the CRC, a misdirected write (or read) carries another
 * address, a page of another kind has another type.  An all-zero page is
 * reported as such, because "never written" and "corrupted" call for
 * different messages.
 *
 * src/blockdev/bd_format.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "pgrac/bd_format.h"
#include "port/pg_crc32c.h"

/* header field offsets */
#define OFF_MAGIC		0
#define OFF_TYPE		4
#define OFF_VERSION		6
#define OFF_ADDRESS		8
#define OFF_LSN			16
#define OFF_CRC			24

/* superblock field offsets (after the header) */
#define SB_GENERATION	32
#define SB_UUID			40
#define SB_SYSID		56
#define SB_EXTENT_PAGES	64
#define SB_MAX_EXTENTS	68
#define SB_NEXTENTS		72
#define SB_ALLOC_PAGES	76
#define SB_DIR_ROOT		80
#define SB_CLEAN		88
#define SB_REDO			96
#define SB_META_PAGES	104

void
bd_format_error(char *error, size_t size, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(error, size, fmt, ap);
	va_end(ap);
}

uint32
bd_crc32c(const void *data, size_t len)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, data, len);
	FIN_CRC32C(crc);
	return crc;
}

/* CRC-32C of the page with the CRC field itself taken as zero */
static uint32
bd_page_crc(const uint8 *page)
{
	static const uint8 zero[4] = {0};
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, page, OFF_CRC);
	COMP_CRC32C(crc, zero, sizeof(zero));
	COMP_CRC32C(crc, page + OFF_CRC + 4, BD_PAGE_SIZE - OFF_CRC - 4);
	FIN_CRC32C(crc);
	return crc;
}

/* A fresh, zeroed metadata page with its header; seal it before writing. */
void
bd_page_init(uint8 *page, uint16 type, uint64 address, uint64 lsn)
{
	memset(page, 0, BD_PAGE_SIZE);
	pgrac_put32(page + OFF_MAGIC, BD_MAGIC);
	pgrac_put16(page + OFF_TYPE, type);
	pgrac_put16(page + OFF_VERSION, BD_FORMAT_VERSION);
	pgrac_put64(page + OFF_ADDRESS, address);
	pgrac_put64(page + OFF_LSN, lsn);
}

void
bd_page_set_lsn(uint8 *page, uint64 lsn)
{
	pgrac_put64(page + OFF_LSN, lsn);
}

/* Compute and store the checksum: the last step before a page is written. */
void
bd_page_seal(uint8 *page)
{
	pgrac_put32(page + OFF_CRC, bd_page_crc(page));
}

void
bd_page_read_header(const uint8 *page, BdPageHeader *header)
{
	header->type = pgrac_get16(page + OFF_TYPE);
	header->version = pgrac_get16(page + OFF_VERSION);
	header->address = pgrac_get64(page + OFF_ADDRESS);
	header->lsn = pgrac_get64(page + OFF_LSN);
}

BdPageError
bd_page_check(const uint8 *page, uint16 expected_type, uint64 expected_address)
{
	bool		all_zero = true;

	if (pgrac_get32(page + OFF_MAGIC) != BD_MAGIC)
	{
		for (int i = 0; i < BD_PAGE_SIZE && all_zero; i++)
			all_zero = page[i] == 0;
		return all_zero ? BD_PAGE_ALL_ZERO : BD_PAGE_BAD_MAGIC;
	}

	/*
	 * The checksum first: fields of a torn or corrupted page mean nothing,
	 * and reporting a "wrong address" for a torn page would send the reader
	 * looking for a misdirected write that never happened.
	 */
	if (pgrac_get32(page + OFF_CRC) != bd_page_crc(page))
		return BD_PAGE_BAD_CHECKSUM;
	if (pgrac_get16(page + OFF_VERSION) != BD_FORMAT_VERSION)
		return BD_PAGE_BAD_VERSION;
	if (pgrac_get64(page + OFF_ADDRESS) != expected_address)
		return BD_PAGE_WRONG_ADDRESS;
	if (pgrac_get16(page + OFF_TYPE) != expected_type)
		return BD_PAGE_WRONG_TYPE;
	return BD_PAGE_OK;
}

const char *
bd_page_error_text(BdPageError error)
{
	switch (error)
	{
		case BD_PAGE_OK:
			return "valid";
		case BD_PAGE_ALL_ZERO:
			return "page was never written (all zeroes)";
		case BD_PAGE_BAD_MAGIC:
			return "not a pgrac_storage metadata page (bad magic number)";
		case BD_PAGE_BAD_CHECKSUM:
			return "checksum mismatch (torn or corrupted write)";
		case BD_PAGE_WRONG_ADDRESS:
			return "page belongs to another address (misdirected write)";
		case BD_PAGE_WRONG_TYPE:
			return "page is of another metadata type";
		case BD_PAGE_BAD_VERSION:
			return "unsupported on-disk format version";
		case BD_PAGE_INCONSISTENT:
			return "contents contradict the superblock";
	}
	return "unknown";
}

/* Allocation-map pages needed for max_extents extents. */
uint32
bd_alloc_map_pages(uint32 max_extents)
{
	return (uint32) (((uint64) max_extents + BD_ALLOC_BITS_PER_PAGE - 1) /
					 BD_ALLOC_BITS_PER_PAGE);
}

/* The directory starts right after the allocation map. */
uint64
bd_first_directory_page(uint32 alloc_map_pages)
{
	return (uint64) BD_FIRST_ALLOC_MAP_PAGE + alloc_map_pages;
}

/*
 * Pages of the metadata area (directory and extent-map pages) a device of
 * max_extents extents gets by default: extent-map pages for every extent,
 * one directory page (127 forks) per 1024 extents of capacity, plus 1024
 * pages (127,000 forks) for small devices; never more than
 * BD_MAX_METADATA_PAGES.  The server caches the whole area in shared
 * memory, so it is sized for the forks expected, not for the worst case of
 * one extent per fork; pgrac_image format --metadata-pages overrides it.
 */
uint32
bd_default_metadata_pages(uint32 max_extents)
{
	return (uint32) Min(bd_metadata_pages_wanted(max_extents), BD_MAX_METADATA_PAGES);
}

/* The default metadata area of max_extents extents before the cap. */
uint64
bd_metadata_pages_wanted(uint32 max_extents)
{
	return (uint64) max_extents / BD_MAP_EXTENTS_PER_PAGE_FMT + 1 +
		max_extents / 1024 + 1024;
}

/* One past the last page of the metadata area. */
uint64
bd_metadata_end(const BdSuperblock *sb)
{
	return sb->directory_root + sb->metadata_pages;
}

/*
 * Superblock copies alternate by generation, so that a torn write of one
 * copy always leaves the previous generation intact in the other.
 */
uint64
bd_superblock_address_for(uint64 generation)
{
	return (generation % 2 == 0) ? BD_SUPERBLOCK_A : BD_SUPERBLOCK_B;
}

void
bd_superblock_encode(const BdSuperblock *sb, uint64 address, uint8 *page)
{
	bd_page_init(page, BD_PAGE_SUPERBLOCK, address, 0);
	pgrac_put64(page + SB_GENERATION, sb->generation);
	memcpy(page + SB_UUID, sb->device_uuid, 16);
	pgrac_put64(page + SB_SYSID, sb->system_identifier);
	pgrac_put32(page + SB_EXTENT_PAGES, sb->extent_pages);
	pgrac_put32(page + SB_MAX_EXTENTS, sb->max_extents);
	pgrac_put32(page + SB_NEXTENTS, sb->nextents);
	pgrac_put32(page + SB_ALLOC_PAGES, sb->alloc_map_pages);
	pgrac_put64(page + SB_DIR_ROOT, sb->directory_root);
	page[SB_CLEAN] = sb->clean ? 1 : 0;
	pgrac_put64(page + SB_REDO, sb->checkpoint_redo);
	pgrac_put32(page + SB_META_PAGES, sb->metadata_pages);
	bd_page_seal(page);
}

/*
 * Decode the superblock copy read from address.  Besides the page checks,
 * the copy must sit where its generation says it belongs: a valid-looking
 * copy at the other address is a misdirected or stale write.
 */
BdPageError
bd_superblock_decode(const uint8 *page, uint64 address, BdSuperblock *sb)
{
	BdPageError error = bd_page_check(page, BD_PAGE_SUPERBLOCK, address);

	if (error != BD_PAGE_OK)
		return error;
	sb->generation = pgrac_get64(page + SB_GENERATION);
	if (bd_superblock_address_for(sb->generation) != address)
		return BD_PAGE_WRONG_ADDRESS;
	memcpy(sb->device_uuid, page + SB_UUID, 16);
	sb->system_identifier = pgrac_get64(page + SB_SYSID);
	sb->extent_pages = pgrac_get32(page + SB_EXTENT_PAGES);
	sb->max_extents = pgrac_get32(page + SB_MAX_EXTENTS);
	sb->nextents = pgrac_get32(page + SB_NEXTENTS);
	sb->alloc_map_pages = pgrac_get32(page + SB_ALLOC_PAGES);
	sb->directory_root = pgrac_get64(page + SB_DIR_ROOT);
	sb->clean = page[SB_CLEAN] != 0;
	sb->checkpoint_redo = pgrac_get64(page + SB_REDO);
	sb->metadata_pages = pgrac_get32(page + SB_META_PAGES);
	return BD_PAGE_OK;
}

/* Geometry a valid superblock must describe; see docs/block-device.md. */
BdSuperblockError
bd_superblock_validate(const BdSuperblock *sb)
{
	uint64		metadata_pages;

	/* 64 kB .. 1 GB extents, a power of two */
	if (sb->extent_pages < 8 || sb->extent_pages > 131072 ||
		(sb->extent_pages & (sb->extent_pages - 1)) != 0)
		return BD_SB_BAD_EXTENT_SIZE;
	if (sb->max_extents < 2 || sb->nextents < 2 ||
		sb->nextents > sb->max_extents)
		return BD_SB_BAD_CAPACITY;
	if (sb->alloc_map_pages != bd_alloc_map_pages(sb->max_extents))
		return BD_SB_BAD_ALLOC_MAP;
	if (sb->directory_root != bd_first_directory_page(sb->alloc_map_pages))
		return BD_SB_BAD_DIRECTORY_ROOT;

	/* the reserved metadata extents must leave room for data */
	if (sb->metadata_pages < 1 || sb->metadata_pages > BD_MAX_METADATA_PAGES)
		return BD_SB_BAD_CAPACITY;
	metadata_pages = sb->directory_root + sb->metadata_pages;
	if ((metadata_pages + sb->extent_pages - 1) / sb->extent_pages >= sb->nextents)
		return BD_SB_BAD_CAPACITY;
	return BD_SB_OK;
}

const char *
bd_superblock_error_text(BdSuperblockError error)
{
	switch (error)
	{
		case BD_SB_OK:
			return "valid";
		case BD_SB_BAD_EXTENT_SIZE:
			return "extent size is not a power of two between 8 and 131072 pages";
		case BD_SB_BAD_CAPACITY:
			return "capacity is inconsistent (current extents, maximum extents, metadata area)";
		case BD_SB_BAD_ALLOC_MAP:
			return "allocation map size does not match the maximum capacity";
		case BD_SB_BAD_DIRECTORY_ROOT:
			return "directory does not start right after the allocation map";
	}
	return "unknown";
}

/*
 * Pick the superblock to trust from the two copies: the valid one with the
 * highest generation.  Returns 0 for copy A, 1 for copy B, -1 when neither
 * is valid; the per-copy errors are returned for the caller's message.
 */
int
bd_superblock_choose(const uint8 *page_a, const uint8 *page_b,
					 BdSuperblock *best, BdPageError *error_a,
					 BdPageError *error_b)
{
	BdSuperblock a;
	BdSuperblock b;

	*error_a = bd_superblock_decode(page_a, BD_SUPERBLOCK_A, &a);
	*error_b = bd_superblock_decode(page_b, BD_SUPERBLOCK_B, &b);

	if (*error_a == BD_PAGE_OK &&
		(*error_b != BD_PAGE_OK || a.generation > b.generation))
	{
		*best = a;
		return 0;
	}
	if (*error_b == BD_PAGE_OK)
	{
		*best = b;
		return 1;
	}
	return -1;
}
