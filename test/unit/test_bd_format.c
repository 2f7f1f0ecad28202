/*
 * Unit tests of the block-device on-disk format: page header, checksums,
 * superblock encoding, choice between the two copies, geometry checks.
 *
 * The attacks are the ways a metadata page goes wrong on real storage:
 * torn writes (a sector of the new page over the old one), bit rot,
 * misdirected writes (a valid page at the wrong address), stale copies,
 * never-written pages.
 */
#include "c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "pgrac/bd_format.h"
#include "bd_sample.h"

static void
test_little_endian_layout(void **state)
{
	uint8		b[8];

	(void) state;
	pgrac_put32(b, 0x01020304);
	assert_int_equal(b[0], 0x04);
	assert_int_equal(b[3], 0x01);
	pgrac_put64(b, UINT64CONST(0x0102030405060708));
	assert_int_equal(b[0], 0x08);
	assert_int_equal(b[7], 0x01);
	assert_true(pgrac_get64(b) == UINT64CONST(0x0102030405060708));
	pgrac_put16(b, 0xbeef);
	assert_int_equal(pgrac_get16(b), 0xbeef);
}

static void
test_superblock_round_trip(void **state)
{
	uint8		page[BD_PAGE_SIZE];
	BdSuperblock in = sample_superblock(6);
	BdSuperblock out;

	(void) state;
	bd_superblock_encode(&in, BD_SUPERBLOCK_A, page);
	assert_int_equal(bd_superblock_decode(page, BD_SUPERBLOCK_A, &out), BD_PAGE_OK);
	assert_true(out.generation == 6);
	assert_memory_equal(out.device_uuid, in.device_uuid, 16);
	assert_true(out.system_identifier == in.system_identifier);
	assert_int_equal(out.extent_pages, in.extent_pages);
	assert_int_equal(out.max_extents, in.max_extents);
	assert_int_equal(out.nextents, in.nextents);
	assert_int_equal(out.alloc_map_pages, in.alloc_map_pages);
	assert_true(out.directory_root == in.directory_root);
	assert_true(out.clean);
	assert_true(out.checkpoint_redo == in.checkpoint_redo);
	assert_int_equal(out.metadata_pages, 4);
	assert_int_equal(bd_superblock_validate(&out), BD_SB_OK);
}

/* every single-bit error anywhere in the page is detected */
static void
test_every_bit_flip_is_detected(void **state)
{
	uint8		page[BD_PAGE_SIZE];
	BdSuperblock sb = sample_superblock(2);

	(void) state;
	bd_superblock_encode(&sb, BD_SUPERBLOCK_A, page);
	for (int byte = 0; byte < BD_PAGE_SIZE; byte++)
	{
		uint8		bit = (uint8) (1 << (byte % 8));
		BdPageError e;

		page[byte] ^= bit;
		e = bd_page_check(page, BD_PAGE_SUPERBLOCK, BD_SUPERBLOCK_A);
		assert_int_not_equal(e, BD_PAGE_OK);
		page[byte] ^= bit;
	}
	assert_int_equal(bd_page_check(page, BD_PAGE_SUPERBLOCK, BD_SUPERBLOCK_A), BD_PAGE_OK);
}

/*
 * A torn write: some 512-byte sectors of the new version over the old one,
 * in either order, for a page whose contents differ in every sector (as a
 * directory or map page's do).
 */
static void
fill_page(uint8 *page, uint8 seed)
{
	bd_page_init(page, BD_PAGE_DIRECTORY, 42, seed);
	for (int i = BD_HEADER_SIZE; i < BD_PAGE_SIZE; i++)
		page[i] = (uint8) (i * 31 + seed);
	bd_page_seal(page);
}

static void
test_torn_write_is_detected(void **state)
{
	uint8		old_page[BD_PAGE_SIZE];
	uint8		new_page[BD_PAGE_SIZE];

	(void) state;
	fill_page(old_page, 1);
	fill_page(new_page, 2);
	for (int sectors = 1; sectors < BD_PAGE_SIZE / 512; sectors++)
	{
		uint8		torn[BD_PAGE_SIZE];

		/* head of the new page reached the device, the tail did not */
		memcpy(torn, old_page, BD_PAGE_SIZE);
		memcpy(torn, new_page, sectors * 512);
		assert_int_equal(bd_page_check(torn, BD_PAGE_DIRECTORY, 42),
						 BD_PAGE_BAD_CHECKSUM);

		/* and the other way round */
		memcpy(torn, new_page, BD_PAGE_SIZE);
		memcpy(torn, old_page, sectors * 512);
		assert_int_equal(bd_page_check(torn, BD_PAGE_DIRECTORY, 42),
						 BD_PAGE_BAD_CHECKSUM);
	}
	assert_int_equal(bd_page_check(new_page, BD_PAGE_DIRECTORY, 42), BD_PAGE_OK);
}

