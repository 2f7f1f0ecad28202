/*-------------------------------------------------------------------------
 *
 * bd_format.h
 *	  On-disk format (version 1) of the block-device backend: metadata page
 *	  header, superblock, and geometry.  docs/block-device.md documents it.
 *
 * Pure code: it includes only c.h and PostgreSQL's CRC-32C, so the server,
 * pgrac_image and the unit tests share it unchanged.  Everything on the
 * device is little-endian; encode/decode functions convert explicitly
 * rather than overlaying structs, so the format does not depend on the
 * compiler's padding.
 *
 * include/pgrac/bd_format.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_FORMAT_H
#define PGRAC_BD_FORMAT_H

#include "pgrac/byte_order.h"

#define BD_PAGE_SIZE			8192
#define BD_MAGIC				0x50475243	/* "PGRC" */
#define BD_FORMAT_VERSION		1
#define BD_HEADER_SIZE			32

/* page types */
#define BD_PAGE_SUPERBLOCK		1
#define BD_PAGE_ALLOC_MAP		2
#define BD_PAGE_DIRECTORY		3
#define BD_PAGE_EXTENT_MAP		4

/* fixed page addresses */
#define BD_SUPERBLOCK_A			0
#define BD_SUPERBLOCK_B			1
#define BD_FIRST_ALLOC_MAP_PAGE	2

/* largest metadata area (directory and extent-map pages): 4 GB */
#define BD_MAX_METADATA_PAGES	(512 * 1024)
/* u32 extent numbers per extent-map page (bd_directory.h has the layout) */
#define BD_MAP_EXTENTS_PER_PAGE_FMT	((BD_PAGE_SIZE - 48) / 4)

/* extents covered by one allocation-map page */
#define BD_ALLOC_BITS_PER_PAGE	((BD_PAGE_SIZE - BD_HEADER_SIZE) * 8)

/* Why a metadata page was rejected */
typedef enum BdPageError
{
	BD_PAGE_OK = 0,
	BD_PAGE_ALL_ZERO,			/* never written */
	BD_PAGE_BAD_MAGIC,
	BD_PAGE_BAD_CHECKSUM,		/* torn or corrupted */
	BD_PAGE_WRONG_ADDRESS,		/* misdirected write, or read */
	BD_PAGE_WRONG_TYPE,
	BD_PAGE_BAD_VERSION,
	BD_PAGE_INCONSISTENT,		/* intact, but contradicts the superblock */
} BdPageError;

typedef struct BdPageHeader
{
	uint16		type;
	uint16		version;
	uint64		address;		/* own page number */
	uint64		lsn;
} BdPageHeader;

typedef struct BdSuperblock
{
	uint64		generation;
	uint8		device_uuid[16];
	uint64		system_identifier;	/* 0 until first start */
	uint32		extent_pages;
	uint32		max_extents;
	uint32		nextents;
	uint32		alloc_map_pages;
	uint64		directory_root; /* page address */
	bool		clean;
	uint64		checkpoint_redo;
	uint32		metadata_pages; /* directory + extent-map area, from
								 * directory_root */
} BdSuperblock;

/* Why a superblock's contents were rejected (after the page checks) */
typedef enum BdSuperblockError
{
	BD_SB_OK = 0,
	BD_SB_BAD_EXTENT_SIZE,
	BD_SB_BAD_CAPACITY,
	BD_SB_BAD_ALLOC_MAP,
	BD_SB_BAD_DIRECTORY_ROOT,
} BdSuperblockError;

/* CRC-32C of a buffer, finished (binding file, backup manifest and files) */
extern uint32 bd_crc32c(const void *data, size_t len);

extern void bd_page_init(uint8 *page, uint16 type, uint64 address, uint64 lsn);
extern void bd_page_seal(uint8 *page);
extern BdPageError bd_page_check(const uint8 *page, uint16 expected_type,
								 uint64 expected_address);
extern void bd_page_read_header(const uint8 *page, BdPageHeader *header);
extern void bd_page_set_lsn(uint8 *page, uint64 lsn);
extern const char *bd_page_error_text(BdPageError error);

extern uint32 bd_alloc_map_pages(uint32 max_extents);
extern uint64 bd_first_directory_page(uint32 alloc_map_pages);
extern uint32 bd_default_metadata_pages(uint32 max_extents);
extern uint64 bd_metadata_pages_wanted(uint32 max_extents);
extern uint64 bd_metadata_end(const BdSuperblock *sb);

extern void bd_superblock_encode(const BdSuperblock *sb, uint64 address,
								 uint8 *page);
extern BdPageError bd_superblock_decode(const uint8 *page, uint64 address,
										BdSuperblock *sb);
extern BdSuperblockError bd_superblock_validate(const BdSuperblock *sb);
extern const char *bd_superblock_error_text(BdSuperblockError error);
extern int	bd_superblock_choose(const uint8 *page_a, const uint8 *page_b,
								 BdSuperblock *best, BdPageError *error_a,
								 BdPageError *error_b);
extern uint64 bd_superblock_address_for(uint64 generation);

/* snprintf into a caller's error buffer; shared by the format modules */
extern void bd_format_error(char *error, size_t size, const char *fmt,...) pg_attribute_printf(3, 4);

#endif							/* PGRAC_BD_FORMAT_H */
