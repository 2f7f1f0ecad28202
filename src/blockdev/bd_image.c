/*-------------------------------------------------------------------------
 *
 * bd_image.c
 *	  Format a device, and load all of its metadata (superblock, allocation
 *	  map, directory, extent maps) into memory, through I/O callbacks.
 *
 * Loading trusts nothing it has not checked: every page is checked for
 * type, own address and checksum, every entry is validated, chains are
 * followed only through addresses inside the device and for at most as
 * pages of the metadata area, each at most once (a cycle cannot loop
 * forever, two chains cannot share a page).  The first
 * problem stops the load with a message naming the page address; what a
 * load cannot see (double ownership, leaks) is bd_image_verify()'s job.
 *
 * Formatting writes the superblocks last: a format interrupted by a crash
 * leaves no valid superblock behind, never a half-made device that looks
 * valid.
 *
 * src/blockdev/bd_image.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "pgrac/bd_image.h"

#define set_error bd_format_error

/*
 * The superblock a format with these parameters would write, or false with
 * the reason: callers check before they destroy anything.
 */
bool
bd_image_check_params(const BdFormatParams *params, BdSuperblock *sb,
					  char *error, size_t error_size)
{
	BdSuperblockError sberr;

	memset(sb, 0, sizeof(*sb));
	memcpy(sb->device_uuid, params->device_uuid, 16);
	sb->extent_pages = params->extent_pages;
	sb->max_extents = params->max_extents;
	sb->nextents = params->nextents;
	sb->alloc_map_pages = bd_alloc_map_pages(params->max_extents);
	sb->directory_root = bd_first_directory_page(sb->alloc_map_pages);
	sb->metadata_pages = params->metadata_pages ? params->metadata_pages :
		bd_default_metadata_pages(params->max_extents);
	sb->clean = true;
	sberr = bd_superblock_validate(sb);
	if (sberr != BD_SB_OK)
	{
		set_error(error, error_size, "invalid geometry: %s",
				  bd_superblock_error_text(sberr));
		return false;
	}
	return true;
}

bool
bd_image_format(const BdIo *io, const BdFormatParams *params,
				char *error, size_t error_size)
{
	BdSuperblock sb;
	BdAllocator alloc;
	uint8	   *page;
	bool		ok = true;

	if (!bd_image_check_params(params, &sb, error, error_size))
		return false;

	page = io->alloc(io->arg, BD_PAGE_SIZE);
	bd_allocator_init(&alloc, io->alloc(io->arg, bd_allocator_words_size(sb.max_extents)),
					  sb.max_extents, sb.nextents,
					  bd_reserved_extents(sb.extent_pages, bd_metadata_end(&sb) - 1));

	for (uint32 i = 0; ok && i < sb.alloc_map_pages; i++)
	{
		bd_alloc_page_encode(&alloc, i, 0, page);
		ok = io->write_page(io->arg, BD_FIRST_ALLOC_MAP_PAGE + i, page);
	}
	if (ok)
	{
		bd_dir_page_init(page, sb.directory_root, 0, 0);
		bd_page_seal(page);
		ok = io->write_page(io->arg, sb.directory_root, page);
	}
	/* both superblock copies, the older generation first */
	for (uint64 gen = 1; ok && gen <= 2; gen++)
	{
		sb.generation = gen;
		bd_superblock_encode(&sb, bd_superblock_address_for(gen), page);
		ok = io->write_page(io->arg, bd_superblock_address_for(gen), page);
	}
	if (!ok)
		set_error(error, error_size, "could not write the metadata");

	io->free(io->arg, alloc.words);
	io->free(io->arg, page);
	return ok;
}

/*
 * Make room for one more element in an array allocated through io, doubling
 * its capacity (at least to min_capacity) when full.
 */
static void *
grow_array(const BdIo *io, void *array, int count, int *capacity,
		   size_t elem_size, int min_capacity)
{
	void	   *grown;

	if (count < *capacity)
		return array;
	grown = io->alloc(io->arg, (size_t) Max(min_capacity, *capacity * 2) * elem_size);
	if (array)
	{
		memcpy(grown, array, (size_t) count * elem_size);
		io->free(io->arg, array);
	}
	*capacity = Max(min_capacity, *capacity * 2);
	return grown;
}

/*
 * Claim a page of the metadata area for one chain; a page reached twice
 * (two chains sharing it, or a chain looping) is corrupt metadata.
 */
