/*-------------------------------------------------------------------------
 *
 * checksum_state.c
 *	  The checksum layer's state machine, state file and WAL record
 *	  encoding (include/pgrac/checksum_state.h; docs/checksums.md).
 *
 * The graph has six edges:
 *
 *	  off ---------> inprogress-on ---------> on
 *	   ^  enable          |       sweep done  |  ^
 *	   |                  | disable (abort)   |  | enable (cancel)
 *	   +------------------+                   v  |
 *	   +-------------------------------- inprogress-off
 *	          every process absorbed it
 *
 * The moves towards verification (off -> inprogress-on, inprogress-on ->
 * on, inprogress-off -> on) are refused unless wal_log_hints and
 * full_page_writes are on and core's own data checksums are off: without
 * the first two, a page torn by a crash after a hint-bit-only change would
 * fail verification with no full-page image to repair it; with the third,
 * core already does the job.  Moves away from verification are never
 * refused: turning checksums off must always be possible.
 *
 * src/checksum/checksum_state.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "port/pg_crc32c.h"

#include "pgrac/byte_order.h"
#include "pgrac/checksum_state.h"

static PgracChecksumDecision
decision(PgracChecksumVerdict verdict, PgracChecksumState from, PgracChecksumState to,
		 PgracChecksumRefusal refusal)
{
	PgracChecksumDecision d;

	d.verdict = verdict;
	d.from = from;
	d.to = to;
	d.refusal = refusal;
	return d;
}

static PgracChecksumDecision
move(PgracChecksumState from, PgracChecksumState to)
{
	return decision(PGRAC_CHECKSUM_MOVE, from, to, PGRAC_CHECKSUM_REFUSAL_NONE);
}

static PgracChecksumDecision
nothing(PgracChecksumState state)
{
	return decision(PGRAC_CHECKSUM_NOTHING, state, state, PGRAC_CHECKSUM_REFUSAL_NONE);
}

static PgracChecksumDecision
refuse(PgracChecksumState state, PgracChecksumRefusal refusal)
{
	return decision(PGRAC_CHECKSUM_REFUSED, state, state, refusal);
}

/* The settings a move towards verification needs, first failing one. */
static PgracChecksumRefusal
settings_refusal(const PgracChecksumSettings *settings)
{
	if (settings->core_data_checksums)
		return PGRAC_CHECKSUM_REFUSAL_CORE_CHECKSUMS;
	if (!settings->wal_log_hints)
		return PGRAC_CHECKSUM_REFUSAL_WAL_LOG_HINTS;
	if (!settings->full_page_writes)
		return PGRAC_CHECKSUM_REFUSAL_FULL_PAGE_WRITES;
	return PGRAC_CHECKSUM_REFUSAL_NONE;
}

/* A move towards verification, if the settings allow it. */
static PgracChecksumDecision
move_towards_on(PgracChecksumState from, PgracChecksumState to,
				const PgracChecksumSettings *settings)
{
	PgracChecksumRefusal r = settings_refusal(settings);

	if (r != PGRAC_CHECKSUM_REFUSAL_NONE)
		return refuse(from, r);
	return move(from, to);
}

