/*-------------------------------------------------------------------------
 *
 * bd_layout.c
 *	  Extent allocator, allocation-map pages and layout verification of the
 *	  block-device backend.
 *
 * The allocator is a bitmap searched first-fit from a hint that is kept at
 * or below the lowest free extent (allocation moves it up, freeing moves it
 * down), so a search skips the allocated prefix and extents handed out one
 * after another are adjacent on the device, which keeps a relation that
 * grows alone sequential.  The search wraps around, so a stale hint costs
 * time, never an extent.  It can always be rebuilt from the
 * directory with bd_allocator_mark(), whose refusal of an extent already
 * marked is how a rebuild detects an extent owned twice.
 *
 * The verifier checks the invariants docs/block-device.md lists, on the
 * in-memory picture of the directory and the allocation map, and reports
 * each violation with the extent and fork concerned, so the caller can
 * name the device address in its refusal to start.
 *
 * src/blockdev/bd_layout.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "pgrac/bd_layout.h"

#define WORD_BITS 64

size_t
bd_allocator_words_size(uint32 max_extents)
{
	return ((size_t) max_extents + WORD_BITS - 1) / WORD_BITS * sizeof(uint64);
}

/* Extents holding pages 0 .. last_page (superblocks, map, metadata area) */
uint32
bd_reserved_extents(uint32 extent_pages, uint64 last_page)
{
	return (uint32) ((last_page + 1 + extent_pages - 1) / extent_pages);
}

/*
 * The emergency reserve.  Freeing space on a full device needs a few
 * extents first: VACUUM maps visibility-map extents before it truncates a
 * table, TRUNCATE maps an extent for each new index's metapage before the
 * old forks go (docs/block-device.md, "A full device", counts them).  16
 * extents hold a TRUNCATE of a table with up to 11 indexes; on top, one
 * extent per 32672 covers the visibility map of a table as large as the
 * device, because one map page covers 32672 heap pages ((8192 - 24) * 4,
 * visibilitymap.c), so one map extent covers 32672 heap extents whatever
 * the extent size.
 */
#define BD_EMERGENCY_RESERVE_BASE	16
#define BD_VM_HEAP_PAGES_PER_PAGE	((BD_PAGE_SIZE - 24) * 4)

uint32
bd_emergency_reserve(uint32 nextents)
{
	return BD_EMERGENCY_RESERVE_BASE +
		(uint32) (((uint64) nextents + BD_VM_HEAP_PAGES_PER_PAGE - 1) / BD_VM_HEAP_PAGES_PER_PAGE);
}

static inline bool
bit_get(const uint64 *words, uint32 i)
{
	return (words[i / WORD_BITS] >> (i % WORD_BITS)) & 1;
}

static inline void
bit_set(uint64 *words, uint32 i, bool v)
{
	if (v)
		words[i / WORD_BITS] |= UINT64CONST(1) << (i % WORD_BITS);
	else
		words[i / WORD_BITS] &= ~(UINT64CONST(1) << (i % WORD_BITS));
}

void
bd_allocator_init(BdAllocator *a, uint64 *words, uint32 max_extents,
				  uint32 nextents, uint32 reserved)
{
	Assert(nextents <= max_extents && reserved <= nextents);
	a->words = words;
	a->max_extents = max_extents;
	a->nextents = nextents;
	a->reserved = reserved;
	memset(words, 0, bd_allocator_words_size(max_extents));
	for (uint32 e = 0; e < reserved; e++)
		bit_set(words, e, true);
	a->nfree = nextents - reserved;
	a->hint = reserved;
}

bool
bd_allocator_is_allocated(const BdAllocator *a, uint32 extent)
{
	return extent < a->nextents && bit_get(a->words, extent);
}

