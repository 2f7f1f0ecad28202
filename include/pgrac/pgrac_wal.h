/*-------------------------------------------------------------------------
 *
 * pgrac_wal.h
 *	  The product's WAL resource manager: its id and the record kinds of
 *	  every subsystem that logs under it.
 *
 * One resource manager carries every record the product writes, so that a
 * server that never used the block-device backend still replays the
 * checksum layer's transitions, and a kind number, once given, is never
 * reused.  The kind is the top four bits of the record's info byte:
 *
 *	  1 .. 11	the block-device backend's metadata changes (BdWalOp,
 *				pgrac/bd_wal.h)
 *	  12		a transition of the checksum layer's state
 *				(pgrac/checksum_state.h)
 *	  13		a distributed transaction about to be decided: makes its
 *				local xid durable before the decision names it
 *				(docs/twophase.md); nothing to redo
 *	  14 .. 15	free
 *
 * The id is RM_EXPERIMENTAL_ID, 128 (docs/block-device.md, "Record names",
 * says why and what it means for other extensions).
 *
 * include/pgrac/pgrac_wal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_PGRAC_WAL_H
#define PGRAC_PGRAC_WAL_H

#define PGRAC_RMGR_ID		128
#define PGRAC_RMGR_NAME		"pgrac"

#define PGRAC_WAL_KIND_CHECKSUM_STATE	12
#define PGRAC_WAL_KIND_TWOPHASE_DECIDING 13

#define PGRAC_WAL_KIND(info)	(((info) & 0xF0) >> 4)

#endif							/* PGRAC_PGRAC_WAL_H */
