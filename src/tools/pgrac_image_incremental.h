/*-------------------------------------------------------------------------
 *
 * pgrac_image_incremental.h
 *	  The choice of extents of an incremental backup in pgrac_image
 *	  (pgrac_image_incremental.c).
 *
 * src/tools/pgrac_image_incremental.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_IMAGE_INCREMENTAL_H
#define PGRAC_IMAGE_INCREMENTAL_H

#include "pgrac/bd_incremental.h"
#include "pgrac/bd_manifest.h"

typedef struct IncrementalStats
{
	int			summary_files;	/* WAL summary files read */
	int			summarized_forks;	/* fork entries in them */
	uint32		copied;
	uint32		by_reason[BD_INCR_MODIFIED + 1];
} IncrementalStats;

/*
 * For each allocated extent, reasons[i]: BD_INCR_UNCHANGED, or why it is
 * copied.  pgdata is the running server's data directory (its
 * pg_wal/summaries, waited for up to wait_seconds); parent and parent_meta the parent backup's manifest
 * and metadata copy, m and meta this backup's.
 */
extern void plan_incremental(const char *pgdata, int wait_seconds,
							 const BdManifest *parent,
							 const uint8 *parent_meta, const BdManifest *m,
							 const uint8 *meta, const uint32 *allocated,
							 uint32 nallocated, uint8 *reasons,
							 IncrementalStats *stats);

#endif							/* PGRAC_IMAGE_INCREMENTAL_H */
