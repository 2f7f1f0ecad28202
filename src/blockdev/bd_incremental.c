/*-------------------------------------------------------------------------
 *
 * bd_incremental.c
 *	  Which extents an incremental backup copies
 *	  (include/pgrac/bd_incremental.h has the rules and their reasons).
 *
 * The owners of every extent in both metadata copies go into two arrays
 * indexed by extent number; the forks of this backup's copy are sorted by
 * key once, so that each fork the summaries name is found by binary
 * search; the reasons are then marked per extent.
 *
 * src/blockdev/bd_incremental.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include <stdlib.h>

#include "pgrac/bd_incremental.h"

/* the fork at position index of its extents; fork < 0: nobody */
typedef struct Owner
{
	int32		fork;
	uint32		index;
} Owner;

typedef struct SortedFork
{
	uint32		spcoid;
	uint32		dboid;
	uint32		relnumber;
	uint8		fork;
	int32		position;		/* in cur->forks */
} SortedFork;

static int
compare_keys(uint32 s1, uint32 d1, uint32 r1, uint8 f1,
			 uint32 s2, uint32 d2, uint32 r2, uint8 f2)
{
	if (s1 != s2)
		return s1 < s2 ? -1 : 1;
	if (d1 != d2)
		return d1 < d2 ? -1 : 1;
	if (r1 != r2)
		return r1 < r2 ? -1 : 1;
	if (f1 != f2)
		return f1 < f2 ? -1 : 1;
	return 0;
}

static int
compare_sorted(const void *a, const void *b)
{
	const SortedFork *x = a;
	const SortedFork *y = b;

	return compare_keys(x->spcoid, x->dboid, x->relnumber, x->fork,
						y->spcoid, y->dboid, y->relnumber, y->fork);
}

static uint32
owner_slots(const BdLoadedLayout *l)
{
	return l->sb.nextents;
}

size_t
bd_incremental_scratch_size(const BdLoadedLayout *cur,
							const BdLoadedLayout *parent)
{
	return sizeof(Owner) * ((size_t) owner_slots(cur) + owner_slots(parent)) +
		sizeof(SortedFork) * (size_t) Max(cur->nforks, 1);
}

static void
fill_owners(const BdLoadedLayout *l, Owner *owners)
{
	for (uint32 e = 0; e < owner_slots(l); e++)
		owners[e].fork = -1;
	for (int f = 0; f < l->nforks; f++)
	{
		const BdLoadedFork *fork = &l->forks[f];

		for (uint32 j = 0; j < fork->nextents_read; j++)
		{
			uint32		e = fork->extents[j];

			/* a damaged map may point anywhere: such an owner is unknown */
			if (e >= owner_slots(l))
				continue;
			if (owners[e].fork >= 0)
			{
				/* owned twice: trust neither */
				owners[e].fork = -2;
				continue;
			}
			if (owners[e].fork == -1)
			{
				owners[e].fork = f;
				owners[e].index = j;
			}
		}
	}
}

static bool
same_owner(const BdLoadedLayout *cur, Owner a, const BdLoadedLayout *parent, Owner b)
{
	const BdDirEntry *x;
	const BdDirEntry *y;

	if (a.fork < 0 || b.fork < 0 || a.index != b.index)
		return false;
	x = &cur->forks[a.fork].entry;
	y = &parent->forks[b.fork].entry;
	return compare_keys(x->spcoid, x->dboid, x->relnumber, x->fork,
						y->spcoid, y->dboid, y->relnumber, y->fork) == 0;
}

/* the place in allocated[] of extent e, or -1 */
static int64
find_allocated(const uint32 *allocated, uint32 nallocated, uint32 e)
{
	uint32		lo = 0,
				hi = nallocated;

	while (lo < hi)
	{
		uint32		mid = lo + (hi - lo) / 2;

		if (allocated[mid] < e)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo < nallocated && allocated[lo] == e) ? (int64) lo : -1;
}

