/*-------------------------------------------------------------------------
 *
 * bd_memory.h
 *	  The shared memory a block device's metadata costs the server, and the
 *	  extent size a device gets by default so that this cost stays bounded
 *	  per TiB of device (docs/block-device.md, "Metadata memory and the
 *	  default extent size").
 *
 * Pure code (c.h only): pgrac_image chooses the default extent size and
 * reports the memory at format time with it, the server chooses the
 * embedded image's extent size and sizes its hash tables with it, and the
 * unit tests check the rule.
 *
 * include/pgrac/bd_memory.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_MEMORY_H
#define PGRAC_BD_MEMORY_H

#include "c.h"

/*
 * Upper bounds of one shared hash entry, for the estimate: the entry
 * (BdForkEntry is 48 bytes, BdMapEntry 32), dynahash's element header
 * (16) and at most two bucket pointers per entry (the bucket count is the
 * next power of two).  The server checks that its exact sizing stays
 * within bd_memory_bytes().
 */
#define BD_MEMORY_FORK_ENTRY_BYTES	80
#define BD_MEMORY_MAP_ENTRY_BYTES	64
/* headers, alignment and the direct-I/O alignment of the page cache */
#define BD_MEMORY_SLACK_BYTES		(64 * 1024)

/* the default extent size never goes below this (128 kB) */
#define BD_MEMORY_MIN_DEFAULT_EXTENT_PAGES	16
/* nor above this (1 GB, the largest extent the format allows) */
#define BD_MEMORY_MAX_EXTENT_PAGES	131072

extern uint32 bd_memory_max_forks(uint32 metadata_pages);
extern uint32 bd_memory_max_map_pages(uint32 metadata_pages);
extern uint64 bd_memory_bytes(uint32 max_extents, uint32 metadata_pages);
extern uint64 bd_memory_budget(uint64 max_bytes);
extern uint32 bd_default_extent_pages(uint64 max_bytes);

#endif							/* PGRAC_BD_MEMORY_H */