/* Allocate the lowest free extent; BD_NO_EXTENT when the device is full. */
uint32
bd_allocator_alloc(BdAllocator *a)
{
	uint32		e = a->hint;

	if (a->nfree == 0)
		return BD_NO_EXTENT;
	for (uint32 scanned = 0; scanned < a->nextents; scanned++)
	{
		if (e >= a->nextents)
			e = a->reserved;
		/* skip full words quickly */
		if (e % WORD_BITS == 0 && e + WORD_BITS <= a->nextents &&
			a->words[e / WORD_BITS] == ~UINT64CONST(0))
		{
			e += WORD_BITS;
			scanned += WORD_BITS - 1;
			continue;
		}
		if (!bit_get(a->words, e))
		{
			bit_set(a->words, e, true);
			a->nfree--;
			a->hint = e + 1;
			return e;
		}
		e++;
	}
	return BD_NO_EXTENT;		/* nfree was wrong: the caller treats as full */
}

/* Mark an extent allocated (rebuild, redo); false if it already was. */
bool
bd_allocator_mark(BdAllocator *a, uint32 extent)
{
	if (extent >= a->nextents || bit_get(a->words, extent))
		return false;
	bit_set(a->words, extent, true);
	a->nfree--;
	return true;
}

/* Free an extent; false for a reserved, out-of-range or free extent. */
bool
bd_allocator_free(BdAllocator *a, uint32 extent)
{
	if (extent < a->reserved || extent >= a->nextents ||
		!bit_get(a->words, extent))
		return false;
	bit_set(a->words, extent, false);
	a->nfree++;
	if (extent < a->hint)
		a->hint = extent;
	return true;
}

/* The device grew (image files grow in whole extents). */
bool
bd_allocator_grow(BdAllocator *a, uint32 nextents)
{
	if (nextents < a->nextents || nextents > a->max_extents)
		return false;
	a->nfree += nextents - a->nextents;
	a->nextents = nextents;
	return true;
}

void
bd_alloc_page_encode(const BdAllocator *a, uint32 page_index, uint64 lsn,
					 uint8 *page)
{
	uint32		first = page_index * BD_ALLOC_BITS_PER_PAGE;

	bd_page_init(page, BD_PAGE_ALLOC_MAP,
				 BD_FIRST_ALLOC_MAP_PAGE + page_index, lsn);
	for (uint32 i = 0; i < BD_ALLOC_BITS_PER_PAGE && first + i < a->nextents; i++)
	{
		if (bit_get(a->words, first + i))
			page[BD_HEADER_SIZE + i / 8] |= (uint8) (1 << (i % 8));
	}
	bd_page_seal(page);
}

/*
 * Load the bits of one allocation-map page into the allocator.  A bit set
 * for an extent the device does not have cannot be represented and makes
 * the page inconsistent; reserved extents stay allocated whatever the page
 * says.  Everything else (leaks, double use) is the layout verifier's
 * business, which sees the directory too.
 */
BdPageError
bd_alloc_page_decode(BdAllocator *a, uint32 page_index, const uint8 *page)
{
	uint32		first = page_index * BD_ALLOC_BITS_PER_PAGE;
	BdPageError error = bd_page_check(page, BD_PAGE_ALLOC_MAP,
									  BD_FIRST_ALLOC_MAP_PAGE + page_index);

	if (error != BD_PAGE_OK)
		return error;
	for (uint32 i = 0; i < BD_ALLOC_BITS_PER_PAGE; i++)
	{
		bool		set = (page[BD_HEADER_SIZE + i / 8] >> (i % 8)) & 1;
		uint32		e = first + i;

		if (e >= a->nextents)
		{
			if (set)
				return BD_PAGE_INCONSISTENT;
			continue;
		}
		if (e < a->reserved)
			continue;			/* always allocated */
		if (set != bit_get(a->words, e))
		{
			bit_set(a->words, e, set);
			if (set)
				a->nfree--;
			else
				a->nfree++;
		}
	}
	return BD_PAGE_OK;
}

static void
add_problem(BdProblem *problems, int max_problems, int *n, BdProblemKind kind,
			uint32 extent, int fork, int other_fork)
{
	if (*n < max_problems)
	{
		problems[*n].kind = kind;
		problems[*n].extent = extent;
		problems[*n].fork = fork;
		problems[*n].other_fork = other_fork;
	}
	(*n)++;
}

