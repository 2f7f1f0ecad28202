/*-------------------------------------------------------------------------
 *
 * bd_image.h
 *	  Formatting a block device (or image file), loading its whole
 *	  metadata into memory, and writing a complete layout for a given set
 *	  of forks, through page I/O callbacks, so that the server, pgrac_image
 *	  and the unit tests (an in-memory device) share the code.
 *
 * include/pgrac/bd_image.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_IMAGE_H
#define PGRAC_BD_IMAGE_H

#include "pgrac/bd_directory.h"
#include "pgrac/bd_layout.h"

typedef struct BdIo
{
	/* read/write one 8 kB page at a page address; false on I/O error */
	bool		(*read_page) (void *arg, uint64 address, uint8 *page);
	bool		(*write_page) (void *arg, uint64 address, const uint8 *page);
	void	   *(*alloc) (void *arg, size_t size);	/* zeroed memory */
	void		(*free) (void *arg, void *ptr);
	void	   *arg;
} BdIo;

typedef struct BdFormatParams
{
	uint32		extent_pages;
	uint32		nextents;		/* current size in extents */
	uint32		max_extents;	/* capacity the metadata is sized for */
	uint32		metadata_pages; /* 0: bd_default_metadata_pages() */
	uint8		device_uuid[16];
} BdFormatParams;

/* One fork as found in the directory */
typedef struct BdLoadedFork
{
	BdDirEntry	entry;
	uint64		dir_page;		/* where its entry lives */
	int			slot;
	uint32	   *extents;		/* entry.nextents of them */
	uint32		nextents_read;	/* extents[] filled: entry.nextents, fewer
								 * only after bd_image_check() found its
								 * extent map damaged */
} BdLoadedFork;

/*
 * A problem with a metadata page or a directory entry.  bd_image_load()
 * stops at the first and returns it as text (bd_image_meta_problem_text());
 * bd_image_check() records each and goes on wherever that needs no guess.
 */
typedef enum BdMetaProblemKind
{
	BD_META_UNREADABLE = 1,		/* the read failed */
	BD_META_DAMAGED,			/* the page check failed: page_error */
	BD_META_OUTSIDE,			/* a pointer leads outside the metadata area */
	BD_META_REACHED_TWICE,		/* chains share the page, or one loops */
	BD_META_BAD_ENTRY,			/* an invalid directory entry: entry_error */
	BD_META_MAP_SHORT,			/* an extent map ends before the entry's count
								 * of extents */
} BdMetaProblemKind;

typedef struct BdMetaProblem
{
	BdMetaProblemKind kind;
	uint16		type;			/* the page type expected (BD_PAGE_*) */
	uint64		address;		/* the page; for OUTSIDE, the pointer */
	BdPageError page_error;		/* DAMAGED */
	uint16		found_type;		/* DAMAGED with WRONG_TYPE: the page's type */
	uint64		found_address;	/* DAMAGED with WRONG_ADDRESS: its address */
	BdEntryError entry_error;	/* BAD_ENTRY */
	uint64		from;			/* the page whose pointer led here; 0 for the
								 * allocation map and directory root */
	uint64		dir_page;		/* BAD_ENTRY, extent maps: the entry's page */
	int			slot;			/* ... and slot; -1 for other pages */
	int			fork;			/* extent maps: index into forks[], or -1 */
	uint32		extents_read;	/* extent maps: of the fork's extents, those
								 * read before this page */
} BdMetaProblem;

typedef struct BdLoadedLayout
{
	BdSuperblock sb;
	int			sb_copy;		/* 0 = A, 1 = B */
	BdPageError sb_error_a;
	BdPageError sb_error_b;
	BdAllocator alloc;
	int			nforks;
	BdLoadedFork *forks;
	bool	   *metadata_used;	/* per page of the metadata area: in a chain */
	uint32		ndirectory_pages;

	/* bd_image_check() only; bd_image_load() fails instead */
	int			nmeta_problems;
	BdMetaProblem *meta_problems;
	bool	   *alloc_pages_unknown;	/* per allocation-map page: unread */
	uint32		nalloc_pages_unknown;
	bool		directory_cut;	/* the directory chain stops at a problem */
	bool		owners_unknown; /* some forks' extents (or forks) unknown */
} BdLoadedLayout;

/*
 * A fork to be written by bd_image_write_layout(): its key, its EOF and the
 * extents holding its blocks (bd_image_place_forks() chooses them).
 */
typedef struct BdImageFork
{
	uint32		spcoid;
	uint32		dboid;
	uint32		relnumber;
	uint8		fork;
	uint32		nblocks;		/* EOF in blocks */
	uint32		nextents;
	uint32	   *extents;		/* nextents extent numbers, allocated via io */
} BdImageFork;

extern uint32 bd_image_min_extents(const BdFormatParams *params);
extern bool bd_image_check_params(const BdFormatParams *params, BdSuperblock *sb,
								  char *error, size_t error_size);
extern bool bd_image_format(const BdIo *io, const BdFormatParams *params,
							char *error, size_t error_size);
extern bool bd_image_load(const BdIo *io, BdLoadedLayout *layout,
						  char *error, size_t error_size);
extern bool bd_image_check(const BdIo *io, BdLoadedLayout *layout,
						   char *error, size_t error_size);
extern void bd_image_meta_problem_text(const BdLoadedLayout *layout,
									   const BdMetaProblem *problem,
									   char *buf, size_t size);
extern const char *bd_page_type_name(uint16 type);
extern void bd_image_release(const BdIo *io, BdLoadedLayout *layout);
extern int	bd_image_verify(const BdIo *io, const BdLoadedLayout *layout,
							BdProblem *problems, int max_problems);

extern uint64 bd_image_metadata_pages_needed(const BdImageFork *forks,
											 int nforks);
extern bool bd_image_place_forks(const BdIo *io, const BdSuperblock *sb,
								 BdAllocator *alloc, BdImageFork *forks,
								 int nforks, char *error, size_t error_size);
extern void bd_image_release_forks(const BdIo *io, BdImageFork *forks,
								   int nforks);
extern bool bd_image_write_layout(const BdIo *io, const BdSuperblock *sb,
								  const BdAllocator *alloc,
								  const BdImageFork *forks, int nforks,
								  char *error, size_t error_size);
extern bool bd_image_write_superblock(const BdIo *io, BdSuperblock *sb,
									  char *error, size_t error_size);
extern bool bd_image_check_grow(const BdSuperblock *sb, uint32 nextents,
								char *error, size_t error_size);
extern bool bd_image_grow(const BdIo *io, BdLoadedLayout *layout,
						  uint32 nextents, char *error, size_t error_size);

#endif							/* PGRAC_BD_IMAGE_H */
