/*
 * Unit tests of formatting, loading and writing a whole device, on an
 * in-memory device, including corruptions a load must refuse with the page
 * address, a check that reports every one of them, and layouts that do not
 * fit (refused before anything is written).
 */
#include "c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "pgrac/bd_image.h"

#define EXTENT_PAGES 8
#define NEXTENTS 64
#define NPAGES (EXTENT_PAGES * NEXTENTS)
#define META_PAGES 13			/* pages 3 .. 15: extents 0 and 1 are reserved */
#define MAP_PAGE 10				/* an extent-map page inside the metadata area */

/*
 * The device's first device_pages pages (NPAGES, or just the metadata of a
 * larger geometry: nothing here writes data pages).
 */
static uint8 *device;
static uint64 device_pages;
static int	fail_reads_at = -1;
static int	fail_writes_at = -1;

static bool
mem_read(void *arg, uint64 address, uint8 *page)
{
	(void) arg;
	if (address >= device_pages || (int) address == fail_reads_at)
		return false;
	memcpy(page, device + address * BD_PAGE_SIZE, BD_PAGE_SIZE);
	return true;
}

static bool
mem_write(void *arg, uint64 address, const uint8 *page)
{
	(void) arg;
	if (address >= device_pages || (int) address == fail_writes_at)
		return false;
	memcpy(device + address * BD_PAGE_SIZE, page, BD_PAGE_SIZE);
	return true;
}

static void *
mem_alloc(void *arg, size_t size)
{
	(void) arg;
	return calloc(1, size);
}

static void
mem_free(void *arg, void *ptr)
{
	(void) arg;
	free(ptr);
}

static const BdIo io = {mem_read, mem_write, mem_alloc, mem_free, NULL};

static char error[512];

static int
setup(void **state)
{
	BdFormatParams p = {.extent_pages = EXTENT_PAGES,.nextents = NEXTENTS,
	.max_extents = 1000,.metadata_pages = META_PAGES,.device_uuid = {1, 2, 3}};

	(void) state;
	device = calloc(NPAGES, BD_PAGE_SIZE);
	device_pages = NPAGES;
	fail_reads_at = -1;
	fail_writes_at = -1;
	assert_true(bd_image_format(&io, &p, error, sizeof(error)));
	return 0;
}

static int
teardown(void **state)
{
	(void) state;
	free(device);
	return 0;
}

static uint8 *
page_at(uint64 address)
{
	return device + address * BD_PAGE_SIZE;
}

/* Give the fork in directory slot `slot` the given extents, marked allocated. */
static void
add_fork(int slot, uint32 rel, const uint32 *extents, uint32 n, uint32 nblocks,
		 uint64 map_page)
{
	BdLoadedLayout l;
	BdDirEntry	e;
	uint8	   *dir;

	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	dir = page_at(l.sb.directory_root);
	memset(&e, 0, sizeof(e));
	e.spcoid = 1663;
	e.dboid = 5;
	e.relnumber = rel;
	e.state = BD_ENTRY_LIVE;
	e.nextents = n;
	e.nblocks = nblocks;
	for (uint32 i = 0; i < n && i < BD_DIR_INLINE_EXTENTS; i++)
		e.inline_extents[i] = extents[i];
	if (n > BD_DIR_INLINE_EXTENTS)
	{
		uint8	   *map = page_at(map_page);

		e.extent_map = map_page;
		bd_map_page_init(map, map_page, 0, 0);
		for (uint32 i = BD_DIR_INLINE_EXTENTS; i < n; i++)
			bd_map_page_set(map, i - BD_DIR_INLINE_EXTENTS, extents[i]);
		bd_page_seal(map);
	}
	bd_dir_entry_encode(dir, slot, &e);
	bd_page_seal(dir);
	for (uint32 i = 0; i < n; i++)
		bd_allocator_mark(&l.alloc, extents[i]);
	bd_alloc_page_encode(&l.alloc, 0, 0, page_at(BD_FIRST_ALLOC_MAP_PAGE));
	bd_image_release(&io, &l);
}

static void
test_format_then_load_empty(void **state)
{
	BdLoadedLayout l;
	BdProblem	problems[8];

	(void) state;
	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	assert_int_equal(l.sb_copy, 0); /* generation 2 lives in A */
	assert_true(l.sb.generation == 2);
	assert_int_equal(l.sb.extent_pages, EXTENT_PAGES);
	assert_int_equal(l.nforks, 0);
	assert_int_equal(l.ndirectory_pages, 1);
	assert_int_equal(l.alloc.reserved, 2);	/* pages 0..15 fill extents 0 and
											 * 1 */
	assert_int_equal(l.alloc.nfree, NEXTENTS - 2);
	assert_int_equal(bd_image_verify(&io, &l, problems, 8), 0);
	bd_image_release(&io, &l);
}

