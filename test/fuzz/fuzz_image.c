/*
 * Fuzz target: a whole device's metadata as the server and pgrac_image
 * load it.  The base is a small valid device (format, then three forks
 * written with bd_image_write_layout(), one long enough to need an
 * extent-map page); the input is a list of edits to its metadata pages.
 * The first byte's low bit reseals every edited page (valid checksums over
 * fuzzed contents, the case a bug in the server's own writer would make).
 *
 * Edit: page (1 byte, modulo the metadata pages), offset (2 bytes, modulo
 * the page size), length (1 byte), that many bytes.
 *
 * A layout that loads and verifies with no problem must really be
 * consistent: checked here independently of bd_verify_layout().  The
 * check pgrac_image verify runs must agree with the load.
 */
#include "fuzz_device.h"

#define EXTENT_PAGES	8
#define NEXTENTS		64
#define META_PAGES		13
#define NFORKS			3

int			LLVMFuzzerTestOneInput(const uint8 *data, size_t size);

static uint8 *base;
static uint64 base_pages;

static void
make_base(void)
{
	BdFormatParams p = {.extent_pages = EXTENT_PAGES,.nextents = NEXTENTS,
	.max_extents = NEXTENTS,.metadata_pages = META_PAGES,.device_uuid = {7}};
	BdImageFork forks[NFORKS] = {
		{.spcoid = 1663,.dboid = 5,.relnumber = 16384,.fork = 0,.nblocks = 3},
		{.spcoid = 1663,.dboid = 5,.relnumber = 16385,.fork = 0,.nblocks = 10 * EXTENT_PAGES + 1},
		{.spcoid = 1664,.dboid = 0,.relnumber = 1262,.fork = 1,.nblocks = 1},
	};
	BdLoadedLayout l;
	char		error[512];

	fuzz_device_create((uint64) EXTENT_PAGES * NEXTENTS);
	if (!bd_image_format(&fuzz_io, &p, error, sizeof(error)) ||
		!bd_image_load(&fuzz_io, &l, error, sizeof(error)) ||
		!bd_image_place_forks(&fuzz_io, &l.sb, &l.alloc, forks, NFORKS, error, sizeof(error)) ||
		!bd_image_write_layout(&fuzz_io, &l.sb, &l.alloc, forks, NFORKS, error, sizeof(error)))
	{
		fprintf(stderr, "cannot build the base device: %s\n", error);
		abort();
	}
	bd_image_release_forks(&fuzz_io, forks, NFORKS);
	base_pages = bd_metadata_end(&l.sb);
	bd_image_release(&fuzz_io, &l);
	base = malloc(base_pages * BD_PAGE_SIZE);
	memcpy(base, fuzz_device, base_pages * BD_PAGE_SIZE);
}

/* What "consistent" means, written out separately from the verifier. */
static void
check_consistent(const BdLoadedLayout *l)
{
	bool	   *owned = calloc(Max(l->sb.nextents, 1), sizeof(bool));
	uint32		reserved = l->alloc.reserved;

	FUZZ_REQUIRE(l->sb.nextents <= l->sb.max_extents,
				 "extent counts %u of %u", l->sb.nextents, l->sb.max_extents);
	for (int i = 0; i < l->nforks; i++)
	{
		const BdLoadedFork *f = &l->forks[i];

		FUZZ_REQUIRE(f->entry.fork <= BD_MAX_FORK, "fork number %u", f->entry.fork);
		FUZZ_REQUIRE(f->entry.state == BD_ENTRY_LIVE || f->entry.state == BD_ENTRY_TOMBSTONE,
					 "entry state %u", f->entry.state);
		FUZZ_REQUIRE((uint64) f->entry.nblocks <= (uint64) f->entry.nextents * l->sb.extent_pages,
					 "EOF %u beyond %u extents", f->entry.nblocks, f->entry.nextents);
		FUZZ_REQUIRE(f->dir_page >= l->sb.directory_root &&
					 f->dir_page < l->sb.directory_root + l->sb.metadata_pages,
					 "directory page %llu outside the metadata area", (unsigned long long) f->dir_page);
		for (uint32 j = 0; j < f->entry.nextents; j++)
		{
			uint32		e = f->extents[j];

			FUZZ_REQUIRE(e >= reserved && e < l->sb.nextents,
						 "extent %u outside [%u, %u)", e, reserved, l->sb.nextents);
			FUZZ_REQUIRE(!owned[e], "extent %u owned twice", e);
			FUZZ_REQUIRE(bd_allocator_is_allocated(&l->alloc, e), "extent %u mapped but free", e);
			owned[e] = true;
		}
	}
	free(owned);
}

/*
 * What pgrac_image verify reads (bd_image_check(), which goes on past
 * problems) agrees with what the server loads: no problem exactly when the
 * load succeeds, with the same forks; otherwise the load's error is the
 * check's first problem.  The verifier runs on whatever was read.
 */
static void
check_against_load(bool loaded, const BdLoadedLayout *l, const char *lerror)
{
	BdLoadedLayout c;
	BdProblem	problems[8];
	char		cerror[512];
	char text[	512];
	bool		checked = bd_image_check(&fuzz_io, &c, cerror, sizeof(cerror));

	if (loaded)
		FUZZ_REQUIRE(checked && c.nmeta_problems == 0 && c.nforks == l->nforks &&
					 !c.owners_unknown && c.nalloc_pages_unknown == 0,
					 "the load succeeds but the check finds %d problems", c.nmeta_problems);
	else if (checked)
	{
		FUZZ_REQUIRE(c.nmeta_problems > 0, "the load fails (%s), the check finds nothing", lerror);
		bd_image_meta_problem_text(&c, &c.meta_problems[0], text, sizeof(text));
		FUZZ_REQUIRE(strcmp(text, lerror) == 0, "the load says \"%s\", the check \"%s\"", lerror, text);
	}
	else
		FUZZ_REQUIRE(strcmp(cerror, lerror) == 0, "the load says \"%s\", the check \"%s\"", lerror, cerror);
	if (checked)
		(void) bd_image_verify(&fuzz_io, &c, problems, lengthof(problems));
	bd_image_release(&fuzz_io, &c);
}

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	static bool edited[256];
	BdLoadedLayout l;
	BdProblem	problems[8];
	char		error[512];
	bool		reseal;
	bool		loaded;
	size_t		pos = 1;

	if (base == NULL)
		make_base();
	memcpy(fuzz_device, base, base_pages * BD_PAGE_SIZE);
	memset(edited, 0, sizeof(edited));
	reseal = size > 0 && (data[0] & 1);
	while (pos + 4 <= size)
	{
		uint32		page = data[pos] % base_pages;
		uint32		offset = (data[pos + 1] | (data[pos + 2] << 8)) % BD_PAGE_SIZE;
		uint32		len = data[pos + 3];

		pos += 4;
		len = Min(len, (uint32) (size - pos));
		len = Min(len, BD_PAGE_SIZE - offset);
		memcpy(fuzz_device + (uint64) page * BD_PAGE_SIZE + offset, data + pos, len);
		pos += len;
		edited[page] = true;
	}
	if (reseal)
		for (uint64 p = 0; p < base_pages; p++)
			if (edited[p])
				bd_page_seal(fuzz_device + p * BD_PAGE_SIZE);

	loaded = bd_image_load(&fuzz_io, &l, error, sizeof(error));
	check_against_load(loaded, &l, error);
	if (!loaded)
		return 0;
	if (bd_image_verify(&fuzz_io, &l, problems, lengthof(problems)) == 0)
		check_consistent(&l);
	bd_image_release(&fuzz_io, &l);
	return 0;
}