PgracChecksumDecision
pgrac_checksum_decide(PgracChecksumState state, PgracChecksumEvent event,
					  const PgracChecksumSettings *settings)
{
	if (state == PGRAC_CHECKSUMS_UNKNOWN)
		return refuse(state, PGRAC_CHECKSUM_REFUSAL_UNKNOWN_STATE);

	switch (event)
	{
		case PGRAC_CHECKSUM_ENABLE:
			if (state == PGRAC_CHECKSUMS_OFF)
				return move_towards_on(state, PGRAC_CHECKSUMS_INPROGRESS_ON, settings);
			if (state == PGRAC_CHECKSUMS_INPROGRESS_OFF)
				return move_towards_on(state, PGRAC_CHECKSUMS_ON, settings);
			return nothing(state);

		case PGRAC_CHECKSUM_SWEEP_DONE:
			if (state != PGRAC_CHECKSUMS_INPROGRESS_ON)
				return refuse(state, PGRAC_CHECKSUM_REFUSAL_NOT_SWEEPING);
			return move_towards_on(state, PGRAC_CHECKSUMS_ON, settings);

		case PGRAC_CHECKSUM_DISABLE:
			if (state == PGRAC_CHECKSUMS_ON)
				return move(state, PGRAC_CHECKSUMS_INPROGRESS_OFF);
			if (state == PGRAC_CHECKSUMS_INPROGRESS_ON)
				return move(state, PGRAC_CHECKSUMS_OFF);
			return nothing(state);

		case PGRAC_CHECKSUM_DISABLE_DONE:
			if (state != PGRAC_CHECKSUMS_INPROGRESS_OFF)
				return refuse(state, PGRAC_CHECKSUM_REFUSAL_NOT_DISABLING);
			return move(state, PGRAC_CHECKSUMS_OFF);

		case PGRAC_CHECKSUM_DISABLE_UNSAFE:
			if (state == PGRAC_CHECKSUMS_ON || state == PGRAC_CHECKSUMS_INPROGRESS_ON)
				return move(state, PGRAC_CHECKSUMS_OFF);
			if (state == PGRAC_CHECKSUMS_INPROGRESS_OFF)
				return move(state, PGRAC_CHECKSUMS_OFF);
			return nothing(state);
	}
	return refuse(state, PGRAC_CHECKSUM_REFUSAL_NONE);
}

/* The six edges of the graph (the unsafe test event aside). */
bool
pgrac_checksum_transition_allowed(PgracChecksumState from, PgracChecksumState to)
{
	switch (from)
	{
		case PGRAC_CHECKSUMS_OFF:
			return to == PGRAC_CHECKSUMS_INPROGRESS_ON;
		case PGRAC_CHECKSUMS_INPROGRESS_ON:
			return to == PGRAC_CHECKSUMS_ON || to == PGRAC_CHECKSUMS_OFF;
		case PGRAC_CHECKSUMS_ON:
			return to == PGRAC_CHECKSUMS_INPROGRESS_OFF;
		case PGRAC_CHECKSUMS_INPROGRESS_OFF:
			return to == PGRAC_CHECKSUMS_OFF || to == PGRAC_CHECKSUMS_ON;
		case PGRAC_CHECKSUMS_UNKNOWN:
			return false;
	}
	return false;
}

/* Does a process in this state set pd_checksum on the pages it writes? */
bool
pgrac_checksum_state_sets(PgracChecksumState state)
{
	return state != PGRAC_CHECKSUMS_OFF;
}

/* Does it verify the pages it reads? */
bool
pgrac_checksum_state_verifies(PgracChecksumState state)
{
	return state == PGRAC_CHECKSUMS_ON;
}

const char *
pgrac_checksum_state_name(PgracChecksumState state)
{
	switch (state)
	{
		case PGRAC_CHECKSUMS_OFF:
			return "off";
		case PGRAC_CHECKSUMS_INPROGRESS_ON:
			return "inprogress-on";
		case PGRAC_CHECKSUMS_ON:
			return "on";
		case PGRAC_CHECKSUMS_INPROGRESS_OFF:
			return "inprogress-off";
		case PGRAC_CHECKSUMS_UNKNOWN:
			return "unknown";
	}
	return "invalid";
}

const char *
pgrac_checksum_event_name(PgracChecksumEvent event)
{
	switch (event)
	{
		case PGRAC_CHECKSUM_ENABLE:
			return "enable";
		case PGRAC_CHECKSUM_SWEEP_DONE:
			return "sweep done";
		case PGRAC_CHECKSUM_DISABLE:
			return "disable";
		case PGRAC_CHECKSUM_DISABLE_DONE:
			return "disable done";
		case PGRAC_CHECKSUM_DISABLE_UNSAFE:
			return "disable skipping inprogress-off";
	}
	return "invalid";
}