static void
test_format_refuses_bad_geometry(void **state)
{
	BdFormatParams p = {.extent_pages = 100,.nextents = NEXTENTS,.max_extents = 1000};

	(void) state;
	assert_false(bd_image_format(&io, &p, error, sizeof(error)));
	assert_string_equal(error, "invalid geometry: extent size is not a power of two between 8 and 131072 pages");
}

static void
test_load_forks_with_extent_map(void **state)
{
	uint32		ext[12] = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21};
	uint32		small[1] = {30};
	BdLoadedLayout l;
	BdProblem	problems[8];

	(void) state;
	add_fork(0, 16384, ext, 12, 12 * EXTENT_PAGES, MAP_PAGE);
	add_fork(5, 16385, small, 1, 3, 0);
	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	assert_int_equal(l.nforks, 2);
	assert_int_equal(l.forks[0].entry.relnumber, 16384);
	assert_int_equal(l.forks[0].extents[11], 21);
	assert_int_equal(l.forks[0].extents[8], 18);
	assert_int_equal(l.forks[1].slot, 5);
	assert_true(l.metadata_used[0]);	/* the directory root */
	assert_true(l.metadata_used[MAP_PAGE - 3]);
	assert_false(l.metadata_used[MAP_PAGE - 2]);
	assert_int_equal(bd_image_verify(&io, &l, problems, 8), 0);
	bd_image_release(&io, &l);
}

static void
test_verify_reports_double_ownership(void **state)
{
	uint32		a[2] = {10, 11};
	uint32		b[2] = {11, 12};
	BdLoadedLayout l;
	BdProblem	problems[8];

	(void) state;
	add_fork(0, 1, a, 2, 0, 0);
	add_fork(1, 2, b, 2, 0, 0);
	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	assert_int_equal(bd_image_verify(&io, &l, problems, 8), 1);
	assert_int_equal(problems[0].kind, BD_PROBLEM_EXTENT_OWNED_TWICE);
	assert_int_equal(problems[0].extent, 11);
	bd_image_release(&io, &l);
}

/* one torn superblock: the other copy serves; both: refused, saying why */
static void
test_load_superblock_damage(void **state)
{
	BdLoadedLayout l;

	(void) state;
	page_at(BD_SUPERBLOCK_A)[3000] ^= 1;
	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	assert_int_equal(l.sb_copy, 1);
	assert_int_equal(l.sb_error_a, BD_PAGE_BAD_CHECKSUM);
	bd_image_release(&io, &l);

	memset(page_at(BD_SUPERBLOCK_B), 0, BD_PAGE_SIZE);
	assert_false(bd_image_load(&io, &l, error, sizeof(error)));
	assert_string_equal(error,
						"no valid superblock: copy A (page 0): checksum mismatch (torn or corrupted write); "
						"copy B (page 1): page was never written (all zeroes)");
	bd_image_release(&io, &l);
}

static void
test_load_refuses_corrupt_metadata(void **state)
{
	uint32		ext[10] = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
	BdLoadedLayout l;
	uint64		root;

	(void) state;
	add_fork(0, 7, ext, 10, 0, MAP_PAGE);
	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	root = l.sb.directory_root;
	bd_image_release(&io, &l);

	/* torn extent-map page */
	page_at(MAP_PAGE)[100] ^= 0x80;
	assert_false(bd_image_load(&io, &l, error, sizeof(error)));
	assert_string_equal(error, "extent map page at page address 10: checksum mismatch (torn or corrupted write)");
	bd_image_release(&io, &l);
	page_at(MAP_PAGE)[100] ^= 0x80;

	/* a directory entry that does not add up, in a correctly sealed page */
	page_at(root)[64 + 64 * 0 + 20] = 7;	/* nextents 10 -> 7, map still set */
	bd_page_seal(page_at(root));
	assert_false(bd_image_load(&io, &l, error, sizeof(error)));
	assert_string_equal(error, "directory page at page address 3, entry 0: extent-map pointer does not match the number of extents");
	bd_image_release(&io, &l);
}

static void
test_load_refuses_directory_cycle_and_wild_pointer(void **state)
{
	BdLoadedLayout l;
	uint64		root;

	(void) state;
	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	root = l.sb.directory_root;
	bd_image_release(&io, &l);

	/* the root points at itself */
	pgrac_put64(page_at(root) + 32, root);
	bd_page_seal(page_at(root));
	assert_false(bd_image_load(&io, &l, error, sizeof(error)));
	assert_string_equal(error, "directory page at page address 3 is reached twice (chains share it or loop)");
	bd_image_release(&io, &l);

	/* ... or beyond the end of the device */
	pgrac_put64(page_at(root) + 32, NPAGES + 5);
	bd_page_seal(page_at(root));
	assert_false(bd_image_load(&io, &l, error, sizeof(error)));
	assert_string_equal(error, "directory page address 517 lies outside the metadata pages (3 .. 15)");
	bd_image_release(&io, &l);

	/* ... or at the superblock */
	pgrac_put64(page_at(root) + 32, 1);
	bd_page_seal(page_at(root));
	assert_false(bd_image_load(&io, &l, error, sizeof(error)));
	assert_string_equal(error, "directory page address 1 lies outside the metadata pages (3 .. 15)");
	bd_image_release(&io, &l);
}

