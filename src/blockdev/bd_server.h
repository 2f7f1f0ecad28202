/*-------------------------------------------------------------------------
 *
 * bd_server.h
 *	  The block-device backend as _PG_init and the SQL functions see it:
 *	  every layer's header, lowest first.  Files inside the backend
 *	  include only the header of their own layer (which includes those
 *	  below it); docs/architecture.md draws the layers.
 *
 *	  device/bd_device.h		the device, over the transport
 *	  device/bd_dataio.h		write-behind, write generations, data I/O
 *	  meta/bd_meta.h			the metadata cache
 *	  forks/bd_forks.h			forks, read-ahead, the storage manager
 *	  checkpoint/bd_checkpoint.h	the checkpoint and its journal
 *	  redo/bd_redo.h			the resource manager and redo
 *	  startup/bd_startup.h		ownership, format, load, import
 *
 * src/blockdev/bd_server.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_SERVER_H
#define PGRAC_BD_SERVER_H

#include "blockdev/device/bd_device.h"
#include "blockdev/device/bd_dataio.h"
#include "blockdev/meta/bd_meta.h"
#include "blockdev/forks/bd_forks.h"
#include "blockdev/checkpoint/bd_checkpoint.h"
#include "blockdev/redo/bd_redo.h"
#include "blockdev/startup/bd_startup.h"

/* bd_shmem.c: every module's shared memory, requested and initialised */
extern void bd_shmem_install(void);

#endif							/* PGRAC_BD_SERVER_H */