const char *
pgrac_checksum_refusal_text(PgracChecksumRefusal refusal)
{
	switch (refusal)
	{
		case PGRAC_CHECKSUM_REFUSAL_NONE:
			return "no refusal";
		case PGRAC_CHECKSUM_REFUSAL_WAL_LOG_HINTS:
			return "wal_log_hints is off";
		case PGRAC_CHECKSUM_REFUSAL_FULL_PAGE_WRITES:
			return "full_page_writes is off";
		case PGRAC_CHECKSUM_REFUSAL_CORE_CHECKSUMS:
			return "core data checksums are on";
		case PGRAC_CHECKSUM_REFUSAL_NOT_SWEEPING:
			return "the state is not inprogress-on";
		case PGRAC_CHECKSUM_REFUSAL_NOT_DISABLING:
			return "the state is not inprogress-off";
		case PGRAC_CHECKSUM_REFUSAL_UNKNOWN_STATE:
			return "the state is not known until recovery replays a transition";
	}
	return "invalid refusal";
}

/* ---- the state file ---- */

#define F_MAGIC			0
#define F_VERSION		8
#define F_LENGTH		12
#define F_COST_DELAY	16
#define F_COST_LIMIT	20
#define F_FLAGS			24
#define F_NENTRIES		28
#define F_FLAG_TRUNCATED	0x1

#define E_LSN			0
#define E_TIME			8
#define E_FROM			16
#define E_TO			17

void
pgrac_checksum_file_init(PgracChecksumFile *file)
{
	memset(file, 0, sizeof(*file));
	file->cost_delay = 0;
	file->cost_limit = 100;
}

PgracChecksumState
pgrac_checksum_file_state(const PgracChecksumFile *file)
{
	if (file->nentries == 0)
		return PGRAC_CHECKSUMS_OFF;
	return file->entries[file->nentries - 1].to;
}

size_t
pgrac_checksum_file_encode(const PgracChecksumFile *file, uint8 *buf)
{
	size_t		len = PGRAC_CHECKSUM_FILE_HEADER + (size_t) file->nentries * PGRAC_CHECKSUM_FILE_ENTRY + 4;
	pg_crc32c	crc;

	Assert(file->nentries >= 0 && file->nentries <= PGRAC_CHECKSUM_HISTORY_MAX);
	memset(buf, 0, len);
	memcpy(buf + F_MAGIC, PGRAC_CHECKSUM_FILE_MAGIC, 8);
	pgrac_put32(buf + F_VERSION, PGRAC_CHECKSUM_FILE_VERSION);
	pgrac_put32(buf + F_LENGTH, (uint32) len);
	pgrac_put32(buf + F_COST_DELAY, (uint32) file->cost_delay);
	pgrac_put32(buf + F_COST_LIMIT, (uint32) file->cost_limit);
	pgrac_put32(buf + F_FLAGS, file->truncated ? F_FLAG_TRUNCATED : 0);
	pgrac_put32(buf + F_NENTRIES, (uint32) file->nentries);
	for (int i = 0; i < file->nentries; i++)
	{
		uint8	   *e = buf + PGRAC_CHECKSUM_FILE_HEADER + i * PGRAC_CHECKSUM_FILE_ENTRY;

		pgrac_put64(e + E_LSN, file->entries[i].lsn);
		pgrac_put64(e + E_TIME, (uint64) file->entries[i].time);
		e[E_FROM] = (uint8) file->entries[i].from;
		e[E_TO] = (uint8) file->entries[i].to;
	}
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf, len - 4);
	FIN_CRC32C(crc);
	pgrac_put32(buf + len - 4, crc);
	return len;
}

static bool
fail(char *error, size_t errorlen, const char *text)
{
	snprintf(error, errorlen, "%s", text);
	return false;
}

