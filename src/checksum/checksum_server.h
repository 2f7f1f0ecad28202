/*-------------------------------------------------------------------------
 *
 * checksum_server.h
 *	  The checksum layer in the server: the published state and the
 *	  windows of I/O that sample it, transitions, the layer itself, the
 *	  worker, and the SQL functions (docs/checksums.md).
 *
 * src/checksum/checksum_server.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_CHECKSUM_SERVER_H
#define PGRAC_CHECKSUM_SERVER_H

#include "access/xlogreader.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "port/atomics.h"
#include "storage/proc.h"
#include "storage/spin.h"

#include "pgrac/checksum_state.h"

/* ---- settings (defined in pgrac_storage.c) ---- */

extern PGDLLIMPORT bool pgrac_checksum_layer;
extern PGDLLIMPORT int pgrac_checksum_sweep_workers;
#ifdef PGRAC_TEST_HOOKS
extern PGDLLIMPORT bool pgrac_checksum_test_skip_inprogress_off;
extern PGDLLIMPORT int pgrac_checksum_test_pause_ms;
extern PGDLLIMPORT int pgrac_checksum_test_pause_relfilenode;
#endif

/* ---- the shared state (checksum_shared.c) ---- */

/*
 * The published state and epoch, in one word so that a process samples
 * both at once: epoch << 3 | state.  Every transition increments the
 * epoch.  The epoch starts at 1, so no published word is 0, which a slot
 * uses for "no I/O in progress".
 */
#define CHECKSUM_WORD(epoch, state)	(((uint64) (epoch) << 3) | (uint64) (state))
#define CHECKSUM_WORD_STATE(w)		((PgracChecksumState) ((w) & 7))
#define CHECKSUM_WORD_EPOCH(w)		((w) >> 3)

typedef enum ChecksumSweepPhase
{
	CHECKSUM_PHASE_IDLE,
	CHECKSUM_PHASE_WAITING_FOR_TRANSACTIONS,
	CHECKSUM_PHASE_SWEEPING,
	CHECKSUM_PHASE_CHECKPOINT,
	CHECKSUM_PHASE_WAITING_FOR_SETTINGS,
	CHECKSUM_PHASE_RETRY_WAIT,
} ChecksumSweepPhase;

/* What the launcher asks of a database worker, and what it reports */
typedef enum ChecksumDbResult
{
	CHECKSUM_DB_RUNNING,
	CHECKSUM_DB_DONE,
	CHECKSUM_DB_ABORTED,		/* the state left inprogress-on */
	CHECKSUM_DB_FAILED,
} ChecksumDbResult;

/*
 * The sweep of a database is shared by pgrac.checksum_sweep_workers
 * workers: in every fork, chunk c of CHECKSUM_SWEEP_CHUNK blocks belongs to
 * worker (c + relation OID) % nworkers.  The owner of a block depends on
 * nothing a worker measures (such as the fork's size), so every block
 * that existed before the sweep began has exactly one owner, and a long
 * run of blocks stays one sequential stream for the kernel's read-ahead.
 */
#define CHECKSUM_MAX_SWEEP_WORKERS	8
#define CHECKSUM_SWEEP_CHUNK		2048	/* blocks: 16 MB of 8 kB pages */

typedef struct ChecksumWorkerProgress
{
	int			pid;			/* 0: the slot is not in use */
	ChecksumDbResult result;
	int64		relations_total;
	int64		relations_done;
	int64		blocks_total;	/* of the current fork, this worker's share */
	int64		blocks_done;
	Oid			current_relation;
	char		current_relation_name[2 * NAMEDATALEN + 2];
} ChecksumWorkerProgress;

typedef struct ChecksumProgress
{
	ChecksumSweepPhase phase;
	TimestampTz started;
	int64		databases_total;
	int64		databases_done;
	Oid			current_database;
	char		current_database_name[NAMEDATALEN];
	int			nworkers;		/* sweeping the current database */
	ChecksumWorkerProgress workers[CHECKSUM_MAX_SWEEP_WORKERS];
} ChecksumProgress;

