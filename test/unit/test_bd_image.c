/*
 * Unit tests of formatting and loading a whole device, on an in-memory
 * device, including corruptions a load must refuse with the page address.
 * sources: src/blockdev/bd_image.c src/blockdev/bd_layout.c src/blockdev/bd_directory.c src/blockdev/bd_format.c
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

static uint8 *device;			/* NPAGES pages */
static int	fail_reads_at = -1;

static bool
mem_read(void *arg, uint64 address, uint8 *page)
{
	(void) arg;
	if (address >= NPAGES || (int) address == fail_reads_at)
		return false;
	memcpy(page, device + address * BD_PAGE_SIZE, BD_PAGE_SIZE);
	return true;
}

static bool
mem_write(void *arg, uint64 address, const uint8 *page)
{
	(void) arg;
	if (address >= NPAGES)
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
	BdFormatParams p = {.extent_pages = EXTENT_PAGES, .nextents = NEXTENTS,
		.max_extents = 1000, .metadata_pages = META_PAGES, .device_uuid = {1, 2, 3}};

	(void) state;
	device = calloc(NPAGES, BD_PAGE_SIZE);
	fail_reads_at = -1;
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
	assert_int_equal(l.sb_copy, 0);		/* generation 2 lives in A */
	assert_true(l.sb.generation == 2);
	assert_int_equal(l.sb.extent_pages, EXTENT_PAGES);
	assert_int_equal(l.nforks, 0);
	assert_int_equal(l.ndirectory_pages, 1);
	assert_int_equal(l.alloc.reserved, 2);	/* pages 0..15 fill extents 0 and 1 */
	assert_int_equal(l.alloc.nfree, NEXTENTS - 2);
	assert_int_equal(bd_image_verify(&io, &l, problems, 8), 0);
	bd_image_release(&io, &l);
}

static void
test_format_refuses_bad_geometry(void **state)
{
	BdFormatParams p = {.extent_pages = 100, .nextents = NEXTENTS, .max_extents = 1000};

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
	bd_put64(page_at(root) + 32, root);
	bd_page_seal(page_at(root));
	assert_false(bd_image_load(&io, &l, error, sizeof(error)));
	assert_string_equal(error, "directory page at page address 3 is reached twice (chains share it or loop)");
	bd_image_release(&io, &l);

	/* ... or beyond the end of the device */
	bd_put64(page_at(root) + 32, NPAGES + 5);
	bd_page_seal(page_at(root));
	assert_false(bd_image_load(&io, &l, error, sizeof(error)));
	assert_string_equal(error, "directory page address 517 lies outside the metadata pages (3 .. 15)");
	bd_image_release(&io, &l);

	/* ... or at the superblock */
	bd_put64(page_at(root) + 32, 1);
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
	};

	return cmocka_run_group_tests_name("bd_image", tests, NULL, NULL);
}