static bool
valid_stored_state(uint8 v)
{
	return v <= PGRAC_CHECKSUMS_MAX_STORED;
}

bool
pgrac_checksum_file_decode(const uint8 *buf, size_t len, PgracChecksumFile *file,
						   char *error, size_t errorlen)
{
	uint32		version,
				length,
				nentries,
				flags;
	pg_crc32c	crc;

	if (len < PGRAC_CHECKSUM_FILE_HEADER + 4)
		return fail(error, errorlen, "the file is shorter than its header");
	if (memcmp(buf + F_MAGIC, PGRAC_CHECKSUM_FILE_MAGIC, 8) != 0)
		return fail(error, errorlen, "the file does not begin with the magic \"PGRACCKS\"");
	version = pgrac_get32(buf + F_VERSION);
	if (version != PGRAC_CHECKSUM_FILE_VERSION)
	{
		snprintf(error, errorlen, "format version %u is not the supported version %d",
				 version, PGRAC_CHECKSUM_FILE_VERSION);
		return false;
	}
	length = pgrac_get32(buf + F_LENGTH);
	nentries = pgrac_get32(buf + F_NENTRIES);
	if (nentries > PGRAC_CHECKSUM_HISTORY_MAX)
		return fail(error, errorlen, "the file records more transitions than a state file holds");
	if (length != PGRAC_CHECKSUM_FILE_HEADER + nentries * PGRAC_CHECKSUM_FILE_ENTRY + 4 ||
		length != len)
	{
		snprintf(error, errorlen, "the file is %zu bytes, its header says %u and its entries make %u",
				 len, length, PGRAC_CHECKSUM_FILE_HEADER + nentries * PGRAC_CHECKSUM_FILE_ENTRY + 4);
		return false;
	}
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf, len - 4);
	FIN_CRC32C(crc);
	if (crc != pgrac_get32(buf + len - 4))
		return fail(error, errorlen, "CRC-32C mismatch");
	flags = pgrac_get32(buf + F_FLAGS);
	if ((flags & ~F_FLAG_TRUNCATED) != 0)
		return fail(error, errorlen, "unknown flag bits are set");

	pgrac_checksum_file_init(file);
	file->cost_delay = (int32) pgrac_get32(buf + F_COST_DELAY);
	file->cost_limit = (int32) pgrac_get32(buf + F_COST_LIMIT);
	file->truncated = (flags & F_FLAG_TRUNCATED) != 0;
	file->nentries = (int) nentries;
	for (uint32 i = 0; i < nentries; i++)
	{
		const uint8 *e = buf + PGRAC_CHECKSUM_FILE_HEADER + i * PGRAC_CHECKSUM_FILE_ENTRY;

		if (!valid_stored_state(e[E_FROM]) || !valid_stored_state(e[E_TO]))
			return fail(error, errorlen, "a transition names a state that does not exist");

		/*
		 * reserved: zero, so that a file has one encoding (and a reader of a
		 * later version can give them a meaning)
		 */
		for (int b = E_TO + 1; b < PGRAC_CHECKSUM_FILE_ENTRY; b++)
			if (e[b] != 0)
				return fail(error, errorlen, "reserved bytes of a transition are not zero");
		file->entries[i].lsn = pgrac_get64(e + E_LSN);
		file->entries[i].time = (int64) pgrac_get64(e + E_TIME);
		file->entries[i].from = (PgracChecksumState) e[E_FROM];
		file->entries[i].to = (PgracChecksumState) e[E_TO];
		if (i > 0 && file->entries[i].lsn <= file->entries[i - 1].lsn)
			return fail(error, errorlen, "the transitions are not in LSN order");
	}
	return true;
}

/*
 * Forget the transitions at or after lsn: a record being replayed there
 * (or a recovery ending before them) means they belong to a history this
 * cluster has left, such as the timeline a point-in-time recovery
 * abandons.  Returns how many were dropped.
 */