/* two forks whose extent maps start at the same page */
static void
test_load_refuses_shared_map_page(void **state)
{
	uint32		a[9] = {20, 21, 22, 23, 24, 25, 26, 27, 28};
	uint32		b[9] = {30, 31, 32, 33, 34, 35, 36, 37, 38};
	BdLoadedLayout l;

	(void) state;
	add_fork(0, 1, a, 9, 0, MAP_PAGE);
	add_fork(1, 2, b, 9, 0, MAP_PAGE);
	assert_false(bd_image_load(&io, &l, error, sizeof(error)));
	assert_string_equal(error, "extent map page at page address 10 is reached twice (chains share it or loop)");
	bd_image_release(&io, &l);
}

static void
test_load_reports_io_errors(void **state)
{
	BdLoadedLayout l;

	(void) state;
	fail_reads_at = BD_FIRST_ALLOC_MAP_PAGE;
	assert_false(bd_image_load(&io, &l, error, sizeof(error)));
	assert_string_equal(error, "could not read allocation map page at page address 2");
	bd_image_release(&io, &l);
}


/* ---- writing layouts (pgrac_image import), superblocks, growing ---- */

/* nforks forks of relation 20000 + i, all with nblocks blocks */
static BdImageFork *
make_forks(int nforks, uint32 nblocks)
{
	BdImageFork *forks = calloc(Max(nforks, 1), sizeof(BdImageFork));

	for (int i = 0; i < nforks; i++)
	{
		forks[i].spcoid = 1663;
		forks[i].dboid = 5;
		forks[i].relnumber = 20000 + i;
		forks[i].fork = (uint8) (i % 4 == 1 ? 2 : 0);	/* some visibility maps */
		forks[i].nblocks = nblocks;
	}
	return forks;
}

static void
free_forks(BdImageFork *forks, int nforks)
{
	bd_image_release_forks(&io, forks, nforks);
	free(forks);
}

/* load the device, which must hold exactly forks, and verify it */
static void
assert_device_holds(const BdImageFork *forks, int nforks, uint32 ndirectory)
{
	BdLoadedLayout l;
	BdProblem	problems[8];

	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	assert_int_equal(l.nforks, nforks);
	assert_int_equal(l.ndirectory_pages, ndirectory);
	assert_int_equal(bd_image_verify(&io, &l, problems, 8), 0);
	for (int i = 0; i < nforks; i++)
	{
		const BdDirEntry *e = &l.forks[i].entry;

		/* the directory keeps the order it was given */
		assert_int_equal(e->relnumber, forks[i].relnumber);
		assert_int_equal(e->spcoid, forks[i].spcoid);
		assert_int_equal(e->dboid, forks[i].dboid);
		assert_int_equal(e->fork, forks[i].fork);
		assert_int_equal(e->state, BD_ENTRY_LIVE);
		assert_int_equal(e->nblocks, forks[i].nblocks);
		assert_int_equal(e->nextents, forks[i].nextents);
		for (uint32 j = 0; j < e->nextents; j++)
			assert_int_equal(l.forks[i].extents[j], forks[i].extents[j]);
	}
	bd_image_release(&io, &l);
}

/*
 * A fork that needs an extent-map page, and more forks than one directory
 * page holds: what was written loads and verifies, extent for extent.
 */
static void
test_write_layout_then_load(void **state)
{
	int			nforks = BD_DIR_ENTRIES_PER_PAGE + 4;
	BdImageFork *forks = make_forks(nforks, 0);
	BdLoadedLayout l;

	(void) state;
	forks[0].nblocks = 20 * EXTENT_PAGES - 3;	/* 20 extents: 12 in a map
												 * page */
	forks[1].nblocks = 1;
	forks[nforks - 1].nblocks = EXTENT_PAGES + 1;	/* in the second directory
													 * page */
	forks[nforks - 1].fork = 3; /* an init fork */

	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	assert_true(bd_image_place_forks(&io, &l.sb, &l.alloc, forks, nforks, error, sizeof(error)));
	assert_int_equal(forks[0].nextents, 20);
	assert_int_equal(forks[1].nextents, 1);
	assert_int_equal(forks[2].nextents, 0);
	assert_int_equal(forks[nforks - 1].nextents, 2);
	/* handed out in order from the first free extent: a fork is contiguous */
	assert_int_equal(forks[0].extents[0], 2);
	assert_int_equal(forks[0].extents[19], 21);
	assert_int_equal(forks[1].extents[0], 22);
	assert_int_equal(l.alloc.nfree, NEXTENTS - 2 - 23);
	assert_int_equal(bd_image_metadata_pages_needed(forks, nforks), 3);

	assert_true(bd_image_write_layout(&io, &l.sb, &l.alloc, forks, nforks, error, sizeof(error)));
	bd_image_release(&io, &l);
	assert_device_holds(forks, nforks, 2);

	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	assert_int_equal(l.alloc.nfree, NEXTENTS - 2 - 23);
	assert_true(l.metadata_used[0] && l.metadata_used[1] && l.metadata_used[2]);
	assert_false(l.metadata_used[3]);
	/* the map page of fork 0 follows the two directory pages */
	assert_true(l.forks[0].entry.extent_map == l.sb.directory_root + 2);
	bd_image_release(&io, &l);
	free_forks(forks, nforks);
}

