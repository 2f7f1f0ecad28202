/*-------------------------------------------------------------------------
 *
 * checksum_page.c
 *	  pd_checksum with PostgreSQL's algorithm, on pages the checksum layer
 *	  writes and reads.
 *
 * storage/checksum_impl.h is the one definition of the algorithm,
 * written to be included by programs outside the server (pg_checksums
 * does).  Its pg_checksum_page() is renamed here so that this library's
 * copy never interposes on, or is interposed by, the server's exported
 * function of the same name.
 *
 * A page whose pd_upper is zero is "new" (all zeros when valid): it
 * carries no checksum, as in core, and is written as it is; whether its
 * other bytes are zero is core's header check to make, on read.
 *
 * src/checksum/checksum_page.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "storage/bufpage.h"

#define pg_checksum_page pgrac_checksum_impl_page
extern uint16 pgrac_checksum_impl_page(char *page, BlockNumber blkno);
#include "storage/checksum_impl.h"
#undef pg_checksum_page

#include "pgrac/checksum_page.h"

/*
 * The checksum of a page as core computes it: over the page with
 * pd_checksum taken as zero, mixed with the block number.  The algorithm
 * zeroes pd_checksum while it runs, so it runs on a copy: the caller's
 * page is never written to.
 */
uint16
pgrac_page_checksum(const char *page, BlockNumber blkno)
{
	PGAlignedBlock copy;

	memcpy(copy.data, page, BLCKSZ);
	return pgrac_checksum_impl_page(copy.data, blkno);
}

bool
pgrac_page_is_new(const char *page)
{
	return PageIsNew((Page) page);
}

/*
 * Copy a page and set the copy's pd_checksum.  The source may be a shared
 * buffer that other processes still change under a share lock (hint bits):
 * the checksum is computed on the copy, so it matches exactly the bytes
 * that will be written.
 */
void
pgrac_page_copy_set_checksum(char *copy, const char *page, BlockNumber blkno)
{
	memcpy(copy, page, BLCKSZ);
	if (PageIsNew((Page) copy))
		return;
	((PageHeader) copy)->pd_checksum = pgrac_checksum_impl_page(copy, blkno);
}

/*
 * Verify a page read from storage (a private buffer: the algorithm
 * zeroes and restores its pd_checksum while it runs).
 */
PgracPageVerdict
pgrac_page_verify(const char *page, BlockNumber blkno, uint16 *computed, uint16 *stored)
{
	if (PageIsNew((Page) page))
		return PGRAC_PAGE_NEW;
	*stored = ((const PageHeaderData *) page)->pd_checksum;
	*computed = pgrac_checksum_impl_page(unconstify(char *, page), blkno);
	return *computed == *stored ? PGRAC_PAGE_VALID : PGRAC_PAGE_MISMATCH;
}

/*
 * The header checks core makes before it lets a page into the buffer pool
 * (PageIsVerifiedExtended): ignore_checksum_failure excuses a bad checksum
 * only on a page that passes them.
 */
bool
pgrac_page_header_sane(const char *page)
{
	const PageHeaderData *p = (const PageHeaderData *) page;

	return (p->pd_flags & ~PD_VALID_FLAG_BITS) == 0 &&
		p->pd_lower <= p->pd_upper &&
		p->pd_upper <= p->pd_special &&
		p->pd_special <= BLCKSZ &&
		p->pd_special == MAXALIGN(p->pd_special);
}