static bool
claim_metadata_page(BdLoadedLayout *layout, uint64 address, const char *what,
					char *error, size_t error_size)
{
	uint64		index = address - layout->sb.directory_root;

	if (layout->metadata_used[index])
	{
		set_error(error, error_size, "%s page at page address %llu is reached twice (chains share it or loop)",
				  what, (unsigned long long) address);
		return false;
	}
	layout->metadata_used[index] = true;
	return true;
}

static BdLoadedFork *
add_fork(const BdIo *io, BdLoadedLayout *layout, int *capacity)
{
	layout->forks = grow_array(io, layout->forks, layout->nforks, capacity,
							   sizeof(BdLoadedFork), 64);
	return &layout->forks[layout->nforks++];
}

/*
 * Read the page at address, which must be of the given type and inside
 * the device.
 */
static bool
read_checked(const BdIo *io, const BdLoadedLayout *layout, uint64 address,
			 uint16 type, uint8 *page, const char *what,
			 char *error, size_t error_size)
{
	uint64		end = bd_metadata_end(&layout->sb);
	BdPageError perr;

	/* directory and extent-map pages live in the metadata area only */
	if (address < layout->sb.directory_root || address >= end)
	{
		set_error(error, error_size, "%s page address %llu lies outside the metadata pages (%llu .. %llu)",
				  what, (unsigned long long) address,
				  (unsigned long long) layout->sb.directory_root,
				  (unsigned long long) end - 1);
		return false;
	}
	if (!io->read_page(io->arg, address, page))
	{
		set_error(error, error_size, "could not read %s page at page address %llu",
				  what, (unsigned long long) address);
		return false;
	}
	perr = bd_page_check(page, type, address);
	if (perr != BD_PAGE_OK)
	{
		set_error(error, error_size, "%s page at page address %llu: %s",
				  what, (unsigned long long) address, bd_page_error_text(perr));
		return false;
	}
	return true;
}

