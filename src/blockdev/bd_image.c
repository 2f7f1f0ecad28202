/*-------------------------------------------------------------------------
 *
 * bd_image.c
 *	  Format a device, and load all of its metadata (superblock, allocation
 *	  map, directory, extent maps) into memory, through I/O callbacks.
 *
 * Loading trusts nothing it has not checked: every page is checked for
 * type, own address and checksum, every entry is validated, chains are
 * followed only through addresses inside the metadata area, each page at
 * most once (a cycle cannot loop forever, two chains cannot share a page).
 * The first problem stops the load with a message naming the page address;
 * what a load cannot see (double ownership, leaks) is bd_image_verify()'s
 * job.
 *
 * pgrac_image verify wants every problem, not the first, so the same code
 * can go on past one (bd_image_check()), as far as that needs no guess: a
 * damaged allocation-map page leaves the state of its extents unknown, an
 * invalid directory entry is skipped, and a chain page that cannot be
 * trusted ends its chain, since its next pointer means nothing.  What was
 * not read is recorded, and the verifier leaves out the checks that would
 * need it (a leak cannot be told while any fork's extents are unknown).
 *
 * Formatting writes the superblocks last: a format interrupted by a crash
 * leaves no valid superblock behind, never a half-made device that looks
 * valid.
 *
 * Writing a layout (pgrac_image import) follows the same rule one level
 * up: the allocation map, directory and extent maps are written for a set
 * of forks whose data is already on the device, and only then, after the
 * caller has flushed, does a new superblock generation make the device
 * count as holding them.  Everything is checked before the first write:
 * a layout that would not fit the metadata area, or that the verifier
 * would reject at the next load, is refused with nothing written.
 *
 * src/blockdev/bd_image.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "pgrac/bd_image.h"

#define set_error bd_format_error

/*
 * The fewest extents a device formatted with these parameters may have: the
 * extents its metadata fills (superblocks, allocation map and metadata
 * area, all sized for max_extents unless metadata_pages is given), and one
 * for data.  extent_pages must be valid.
 */
uint32
bd_image_min_extents(const BdFormatParams *params)
{
	uint32		metadata_pages = params->metadata_pages ? params->metadata_pages :
		bd_default_metadata_pages(params->max_extents);
	uint64		last_page = bd_first_directory_page(bd_alloc_map_pages(params->max_extents)) +
		metadata_pages - 1;

	return Max(2, bd_reserved_extents(params->extent_pages, last_page) + 1);
}

/*
 * The superblock a format with these parameters would write, or false with
 * the reason: callers check before they destroy anything.
 */
