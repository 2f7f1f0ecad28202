/*-------------------------------------------------------------------------
 *
 * bd_device.h
 *	  The lowest layer of the server: the device, over the transport
 *	  (pgrac/transport.h).  It calls nothing above it.
 *
 * src/blockdev/device/bd_device.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_DEVICE_H
#define PGRAC_BD_DEVICE_H

#include <sys/uio.h>

#include "pgrac/bd_format.h"
#include "pgrac/transport.h"

/* settings (pgrac_storage.c defines them; the variables are in bd_device.c) */
extern char *pgrac_device;
extern bool pgrac_direct_io;
extern int	pgrac_io_method;

typedef enum BdIoMethod
{
	BD_IO_METHOD_SYNC,
	BD_IO_METHOD_IO_URING,
} BdIoMethod;

/* one contiguous range of the device and the buffers it goes to or from */
typedef struct BdTransfer
{
	uint64		offset;
	const struct iovec *iov;
	int			iovcnt;
	size_t		len;
} BdTransfer;

/* most ranges one bd_device_transfer() call takes */
#define BD_MAX_TRANSFERS	64
/* most reads read-ahead keeps in flight in one process */
#define BD_READ_AHEAD_QUEUE	256

extern PgracTransport *bd_dev;

extern bool bd_device_embedded(void);
extern void bd_device_path(char *path);
extern bool bd_device_is_block(void);
extern bool bd_device_open(bool create_embedded);
extern void bd_device_lock(void);
extern void bd_device_read(uint64 offset, void *buf, size_t len);
extern void bd_device_write(uint64 offset, const void *buf, size_t len);
extern void bd_device_transfer(bool write, const BdTransfer *transfers, int n);
extern bool bd_device_submit(PgracIo *const *ios, int n);
extern void bd_device_reap(PgracIo *wait_for);
extern int	bd_device_io_room(void);
extern void bd_device_zero(uint64 offset, uint64 len);
extern void bd_device_flush(void);
extern void bd_device_resize(uint64 size);
extern uint64 bd_device_current_size(void);
extern void bd_device_prefetch(uint64 offset, uint64 len);
extern void bd_device_writeback(uint64 offset, uint64 len);

/* ---- simulated power loss, test builds only (bd_powerloss.c) ---- */

#ifdef PGRAC_POWERLOSS_SIM
#define BD_PL_MAGIC		0x504C5752	/* "PLWR" */
#define BD_PL_WRITE		1
#define BD_PL_ZERO		2
#define BD_PL_FLUSH		3

extern char *pgrac_powerloss_log;
extern int	pgrac_powerloss_checkpoint_pause_ms;
extern bool pgrac_powerloss_cut_in_window;
extern PgracTransport *bd_powerloss_wrap(PgracTransport *inner);
extern void bd_powerloss_checkpoint_pause(void);
#endif

#endif							/* PGRAC_BD_DEVICE_H */