/* Whether extent e's bit in the allocation map was read (gaps may be NULL) */
static bool
alloc_bit_known(const BdLayoutGaps *gaps, uint32 e)
{
	return gaps == NULL || gaps->alloc_pages_unknown == NULL ||
		!gaps->alloc_pages_unknown[e / BD_ALLOC_BITS_PER_PAGE];
}

/*
 * Check the layout invariants.  owner_scratch must hold alloc->nextents
 * entries.  Metadata extents (directory and extent-map extents beyond the
 * reserved area) are owned by "fork" -2.  Returns the number of problems;
 * the first max_problems are stored.
 *
 * gaps names what could not be read; a check that would need it is not
 * made rather than made on a guess: an extent whose allocation-map page is
 * unknown is neither "free in the map" nor "leaked", a partial fork's EOF
 * is not compared with its extents, and with any fork's extents unknown no
 * extent can be said to be owned by nobody.
 */
int
bd_verify_layout(const BdForkLayout *forks, int nforks,
				 const uint32 *metadata_extents, int nmetadata,
				 const BdAllocator *alloc, uint32 extent_pages,
				 const BdLayoutGaps *gaps, int32 *owner_scratch,
				 BdProblem *problems, int max_problems)
{
	int			n = 0;

	for (uint32 e = 0; e < alloc->nextents; e++)
		owner_scratch[e] = -1;

	for (int m = -1; m < nforks; m++)
	{
		/* m == -1: the metadata extents */
		const uint32 *extents = m < 0 ? metadata_extents : forks[m].extents;
		uint32		count = m < 0 ? (uint32) nmetadata : forks[m].nextents;
		int32		owner = m < 0 ? -2 : m;

		for (uint32 i = 0; i < count; i++)
		{
			uint32		e = extents[i];

			if (e >= alloc->nextents)
			{
				add_problem(problems, max_problems, &n,
							BD_PROBLEM_EXTENT_OUT_OF_RANGE, e, m, -1);
				continue;
			}
			if (e < alloc->reserved)
			{
				add_problem(problems, max_problems, &n,
							BD_PROBLEM_EXTENT_IN_METADATA, e, m, -1);
				continue;
			}
			if (owner_scratch[e] != -1)
			{
				add_problem(problems, max_problems, &n,
							BD_PROBLEM_EXTENT_OWNED_TWICE, e, m,
							owner_scratch[e] == -2 ? -1 : owner_scratch[e]);
				continue;
			}
			owner_scratch[e] = owner;
			if (!bit_get(alloc->words, e) && alloc_bit_known(gaps, e))
				add_problem(problems, max_problems, &n,
							BD_PROBLEM_EXTENT_NOT_ALLOCATED, e, m, -1);
		}
		if (m >= 0 && !forks[m].partial &&
			(uint64) forks[m].nblocks > (uint64) forks[m].nextents * extent_pages)
			add_problem(problems, max_problems, &n,
						BD_PROBLEM_EOF_BEYOND_EXTENTS, BD_NO_EXTENT, m, -1);
	}

	if (gaps != NULL && gaps->owners_unknown)
		return n;
	for (uint32 e = alloc->reserved; e < alloc->nextents; e++)
	{
		if (bit_get(alloc->words, e) && owner_scratch[e] == -1 &&
			alloc_bit_known(gaps, e))
			add_problem(problems, max_problems, &n,
						BD_PROBLEM_EXTENT_LEAKED, e, -1, -1);
	}
	return n;
}

const char *
bd_problem_text(BdProblemKind kind)
{
	switch (kind)
	{
		case BD_PROBLEM_EXTENT_OUT_OF_RANGE:
			return "extent lies beyond the end of the device";
		case BD_PROBLEM_EXTENT_IN_METADATA:
			return "extent lies in the reserved metadata area";
		case BD_PROBLEM_EXTENT_OWNED_TWICE:
			return "extent is mapped by two owners";
		case BD_PROBLEM_EXTENT_NOT_ALLOCATED:
			return "mapped extent is free in the allocation map";
		case BD_PROBLEM_EOF_BEYOND_EXTENTS:
			return "end of fork lies beyond its mapped extents";
		case BD_PROBLEM_EXTENT_LEAKED:
			return "allocated extent is owned by nobody";
	}
	return "unknown";
}