/* A fork with more extents than one extent-map page holds (a larger geometry). */
static void
test_write_layout_long_extent_map(void **state)
{
	BdFormatParams p = {.extent_pages = 8,.nextents = 2200,.max_extents = 4000,
	.metadata_pages = 20};
	uint32		big = BD_DIR_INLINE_EXTENTS + BD_MAP_EXTENTS_PER_PAGE + 50;
	BdImageFork *forks = make_forks(2, 0);
	BdLoadedLayout l;

	(void) state;
	/* pages 0 .. 22 hold all the metadata of this geometry */
	free(device);
	device_pages = 23;
	device = calloc(device_pages, BD_PAGE_SIZE);
	assert_true(bd_image_format(&io, &p, error, sizeof(error)));

	forks[0].nblocks = big * 8;
	forks[1].nblocks = 9 * 8;
	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	assert_true(bd_image_place_forks(&io, &l.sb, &l.alloc, forks, 2, error, sizeof(error)));
	assert_int_equal(bd_image_metadata_pages_needed(forks, 2), 1 + 2 + 1);
	assert_true(bd_image_write_layout(&io, &l.sb, &l.alloc, forks, 2, error, sizeof(error)));
	bd_image_release(&io, &l);
	assert_device_holds(forks, 2, 1);

	/* the second map page holds the tail of the big fork */
	assert_int_equal(bd_map_page_count(page_at(3 + 2)), 50);
	assert_int_equal(bd_map_page_get(page_at(3 + 2), 49), forks[0].extents[big - 1]);
	free_forks(forks, 2);
}

/* Too few free extents: refused before anything is taken or written. */
static void
test_place_forks_out_of_extents(void **state)
{
	BdImageFork *forks = make_forks(3, 20 * EXTENT_PAGES);
	BdLoadedLayout l;
	uint8	   *before = malloc(NPAGES * BD_PAGE_SIZE);

	(void) state;
	memcpy(before, device, NPAGES * BD_PAGE_SIZE);
	forks[2].nblocks = 22 * EXTENT_PAGES + 1;	/* 20 + 20 + 23 = 63 > 62 free */
	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	assert_false(bd_image_place_forks(&io, &l.sb, &l.alloc, forks, 3, error, sizeof(error)));
	assert_string_equal(error, "3 forks need 63 extents (3 MB) but only 62 of the device's 64 extents (4 MB) are free");
	assert_int_equal(l.alloc.nfree, NEXTENTS - 2);
	assert_null(forks[0].extents);

	/* an allocator whose free count lies: an error, the extents given back */
	forks[2].nblocks = 0;
	for (uint32 e = 30; e < NEXTENTS; e++)
		bd_allocator_mark(&l.alloc, e);
	l.alloc.nfree = 100;
	assert_false(bd_image_place_forks(&io, &l.sb, &l.alloc, forks, 3, error, sizeof(error)));
	assert_string_equal(error, "the allocation map ran out of free extents (it counted 100)");
	assert_int_equal(l.alloc.nfree, 100);
	for (uint32 e = 2; e < 30; e++)
		assert_false(bd_allocator_is_allocated(&l.alloc, e));
	assert_null(forks[0].extents);
	assert_null(forks[1].extents);
	bd_image_release(&io, &l);
	assert_memory_equal(before, device, NPAGES * BD_PAGE_SIZE);
	free(before);
	free_forks(forks, 3);
}

/* More forks than the metadata area holds: refused, nothing written. */
static void
test_layout_out_of_metadata_pages(void **state)
{
	int			fit = META_PAGES * BD_DIR_ENTRIES_PER_PAGE;
	BdImageFork *forks = make_forks(fit + 1, 0);
	BdLoadedLayout l;
	uint8	   *before = malloc(NPAGES * BD_PAGE_SIZE);

	(void) state;
	memcpy(before, device, NPAGES * BD_PAGE_SIZE);
	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	assert_false(bd_image_place_forks(&io, &l.sb, &l.alloc, forks, fit + 1, error, sizeof(error)));
	assert_string_equal(error, "1652 forks need 14 metadata pages (directory and extent maps) but the device has 13");
	/* the writer checks too, whoever placed the forks */
	assert_false(bd_image_write_layout(&io, &l.sb, &l.alloc, forks, fit + 1, error, sizeof(error)));
	assert_string_equal(error, "1652 forks need 14 metadata pages (directory and extent maps) but the device has 13");
	assert_memory_equal(before, device, NPAGES * BD_PAGE_SIZE);

	/*
	 * one fork with an extent map on top of a full directory: one page too
	 * many
	 */
	forks[0].nblocks = 9 * EXTENT_PAGES;
	assert_false(bd_image_place_forks(&io, &l.sb, &l.alloc, forks, fit, error, sizeof(error)));
	assert_string_equal(error, "1651 forks need 14 metadata pages (directory and extent maps) but the device has 13");

	/* exactly full works */
	forks[0].nblocks = 0;
	assert_true(bd_image_place_forks(&io, &l.sb, &l.alloc, forks, fit, error, sizeof(error)));
	assert_true(bd_image_write_layout(&io, &l.sb, &l.alloc, forks, fit, error, sizeof(error)));
	bd_image_release(&io, &l);
	assert_device_holds(forks, fit, META_PAGES);
	free(before);
	free_forks(forks, fit + 1);
}

