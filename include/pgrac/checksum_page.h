/*-------------------------------------------------------------------------
 *
 * checksum_page.h
 *	  pd_checksum of a PostgreSQL page, computed with PostgreSQL's own
 *	  algorithm (storage/checksum_impl.h): pure code for the checksum layer
 *	  and the unit tests.
 *
 * include/pgrac/checksum_page.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_CHECKSUM_PAGE_H
#define PGRAC_CHECKSUM_PAGE_H

#include "storage/block.h"

typedef enum PgracPageVerdict
{
	PGRAC_PAGE_VALID,			/* pd_checksum matches */
	PGRAC_PAGE_NEW,				/* pd_upper == 0: carries no checksum */
	PGRAC_PAGE_MISMATCH,		/* pd_checksum does not match */
} PgracPageVerdict;

extern uint16 pgrac_page_checksum(const char *page, BlockNumber blkno);
extern bool pgrac_page_is_new(const char *page);
extern void pgrac_page_copy_set_checksum(char *copy, const char *page, BlockNumber blkno);
extern PgracPageVerdict pgrac_page_verify(const char *page, BlockNumber blkno,
										  uint16 *computed, uint16 *stored);
extern bool pgrac_page_header_sane(const char *page);

#endif							/* PGRAC_CHECKSUM_PAGE_H */
