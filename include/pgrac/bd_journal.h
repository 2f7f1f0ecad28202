/*-------------------------------------------------------------------------
 *
 * bd_journal.h
 *	  The checkpoint journal of the block-device backend: a copy of the
 *	  metadata pages a checkpoint is about to write in place, made durable
 *	  first, so that a crash in the middle of the in-place writes can be
 *	  completed at the next start (docs/block-device.md, "Checkpoint
 *	  journal").
 *
 * File layout (pg_pgrac/metadata.journal in PGDATA; little-endian):
 *
 *	  page 0		header: magic "PGRJ", version, page count, the device's
 *					UUID, the generation of the superblock it carries, and
 *					a CRC-32C over the header (this field as zero) and
 *					every page that follows
 *	  pages 1..n	metadata pages as they go to the device, each with its
 *					own header (type, own address, CRC); the last one is
 *					the superblock of that generation
 *
 * Pure code (c.h and PostgreSQL's CRC-32C), shared by the server and the
 * unit tests.
 *
 * include/pgrac/bd_journal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_JOURNAL_H
#define PGRAC_BD_JOURNAL_H

#include "pgrac/bd_format.h"

#define BD_JOURNAL_MAGIC	0x4A524750	/* "PGRJ" */
#define BD_JOURNAL_VERSION	1

typedef struct BdJournalHeader
{
	uint32		npages;			/* pages after the header, superblock included */
	uint8		device_uuid[16];
	uint64		generation;		/* of the superblock, the last page */
} BdJournalHeader;

typedef enum BdJournalError
{
	BD_JOURNAL_OK = 0,
	BD_JOURNAL_BAD_MAGIC,
	BD_JOURNAL_BAD_VERSION,
	BD_JOURNAL_BAD_LENGTH,		/* no pages, or fewer than the header says */
	BD_JOURNAL_BAD_CHECKSUM,	/* torn or corrupted: never trusted */
	BD_JOURNAL_BAD_PAGE,		/* a page fails its own checks */
	BD_JOURNAL_BAD_SUPERBLOCK,	/* the last page is not the superblock it
								 * names */
	BD_JOURNAL_PAGE_OUTSIDE,	/* a page outside the metadata area */
} BdJournalError;

/*
 * Fill the header page for pages[0..npages-1] (the last one the superblock
 * of this generation).
 */
extern void bd_journal_encode(uint8 *header, const uint8 device_uuid[16],
							  uint64 generation, const uint8 *const *pages,
							  uint32 npages);

/* The header's own fields (magic, version, count); the CRC comes later. */
extern BdJournalError bd_journal_decode_header(const uint8 *header,
											   BdJournalHeader *out);

/*
 * Check a whole journal: header and navail pages read after it.  On
 * success *sb is its superblock; on BD_JOURNAL_BAD_PAGE or
 * BD_JOURNAL_PAGE_OUTSIDE, *bad_page is the index of the first bad page.
 */
extern BdJournalError bd_journal_check(const uint8 *header, const uint8 *pages,
									   uint32 navail, BdSuperblock *sb,
									   uint32 *bad_page);

extern const char *bd_journal_error_text(BdJournalError error);

#endif							/* PGRAC_BD_JOURNAL_H */