int
pgrac_checksum_file_forget_from(PgracChecksumFile *file, uint64 lsn)
{
	int			before = file->nentries;

	while (file->nentries > 0 && file->entries[file->nentries - 1].lsn >= lsn)
		file->nentries--;
	return before - file->nentries;
}

/*
 * Record a transition.  The history keeps the newest
 * PGRAC_CHECKSUM_HISTORY_MAX; dropping the oldest marks it truncated, so
 * that a lookup before what is left answers "unknown" instead of guessing.
 */
void
pgrac_checksum_file_append(PgracChecksumFile *file, const PgracChecksumTransition *t)
{
	pgrac_checksum_file_forget_from(file, t->lsn);
	if (file->nentries == PGRAC_CHECKSUM_HISTORY_MAX)
	{
		memmove(&file->entries[0], &file->entries[1],
				sizeof(file->entries[0]) * (PGRAC_CHECKSUM_HISTORY_MAX - 1));
		file->nentries--;
		file->truncated = true;
	}
	file->entries[file->nentries++] = *t;
}

/*
 * The state that held at a redo pointer: that of the last transition
 * logged before it.  Transitions at or after it are replayed and move the
 * state themselves.  Unknown if the history was truncated and nothing it
 * still holds is older than the redo pointer.
 */
PgracChecksumState
pgrac_checksum_state_at(const PgracChecksumFile *file, uint64 redo)
{
	for (int i = file->nentries - 1; i >= 0; i--)
		if (file->entries[i].lsn < redo)
			return file->entries[i].to;
	if (file->truncated)
		return PGRAC_CHECKSUMS_UNKNOWN;
	if (file->nentries > 0)
		return file->entries[0].from;
	return PGRAC_CHECKSUMS_OFF;
}

/* ---- the WAL record ---- */

void
pgrac_checksum_wal_encode(const PgracChecksumWalRecord *rec, uint8 *buf)
{
	memset(buf, 0, PGRAC_CHECKSUM_WAL_SIZE);
	buf[0] = PGRAC_CHECKSUM_WAL_VERSION;
	buf[1] = (uint8) rec->from;
	buf[2] = (uint8) rec->to;
	pgrac_put32(buf + 4, (uint32) rec->cost_delay);
	pgrac_put32(buf + 8, (uint32) rec->cost_limit);
	pgrac_put64(buf + 16, (uint64) rec->time);
}

bool
pgrac_checksum_wal_decode(const uint8 *buf, size_t len, PgracChecksumWalRecord *rec,
						  char *error, size_t errorlen)
{
	if (len != PGRAC_CHECKSUM_WAL_SIZE)
	{
		snprintf(error, errorlen, "record of %zu bytes, expected %d", len, PGRAC_CHECKSUM_WAL_SIZE);
		return false;
	}
	if (buf[0] != PGRAC_CHECKSUM_WAL_VERSION)
	{
		snprintf(error, errorlen, "record version %u, expected %d", buf[0], PGRAC_CHECKSUM_WAL_VERSION);
		return false;
	}
	if (!valid_stored_state(buf[1]) || !valid_stored_state(buf[2]))
		return fail(error, errorlen, "the record names a state that does not exist");
	rec->from = (PgracChecksumState) buf[1];
	rec->to = (PgracChecksumState) buf[2];
	rec->cost_delay = (int32) pgrac_get32(buf + 4);
	rec->cost_limit = (int32) pgrac_get32(buf + 8);
	rec->time = (int64) pgrac_get64(buf + 16);
	return true;
}

void
pgrac_checksum_wal_describe(const PgracChecksumWalRecord *rec, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s -> %s; cost_delay %d, cost_limit %d",
			 pgrac_checksum_state_name(rec->from), pgrac_checksum_state_name(rec->to),
			 rec->cost_delay, rec->cost_limit);
}