static void
test_misdirected_and_wrong_type(void **state)
{
	uint8		page[BD_PAGE_SIZE];

	(void) state;
	bd_page_init(page, BD_PAGE_DIRECTORY, 77, 0x500);
	bd_page_seal(page);
	assert_int_equal(bd_page_check(page, BD_PAGE_DIRECTORY, 77), BD_PAGE_OK);
	assert_int_equal(bd_page_check(page, BD_PAGE_DIRECTORY, 78), BD_PAGE_WRONG_ADDRESS);
	assert_int_equal(bd_page_check(page, BD_PAGE_EXTENT_MAP, 77), BD_PAGE_WRONG_TYPE);
}

static void
test_never_written_and_foreign_pages(void **state)
{
	uint8		page[BD_PAGE_SIZE];

	(void) state;
	memset(page, 0, sizeof(page));
	assert_int_equal(bd_page_check(page, BD_PAGE_SUPERBLOCK, 0), BD_PAGE_ALL_ZERO);
	page[5000] = 1;
	assert_int_equal(bd_page_check(page, BD_PAGE_SUPERBLOCK, 0), BD_PAGE_BAD_MAGIC);
	memset(page, 0xff, sizeof(page));
	assert_int_equal(bd_page_check(page, BD_PAGE_SUPERBLOCK, 0), BD_PAGE_BAD_MAGIC);
}

static void
test_future_version_refused(void **state)
{
	uint8		page[BD_PAGE_SIZE];

	(void) state;
	bd_page_init(page, BD_PAGE_ALLOC_MAP, 2, 0);
	pgrac_put16(page + 6, BD_FORMAT_VERSION + 1);
	bd_page_seal(page);
	assert_int_equal(bd_page_check(page, BD_PAGE_ALLOC_MAP, 2), BD_PAGE_BAD_VERSION);
}

static void
test_lsn_change_needs_reseal(void **state)
{
	uint8		page[BD_PAGE_SIZE];
	BdPageHeader h;

	(void) state;
	bd_page_init(page, BD_PAGE_EXTENT_MAP, 300, 0x10);
	bd_page_seal(page);
	bd_page_set_lsn(page, 0x20);
	assert_int_equal(bd_page_check(page, BD_PAGE_EXTENT_MAP, 300), BD_PAGE_BAD_CHECKSUM);
	bd_page_seal(page);
	assert_int_equal(bd_page_check(page, BD_PAGE_EXTENT_MAP, 300), BD_PAGE_OK);
	bd_page_read_header(page, &h);
	assert_true(h.lsn == 0x20);
	assert_true(h.address == 300);
	assert_int_equal(h.type, BD_PAGE_EXTENT_MAP);
}

/* ---- choosing between the two superblock copies ---- */

static void
encode_at_home(uint64 generation, uint8 *page_a, uint8 *page_b, BdSuperblock *sb)
{
	uint64		address = bd_superblock_address_for(generation);

	sb->generation = generation;
	bd_superblock_encode(sb, address, address == BD_SUPERBLOCK_A ? page_a : page_b);
}

static void
test_choose_highest_generation(void **state)
{
	uint8		a[BD_PAGE_SIZE];
	uint8		b[BD_PAGE_SIZE];
	BdSuperblock sb = sample_superblock(0);
	BdSuperblock best;
	BdPageError ea;
	BdPageError eb;

	(void) state;
	encode_at_home(10, a, b, &sb);	/* A */
	encode_at_home(11, a, b, &sb);	/* B */
	assert_int_equal(bd_superblock_choose(a, b, &best, &ea, &eb), 1);
	assert_true(best.generation == 11);
	encode_at_home(12, a, b, &sb);	/* A again */
	assert_int_equal(bd_superblock_choose(a, b, &best, &ea, &eb), 0);
	assert_true(best.generation == 12);
}

static void
test_choose_survives_torn_newest_copy(void **state)
{
	uint8		a[BD_PAGE_SIZE];
	uint8		b[BD_PAGE_SIZE];
	BdSuperblock sb = sample_superblock(0);
	BdSuperblock best;
	BdPageError ea;
	BdPageError eb;

	(void) state;
	encode_at_home(20, a, b, &sb);
	encode_at_home(21, a, b, &sb);
	b[4100] ^= 0x40;			/* generation 21 torn */
	assert_int_equal(bd_superblock_choose(a, b, &best, &ea, &eb), 0);
	assert_true(best.generation == 20);
	assert_int_equal(eb, BD_PAGE_BAD_CHECKSUM);
	a[10] ^= 1;					/* and now both */
	assert_int_equal(bd_superblock_choose(a, b, &best, &ea, &eb), -1);
	assert_int_equal(ea, BD_PAGE_BAD_CHECKSUM);
}

