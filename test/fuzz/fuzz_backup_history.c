/*
 * Fuzz target: a line of the backup history file (pg_pgrac/backup_history),
 * as the server reads it.  Whatever the decoder accepts must be exactly
 * what the encoder writes for the entry it returned (one spelling per
 * entry), with the fields the reader promises: a stop LSN only with a stop
 * time, not before the start, and only for a completed backup.
 */
#include "fuzz_device.h"

#include "pgrac/backup_history.h"

int			LLVMFuzzerTestOneInput(const uint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	static char again[PGRAC_HISTORY_LINE_MAX];
	PgracHistoryEntry e;
	char		error[256];
	size_t		len;

	if (!pgrac_history_decode((const char *) data, size, &e, error, sizeof(error)))
		return 0;
	FUZZ_REQUIRE(strlen(e.text) <= PGRAC_HISTORY_TEXT_MAX, "text of %zu bytes", strlen(e.text));
	if (e.kind == PGRAC_HISTORY_BACKUP)
	{
		FUZZ_REQUIRE((e.stop_lsn != 0) == (e.stopped_at != 0), "stop LSN and time disagree");
		FUZZ_REQUIRE(e.stop_lsn == 0 || e.stop_lsn >= e.start_lsn, "stop before start");
		FUZZ_REQUIRE((e.result == PGRAC_BACKUP_COMPLETED) == (e.stop_lsn != 0),
					 "result %d with stop LSN %llu", (int) e.result,
					 (unsigned long long) e.stop_lsn);
	}
	else
		FUZZ_REQUIRE(e.kind == PGRAC_HISTORY_RESTORE_POINT, "kind %d", (int) e.kind);
	len = pgrac_history_encode(&e, again, sizeof(again));
	FUZZ_REQUIRE(len == size + 1 && memcmp(again, data, size) == 0 && again[size] == '\n',
				 "an accepted line of %zu bytes encodes again as %zu different bytes", size, len);
	return 0;
}
