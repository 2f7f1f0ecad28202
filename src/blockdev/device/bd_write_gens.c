/*-------------------------------------------------------------------------
 *
 * bd_write_gens.c
 *	  Write generations: a shared counter per 128 kB of the device, bumped
 *	  after every write or zeroing there has returned.  Read-ahead
 *	  (forks/bd_readahead.c) records the sum of its blocks' counters before
 *	  it reads and uses what it read only if the sum is unchanged when the
 *	  blocks are asked for.  The counters sit here, beside the device, so
 *	  that whoever writes (the data I/O layer, write-behind's writer) bumps
 *	  them without calling up into read-ahead.
 *
 * Counters only grow, so an unchanged sum means no bump.  Collisions (the
 * counters are hashed) only ever discard good read-ahead.
 *
 * src/blockdev/device/bd_write_gens.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/atomics.h"
#include "storage/shmem.h"

#include "blockdev/device/bd_dataio.h"

/* device bytes per generation counter, and the number of counters */
#define GEN_BYTES		(128 * 1024)
#define NGENS			16384

static pg_atomic_uint64 *write_gens = NULL;

Size
bd_write_gens_shmem_size(void)
{
	return mul_size(NGENS, sizeof(pg_atomic_uint64));
}

void
bd_write_gens_shmem_init(void)
{
	bool		found;

	write_gens = ShmemInitStruct("pgrac block device write generations",
								 bd_write_gens_shmem_size(), &found);
	if (!found)
		for (int i = 0; i < NGENS; i++)
			pg_atomic_init_u64(&write_gens[i], 0);
}

/* After a device write or zeroing of [offset, offset + len) has returned. */
void
bd_write_gens_note(uint64 offset, uint64 len)
{
	uint64		first;
	uint64		last;

	if (write_gens == NULL || len == 0)
		return;
	first = offset / GEN_BYTES;
	last = (offset + len - 1) / GEN_BYTES;
	if (last - first >= NGENS)
		last = first + NGENS - 1;
	for (uint64 c = first; c <= last; c++)
		pg_atomic_fetch_add_u64(&write_gens[c % NGENS], 1);
}

/* The sum of the counters of the blocks at these device offsets. */
uint64
bd_write_gens_sum(const uint64 *offsets, int n)
{
	uint64		sum = 0;

	Assert(write_gens != NULL);
	for (int i = 0; i < n; i++)
		sum += pg_atomic_read_u64(&write_gens[(offsets[i] / GEN_BYTES) % NGENS]);
	return sum;
}