/* Forks the verifier would reject at the next start are never written. */
static void
test_write_layout_refuses_inconsistent_forks(void **state)
{
	uint32		a[2] = {10, 11};
	uint32		b[1] = {11};
	BdImageFork forks[2] = {
		{.spcoid = 1663,.dboid = 5,.relnumber = 1,.nblocks = 16,.nextents = 2,.extents = a},
		{.spcoid = 1663,.dboid = 5,.relnumber = 2,.nblocks = 8,.nextents = 1,.extents = b},
	};
	BdLoadedLayout l;
	uint8	   *before = malloc(NPAGES * BD_PAGE_SIZE);

	(void) state;
	memcpy(before, device, NPAGES * BD_PAGE_SIZE);
	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	bd_allocator_mark(&l.alloc, 10);
	bd_allocator_mark(&l.alloc, 11);

	assert_false(bd_image_write_layout(&io, &l.sb, &l.alloc, forks, 2, error, sizeof(error)));
	assert_string_equal(error, "extent is mapped by two owners (extent 11, relation 1663/5/2 fork 0)");

	b[0] = 12;					/* not allocated */
	assert_false(bd_image_write_layout(&io, &l.sb, &l.alloc, forks, 2, error, sizeof(error)));
	assert_string_equal(error, "mapped extent is free in the allocation map (extent 12, relation 1663/5/2 fork 0)");

	bd_allocator_mark(&l.alloc, 12);
	forks[1].nblocks = 9;
	assert_false(bd_image_write_layout(&io, &l.sb, &l.alloc, forks, 2, error, sizeof(error)));
	assert_string_equal(error, "end of fork lies beyond its mapped extents (extent 4294967295, relation 1663/5/2 fork 0)");

	forks[1].nblocks = 8;
	forks[1].fork = 7;
	assert_false(bd_image_write_layout(&io, &l.sb, &l.alloc, forks, 2, error, sizeof(error)));
	assert_string_equal(error, "relation 1663/5/2 has fork number 7");

	forks[1].fork = 0;
	bd_allocator_mark(&l.alloc, 40);	/* allocated, nobody's */
	assert_false(bd_image_write_layout(&io, &l.sb, &l.alloc, forks, 2, error, sizeof(error)));
	assert_string_equal(error, "allocated extent is owned by nobody (extent 40)");
	assert_memory_equal(before, device, NPAGES * BD_PAGE_SIZE);

	/* a failed write says which page */
	bd_allocator_free(&l.alloc, 40);
	fail_writes_at = (int) l.sb.directory_root;
	assert_false(bd_image_write_layout(&io, &l.sb, &l.alloc, forks, 2, error, sizeof(error)));
	assert_string_equal(error, "could not write directory page at page address 3");
	bd_image_release(&io, &l);
	free(before);
}

/*
 * The superblock goes to the other copy with the next generation: a crash
 * that tears it leaves the previous generation in charge.
 */
static void
test_write_superblock_alternates(void **state)
{
	BdLoadedLayout l;
	BdSuperblock sb;

	(void) state;
	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	sb = l.sb;
	bd_image_release(&io, &l);
	assert_true(sb.generation == 2 && sb.system_identifier == 0);

	sb.system_identifier = UINT64CONST(7300000000000000042);
	assert_true(bd_image_write_superblock(&io, &sb, error, sizeof(error)));
	assert_true(sb.generation == 3);
	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	assert_int_equal(l.sb_copy, 1); /* generation 3 lives in B */
	assert_true(l.sb.system_identifier == UINT64CONST(7300000000000000042));
	assert_true(l.sb.nextents == NEXTENTS && l.sb.clean);
	bd_image_release(&io, &l);

	/* torn: the old generation, with no owner, is what a load sees */
	page_at(BD_SUPERBLOCK_B)[4096] ^= 0x10;
	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	assert_int_equal(l.sb_copy, 0);
	assert_true(l.sb.generation == 2 && l.sb.system_identifier == 0);
	bd_image_release(&io, &l);

	/* a failed write leaves the caller's generation alone */
	fail_writes_at = BD_SUPERBLOCK_A;
	assert_false(bd_image_write_superblock(&io, &sb, error, sizeof(error)));
	assert_true(sb.generation == 3);
	assert_string_equal(error, "could not write superblock copy A (page 0)");

	/* nor is an invalid geometry ever written */
	fail_writes_at = -1;
	sb.nextents = sb.max_extents + 1;
	assert_false(bd_image_write_superblock(&io, &sb, error, sizeof(error)));
	assert_string_equal(error, "refusing to write an invalid superblock: capacity is inconsistent (current extents, maximum extents, metadata area)");
}

