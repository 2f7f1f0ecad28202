/*-------------------------------------------------------------------------
 *
 * bd_io.h
 *	  Mapping of a fork's blocks onto device byte ranges for vectored I/O.
 *
 * include/pgrac/bd_io.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_IO_H
#define PGRAC_BD_IO_H

#include "pgrac/bd_format.h"

/* nblocks consecutive blocks of a request, contiguous on the device */
typedef struct BdIoRange
{
	uint64		offset;			/* byte offset on the device */
	uint32		nblocks;
	uint32		first;			/* index of its first block in the request */
} BdIoRange;

#define BD_IO_BEYOND_EXTENTS	(-1)
#define BD_IO_TOO_MANY_RANGES	(-2)

extern uint64 bd_block_offset(const uint32 *extents, uint32 extent_pages,
							  uint32 blocknum);
extern int	bd_plan_io(const uint32 *extents, uint32 nextents,
					   uint32 extent_pages, uint32 blocknum, uint32 nblocks,
					   BdIoRange *ranges, int max_ranges);

#endif							/* PGRAC_BD_IO_H */