static void
mark(uint8 *reasons, const uint32 *allocated, uint32 nallocated, uint32 e,
	 BdIncrementalReason reason)
{
	int64		i = find_allocated(allocated, nallocated, e);

	if (i >= 0 && reasons[i] == BD_INCR_UNCHANGED)
		reasons[i] = (uint8) reason;
}

uint32
bd_incremental_plan(const BdLoadedLayout *cur, const BdLoadedLayout *parent,
					const BdForkChanges *changes, int nchanges,
					const uint32 *allocated, uint32 nallocated,
					void *scratch, uint8 *reasons)
{
	Owner	   *cur_owner = scratch;
	Owner	   *parent_owner = cur_owner + owner_slots(cur);
	SortedFork *sorted = (SortedFork *) (parent_owner + owner_slots(parent));
	uint32		blocks_per_extent = cur->sb.extent_pages;
	uint32		ncopied = 0;

	fill_owners(cur, cur_owner);
	fill_owners(parent, parent_owner);

	/* ownership: unknown here, or not the same as in the parent */
	for (uint32 i = 0; i < nallocated; i++)
	{
		uint32		e = allocated[i];
		Owner		none = {-1, 0};
		Owner		here = e < owner_slots(cur) ? cur_owner[e] : none;
		Owner		there = e < owner_slots(parent) ? parent_owner[e] : none;

		if (here.fork < 0)
			reasons[i] = BD_INCR_OWNER_UNKNOWN;
		else if (!same_owner(cur, here, parent, there))
			reasons[i] = BD_INCR_NEW_OWNER;
		else
			reasons[i] = BD_INCR_UNCHANGED;
	}

	/* what the WAL summaries name, found through the sorted forks */
	for (int f = 0; f < cur->nforks; f++)
	{
		const BdDirEntry *entry = &cur->forks[f].entry;

		sorted[f].spcoid = entry->spcoid;
		sorted[f].dboid = entry->dboid;
		sorted[f].relnumber = entry->relnumber;
		sorted[f].fork = entry->fork;
		sorted[f].position = f;
	}
	if (cur->nforks > 1)
		qsort(sorted, (size_t) cur->nforks, sizeof(SortedFork), compare_sorted);
	for (int c = 0; c < nchanges; c++)
	{
		const BdForkChanges *ch = &changes[c];
		SortedFork	key = {ch->spcoid, ch->dboid, ch->relnumber, ch->fork, -1};
		SortedFork *hit = cur->nforks > 0 ?
			bsearch(&key, sorted, (size_t) cur->nforks, sizeof(SortedFork), compare_sorted) : NULL;
		const BdLoadedFork *fork;

		if (hit == NULL)
			continue;			/* not on the device now: nothing to copy */
		fork = &cur->forks[hit->position];
		if (ch->limit_block != BD_NO_LIMIT_BLOCK)
		{
			/* extent j holds blocks [j * bpe, (j + 1) * bpe) */
			for (uint32 j = ch->limit_block / blocks_per_extent; j < fork->nextents_read; j++)
				mark(reasons, allocated, nallocated, fork->extents[j], BD_INCR_LIMIT);
		}
		for (uint32 b = 0; b < ch->nblocks; b++)
		{
			uint32		j = ch->blocks[b] / blocks_per_extent;

			if (j < fork->nextents_read)
				mark(reasons, allocated, nallocated, fork->extents[j], BD_INCR_MODIFIED);
		}
	}

	for (uint32 i = 0; i < nallocated; i++)
		if (reasons[i] != BD_INCR_UNCHANGED)
			ncopied++;
	return ncopied;
}

const char *
bd_incremental_reason_text(BdIncrementalReason reason)
{
	switch (reason)
	{
		case BD_INCR_UNCHANGED:
			return "unchanged";
		case BD_INCR_OWNER_UNKNOWN:
			return "owner unknown";
		case BD_INCR_NEW_OWNER:
			return "new owner";
		case BD_INCR_LIMIT:
			return "truncated or created";
		case BD_INCR_MODIFIED:
			return "modified";
	}
	return "?";
}