bool
bd_image_check_params(const BdFormatParams *params, BdSuperblock *sb,
					  char *error, size_t error_size)
{
	BdSuperblockError sberr;
	uint32		min_extents;

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
	if (sberr == BD_SB_OK)
		return true;
	if (sberr != BD_SB_BAD_CAPACITY)
	{
		set_error(error, error_size, "invalid geometry: %s",
				  bd_superblock_error_text(sberr));
		return false;
	}

	/* which of the sizes is wrong (the extent size is valid by now) */
	min_extents = bd_image_min_extents(params);
	if (sb->metadata_pages > BD_MAX_METADATA_PAGES)
		set_error(error, error_size, "invalid geometry: a metadata area of %u pages exceeds the largest, %d",
				  sb->metadata_pages, BD_MAX_METADATA_PAGES);
	else if (params->nextents > params->max_extents)
		set_error(error, error_size, "invalid geometry: %u extents exceed the maximum of %u",
				  params->nextents, params->max_extents);
	else
		set_error(error, error_size,
				  "invalid geometry: %u extents are too few: the metadata (%u pages of directory and extent maps, sized for up to %u extents) fills %u extents of %u kB, so a device needs at least %u",
				  params->nextents, sb->metadata_pages, params->max_extents,
				  min_extents - 1, params->extent_pages * BD_PAGE_SIZE / 1024,
				  min_extents);
	return false;
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

/* ---------------------------------------------------------------------
 * Loading
 * ---------------------------------------------------------------------
 */

/*
 * One load: bd_image_load() stops at the first metadata problem, as the
 * server must; bd_image_check() (pgrac_image verify) records each and goes
 * on with what does not depend on the page in trouble.
 */
typedef struct Loader
{
	const BdIo *io;
	BdLoadedLayout *layout;
	bool		go_on;
	int			problem_capacity;
	char	   *error;
	size_t		error_size;
} Loader;

const char *
bd_page_type_name(uint16 type)
{
	switch (type)
	{
		case BD_PAGE_SUPERBLOCK:
			return "superblock";
		case BD_PAGE_ALLOC_MAP:
			return "allocation map";
		case BD_PAGE_DIRECTORY:
			return "directory";
		case BD_PAGE_EXTENT_MAP:
			return "extent map";
	}
	return "unknown";
}

/* The problem as bd_image_load() reports it, naming the page address. */
void
bd_image_meta_problem_text(const BdLoadedLayout *layout,
						   const BdMetaProblem *p, char *buf, size_t size)
{
	const char *what = bd_page_type_name(p->type);
	unsigned long long address = (unsigned long long) p->address;

	switch (p->kind)
	{
		case BD_META_UNREADABLE:
			set_error(buf, size, "could not read %s page at page address %llu",
					  what, address);
			return;
		case BD_META_DAMAGED:
			set_error(buf, size, "%s page at page address %llu: %s",
					  what, address, bd_page_error_text(p->page_error));
			return;
		case BD_META_OUTSIDE:
			set_error(buf, size, "%s page address %llu lies outside the metadata pages (%llu .. %llu)",
					  what, address,
					  (unsigned long long) layout->sb.directory_root,
					  (unsigned long long) bd_metadata_end(&layout->sb) - 1);
			return;
		case BD_META_REACHED_TWICE:
			set_error(buf, size, "%s page at page address %llu is reached twice (chains share it or loop)",
					  what, address);
			return;
		case BD_META_BAD_ENTRY:
			set_error(buf, size, "directory page at page address %llu, entry %d: %s",
					  (unsigned long long) p->dir_page, p->slot,
					  bd_entry_error_text(p->entry_error));
			return;
		case BD_META_MAP_SHORT:
			set_error(buf, size,
					  "directory page at page address %llu, entry %d: extent map ends after %u of %u extents",
					  (unsigned long long) p->dir_page, p->slot, p->extents_read,
					  layout->forks[p->fork].entry.nextents);
			return;
	}
	set_error(buf, size, "unknown problem with %s page at page address %llu",
			  what, address);
}

static void
problem_init(BdMetaProblem *p, uint16 type, uint64 address, uint64 from)
{
	memset(p, 0, sizeof(*p));
	p->type = type;
	p->address = address;
	p->from = from;
	p->slot = -1;
	p->fork = -1;
}

/*
 * A problem found.  Loading, it is the error and the load stops (false);
 * checking, it is recorded and the caller goes on past it (true).
 */
static bool
found(Loader *ld, const BdMetaProblem *p)
{
	BdLoadedLayout *l = ld->layout;

	if (!ld->go_on)
	{
		bd_image_meta_problem_text(l, p, ld->error, ld->error_size);
		return false;
	}
	l->meta_problems = grow_array(ld->io, l->meta_problems, l->nmeta_problems,
								  &ld->problem_capacity, sizeof(BdMetaProblem), 16);
	l->meta_problems[l->nmeta_problems++] = *p;
	return true;
}

/*
 * Why a page failed its check, with what an intact page carries instead:
 * the address or type in a page whose checksum holds is that page's own.
 */
static void
set_damage(BdMetaProblem *p, BdPageError perr, const uint8 *page)
{
	BdPageHeader h;

	p->kind = BD_META_DAMAGED;
	p->page_error = perr;
	bd_page_read_header(page, &h);
	if (perr == BD_PAGE_WRONG_ADDRESS)
		p->found_address = h.address;
	else if (perr == BD_PAGE_WRONG_TYPE)
		p->found_type = h.type;
}

/*
 * Claim a page of the metadata area for one chain; false for a page
 * reached twice (two chains sharing it, or a chain looping), which is
 * corrupt metadata.
 */
static bool
claim_metadata_page(BdLoadedLayout *layout, uint64 address)
{
	uint64		index = address - layout->sb.directory_root;

	if (layout->metadata_used[index])
		return false;
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
 * Read the page p names, which must be of p's type, inside the metadata
 * area and claimed by no chain yet; false with p's kind set otherwise.
 */
static bool
read_chain_page(const BdIo *io, BdLoadedLayout *layout, uint8 *page,
				BdMetaProblem *p)
{
	BdPageError perr;

	/* directory and extent-map pages live in the metadata area only */
	if (p->address < layout->sb.directory_root ||
		p->address >= bd_metadata_end(&layout->sb))
		p->kind = BD_META_OUTSIDE;
	else if (!io->read_page(io->arg, p->address, page))
		p->kind = BD_META_UNREADABLE;
	else if ((perr = bd_page_check(page, p->type, p->address)) != BD_PAGE_OK)
		set_damage(p, perr, page);
	else if (!claim_metadata_page(layout, p->address))
		p->kind = BD_META_REACHED_TWICE;
	else
		return true;
	return false;
}

/* Free what a load allocated, leaving the superblock fields as they are. */
static void
free_contents(const BdIo *io, BdLoadedLayout *layout)
{
	for (int i = 0; i < layout->nforks; i++)
		if (layout->forks[i].extents)
			io->free(io->arg, layout->forks[i].extents);
	if (layout->forks)
		io->free(io->arg, layout->forks);
	if (layout->metadata_used)
		io->free(io->arg, layout->metadata_used);
	if (layout->alloc.words)
		io->free(io->arg, layout->alloc.words);
	if (layout->meta_problems)
		io->free(io->arg, layout->meta_problems);
	if (layout->alloc_pages_unknown)
		io->free(io->arg, layout->alloc_pages_unknown);
	layout->forks = NULL;
	layout->nforks = 0;
	layout->metadata_used = NULL;
	layout->alloc.words = NULL;
	layout->meta_problems = NULL;
	layout->nmeta_problems = 0;
	layout->alloc_pages_unknown = NULL;
	layout->nalloc_pages_unknown = 0;
}

/*
 * A fork's extents past those in its entry, from its extent-map chain.
 * Checking, a problem ends the chain (what follows a page that cannot be
 * trusted is unknown) and the fork keeps the extents read before it.
 */
static bool
load_extent_map(Loader *ld, BdLoadedFork *f, uint8 *map)
{
	BdLoadedLayout *layout = ld->layout;
	uint64		from = f->dir_page;
	uint64		maddr = f->entry.extent_map;

	while (f->nextents_read < f->entry.nextents)
	{
		BdMetaProblem p;
		uint32		count;

		problem_init(&p, BD_PAGE_EXTENT_MAP, maddr, from);
		p.dir_page = f->dir_page;
		p.slot = f->slot;
		p.fork = (int) (f - layout->forks);
		p.extents_read = f->nextents_read;
		if (maddr == 0)
			p.kind = BD_META_MAP_SHORT;
		else if (read_chain_page(ld->io, layout, map, &p))
		{
			count = bd_map_page_count(map);
			if (count <= BD_MAP_EXTENTS_PER_PAGE)
			{
				for (uint32 i = 0; i < count && f->nextents_read < f->entry.nextents; i++)
					f->extents[f->nextents_read++] = bd_map_page_get(map, i);
				from = maddr;
				maddr = bd_map_page_next(map);
				continue;
			}
			p.kind = BD_META_DAMAGED;
			p.page_error = BD_PAGE_INCONSISTENT;
		}
		if (!found(ld, &p))
			return false;
		layout->owners_unknown = true;
		break;
	}
	return true;
}

/*
 * The directory chain from its root, each valid entry a fork.  Checking,
 * an invalid entry is skipped (its extents cannot be trusted) and a page
 * that cannot be read or trusted ends the chain: its next pointer is
 * unknown, and so is any page after it.
 */
static bool
load_directory(Loader *ld, uint8 *page, uint8 *map)
{
	BdLoadedLayout *layout = ld->layout;
	int			fork_capacity = 0;
	uint64		prev = 0;

	for (uint64 address = layout->sb.directory_root; address != 0;
		 address = bd_dir_page_next(page))
	{
		BdMetaProblem p;

		problem_init(&p, BD_PAGE_DIRECTORY, address, prev);
		if (!read_chain_page(ld->io, layout, page, &p))
		{
			if (!found(ld, &p))
				return false;
			layout->directory_cut = true;
			layout->owners_unknown = true;
			break;
		}
		layout->ndirectory_pages++;

		for (int slot = 0; slot < BD_DIR_ENTRIES_PER_PAGE; slot++)
		{
			BdDirEntry	e;
			BdEntryError eerr;
			BdLoadedFork *f;

			bd_dir_entry_decode(page, slot, &e);
			eerr = bd_dir_entry_validate(&e, layout->sb.extent_pages,
										 layout->sb.nextents);
			if (eerr != BD_ENTRY_OK)
			{
				p.kind = BD_META_BAD_ENTRY;
				p.entry_error = eerr;
				p.dir_page = address;
				p.slot = slot;
				if (!found(ld, &p))
					return false;
				layout->owners_unknown = true;
				continue;
			}
			if (e.state == BD_ENTRY_FREE)
				continue;

			f = add_fork(ld->io, layout, &fork_capacity);
			f->entry = e;
			f->dir_page = address;
			f->slot = slot;
			f->extents = ld->io->alloc(ld->io->arg, Max(e.nextents, 1) * sizeof(uint32));
			for (f->nextents_read = 0;
				 f->nextents_read < e.nextents && f->nextents_read < BD_DIR_INLINE_EXTENTS;
				 f->nextents_read++)
				f->extents[f->nextents_read] = e.inline_extents[f->nextents_read];
			if (!load_extent_map(ld, f, map))
				return false;
		}
		prev = address;
	}
	return true;
}

static bool
load_layout(const BdIo *io, BdLoadedLayout *layout, bool go_on, char *error,
			size_t error_size)
{
	Loader		ld = {io, layout, go_on, 0, error, error_size};
	uint8	   *a = io->alloc(io->arg, BD_PAGE_SIZE);
	uint8	   *b = io->alloc(io->arg, BD_PAGE_SIZE);
	uint8	   *map = io->alloc(io->arg, BD_PAGE_SIZE);
	BdSuperblockError sberr;
	bool		ok = false;

	memset(layout, 0, sizeof(*layout));
	error[0] = '\0';

	/* without a superblock to trust, nothing else can be found */
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
	if (go_on)
		layout->alloc_pages_unknown = io->alloc(io->arg, layout->sb.alloc_map_pages * sizeof(bool));
	for (uint32 i = 0; i < layout->sb.alloc_map_pages; i++)
	{
		BdMetaProblem p;
		BdPageError perr;

		problem_init(&p, BD_PAGE_ALLOC_MAP, BD_FIRST_ALLOC_MAP_PAGE + i, 0);
		if (!io->read_page(io->arg, p.address, a))
			p.kind = BD_META_UNREADABLE;
		else if ((perr = bd_alloc_page_decode(&layout->alloc, i, a)) != BD_PAGE_OK)
			set_damage(&p, perr, a);
		else
			continue;
		if (!found(&ld, &p))
			goto done;
		/* its extents are judged neither free nor allocated */
		layout->alloc_pages_unknown[i] = true;
		layout->nalloc_pages_unknown++;
	}

	layout->metadata_used = io->alloc(io->arg, layout->sb.metadata_pages * sizeof(bool));
	ok = load_directory(&ld, a, map);

done:
	io->free(io->arg, a);
	io->free(io->arg, b);
	io->free(io->arg, map);
	/* a failed load owns nothing; the superblock and its errors stay */
	if (!ok)
		free_contents(io, layout);
	return ok;
}

/*
 * Load the whole metadata; false at the first problem, with a message
 * naming the page address.  What this trusts, the server may serve from.
 */
bool
bd_image_load(const BdIo *io, BdLoadedLayout *layout, char *error,
			  size_t error_size)
{
	return load_layout(io, layout, false, error, error_size);
}

/*
 * Load as much of the metadata as can be trusted, recording every problem
 * in layout->meta_problems: a damaged allocation-map page leaves its
 * extents' state unknown, an invalid entry is skipped, a page of a chain
 * that cannot be trusted ends that chain.  False, with error, only when no
 * superblock can be used.  For reporting only: a layout with problems must
 * not be served from or written back.
 */
bool
bd_image_check(const BdIo *io, BdLoadedLayout *layout, char *error,
			   size_t error_size)
{
	return load_layout(io, layout, true, error, error_size);
}

void
bd_image_release(const BdIo *io, BdLoadedLayout *layout)
{
	free_contents(io, layout);
	memset(layout, 0, sizeof(*layout));
}

/*
 * Run the layout invariants over a loaded device, leaving out what a
 * bd_image_check() could not read.
 */
int
bd_image_verify(const BdIo *io, const BdLoadedLayout *layout,
				BdProblem *problems, int max_problems)
{
	BdForkLayout *forks = io->alloc(io->arg, Max(layout->nforks, 1) * sizeof(BdForkLayout));
	int32	   *owners = io->alloc(io->arg, (size_t) layout->alloc.nextents * sizeof(int32));
	BdLayoutGaps gaps = {
		layout->nalloc_pages_unknown > 0 ? layout->alloc_pages_unknown : NULL,
		layout->owners_unknown
	};
	int			n;

	for (int i = 0; i < layout->nforks; i++)
	{
		const BdDirEntry *e = &layout->forks[i].entry;

		forks[i].spcoid = e->spcoid;
		forks[i].dboid = e->dboid;
		forks[i].relnumber = e->relnumber;
		forks[i].fork = e->fork;
		forks[i].nblocks = e->nblocks;
		forks[i].nextents = layout->forks[i].nextents_read;
		forks[i].extents = layout->forks[i].extents;
		forks[i].partial = layout->forks[i].nextents_read < e->nextents;
	}
	n = bd_verify_layout(forks, layout->nforks, NULL, 0, &layout->alloc,
						 layout->sb.extent_pages, &gaps, owners,
						 problems, max_problems);
	io->free(io->arg, owners);
	io->free(io->arg, forks);
	return n;
}

/* ---------------------------------------------------------------------
 * Writing a whole layout, the superblock, growing
 * ---------------------------------------------------------------------
 */

static uint32
extents_for_blocks(uint32 nblocks, uint32 extent_pages)
{
	return (uint32) (((uint64) nblocks + extent_pages - 1) / extent_pages);
}

/* Extent-map pages of a fork with nextents extents */
static uint64
map_pages_for(uint32 nextents)
{
	if (nextents <= BD_DIR_INLINE_EXTENTS)
		return 0;
	return ((uint64) nextents - BD_DIR_INLINE_EXTENTS + BD_MAP_EXTENTS_PER_PAGE - 1) /
		BD_MAP_EXTENTS_PER_PAGE;
}

/* Directory pages for nforks entries; the root exists even when empty */
static uint64
directory_pages_for(int nforks)
{
	return Max(1, ((uint64) nforks + BD_DIR_ENTRIES_PER_PAGE - 1) / BD_DIR_ENTRIES_PER_PAGE);
}

/*
 * Pages of the metadata area a layout of exactly these forks occupies: the
 * directory chain and the extent maps of the forks with more extents than
 * their entry holds.
 */
uint64
bd_image_metadata_pages_needed(const BdImageFork *forks, int nforks)
{
	uint64		pages = directory_pages_for(nforks);

	for (int i = 0; i < nforks; i++)
		pages += map_pages_for(forks[i].nextents);
	return pages;
}

/*
 * Choose the extents of forks about to be written: each fork gets enough
 * for forks[i].nblocks blocks, taken from alloc in order, so that a fork
 * lies in consecutive extents when the free space allows.  Both limits are
 * checked before anything is taken: free extents, and the metadata pages
 * the layout will need.  On failure alloc and forks are as they were and
 * error says which limit was hit.
 */
bool
bd_image_place_forks(const BdIo *io, const BdSuperblock *sb, BdAllocator *alloc,
					 BdImageFork *forks, int nforks, char *error,
					 size_t error_size)
{
	uint64		need_extents = 0;
	uint64		need_pages = directory_pages_for(nforks);
	uint64		extent_bytes = (uint64) sb->extent_pages * BD_PAGE_SIZE;
	uint32		nfree = alloc->nfree;

	for (int i = 0; i < nforks; i++)
	{
		uint32		n = extents_for_blocks(forks[i].nblocks, sb->extent_pages);

		need_extents += n;
		need_pages += map_pages_for(n);
	}
	if (need_extents > alloc->nfree)
	{
		set_error(error, error_size,
				  "%d forks need %llu extents (%llu MB) but only %u of the device's %u extents (%llu MB) are free",
				  nforks, (unsigned long long) need_extents,
				  (unsigned long long) (need_extents * extent_bytes >> 20),
				  alloc->nfree, alloc->nextents,
				  (unsigned long long) ((uint64) alloc->nextents * extent_bytes >> 20));
		return false;
	}
	if (need_pages > sb->metadata_pages)
	{
		set_error(error, error_size,
				  "%d forks need %llu metadata pages (directory and extent maps) but the device has %u",
				  nforks, (unsigned long long) need_pages, sb->metadata_pages);
		return false;
	}

	for (int i = 0; i < nforks; i++)
	{
		uint32		n = extents_for_blocks(forks[i].nblocks, sb->extent_pages);

		forks[i].extents = io->alloc(io->arg, (size_t) Max(n, 1) * sizeof(uint32));
		forks[i].nextents = 0;
		while (forks[i].nextents < n)
		{
			uint32		e = bd_allocator_alloc(alloc);

			if (e == BD_NO_EXTENT)
			{
				/* the free count was wrong: give back what was taken */
				set_error(error, error_size,
						  "the allocation map ran out of free extents (it counted %u)",
						  nfree);
				for (int k = 0; k <= i; k++)
					for (uint32 j = 0; j < forks[k].nextents; j++)
						bd_allocator_free(alloc, forks[k].extents[j]);
				bd_image_release_forks(io, forks, i + 1);
				return false;
			}
			forks[i].extents[forks[i].nextents++] = e;
		}
	}
	return true;
}

/* Free the extent arrays bd_image_place_forks() allocated. */
void
bd_image_release_forks(const BdIo *io, BdImageFork *forks, int nforks)
{
	for (int i = 0; i < nforks; i++)
	{
		if (forks[i].extents)
			io->free(io->arg, forks[i].extents);
		forks[i].extents = NULL;
		forks[i].nextents = 0;
	}
}

/*
 * Refuse a layout that bd_image_load() or bd_image_verify() would reject:
 * an unknown fork number, an EOF beyond the fork's extents, an extent
 * outside the device, in the reserved area, free in the map or mapped
 * twice, or an allocated extent nobody owns.
 */
static bool
check_layout(const BdIo *io, const BdSuperblock *sb, const BdAllocator *alloc,
			 const BdImageFork *forks, int nforks, char *error,
			 size_t error_size)
{
	BdForkLayout *layout;
	int32	   *owners;
	BdProblem	problem;
	int			nproblems;

	for (int i = 0; i < nforks; i++)
	{
		if (forks[i].fork > BD_MAX_FORK)
		{
			set_error(error, error_size, "relation %u/%u/%u has fork number %u",
					  forks[i].spcoid, forks[i].dboid, forks[i].relnumber,
					  forks[i].fork);
			return false;
		}
	}

	layout = io->alloc(io->arg, (size_t) Max(nforks, 1) * sizeof(BdForkLayout));
	owners = io->alloc(io->arg, (size_t) alloc->nextents * sizeof(int32));
	for (int i = 0; i < nforks; i++)
	{
		layout[i].spcoid = forks[i].spcoid;
		layout[i].dboid = forks[i].dboid;
		layout[i].relnumber = forks[i].relnumber;
		layout[i].fork = forks[i].fork;
		layout[i].nblocks = forks[i].nblocks;
		layout[i].nextents = forks[i].nextents;
		layout[i].extents = forks[i].extents;
	}
	nproblems = bd_verify_layout(layout, nforks, NULL, 0, alloc, sb->extent_pages,
								 NULL, owners, &problem, 1);
	if (nproblems > 0)
	{
		if (problem.fork >= 0)
			set_error(error, error_size, "%s (extent %u, relation %u/%u/%u fork %u)",
					  bd_problem_text(problem.kind), problem.extent,
					  forks[problem.fork].spcoid, forks[problem.fork].dboid,
					  forks[problem.fork].relnumber, forks[problem.fork].fork);
		else
			set_error(error, error_size, "%s (extent %u)",
					  bd_problem_text(problem.kind), problem.extent);
	}
	io->free(io->arg, owners);
	io->free(io->arg, layout);
	return nproblems == 0;
}

/* A fork's extent-map chain, on consecutive pages from first */
static bool
write_extent_map(const BdIo *io, const BdImageFork *f, uint64 first,
				 uint8 *page, char *error, size_t error_size)
{
	uint64		npages = map_pages_for(f->nextents);
	uint32		index = BD_DIR_INLINE_EXTENTS;

	for (uint64 p = 0; p < npages; p++)
	{
		uint64		address = first + p;

		bd_map_page_init(page, address, 0, p + 1 < npages ? address + 1 : 0);
		for (uint32 slot = 0; slot < BD_MAP_EXTENTS_PER_PAGE && index < f->nextents; slot++)
			bd_map_page_set(page, slot, f->extents[index++]);
		bd_page_seal(page);
		if (!io->write_page(io->arg, address, page))
		{
			set_error(error, error_size, "could not write extent map page at page address %llu",
					  (unsigned long long) address);
			return false;
		}
	}
	return true;
}

/*
 * Write the allocation map, the directory and the extent maps of a device
 * holding exactly these forks (all live), replacing whatever directory it
 * had; the superblock is not written (bd_image_write_superblock() is the
 * caller's commit point, after a flush).  The directory fills the first
 * pages of the metadata area from its root, the extent maps the pages
 * after it; every page carries LSN 0, as pages written outside WAL do.
 */
bool
bd_image_write_layout(const BdIo *io, const BdSuperblock *sb,
					  const BdAllocator *alloc, const BdImageFork *forks,
					  int nforks, char *error, size_t error_size)
{
	uint64		ndirectory = directory_pages_for(nforks);
	uint64		npages = bd_image_metadata_pages_needed(forks, nforks);
	uint64		next_map = sb->directory_root + ndirectory;
	uint8	   *page;
	uint8	   *map;
	bool		ok = true;

	if (alloc->nextents != sb->nextents || alloc->max_extents != sb->max_extents)
	{
		set_error(error, error_size, "the allocation map (%u of %u extents) does not match the superblock (%u of %u)",
				  alloc->nextents, alloc->max_extents, sb->nextents, sb->max_extents);
		return false;
	}
	if (npages > sb->metadata_pages)
	{
		set_error(error, error_size,
				  "%d forks need %llu metadata pages (directory and extent maps) but the device has %u",
				  nforks, (unsigned long long) npages, sb->metadata_pages);
		return false;
	}
	if (!check_layout(io, sb, alloc, forks, nforks, error, error_size))
		return false;

	page = io->alloc(io->arg, BD_PAGE_SIZE);
	map = io->alloc(io->arg, BD_PAGE_SIZE);
	for (uint32 i = 0; ok && i < sb->alloc_map_pages; i++)
	{
		bd_alloc_page_encode(alloc, i, 0, page);
		if (!io->write_page(io->arg, BD_FIRST_ALLOC_MAP_PAGE + i, page))
		{
			set_error(error, error_size, "could not write allocation map page at page address %llu",
					  (unsigned long long) (BD_FIRST_ALLOC_MAP_PAGE + i));
			ok = false;
		}
	}
	for (uint64 d = 0; ok && d < ndirectory; d++)
	{
		uint64		address = sb->directory_root + d;

		bd_dir_page_init(page, address, 0, d + 1 < ndirectory ? address + 1 : 0);
		for (int slot = 0; ok && slot < BD_DIR_ENTRIES_PER_PAGE; slot++)
		{
			uint64		i = d * BD_DIR_ENTRIES_PER_PAGE + slot;
			const BdImageFork *f;
			BdDirEntry	e;

			if (i >= (uint64) nforks)
				break;
			f = &forks[i];
			memset(&e, 0, sizeof(e));
			e.spcoid = f->spcoid;
			e.dboid = f->dboid;
			e.relnumber = f->relnumber;
			e.fork = f->fork;
			e.state = BD_ENTRY_LIVE;
			e.nblocks = f->nblocks;
			e.nextents = f->nextents;
			for (uint32 j = 0; j < f->nextents && j < BD_DIR_INLINE_EXTENTS; j++)
				e.inline_extents[j] = f->extents[j];
			if (f->nextents > BD_DIR_INLINE_EXTENTS)
			{
				e.extent_map = next_map;
				ok = write_extent_map(io, f, next_map, map, error, error_size);
				next_map += map_pages_for(f->nextents);
			}
			bd_dir_entry_encode(page, slot, &e);
		}
		bd_page_seal(page);
		if (ok && !io->write_page(io->arg, address, page))
		{
			set_error(error, error_size, "could not write directory page at page address %llu",
					  (unsigned long long) address);
			ok = false;
		}
	}
	io->free(io->arg, map);
	io->free(io->arg, page);
	return ok;
}

/*
 * Write sb as the next generation, into the copy the current generation
 * does not occupy, as the server does: a write torn by a crash leaves the
 * current generation intact and chosen.  sb->generation is advanced on
 * success.  The caller flushes before (whatever the new superblock names
 * must be durable first) and after.
 */
bool
bd_image_write_superblock(const BdIo *io, BdSuperblock *sb, char *error,
						  size_t error_size)
{
	BdSuperblockError sberr = bd_superblock_validate(sb);
	BdSuperblock next = *sb;
	uint8	   *page;
	bool		ok;

	if (sberr != BD_SB_OK)
	{
		set_error(error, error_size, "refusing to write an invalid superblock: %s",
				  bd_superblock_error_text(sberr));
		return false;
	}
	next.generation++;
	page = io->alloc(io->arg, BD_PAGE_SIZE);
	bd_superblock_encode(&next, bd_superblock_address_for(next.generation), page);
	ok = io->write_page(io->arg, bd_superblock_address_for(next.generation), page);
	io->free(io->arg, page);
	if (!ok)
	{
		set_error(error, error_size, "could not write superblock copy %c (page %llu)",
				  bd_superblock_address_for(next.generation) == BD_SUPERBLOCK_A ? 'A' : 'B',
				  (unsigned long long) bd_superblock_address_for(next.generation));
		return false;
	}
	*sb = next;
	return true;
}

/* Whether the device may grow to nextents extents; error says why not. */
bool
bd_image_check_grow(const BdSuperblock *sb, uint32 nextents, char *error,
					size_t error_size)
{
	uint64		extent_bytes = (uint64) sb->extent_pages * BD_PAGE_SIZE;

	if (nextents < sb->nextents)
	{
		set_error(error, error_size,
				  "cannot shrink the device from %u to %u extents (%llu MB to %llu MB)",
				  sb->nextents, nextents,
				  (unsigned long long) ((uint64) sb->nextents * extent_bytes >> 20),
				  (unsigned long long) ((uint64) nextents * extent_bytes >> 20));
		return false;
	}
	if (nextents > sb->max_extents)
	{
		set_error(error, error_size,
				  "cannot grow the device to %u extents (%llu MB): its metadata was formatted for at most %u extents (%llu MB)",
				  nextents, (unsigned long long) ((uint64) nextents * extent_bytes >> 20),
				  sb->max_extents,
				  (unsigned long long) ((uint64) sb->max_extents * extent_bytes >> 20));
		return false;
	}
	return true;
}

/*
 * Grow a loaded device to nextents extents by writing the next superblock
 * generation; the caller has made the new extents exist and read as
 * zeroes, durably.  The allocation map needs no change: its pages encode
 * only extents below the current count and a load refuses a bit set
 * beyond it, so every extent past the old end is already clear there, that
 * is, free.
 */
bool
bd_image_grow(const BdIo *io, BdLoadedLayout *layout, uint32 nextents,
			  char *error, size_t error_size)
{
	BdSuperblock sb = layout->sb;

	if (!bd_image_check_grow(&sb, nextents, error, error_size))
		return false;
	sb.nextents = nextents;
	if (!bd_image_write_superblock(io, &sb, error, error_size))
		return false;
	layout->sb = sb;
	layout->sb_copy = bd_superblock_address_for(sb.generation) == BD_SUPERBLOCK_A ? 0 : 1;
	bd_allocator_grow(&layout->alloc, nextents);
	return true;
}
