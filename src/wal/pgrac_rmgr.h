/*-------------------------------------------------------------------------
 *
 * pgrac_rmgr.h
 *	  The product's WAL resource manager (pgrac_rmgr.c).
 *
 * src/wal/pgrac_rmgr.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_WAL_PGRAC_RMGR_H
#define PGRAC_WAL_PGRAC_RMGR_H

extern void pgrac_rmgr_register(bool block_device);

#endif							/* PGRAC_WAL_PGRAC_RMGR_H */
