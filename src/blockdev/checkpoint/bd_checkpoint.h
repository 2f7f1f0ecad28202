/*-------------------------------------------------------------------------
 *
 * bd_checkpoint.h
 *	  The checkpoint of the block-device backend and its journal in
 *	  PGDATA.
 *
 * src/blockdev/checkpoint/bd_checkpoint.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_CHECKPOINT_H
#define PGRAC_BD_CHECKPOINT_H

#include "access/xlogdefs.h"

#include "blockdev/meta/bd_meta.h"

/* ---- the checkpoint journal in PGDATA (bd_journal_file.c) ---- */

extern void bd_journal_write(const uint8 device_uuid[16], uint64 generation,
							 const uint8 *const *pages, uint32 npages);
extern void bd_journal_apply(void);
extern void bd_journal_discard(void);

/* checkpoints (called from the checkpoint hooks) */
extern void bd_checkpoint_start(int flags);
extern void bd_checkpoint(XLogRecPtr redo, int flags);

#endif							/* PGRAC_BD_CHECKPOINT_H */
