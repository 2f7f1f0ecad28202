/*-------------------------------------------------------------------------
 *
 * checksum_state.h
 *	  The state machine of the checksum layer, its state file under
 *	  pg_pgrac/ and its WAL record: pure code, shared by the server and the
 *	  unit tests (docs/checksums.md explains every rule).
 *
 * States and what a process in each does with the pages it writes and
 * reads:
 *
 *	  off             writes as they come, verifies nothing
 *	  inprogress-on   sets pd_checksum on every page it writes, verifies
 *	                  nothing (the worker sweeps every page)
 *	  on              sets pd_checksum, verifies every page it reads
 *	  inprogress-off  sets pd_checksum, verifies nothing (some process may
 *	                  still be verifying with "on")
 *
 * A recovery that starts before the oldest transition the state file still
 * remembers does not know the state at its start; until it replays a
 * transition it behaves as an in-progress state does (sets, never
 * verifies): PGRAC_CHECKSUMS_UNKNOWN, never stored.
 *
 * include/pgrac/checksum_state.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_CHECKSUM_STATE_H
#define PGRAC_CHECKSUM_STATE_H

typedef enum PgracChecksumState
{
	PGRAC_CHECKSUMS_OFF = 0,
	PGRAC_CHECKSUMS_INPROGRESS_ON = 1,
	PGRAC_CHECKSUMS_ON = 2,
	PGRAC_CHECKSUMS_INPROGRESS_OFF = 3,
	PGRAC_CHECKSUMS_UNKNOWN = 4,	/* recovery only, never stored */
} PgracChecksumState;

#define PGRAC_CHECKSUMS_MAX_STORED PGRAC_CHECKSUMS_INPROGRESS_OFF

/* What asks for a transition */
typedef enum PgracChecksumEvent
{
	PGRAC_CHECKSUM_ENABLE,		/* pgrac_enable_checksums() */
	PGRAC_CHECKSUM_SWEEP_DONE,	/* the worker swept everything and
								 * checkpointed */
	PGRAC_CHECKSUM_DISABLE,		/* pgrac_disable_checksums() */
	PGRAC_CHECKSUM_DISABLE_DONE,	/* every process absorbed inprogress-off */
	PGRAC_CHECKSUM_DISABLE_UNSAFE,	/* test builds only: on -> off directly,
									 * to show why inprogress-off exists */
} PgracChecksumEvent;

/* The settings a transition towards verification depends on */
typedef struct PgracChecksumSettings
{
	bool		wal_log_hints;
	bool		full_page_writes;
	bool		core_data_checksums;
} PgracChecksumSettings;

typedef enum PgracChecksumVerdict
{
	PGRAC_CHECKSUM_MOVE,		/* go from ->from to ->to */
	PGRAC_CHECKSUM_NOTHING,		/* already there or on the way: no change */
	PGRAC_CHECKSUM_REFUSED,		/* ->refusal says why */
} PgracChecksumVerdict;

typedef enum PgracChecksumRefusal
{
	PGRAC_CHECKSUM_REFUSAL_NONE,
	PGRAC_CHECKSUM_REFUSAL_WAL_LOG_HINTS,	/* wal_log_hints is off */
	PGRAC_CHECKSUM_REFUSAL_FULL_PAGE_WRITES,	/* full_page_writes is off */
	PGRAC_CHECKSUM_REFUSAL_CORE_CHECKSUMS,	/* core data_checksums is on */
	PGRAC_CHECKSUM_REFUSAL_NOT_SWEEPING,	/* sweep done outside
											 * inprogress-on */
	PGRAC_CHECKSUM_REFUSAL_NOT_DISABLING,	/* disable done outside
											 * inprogress-off */
	PGRAC_CHECKSUM_REFUSAL_UNKNOWN_STATE,	/* asked during a recovery that
											 * does not know its state */
} PgracChecksumRefusal;

typedef struct PgracChecksumDecision
{
	PgracChecksumVerdict verdict;
	PgracChecksumState from;
	PgracChecksumState to;
	PgracChecksumRefusal refusal;
} PgracChecksumDecision;

extern PgracChecksumDecision pgrac_checksum_decide(PgracChecksumState state,
												   PgracChecksumEvent event,
												   const PgracChecksumSettings *settings);
extern bool pgrac_checksum_transition_allowed(PgracChecksumState from,
											  PgracChecksumState to);
