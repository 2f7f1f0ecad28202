/*
 * Unit tests of the metadata memory estimate and the default extent size
 * (include/pgrac/bd_memory.h): the default keeps every device within its
 * budget, never gives a larger device smaller extents, leaves small devices
 * (the embedded image's 64 GB) at 128 kB, and fixes what the old fixed
 * default did to a large device.
 */
#include "c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "pgrac/bd_format.h"
#include "pgrac/bd_memory.h"

#define KiB			(UINT64CONST(1) << 10)
#define MiB			(UINT64CONST(1) << 20)
#define GiB			(UINT64CONST(1) << 30)
#define TiB			(UINT64CONST(1) << 40)

/* memory of a device of max_bytes at its default extent size */
static uint64
default_memory(uint64 max_bytes, uint32 *extents_out)
{
	uint64		extent = (uint64) bd_default_extent_pages(max_bytes) * BD_PAGE_SIZE;
	uint32		extents = (uint32) (max_bytes / extent);

	if (extents_out)
		*extents_out = extents;
	return bd_memory_bytes(extents, bd_default_metadata_pages(extents));
}

static void
test_small_devices_keep_128kB(void **state)
{
	(void) state;
	assert_int_equal(bd_default_extent_pages(64 * MiB), 16);
	assert_int_equal(bd_default_extent_pages(64 * GiB), 16);	/* the embedded image */
	assert_int_equal(bd_default_extent_pages(128 * GiB), 16);
	assert_int_equal(bd_default_extent_pages(256 * GiB), 32);
}

static void
test_large_devices_get_larger_extents(void **state)
{
	(void) state;
	assert_int_equal(bd_default_extent_pages(1 * TiB), 128);	/* 1 MB */
	assert_int_equal(bd_default_extent_pages(8 * TiB), 256);	/* 2 MB */
	assert_int_equal(bd_default_extent_pages(64 * TiB), 256);
	assert_true(bd_default_extent_pages(UINT64CONST(1) << 50) >= 512);

	/* the old fixed default: 8 TB at 128 kB costs over four times its budget */
	assert_true(bd_memory_bytes((uint32) (8 * TiB / (128 * KiB)),
								bd_default_metadata_pages((uint32) (8 * TiB / (128 * KiB)))) >
				4 * bd_memory_budget(8 * TiB));
}

/*
 * Every device size, powers of two and between them: within the budget,
 * never more than 32 MiB per TiB from 1.5 TiB, every extent mappable by
 * the default metadata area (it is not capped), and monotonic.
 */
static void
test_every_size_within_budget(void **state)
{
	uint32		last = 0;

	(void) state;
	for (uint64 size = 64 * MiB; size <= (UINT64CONST(1) << 52); size += size / 4)
	{
		uint32		pages = bd_default_extent_pages(size);
		uint32		extents;
		uint64		memory = default_memory(size, &extents);
		uint64		needed = bd_metadata_pages_wanted(extents);

		assert_true(pages >= last);
		last = pages;
		assert_true(memory <= bd_memory_budget(size));
		if (size >= 3 * TiB / 2)
			assert_true(memory <= size / 32768);
		else
			assert_true(memory <= 48 * MiB);
		assert_true(needed <= BD_MAX_METADATA_PAGES);
		assert_int_equal(bd_default_metadata_pages(extents), (uint32) needed);
	}
}

static void
test_estimate_parts(void **state)
{
	(void) state;
	/* the fork table's floor and cap */
	assert_int_equal(bd_memory_max_forks(1), 1024);
	assert_int_equal(bd_memory_max_forks(1000), 127000);
	assert_int_equal(bd_memory_max_forks(BD_MAX_METADATA_PAGES), 4 * 1024 * 1024);
	assert_int_equal(bd_memory_max_map_pages(10), 64);
	assert_int_equal(bd_memory_max_map_pages(5000), 5000);
	/* at least the cached pages themselves, and growing with the device */
	assert_true(bd_memory_bytes(65536, 2000) >= (uint64) 2002 * BD_PAGE_SIZE);
	assert_true(bd_memory_bytes(1 << 20, bd_default_metadata_pages(1 << 20)) >
				bd_memory_bytes(1 << 19, bd_default_metadata_pages(1 << 19)));
	/* the budget: a floor, then 32 MiB per TiB */
	assert_true(bd_memory_budget(1 * GiB) == 48 * MiB);
	assert_true(bd_memory_budget(8 * TiB) == 256 * MiB);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_devices_keep_128kB),
		cmocka_unit_test(test_large_devices_get_larger_extents),
		cmocka_unit_test(test_every_size_within_budget),
		cmocka_unit_test(test_estimate_parts),
	};

	return cmocka_run_group_tests_name("bd_memory", tests, NULL, NULL);
}
