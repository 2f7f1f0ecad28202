/*
 * Fuzz target: the checksum layer's state file (pg_pgrac/checksum_state)
 * and its WAL record, as the server reads them at start and in redo.  The
 * first byte chooses which.  An input that decodes must encode back to the
 * same bytes, keep its transitions in LSN order, name only stored states,
 * and answer a state for any redo pointer.
 */
#include "fuzz_device.h"

#include "pgrac/checksum_state.h"

int			LLVMFuzzerTestOneInput(const uint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	char		error[256];

	if (size < 1)
		return 0;
	if (data[0] & 1)
	{
		PgracChecksumWalRecord rec;
		uint8		again[PGRAC_CHECKSUM_WAL_SIZE];
		char text[	256];

		if (!pgrac_checksum_wal_decode(data + 1, size - 1, &rec, error, sizeof(error)))
			return 0;
		FUZZ_REQUIRE(rec.from <= PGRAC_CHECKSUMS_MAX_STORED && rec.to <= PGRAC_CHECKSUMS_MAX_STORED,
					 "record names states %d and %d", rec.from, rec.to);
		pgrac_checksum_wal_describe(&rec, text, sizeof(text));
		pgrac_checksum_wal_encode(&rec, again);
		/* the zero bytes are not checked on decode: compare what is read */
		FUZZ_REQUIRE(again[1] == data[2] && again[2] == data[3] &&
					 memcmp(again + 4, data + 5, 8) == 0 && memcmp(again + 16, data + 17, 8) == 0,
					 "a decoded record does not encode back");
	}
	else
	{
		static PgracChecksumFile file;
		static uint8 again[PGRAC_CHECKSUM_FILE_MAX_SIZE];
		PgracChecksumState s;
		size_t		len;

		if (!pgrac_checksum_file_decode(data + 1, size - 1, &file, error, sizeof(error)))
			return 0;
		FUZZ_REQUIRE(file.nentries >= 0 && file.nentries <= PGRAC_CHECKSUM_HISTORY_MAX,
					 "%d transitions", file.nentries);
		for (int i = 0; i < file.nentries; i++)
		{
			FUZZ_REQUIRE(file.entries[i].to <= PGRAC_CHECKSUMS_MAX_STORED, "a transition to state %d",
						 file.entries[i].to);
			if (i > 0)
				FUZZ_REQUIRE(file.entries[i].lsn > file.entries[i - 1].lsn, "transitions out of order");
		}
		len = pgrac_checksum_file_encode(&file, again);
		FUZZ_REQUIRE(len == size - 1 && memcmp(again, data + 1, len) == 0,
					 "a decoded state file does not encode back to its bytes");
		for (int i = 0; i <= file.nentries; i++)
		{
			uint64		redo = i < file.nentries ? file.entries[i].lsn : UINT64_MAX;

			s = pgrac_checksum_state_at(&file, redo);
			FUZZ_REQUIRE(s <= PGRAC_CHECKSUMS_UNKNOWN, "state %d at a redo pointer", s);
		}
	}
	return 0;
}
