/*-------------------------------------------------------------------------
 *
 * bd_manifest.h
 *	  The manifest of a backup of a block device (docs/backup.md): what was
 *	  copied, from which device and cluster, between which LSNs, with a
 *	  CRC-32C of every copied piece and of the manifest itself.
 *
 * Text, one item per line, in this order, each line ending in '\n':
 *
 *	  pgrac block device backup manifest
 *	  version 1
 *	  device-uuid <36-character UUID>
 *	  system-identifier <decimal>
 *	  extent-size <bytes>
 *	  extents <the device's extent count when copied>
 *	  max-extents <the capacity its metadata was formatted for>
 *	  start-lsn <X/X>
 *	  stop-lsn <X/X>
 *	  timeline <decimal>
 *	  parent <start X/X> <stop X/X> crc32c <8 hex digits>
 *										(version 2, an incremental backup
 *										 only: its parent's LSNs and the
 *										 CRC on its parent's last line)
 *	  metadata <first page> <page count> crc32c <8 hex digits>
 *	  extent <number> crc32c <8 hex digits>			(zero or more, numbers
 *													 strictly increasing)
 *	  unchanged <first extent> <count>	(version 2, an incremental backup
 *										 only, zero or more: allocated
 *										 extents its parent restores;
 *										 increasing, disjoint from each
 *										 other and from the copied ones)
 *	  manifest-crc32c <8 hex digits>				(over every byte before
 *													 this line)
 *
 * An extent's device offset is its number times the extent size.  Kinds
 * of line are never reused for another meaning; a reader refuses a
 * version it does not know (it reads 1 and 2; 1 is a full backup).
 *
 * Pure code (c.h and PostgreSQL's CRC-32C), shared by pgrac_image and the
 * unit tests.
 *
 * include/pgrac/bd_manifest.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_MANIFEST_H
#define PGRAC_BD_MANIFEST_H

#define BD_MANIFEST_VERSION		2
#define BD_MANIFEST_TITLE		"pgrac block device backup manifest"

typedef struct BdManifestExtent
{
	uint32		extent;
	uint32		crc;
} BdManifestExtent;

/* extents [first, first + count) */
typedef struct BdManifestRun
{
	uint32		first;
	uint32		count;
} BdManifestRun;

typedef struct BdManifest
{
	uint32		version;
	uint8		device_uuid[16];
	uint64		system_identifier;
	uint64		extent_size;	/* bytes */
	uint32		nextents;
	uint32		max_extents;
	uint64		start_lsn;
	uint64		stop_lsn;
	uint32		timeline;
	bool		incremental;	/* has a parent */
	uint64		parent_start_lsn;
	uint64		parent_stop_lsn;
	uint32		parent_manifest_crc;
	uint64		metadata_first_page;
	uint64		metadata_pages;
	uint32		metadata_crc;
	uint32		nitems;
	BdManifestExtent *items;	/* nitems, extent numbers increasing */
	uint32		nruns;
	BdManifestRun *runs;		/* unchanged extents, increasing */
	uint32		manifest_crc;	/* bd_manifest_decode(): its last line */
} BdManifest;

/*
 * Write m as text into buf (size bytes); returns the length the whole
 * manifest needs, which is more than size if it did not fit (then buf
 * holds a truncated prefix).  No terminating zero is counted.
 */
extern size_t bd_manifest_encode(const BdManifest *m, char *buf, size_t size);

/*
 * The number of extent lines in text: what bd_manifest_decode() needs
 * room for.
 */
extern uint32 bd_manifest_count_extents(const char *text, size_t len);
extern uint32 bd_manifest_count_runs(const char *text, size_t len);

/*
 * Parse and check a manifest: every line, its order, the numbers, and the
 * closing CRC.  items must have room for bd_manifest_count_extents()
 * entries, runs for bd_manifest_count_runs().  On failure returns false
 * with a sentence naming the line and what is wrong in error.
 */
extern bool bd_manifest_decode(const char *text, size_t len, BdManifest *m,
							   BdManifestExtent *items, uint32 capacity,
							   BdManifestRun *runs, uint32 runs_capacity,
							   char *error, size_t error_size);

/* does the manifest hold (copied or unchanged) extent e? */
extern bool bd_manifest_copied(const BdManifest *m, uint32 e, uint32 *index);
extern bool bd_manifest_unchanged(const BdManifest *m, uint32 e);

#endif							/* PGRAC_BD_MANIFEST_H */