typedef struct ChecksumShared
{
	pg_atomic_uint64 word;		/* CHECKSUM_WORD(epoch, state) */
	LWLock	   *transition_lock;	/* serialises transitions and the file */
	PgracChecksumFile file;		/* what pg_pgrac/checksum_state holds (under
								 * transition_lock) */

	slock_t		mutex;			/* protects everything below */
	int32		cost_delay;
	int32		cost_limit;
	TimestampTz since;			/* of the current state */
	uint64		failures;		/* verification failures since start */
	TimestampTz last_failure_at;
	char		last_failure[MAXPGPATH + 64];
	TimestampTz last_error_at;
	char		last_error[256];	/* why the worker has not moved on */
	int			launcher_pid;
	ProcNumber	launcher_proc;
	ChecksumProgress progress;
	/* the database worker's assignment and result */
	uint64		sweep_word;		/* the word that made the state inprogress-on */
	Oid			db_oid;
	bool		db_do_shared;

	/*
	 * One slot per process: the word it sampled for the I/O it is doing, or
	 * 0.  Indexed by ProcNumber (backends and auxiliary processes).
	 */
	int			nslots;
	pg_atomic_uint64 slots[FLEXIBLE_ARRAY_MEMBER];
} ChecksumShared;

extern PGDLLIMPORT ChecksumShared *checksum_shared;

extern void checksum_shmem_install(void);
extern void checksum_make_directory(void);
extern void checksum_write_file(const PgracChecksumFile *file, int elevel);
extern void checksum_set_error(const char *fmt,...) pg_attribute_printf(1, 2);
extern void checksum_clear_error(void);

/*
 * A window of I/O: publish the word this process works with, then
 * re-read it; a transition that published a newer word after our first
 * read is seen here (and taken), or it sees our slot and waits for us.
 * Both sides write, fence, then read: at least one sees the other.
 */
static inline PgracChecksumState
checksum_io_begin(void)
{
	pg_atomic_uint64 *slot = &checksum_shared->slots[MyProcNumber];
	uint64		w = pg_atomic_read_u64(&checksum_shared->word);

	for (;;)
	{
		uint64		again;

		pg_atomic_write_u64(slot, w);
		pg_memory_barrier();
		again = pg_atomic_read_u64(&checksum_shared->word);
		if (again == w)
			return CHECKSUM_WORD_STATE(w);
		w = again;
	}
}

static inline void
checksum_io_end(void)
{
	/* the I/O and its verification happen before the slot clears */
	pg_memory_barrier();
	pg_atomic_write_u64(&checksum_shared->slots[MyProcNumber], 0);
}

static inline PgracChecksumState
checksum_current_state(void)
{
	return CHECKSUM_WORD_STATE(pg_atomic_read_u64(&checksum_shared->word));
}

/* ---- transitions (checksum_transition.c) ---- */

extern PgracChecksumSettings checksum_settings_now(void);
extern PgracChecksumDecision checksum_transition(PgracChecksumEvent event,
												 int cost_delay, int cost_limit,
												 uint64 expected_word);
extern void checksum_publish(PgracChecksumState state);
extern void checksum_wait_for_drain(uint64 epoch);
extern void checksum_startup_checks(PgracChecksumState state);
extern void checksum_redo(XLogReaderState *record);
extern void checksum_redo_startup(void);
extern void checksum_redo_cleanup(void);
extern void checksum_desc(StringInfo buf, XLogReaderState *record);
extern void checksum_report_refusal(PgracChecksumDecision d, int elevel);

/* ---- the layer (checksum_layer.c) ---- */

extern void checksum_layer_install(void);

/* ---- the worker (checksum_worker.c) ---- */

extern void checksum_worker_register(void);
extern void checksum_worker_wake(void);

/* ---- statements that copy files behind the layer (checksum_refusals.c) ---- */

extern void checksum_refusals_install(void);

#endif							/* PGRAC_CHECKSUM_SERVER_H */
