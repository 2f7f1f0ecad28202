/*-------------------------------------------------------------------------
 *
 * bd_io.c
 *	  Turn a request for consecutive blocks of a fork into as few
 *	  contiguous device ranges as the fork's extents allow.
 *
 * A vectored read or write (smgr_readv/smgr_writev, up to the I/O combine
 * limit) covers consecutive blocks of one fork; they are consecutive on the
 * device within an extent, and across an extent boundary whenever the next
 * extent directly follows the previous one, which the allocator makes the
 * common case for a relation growing on its own.  Each range becomes one
 * preadv/pwritev (or one io_uring submission).
 *
 * src/blockdev/bd_io.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "pgrac/bd_io.h"

/* Byte offset of a block; the caller has checked it is mapped. */
uint64
bd_block_offset(const uint32 *extents, uint32 extent_pages, uint32 blocknum)
{
	uint64		extent = extents[blocknum / extent_pages];

	return (extent * extent_pages + blocknum % extent_pages) * BD_PAGE_SIZE;
}

/*
 * Plan blocks [blocknum, blocknum + nblocks).  Returns the number of
 * ranges, BD_IO_BEYOND_EXTENTS if a block is not mapped, or
 * BD_IO_TOO_MANY_RANGES if more than max_ranges would be needed.
 */
int
bd_plan_io(const uint32 *extents, uint32 nextents, uint32 extent_pages,
		   uint32 blocknum, uint32 nblocks, BdIoRange *ranges, int max_ranges)
{
	int			n = 0;
	uint32		done = 0;

	if ((uint64) blocknum + nblocks > (uint64) nextents * extent_pages)
		return BD_IO_BEYOND_EXTENTS;

	while (done < nblocks)
	{
		uint32		block = blocknum + done;
		uint32		in_extent = Min(extent_pages - block % extent_pages,
									nblocks - done);
		uint64		offset = bd_block_offset(extents, extent_pages, block);

		if (n > 0 &&
			ranges[n - 1].offset + (uint64) ranges[n - 1].nblocks * BD_PAGE_SIZE == offset)
			ranges[n - 1].nblocks += in_extent;
		else
		{
			if (n == max_ranges)
				return BD_IO_TOO_MANY_RANGES;
			ranges[n].offset = offset;
			ranges[n].nblocks = in_extent;
			ranges[n].first = done;
			n++;
		}
		done += in_extent;
	}
	return n;
}