/* Growing: up to the capacity, never down; the new extents are free. */
static void
test_grow(void **state)
{
	BdLoadedLayout l;
	BdProblem	problems[8];
	BdImageFork *forks = make_forks(1, 90 * EXTENT_PAGES);

	(void) state;
	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	assert_false(bd_image_check_grow(&l.sb, NEXTENTS - 1, error, sizeof(error)));
	assert_string_equal(error, "cannot shrink the device from 64 to 63 extents (4 MB to 3 MB)");
	assert_false(bd_image_grow(&io, &l, 1001, error, sizeof(error)));
	assert_string_equal(error, "cannot grow the device to 1001 extents (62 MB): its metadata was formatted for at most 1000 extents (62 MB)");
	assert_true(bd_image_check_grow(&l.sb, 1000, error, sizeof(error)));
	assert_true(bd_image_check_grow(&l.sb, NEXTENTS, error, sizeof(error)));

	assert_true(bd_image_grow(&io, &l, 100, error, sizeof(error)));
	assert_int_equal(l.sb.nextents, 100);
	assert_int_equal(l.alloc.nfree, 100 - 2);
	bd_image_release(&io, &l);

	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	assert_true(l.sb.generation == 3);
	assert_int_equal(l.sb.nextents, 100);
	assert_int_equal(l.alloc.nextents, 100);
	assert_int_equal(l.alloc.nfree, 100 - 2);
	assert_int_equal(bd_image_verify(&io, &l, problems, 8), 0);

	/* the new extents can be handed out and written into a layout */
	assert_true(bd_image_place_forks(&io, &l.sb, &l.alloc, forks, 1, error, sizeof(error)));
	assert_int_equal(forks[0].extents[89], 91);
	assert_true(bd_image_write_layout(&io, &l.sb, &l.alloc, forks, 1, error, sizeof(error)));
	bd_image_release(&io, &l);
	assert_device_holds(forks, 1, 1);
	free_forks(forks, 1);
}

/* ---- checking: every problem, not the first (pgrac_image verify) ---- */

/* the message bd_image_load() gives for problem i of a check */
static const char *
problem_text(const BdLoadedLayout *l, int i)
{
	static char text[512];

	bd_image_meta_problem_text(l, &l->meta_problems[i], text, sizeof(text));
	return text;
}

/* a fork with one extent in a second directory page, at page address 4 */
static void
add_second_directory_page(uint32 rel, uint32 extent)
{
	BdLoadedLayout l;
	BdDirEntry	e;

	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	bd_dir_page_init(page_at(4), 4, 0, 0);
	memset(&e, 0, sizeof(e));
	e.spcoid = 1663;
	e.dboid = 5;
	e.relnumber = rel;
	e.state = BD_ENTRY_LIVE;
	e.nextents = 1;
	e.nblocks = 1;
	e.inline_extents[0] = extent;
	bd_dir_entry_encode(page_at(4), 0, &e);
	bd_page_seal(page_at(4));
	pgrac_put64(page_at(l.sb.directory_root) + 32, 4);
	bd_page_seal(page_at(l.sb.directory_root));
	bd_allocator_mark(&l.alloc, extent);
	bd_alloc_page_encode(&l.alloc, 0, 0, page_at(BD_FIRST_ALLOC_MAP_PAGE));
	bd_image_release(&io, &l);
}

/* an intact device: a check finds what a load finds, and nothing wrong */
static void
test_check_clean_device(void **state)
{
	uint32		ext[12] = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21};
	BdLoadedLayout l;
	BdProblem	problems[8];

	(void) state;
	add_fork(0, 7, ext, 12, 12 * EXTENT_PAGES, MAP_PAGE);
	add_second_directory_page(8, 30);
	assert_true(bd_image_check(&io, &l, error, sizeof(error)));
	assert_int_equal(l.nmeta_problems, 0);
	assert_int_equal(l.nalloc_pages_unknown, 0);
	assert_false(l.directory_cut);
	assert_false(l.owners_unknown);
	assert_int_equal(l.nforks, 2);
	assert_int_equal(l.ndirectory_pages, 2);
	assert_int_equal(l.forks[0].nextents_read, 12);
	assert_int_equal(l.forks[0].extents[11], 21);
	assert_int_equal(l.forks[1].entry.relnumber, 8);
	assert_int_equal(bd_image_verify(&io, &l, problems, 8), 0);
	bd_image_release(&io, &l);
}

/*
 * Three pages of three kinds damaged three ways: a check names each, in the
 * order a load meets them, with where it was reached from and what it
 * could not read past it; a load stops at the first with the same text.
 */
