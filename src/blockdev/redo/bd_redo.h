/*-------------------------------------------------------------------------
 *
 * bd_redo.h
 *	  Redo of the block-device backend's records.
 *
 * src/blockdev/redo/bd_redo.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_REDO_H
#define PGRAC_BD_REDO_H

#include "access/xlogreader.h"
#include "lib/stringinfo.h"

#include "blockdev/forks/bd_forks.h"

/* ---- the backend's records in the product's resource manager (bd_rmgr.c) ---- */

extern void bd_rmgr_redo(XLogReaderState *record);
extern void bd_rmgr_desc(StringInfo buf, XLogReaderState *record);
extern const char *bd_rmgr_identify(uint8 info);
extern bool bd_rmgr_is_block_device_kind(uint8 info);
extern void bd_rmgr_cleanup(void);

/* redo (bd_redo.c) */
extern void bd_redo_record(XLogReaderState *record);
extern void bd_redo_cleanup(void);

#endif							/* PGRAC_BD_REDO_H */