/* a copy whose generation belongs at the other address is not trusted */
static void
test_choose_rejects_copy_at_wrong_home(void **state)
{
	uint8		a[BD_PAGE_SIZE];
	uint8		b[BD_PAGE_SIZE];
	BdSuperblock sb = sample_superblock(30);
	BdSuperblock best;
	BdPageError ea;
	BdPageError eb;

	(void) state;
	encode_at_home(31, a, b, &sb);	/* valid B */
	sb.generation = 40;			/* even: belongs in A */
	bd_superblock_encode(&sb, BD_SUPERBLOCK_A, a);
	memcpy(b, a, BD_PAGE_SIZE); /* ... but also written over B */
	pgrac_put64(b + 8, BD_SUPERBLOCK_B);	/* with B's address, resealed */
	bd_page_seal(b);
	assert_int_equal(bd_superblock_choose(a, b, &best, &ea, &eb), 0);
	assert_int_equal(eb, BD_PAGE_WRONG_ADDRESS);
	assert_true(best.generation == 40);
}

/* ---- geometry ---- */

static void
test_alloc_map_size(void **state)
{
	(void) state;
	assert_int_equal(BD_ALLOC_BITS_PER_PAGE, 65280);
	assert_int_equal(bd_alloc_map_pages(1), 1);
	assert_int_equal(bd_alloc_map_pages(65280), 1);
	assert_int_equal(bd_alloc_map_pages(65281), 2);
	/* 16 TiB of 1 MiB extents */
	assert_int_equal(bd_alloc_map_pages(16 * 1024 * 1024), 258);
	assert_true(bd_first_directory_page(3) == 5);
}

static void
test_validate_geometry(void **state)
{
	BdSuperblock sb;

	(void) state;
	sb = sample_superblock(2);
	sb.extent_pages = 100;
	assert_int_equal(bd_superblock_validate(&sb), BD_SB_BAD_EXTENT_SIZE);
	sb.extent_pages = 4;
	assert_int_equal(bd_superblock_validate(&sb), BD_SB_BAD_EXTENT_SIZE);

	sb = sample_superblock(2);
	sb.nextents = sb.max_extents + 1;
	assert_int_equal(bd_superblock_validate(&sb), BD_SB_BAD_CAPACITY);

	sb = sample_superblock(2);
	sb.alloc_map_pages++;
	assert_int_equal(bd_superblock_validate(&sb), BD_SB_BAD_ALLOC_MAP);

	sb = sample_superblock(2);
	sb.directory_root = 1;
	assert_int_equal(bd_superblock_validate(&sb), BD_SB_BAD_DIRECTORY_ROOT);

	/* metadata alone would fill the device */
	sb = sample_superblock(2);
	sb.extent_pages = 8;
	sb.max_extents = 1000000;
	sb.alloc_map_pages = bd_alloc_map_pages(sb.max_extents);
	sb.directory_root = bd_first_directory_page(sb.alloc_map_pages);
	sb.nextents = 3;
	assert_int_equal(bd_superblock_validate(&sb), BD_SB_BAD_CAPACITY);
	sb.nextents = 4;
	assert_int_equal(bd_superblock_validate(&sb), BD_SB_OK);
	/* pages 0 .. 21 are metadata: four more pages need another extent */
	sb.metadata_pages = 8;
	assert_int_equal(bd_superblock_validate(&sb), BD_SB_BAD_CAPACITY);

	/* no metadata area at all */
	sb = sample_superblock(2);
	sb.metadata_pages = 0;
	assert_int_equal(bd_superblock_validate(&sb), BD_SB_BAD_CAPACITY);
}

static void
test_error_texts(void **state)
{
	(void) state;
	assert_string_equal(bd_page_error_text(BD_PAGE_BAD_CHECKSUM),
						"checksum mismatch (torn or corrupted write)");
	assert_string_equal(bd_page_error_text(BD_PAGE_WRONG_ADDRESS),
						"page belongs to another address (misdirected write)");
	assert_string_equal(bd_superblock_error_text(BD_SB_BAD_ALLOC_MAP),
						"allocation map size does not match the maximum capacity");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_little_endian_layout),
		cmocka_unit_test(test_superblock_round_trip),
		cmocka_unit_test(test_every_bit_flip_is_detected),
		cmocka_unit_test(test_torn_write_is_detected),
		cmocka_unit_test(test_misdirected_and_wrong_type),
		cmocka_unit_test(test_never_written_and_foreign_pages),
		cmocka_unit_test(test_future_version_refused),
		cmocka_unit_test(test_lsn_change_needs_reseal),
		cmocka_unit_test(test_choose_highest_generation),
		cmocka_unit_test(test_choose_survives_torn_newest_copy),
		cmocka_unit_test(test_choose_rejects_copy_at_wrong_home),
		cmocka_unit_test(test_alloc_map_size),
		cmocka_unit_test(test_validate_geometry),
		cmocka_unit_test(test_error_texts),
	};

	return cmocka_run_group_tests_name("bd_format", tests, NULL, NULL);
}