static void
test_check_reports_every_damaged_page(void **state)
{
	uint32		ext[12] = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21};
	BdLoadedLayout l;
	BdProblem	problems[8];
	const BdMetaProblem *p;

	(void) state;
	add_fork(0, 7, ext, 12, 12 * EXTENT_PAGES, MAP_PAGE);
	add_second_directory_page(8, 30);

	page_at(BD_FIRST_ALLOC_MAP_PAGE)[5000] ^= 0x04; /* torn */
	bd_map_page_init(page_at(MAP_PAGE), MAP_PAGE + 1, 0, 0);	/* misdirected */
	bd_page_seal(page_at(MAP_PAGE));
	page_at(4)[200] ^= 0x01;	/* torn */

	assert_false(bd_image_load(&io, &l, error, sizeof(error)));
	assert_string_equal(error, "allocation map page at page address 2: checksum mismatch (torn or corrupted write)");
	bd_image_release(&io, &l);

	assert_true(bd_image_check(&io, &l, error, sizeof(error)));
	assert_int_equal(l.nmeta_problems, 3);

	p = &l.meta_problems[0];
	assert_int_equal(p->kind, BD_META_DAMAGED);
	assert_int_equal(p->type, BD_PAGE_ALLOC_MAP);
	assert_string_equal(problem_text(&l, 0),
						"allocation map page at page address 2: checksum mismatch (torn or corrupted write)");
	assert_int_equal(l.nalloc_pages_unknown, 1);
	assert_true(l.alloc_pages_unknown[0]);

	p = &l.meta_problems[1];
	assert_int_equal(p->kind, BD_META_DAMAGED);
	assert_int_equal(p->page_error, BD_PAGE_WRONG_ADDRESS);
	assert_true(p->found_address == MAP_PAGE + 1);
	assert_true(p->from == 3 && p->dir_page == 3);
	assert_int_equal(p->slot, 0);
	assert_int_equal(p->fork, 0);
	assert_int_equal(p->extents_read, BD_DIR_INLINE_EXTENTS);
	assert_string_equal(problem_text(&l, 1),
						"extent map page at page address 10: page belongs to another address (misdirected write)");

	p = &l.meta_problems[2];
	assert_int_equal(p->type, BD_PAGE_DIRECTORY);
	assert_int_equal(p->page_error, BD_PAGE_BAD_CHECKSUM);
	assert_true(p->address == 4 && p->from == 3);
	assert_string_equal(problem_text(&l, 2),
						"directory page at page address 4: checksum mismatch (torn or corrupted write)");

	/* what was read around them */
	assert_int_equal(l.nforks, 1);
	assert_int_equal(l.forks[0].nextents_read, BD_DIR_INLINE_EXTENTS);
	assert_true(l.directory_cut);
	assert_true(l.owners_unknown);

	/*
	 * The layout checks leave out what is unknown: the fork's EOF lies past
	 * the 8 extents read, the extents' bits are unread, the unseen fork's
	 * extent 30 looks leaked; none of it is a problem found.
	 */
	assert_int_equal(bd_image_verify(&io, &l, problems, 8), 0);
	bd_image_release(&io, &l);
}

/*
 * An invalid entry is skipped and the rest of its page read; layout
 * problems among the forks read are all found, leaks not looked for.
 */
static void
test_check_skips_a_bad_entry(void **state)
{
	uint32		a[2] = {10, 11};
	uint32		b[2] = {11, 12};
	uint32		c[1] = {40};
	uint32		d[1] = {1};
	BdLoadedLayout l;
	BdProblem	problems[8];
	BdDirEntry	e;
	uint64		root;

	(void) state;
	add_fork(0, 1, a, 2, 0, 0);
	add_fork(1, 2, b, 2, 0, 0);
	add_fork(2, 3, d, 1, 1, 0); /* in the reserved metadata extents */
	add_fork(3, 4, c, 1, 1, 0); /* to be made invalid: fork number 9 */
	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	root = l.sb.directory_root;
	bd_image_release(&io, &l);
	bd_dir_entry_decode(page_at(root), 3, &e);
	e.fork = 9;
	bd_dir_entry_encode(page_at(root), 3, &e);
	bd_page_seal(page_at(root));

	assert_false(bd_image_load(&io, &l, error, sizeof(error)));
	assert_string_equal(error, "directory page at page address 3, entry 3: fork number out of range");
	bd_image_release(&io, &l);

	assert_true(bd_image_check(&io, &l, error, sizeof(error)));
	assert_int_equal(l.nmeta_problems, 1);
	assert_int_equal(l.meta_problems[0].kind, BD_META_BAD_ENTRY);
	assert_int_equal(l.meta_problems[0].entry_error, BD_ENTRY_BAD_FORK);
	assert_int_equal(l.meta_problems[0].slot, 3);
	assert_string_equal(problem_text(&l, 0),
						"directory page at page address 3, entry 3: fork number out of range");
	assert_int_equal(l.nforks, 3);
	assert_false(l.directory_cut);
	assert_true(l.owners_unknown);

	/* extent 40, allocated for the skipped entry, is not called leaked */
	assert_int_equal(bd_image_verify(&io, &l, problems, 8), 2);
	assert_int_equal(problems[0].kind, BD_PROBLEM_EXTENT_OWNED_TWICE);
	assert_int_equal(problems[0].extent, 11);
	assert_int_equal(problems[1].kind, BD_PROBLEM_EXTENT_IN_METADATA);
	assert_int_equal(problems[1].fork, 2);
	bd_image_release(&io, &l);
}