extern bool pgrac_checksum_state_sets(PgracChecksumState state);
extern bool pgrac_checksum_state_verifies(PgracChecksumState state);
extern const char *pgrac_checksum_state_name(PgracChecksumState state);
extern const char *pgrac_checksum_event_name(PgracChecksumEvent event);
extern const char *pgrac_checksum_refusal_text(PgracChecksumRefusal refusal);

/*
 * The state file, pg_pgrac/checksum_state (version 1, little-endian):
 *
 *	  0  magic "PGRACCKS" (8 bytes)
 *	  8  version (u32)
 *	 12  length of the file (u32)
 *	 16  cost_delay (i32), cost_limit (i32): the worker's throttle
 *	 24  flags (u32): bit 0 = history truncated (older transitions dropped)
 *	 28  number of history entries (u32)
 *	 32  entries, 24 bytes each: the transition record's LSN (u64), its
 *	     time (i64, PostgreSQL timestamptz), from state (u8), to state
 *	     (u8), zero (6 bytes)
 *	  n  CRC-32C of bytes 0 .. n-1 (u32)
 *
 * The current state is the last entry's "to" (off with no entries).  The
 * history lets a recovery start in the state that held at its redo
 * pointer: the state of the last transition logged before it.
 */
#define PGRAC_CHECKSUM_FILE_MAGIC		"PGRACCKS"
#define PGRAC_CHECKSUM_FILE_VERSION		1
#define PGRAC_CHECKSUM_HISTORY_MAX		64
#define PGRAC_CHECKSUM_FILE_HEADER		32
#define PGRAC_CHECKSUM_FILE_ENTRY		24
#define PGRAC_CHECKSUM_FILE_MAX_SIZE \
	(PGRAC_CHECKSUM_FILE_HEADER + PGRAC_CHECKSUM_HISTORY_MAX * PGRAC_CHECKSUM_FILE_ENTRY + 4)

typedef struct PgracChecksumTransition
{
	uint64		lsn;			/* start of the record that logged it */
	int64		time;			/* timestamptz */
	PgracChecksumState from;
	PgracChecksumState to;
} PgracChecksumTransition;

typedef struct PgracChecksumFile
{
	int32		cost_delay;
	int32		cost_limit;
	bool		truncated;
	int			nentries;
	PgracChecksumTransition entries[PGRAC_CHECKSUM_HISTORY_MAX];
} PgracChecksumFile;

extern void pgrac_checksum_file_init(PgracChecksumFile *file);
extern PgracChecksumState pgrac_checksum_file_state(const PgracChecksumFile *file);
extern size_t pgrac_checksum_file_encode(const PgracChecksumFile *file, uint8 *buf);
extern bool pgrac_checksum_file_decode(const uint8 *buf, size_t len,
									   PgracChecksumFile *file,
									   char *error, size_t errorlen);
extern void pgrac_checksum_file_append(PgracChecksumFile *file,
									   const PgracChecksumTransition *t);
extern int	pgrac_checksum_file_forget_from(PgracChecksumFile *file, uint64 lsn);
extern PgracChecksumState pgrac_checksum_state_at(const PgracChecksumFile *file,
												  uint64 redo);

/*
 * The WAL record of a transition (info PGRAC_WAL_CHECKSUM_STATE of the
 * product's resource manager), version 1, little-endian, 24 bytes:
 * version (u8), from (u8), to (u8), zero (u8), cost_delay (i32),
 * cost_limit (i32), zero (u32), time (i64).
 */
#define PGRAC_CHECKSUM_WAL_VERSION	1
#define PGRAC_CHECKSUM_WAL_SIZE		24

typedef struct PgracChecksumWalRecord
{
	PgracChecksumState from;
	PgracChecksumState to;
	int32		cost_delay;
	int32		cost_limit;
	int64		time;
} PgracChecksumWalRecord;

extern void pgrac_checksum_wal_encode(const PgracChecksumWalRecord *rec, uint8 *buf);
extern bool pgrac_checksum_wal_decode(const uint8 *buf, size_t len,
									  PgracChecksumWalRecord *rec,
									  char *error, size_t errorlen);
extern void pgrac_checksum_wal_describe(const PgracChecksumWalRecord *rec,
										char *out, size_t outlen);

#endif							/* PGRAC_CHECKSUM_STATE_H */
