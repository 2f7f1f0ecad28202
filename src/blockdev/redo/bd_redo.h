/*-------------------------------------------------------------------------
 *
 * bd_redo.h
 *	  The resource manager of the block-device backend and its redo.
 *
 * src/blockdev/redo/bd_redo.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_REDO_H
#define PGRAC_BD_REDO_H

#include "access/xlogreader.h"

#include "blockdev/forks/bd_forks.h"

/* ---- the resource manager (bd_rmgr.c) ---- */

extern void bd_rmgr_register(void);

/* redo (bd_redo.c) */
extern void bd_redo_record(XLogReaderState *record);
extern void bd_redo_cleanup(void);

#endif							/* PGRAC_BD_REDO_H */