bool
bd_image_load(const BdIo *io, BdLoadedLayout *layout, char *error,
			  size_t error_size)
{
	uint8	   *a = io->alloc(io->arg, BD_PAGE_SIZE);
	uint8	   *b = io->alloc(io->arg, BD_PAGE_SIZE);
	uint8	   *map = io->alloc(io->arg, BD_PAGE_SIZE);
	uint64		address;
	int			fork_capacity = 0;
	BdSuperblockError sberr;
	bool		ok = false;

	memset(layout, 0, sizeof(*layout));
	error[0] = '\0';

	if (!io->read_page(io->arg, BD_SUPERBLOCK_A, a) ||
		!io->read_page(io->arg, BD_SUPERBLOCK_B, b))
	{
		set_error(error, error_size, "could not read the superblocks");
		goto done;
	}
	layout->sb_copy = bd_superblock_choose(a, b, &layout->sb,
										   &layout->sb_error_a, &layout->sb_error_b);
	if (layout->sb_copy < 0)
	{
		set_error(error, error_size,
				  "no valid superblock: copy A (page 0): %s; copy B (page 1): %s",
				  bd_page_error_text(layout->sb_error_a),
				  bd_page_error_text(layout->sb_error_b));
		goto done;
	}
	sberr = bd_superblock_validate(&layout->sb);
	if (sberr != BD_SB_OK)
	{
		set_error(error, error_size, "superblock copy %c: %s",
				  layout->sb_copy == 0 ? 'A' : 'B', bd_superblock_error_text(sberr));
		goto done;
	}

	bd_allocator_init(&layout->alloc,
					  io->alloc(io->arg, bd_allocator_words_size(layout->sb.max_extents)),
					  layout->sb.max_extents, layout->sb.nextents,
					  bd_reserved_extents(layout->sb.extent_pages,
										  bd_metadata_end(&layout->sb) - 1));
	for (uint32 i = 0; i < layout->sb.alloc_map_pages; i++)
	{
		BdPageError perr;

		address = BD_FIRST_ALLOC_MAP_PAGE + i;
		if (!io->read_page(io->arg, address, a))
		{
			set_error(error, error_size, "could not read allocation map page at page address %llu",
					  (unsigned long long) address);
			goto done;
		}
		perr = bd_alloc_page_decode(&layout->alloc, i, a);
		if (perr != BD_PAGE_OK)
		{
			set_error(error, error_size, "allocation map page at page address %llu: %s",
					  (unsigned long long) address, bd_page_error_text(perr));
			goto done;
		}
	}

	/* the directory chain, and each fork's extent-map chain */
	layout->metadata_used = io->alloc(io->arg, layout->sb.metadata_pages * sizeof(bool));
	for (address = layout->sb.directory_root; address != 0;
		 address = bd_dir_page_next(a))
	{
		if (!read_checked(io, layout, address, BD_PAGE_DIRECTORY, a, "directory",
						  error, error_size))
			goto done;
		if (!claim_metadata_page(layout, address, "directory", error, error_size))
			goto done;
		layout->ndirectory_pages++;

		for (int slot = 0; slot < BD_DIR_ENTRIES_PER_PAGE; slot++)
		{
			BdDirEntry	e;
			BdEntryError eerr;
			BdLoadedFork *f;
			uint32		n;
			uint64		maddr;

			bd_dir_entry_decode(a, slot, &e);
			eerr = bd_dir_entry_validate(&e, layout->sb.extent_pages,
										 layout->sb.nextents);
			if (eerr != BD_ENTRY_OK)
			{
				set_error(error, error_size, "directory page at page address %llu, entry %d: %s",
						  (unsigned long long) address, slot, bd_entry_error_text(eerr));
				goto done;
			}
			if (e.state == BD_ENTRY_FREE)
				continue;

			f = add_fork(io, layout, &fork_capacity);
			f->entry = e;
			f->dir_page = address;
			f->slot = slot;
			f->extents = io->alloc(io->arg, Max(e.nextents, 1) * sizeof(uint32));
			for (n = 0; n < e.nextents && n < BD_DIR_INLINE_EXTENTS; n++)
				f->extents[n] = e.inline_extents[n];
			for (maddr = e.extent_map; n < e.nextents; maddr = bd_map_page_next(map))
			{
				uint32		count;

				if (maddr == 0)
				{
					set_error(error, error_size,
							  "directory page at page address %llu, entry %d: extent map ends after %u of %u extents",
							  (unsigned long long) address, slot, n, e.nextents);
					goto done;
				}
				if (!read_checked(io, layout, maddr, BD_PAGE_EXTENT_MAP, map,
								  "extent map", error, error_size))
					goto done;
				if (!claim_metadata_page(layout, maddr, "extent map", error, error_size))
					goto done;
				count = bd_map_page_count(map);
				if (count > BD_MAP_EXTENTS_PER_PAGE)
				{
					set_error(error, error_size, "extent map page at page address %llu: %s",
							  (unsigned long long) maddr, bd_page_error_text(BD_PAGE_INCONSISTENT));
					goto done;
				}
				for (uint32 i = 0; i < count && n < e.nextents; i++)
					f->extents[n++] = bd_map_page_get(map, i);
			}
		}
	}
	ok = true;

done:
	io->free(io->arg, a);
	io->free(io->arg, b);
	io->free(io->arg, map);
	return ok;
}

void
bd_image_release(const BdIo *io, BdLoadedLayout *layout)
{
	for (int i = 0; i < layout->nforks; i++)
		io->free(io->arg, layout->forks[i].extents);
	if (layout->forks)
		io->free(io->arg, layout->forks);
	if (layout->metadata_used)
		io->free(io->arg, layout->metadata_used);
	if (layout->alloc.words)
		io->free(io->arg, layout->alloc.words);
	memset(layout, 0, sizeof(*layout));
}

/* Run the layout invariants over a loaded device. */
int
bd_image_verify(const BdIo *io, const BdLoadedLayout *layout,
				BdProblem *problems, int max_problems)
{
	BdForkLayout *forks = io->alloc(io->arg, Max(layout->nforks, 1) * sizeof(BdForkLayout));
	int32	   *owners = io->alloc(io->arg, (size_t) layout->alloc.nextents * sizeof(int32));
	int			n;

	for (int i = 0; i < layout->nforks; i++)
	{
		const BdDirEntry *e = &layout->forks[i].entry;

		forks[i].spcoid = e->spcoid;
		forks[i].dboid = e->dboid;
		forks[i].relnumber = e->relnumber;
		forks[i].fork = e->fork;
		forks[i].nblocks = e->nblocks;
		forks[i].nextents = e->nextents;
		forks[i].extents = layout->forks[i].extents;
	}
	n = bd_verify_layout(forks, layout->nforks, NULL, 0, &layout->alloc,
						 layout->sb.extent_pages, owners, problems, max_problems);
	io->free(io->arg, owners);
	io->free(io->arg, forks);
	return n;
}
