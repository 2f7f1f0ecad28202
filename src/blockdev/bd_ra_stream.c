/*-------------------------------------------------------------------------
 *
 * bd_ra_stream.c
 *	  Which reads of a fork form a stream worth reading ahead of, and how
 *	  far ahead.
 *
 * Read-ahead (forks/bd_readahead.c) follows one stream per process.  A
 * read continues the stream when it is of the same fork and starts at or
 * a little after (less than max_gap blocks after) where the previous read
 * ended: blocks already in shared buffers are not asked for, so a serial
 * scan skips them.
 *
 * A parallel sequential scan is different.  PostgreSQL 17 hands its
 * processes chunks of the table in turn (table_block_parallelscan_nextpage:
 * chunks of a power of two blocks, 32 for a table of some hundreds of MB),
 * so each process reads a chunk and then jumps over the chunks the others
 * took.  Followed as one stream, each process would read ahead the whole
 * table, the other processes' chunks included: the device reads it once per
 * process (measured: a 2-worker scan at 0.6 to 0.85 of the serial one under
 * direct I/O, docs/performance.md).  So the stream learns the pattern:
 * when two runs in a row end in a forward jump after the same number of
 * blocks, that number is the chunk length, and read-ahead stops at the end
 * of the chunk being read (counted from where the run began; a run of
 * several chunks in a row is allowed).  A run whose length is not a
 * multiple of the chunk (a block found in shared buffers, the smaller
 * chunks at the end of a scan) forgets it until two runs agree again.
 * While a chunk is known, a forward jump of any length continues the
 * stream: with many workers the jumps are long.
 *
 * Index and bitmap scans that read single blocks forward learn a chunk of
 * one block, which reads nothing ahead.
 *
 * src/blockdev/bd_ra_stream.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "pgrac/bd_ra_stream.h"

/*
 * A read of blocks [blocknum, blocknum + nblocks) (same_fork: of the fork
 * the stream follows).  Returns true if it continues the stream, false if
 * it begins a new one or jumps too far (what was read ahead is of no use).
 */
bool
bd_ra_stream_read(BdRaStream *stream, bool same_fork, BlockNumber blocknum,
				  BlockNumber nblocks, BlockNumber max_gap)
{
	BlockNumber gap;

	if (!stream->valid || !same_fork || blocknum < stream->next)
	{
		stream->valid = true;
		stream->next = blocknum + nblocks;
		stream->run_start = blocknum;
		stream->last_run = 0;
		stream->chunk = 0;
		return false;
	}
	gap = blocknum - stream->next;
	if (gap > 0)
	{
		BlockNumber run = stream->next - stream->run_start;

		if (stream->chunk != 0 && run % stream->chunk != 0)
			stream->chunk = 0;
		else if (stream->chunk == 0 && run == stream->last_run)
			stream->chunk = run;
		stream->last_run = run;
		stream->run_start = blocknum;
	}
	stream->next = blocknum + nblocks;
	return gap < max_gap || stream->chunk != 0;
}

/*
 * Where read-ahead after the last read stops: window blocks past it, not
 * past limit, and, once a chunk length is known, not past the end of the
 * chunk the last read was in.
 */
BlockNumber
bd_ra_stream_window_end(const BdRaStream *stream, BlockNumber window,
						BlockNumber limit)
{
	uint64		end = (uint64) stream->next + window;

	Assert(stream->valid);
	if (stream->chunk != 0)
	{
		uint64		chunks = (stream->next - 1 - stream->run_start) / stream->chunk + 1;

		end = Min(end, (uint64) stream->run_start + chunks * stream->chunk);
	}
	return (BlockNumber) Min(end, (uint64) limit);
}
