/*-------------------------------------------------------------------------
 *
 * bd_ra_stream.h
 *	  Which reads of a fork form a stream worth reading ahead of, and how
 *	  far ahead (pure logic).
 *
 * include/pgrac/bd_ra_stream.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_RA_STREAM_H
#define PGRAC_BD_RA_STREAM_H

#include "storage/block.h"

/*
 * One process's view of the reads of one fork.  Zeroed memory is "no
 * stream".  A run is a stretch of reads each starting where the previous
 * one ended; a forward jump ends it.
 */
typedef struct BdRaStream
{
	bool		valid;			/* a read of the fork has been seen */
	BlockNumber next;			/* the block after the last read */
	BlockNumber run_start;		/* first block of the current run */
	BlockNumber last_run;		/* length of the run the last jump ended */
	BlockNumber chunk;			/* the chunk length learned, 0 if none */
} BdRaStream;

extern bool bd_ra_stream_read(BdRaStream *stream, bool same_fork,
							  BlockNumber blocknum, BlockNumber nblocks,
							  BlockNumber max_gap);
extern BlockNumber bd_ra_stream_window_end(const BdRaStream *stream,
										   BlockNumber window,
										   BlockNumber limit);

#endif							/* PGRAC_BD_RA_STREAM_H */
