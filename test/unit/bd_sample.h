/*
 * A superblock for the unit tests of the block-device format modules: a
 * device of 1M extents of 1 MiB, four metadata pages, a made-up UUID and
 * system identifier.  Tests change the fields they are about.
 */
#ifndef PGRAC_TEST_BD_SAMPLE_H
#define PGRAC_TEST_BD_SAMPLE_H

#include "pgrac/bd_format.h"

static BdSuperblock
sample_superblock(uint64 generation)
{
	BdSuperblock sb;

	memset(&sb, 0, sizeof(sb));
	sb.generation = generation;
	for (int i = 0; i < 16; i++)
		sb.device_uuid[i] = (uint8) (0xa0 + i);
	sb.system_identifier = UINT64CONST(7300000000000000001);
	sb.extent_pages = 128;		/* 1 MiB */
	sb.max_extents = 1024 * 1024;
	sb.nextents = 64;
	sb.alloc_map_pages = bd_alloc_map_pages(sb.max_extents);
	sb.directory_root = bd_first_directory_page(sb.alloc_map_pages);
	sb.clean = true;
	sb.checkpoint_redo = UINT64CONST(0x1234567890);
	sb.metadata_pages = 4;
	return sb;
}

#endif							/* PGRAC_TEST_BD_SAMPLE_H */