/* an extent map that ends early, then a directory that loops */
static void
test_check_short_map_and_loop(void **state)
{
	uint32		ext[12] = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21};
	BdLoadedLayout l;
	uint64		root;

	(void) state;
	add_fork(0, 7, ext, 12, 0, MAP_PAGE);
	assert_true(bd_image_load(&io, &l, error, sizeof(error)));
	root = l.sb.directory_root;
	bd_image_release(&io, &l);
	bd_map_page_init(page_at(MAP_PAGE), MAP_PAGE, 0, 0);
	bd_map_page_set(page_at(MAP_PAGE), 0, 18);
	bd_map_page_set(page_at(MAP_PAGE), 1, 19);
	bd_page_seal(page_at(MAP_PAGE));
	pgrac_put64(page_at(root) + 32, root);
	bd_page_seal(page_at(root));

	assert_true(bd_image_check(&io, &l, error, sizeof(error)));
	assert_int_equal(l.nmeta_problems, 2);
	assert_int_equal(l.meta_problems[0].kind, BD_META_MAP_SHORT);
	assert_string_equal(problem_text(&l, 0),
						"directory page at page address 3, entry 0: extent map ends after 10 of 12 extents");
	assert_int_equal(l.forks[0].nextents_read, 10);
	assert_int_equal(l.meta_problems[1].kind, BD_META_REACHED_TWICE);
	assert_true(l.meta_problems[1].from == root);
	assert_string_equal(problem_text(&l, 1),
						"directory page at page address 3 is reached twice (chains share it or loop)");
	assert_true(l.directory_cut);
	bd_image_release(&io, &l);
}

/* without a usable superblock a check cannot start, and says so */
static void
test_check_needs_a_superblock(void **state)
{
	BdLoadedLayout l;

	(void) state;
	memset(page_at(BD_SUPERBLOCK_A), 0, BD_PAGE_SIZE);
	page_at(BD_SUPERBLOCK_B)[100] ^= 1;
	assert_false(bd_image_check(&io, &l, error, sizeof(error)));
	assert_string_equal(error,
						"no valid superblock: copy A (page 0): page was never written (all zeroes); "
						"copy B (page 1): checksum mismatch (torn or corrupted write)");
	bd_image_release(&io, &l);
}

/* the smallest device a geometry allows, and why a smaller one is refused */
static void
test_min_extents(void **state)
{
	BdFormatParams p = {.extent_pages = EXTENT_PAGES,.nextents = 2,
	.max_extents = 1000,.metadata_pages = META_PAGES};
	BdSuperblock sb;

	(void) state;
	/* pages 0 .. 15 fill extents 0 and 1 */
	assert_int_equal(bd_image_min_extents(&p), 3);
	assert_false(bd_image_check_params(&p, &sb, error, sizeof(error)));
	assert_string_equal(error,
						"invalid geometry: 2 extents are too few: the metadata (13 pages of directory and extent maps, sized for up to 1000 extents) fills 2 extents of 64 kB, so a device needs at least 3");
	p.nextents = 3;
	assert_true(bd_image_check_params(&p, &sb, error, sizeof(error)));

	/* one more metadata page takes a third extent */
	p.metadata_pages = META_PAGES + 1;
	assert_int_equal(bd_image_min_extents(&p), 4);
	assert_false(bd_image_check_params(&p, &sb, error, sizeof(error)));

	p.metadata_pages = META_PAGES;
	p.nextents = 1001;
	assert_false(bd_image_check_params(&p, &sb, error, sizeof(error)));
	assert_string_equal(error, "invalid geometry: 1001 extents exceed the maximum of 1000");

	/* no data extent at all, however small the metadata */
	p.nextents = 0;
	p.max_extents = 0;
	assert_false(bd_image_check_params(&p, &sb, error, sizeof(error)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_format_then_load_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_refuses_bad_geometry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_forks_with_extent_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_reports_double_ownership, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_superblock_damage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_corrupt_metadata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_directory_cycle_and_wild_pointer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_shared_map_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_reports_io_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_layout_then_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_layout_long_extent_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_place_forks_out_of_extents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layout_out_of_metadata_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_layout_refuses_inconsistent_forks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_superblock_alternates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_clean_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_reports_every_damaged_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_skips_a_bad_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_short_map_and_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_needs_a_superblock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_min_extents, setup, teardown),
	};

	return cmocka_run_group_tests_name("bd_image", tests, NULL, NULL);
}
