/*-------------------------------------------------------------------------
 *
 * bd_dataio.c
 *	  Device I/O for everything above the device (the storage manager, the
 *	  metadata cache, the checkpoint journal, import): each access ordered
 *	  against the write-behind queue and recorded for read-ahead.
 *
 * Two rules make write-behind and read-ahead invisible to their callers
 * (docs/block-device.md, "Write-behind" and "Read-ahead"):
 *	  - before the device is read, written or zeroed at a byte range, every
 *		queued or in-flight write-behind write overlapping it is on the
 *		device (a read sees the latest write; two writes of the same bytes
 *		land in the order they were made; a zeroed extent is not
 *		overwritten by a write queued before it was freed);
 *	  - after a write or a zeroing has returned, read-ahead slots covering
 *		the range are out of date in every backend.
 * A flush first waits for every write queued before it.
 *
 * The layers: this file calls write-behind, read-ahead and the device;
 * write-behind's writer and read-ahead call the device directly, never
 * this file, so nothing below calls up.
 *
 * src/blockdev/device/bd_dataio.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "blockdev/device/bd_dataio.h"

void
bd_data_read(uint64 offset, void *buf, size_t len)
{
	bd_writebehind_wait(offset, len);
	bd_device_read(offset, buf, len);
}

void
bd_data_write(uint64 offset, const void *buf, size_t len)
{
	bd_writebehind_wait(offset, len);
	bd_device_write(offset, buf, len);
	bd_write_gens_note(offset, len);
}

/*
 * Ranges of relation data.  A write may be handed to write-behind when
 * may_queue is set (a data write of whole blocks); it returns once the
 * blocks are queued.
 */
void
bd_data_transfer(bool write, const BdTransfer *transfers, int n, bool may_queue)
{
	if (write && may_queue && bd_writebehind_write(transfers, n))
		return;
	for (int i = 0; i < n; i++)
		bd_writebehind_wait(transfers[i].offset, transfers[i].len);
	bd_device_transfer(write, transfers, n);
	if (write)
		for (int i = 0; i < n; i++)
			bd_write_gens_note(transfers[i].offset, transfers[i].len);
}

void
bd_data_zero(uint64 offset, uint64 len)
{
	bd_writebehind_wait(offset, len);
	bd_device_zero(offset, len);
	bd_write_gens_note(offset, len);
}

/* Every write that returned before now, queued ones included, is durable. */
void
bd_data_flush(void)
{
	bd_writebehind_drain();
	bd_device_flush();
}
