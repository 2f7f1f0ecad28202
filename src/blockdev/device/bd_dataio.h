/*-------------------------------------------------------------------------
 *
 * bd_dataio.h
 *	  Above the device: write-behind, the write generations read-ahead
 *	  checks, and the data I/O every layer above uses (bd_dataio.c), which
 *	  orders each access against write-behind.
 *
 * src/blockdev/device/bd_dataio.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_DATAIO_H
#define PGRAC_BD_DATAIO_H

#include "blockdev/device/bd_device.h"

/* ---- write generations (bd_write_gens.c): what read-ahead must not miss ---- */

extern Size bd_write_gens_shmem_size(void);
extern void bd_write_gens_shmem_init(void);
extern void bd_write_gens_note(uint64 offset, uint64 len);
extern uint64 bd_write_gens_sum(const uint64 *offsets, int n);

/* ---- write-behind (bd_writebehind.c) ---- */

extern int	pgrac_write_behind_kb;

typedef struct BdWriteBehindStats
{
	bool		running;		/* the writer takes new writes */
	int			writer_pid;		/* 0 when it is not running */
	int			slots;			/* of 128 kB each */
	int			slots_in_use;	/* queued or being written now */
	int64		blocks_queued;	/* blocks handed to the writer */
	int64		blocks_replaced;	/* of those: overwrote a queued block */
	int64		writes;			/* device writes the writer made */
	int64		blocks_written;
	int64		full_waits;		/* a write waited for a free slot */
	int64		overlap_waits;	/* a write waited for an older one in flight */
	int64		read_waits;		/* a read or flush waited for the writer */
} BdWriteBehindStats;

extern bool bd_writebehind_enabled(void);
extern void bd_writebehind_shmem_request(void);
extern void bd_writebehind_shmem_init(void);
extern void bd_writebehind_register(void);
extern bool bd_writebehind_write(const BdTransfer *transfers, int n);
extern void bd_writebehind_wait(uint64 offset, uint64 len);
extern bool bd_writebehind_busy(uint64 offset, uint64 len);
extern void bd_writebehind_drain(void);
extern void bd_writebehind_stats(BdWriteBehindStats *out);


/*
 * ---- device I/O for everything above the device (bd_dataio.c) ----
 * Ordered against write-behind, recorded for read-ahead.
 */
extern void bd_data_read(uint64 offset, void *buf, size_t len);
extern void bd_data_write(uint64 offset, const void *buf, size_t len);
extern void bd_data_transfer(bool write, const BdTransfer *transfers, int n,
							 bool may_queue);
extern void bd_data_zero(uint64 offset, uint64 len);
extern void bd_data_flush(void);

#endif							/* PGRAC_BD_DATAIO_H */
