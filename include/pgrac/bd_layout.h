/*-------------------------------------------------------------------------
 *
 * bd_layout.h
 *	  Extent allocator of the block-device backend, its on-disk allocation
 *	  map pages, and the layout verifier run at startup and by
 *	  pgrac_image verify.
 *
 * Pure code (c.h only): the server keeps the allocator in shared memory
 * under an LWLock; pgrac_image and the unit tests use it directly.
 *
 * include/pgrac/bd_layout.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_LAYOUT_H
#define PGRAC_BD_LAYOUT_H

#include "pgrac/bd_format.h"

/*
 * One bit per extent, set when allocated.  Extents below `reserved` hold
 * the superblocks, the allocation map and the first directory page, and
 * are allocated for good.
 */
typedef struct BdAllocator
{
	uint32		nextents;		/* usable extents */
	uint32		max_extents;	/* capacity of words[] */
	uint32		reserved;
	uint32		nfree;
	uint32		hint;			/* search start, <= the lowest free extent */
	uint64	   *words;
} BdAllocator;

#define BD_NO_EXTENT	UINT32_MAX

extern size_t bd_allocator_words_size(uint32 max_extents);
extern uint32 bd_reserved_extents(uint32 extent_pages, uint64 last_page);
extern void bd_allocator_init(BdAllocator *a, uint64 *words,
							  uint32 max_extents, uint32 nextents,
							  uint32 reserved);
extern uint32 bd_allocator_alloc(BdAllocator *a);
extern bool bd_allocator_mark(BdAllocator *a, uint32 extent);
extern bool bd_allocator_free(BdAllocator *a, uint32 extent);
extern bool bd_allocator_is_allocated(const BdAllocator *a, uint32 extent);
extern bool bd_allocator_grow(BdAllocator *a, uint32 nextents);

/*
 * Free extents of a device of nextents that ordinary growth leaves alone,
 * kept for the statements that free space (docs/block-device.md, "A full
 * device").  Derived from the size, never stored.
 */
extern uint32 bd_emergency_reserve(uint32 nextents);

/* allocation-map page i covers extents [i * 65280, (i + 1) * 65280) */
extern void bd_alloc_page_encode(const BdAllocator *a, uint32 page_index,
								 uint64 lsn, uint8 *page);
extern BdPageError bd_alloc_page_decode(BdAllocator *a, uint32 page_index,
										const uint8 *page);

/* ---- layout verification ---- */

typedef struct BdForkLayout
{
	uint32		spcoid;
	uint32		dboid;
	uint32		relnumber;
	uint8		fork;
	uint32		nblocks;		/* logical EOF */
	uint32		nextents;
	const uint32 *extents;
	bool		partial;		/* extents[] is only the first of the fork's
								 * extents (its extent map could not be read
								 * whole): its EOF is not checked */
} BdForkLayout;

typedef enum BdProblemKind
{
	BD_PROBLEM_EXTENT_OUT_OF_RANGE = 1, /* beyond the device's extents */
	BD_PROBLEM_EXTENT_IN_METADATA,	/* inside the reserved metadata area */
	BD_PROBLEM_EXTENT_OWNED_TWICE,
	BD_PROBLEM_EXTENT_NOT_ALLOCATED,	/* mapped, but free in the map */
	BD_PROBLEM_EOF_BEYOND_EXTENTS,
	BD_PROBLEM_EXTENT_LEAKED,	/* allocated, owned by nobody */
} BdProblemKind;

typedef struct BdProblem
{
	BdProblemKind kind;
	uint32		extent;			/* BD_NO_EXTENT when not about one */
	int			fork;			/* index into forks[], -1 if none */
	int			other_fork;		/* the first owner, for OWNED_TWICE */
} BdProblem;

/*
 * What the verifier must not judge because the metadata it comes from could
 * not be read (pgrac_image verify goes on past damaged pages).  NULL: all
 * of it was read.
 */
typedef struct BdLayoutGaps
{
	const bool *alloc_pages_unknown;	/* per allocation-map page, or NULL */
	bool		owners_unknown; /* not every fork's extents are known */
} BdLayoutGaps;

extern int	bd_verify_layout(const BdForkLayout *forks, int nforks,
							 const uint32 *metadata_extents, int nmetadata,
							 const BdAllocator *alloc, uint32 extent_pages,
							 const BdLayoutGaps *gaps, int32 *owner_scratch,
							 BdProblem *problems, int max_problems);
extern const char *bd_problem_text(BdProblemKind kind);

#endif							/* PGRAC_BD_LAYOUT_H */
