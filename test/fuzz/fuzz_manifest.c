/*
 * Fuzz target: a block-device backup's manifest, as verify-backup and
 * restore read it.  Whatever the decoder accepts must be exactly what the
 * encoder writes for the values it returned (one spelling per manifest,
 * so that a manifest it accepts describes one copy), with extent numbers
 * increasing and inside the device, and unchanged runs (an incremental
 * backup's) increasing, inside the device and apart from the copied
 * extents.
 */
#include "fuzz_device.h"

#include "pgrac/bd_manifest.h"

int			LLVMFuzzerTestOneInput(const uint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	static BdManifestExtent items[4096];
	static BdManifestRun runs[4096];
	static char again[1 << 17];
	BdManifest	m;
	char		error[256];
	uint32		n = bd_manifest_count_extents((const char *) data, size);
	uint32		nruns = bd_manifest_count_runs((const char *) data, size);
	size_t		len;

	if (n > lengthof(items) || nruns > lengthof(runs) ||
		!bd_manifest_decode((const char *) data, size, &m, items, n, runs, nruns,
							error, sizeof(error)))
		return 0;
	FUZZ_REQUIRE(m.nitems <= n, "%u extents decoded, %u counted", m.nitems, n);
	for (uint32 i = 0; i < m.nitems; i++)
	{
		FUZZ_REQUIRE(items[i].extent < m.nextents, "extent %u of %u", items[i].extent, m.nextents);
		FUZZ_REQUIRE(i == 0 || items[i].extent > items[i - 1].extent, "extents out of order at %u", i);
		FUZZ_REQUIRE(!bd_manifest_unchanged(&m, items[i].extent), "extent %u both copied and unchanged",
					 items[i].extent);
	}
	for (uint32 i = 0; i < m.nruns; i++)
	{
		FUZZ_REQUIRE(m.incremental, "unchanged extents in a full backup");
		FUZZ_REQUIRE(runs[i].count > 0 && runs[i].first < m.nextents &&
					 runs[i].count <= m.nextents - runs[i].first, "run %u outside the device", i);
		FUZZ_REQUIRE(i == 0 || runs[i].first >= runs[i - 1].first + runs[i - 1].count,
					 "runs out of order at %u", i);
	}
	len = bd_manifest_encode(&m, again, sizeof(again));
	FUZZ_REQUIRE(len == size && memcmp(again, data, size) == 0,
				 "an accepted manifest of %zu bytes encodes again as %zu different bytes", size, len);
	return 0;
}
