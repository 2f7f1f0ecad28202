/*-------------------------------------------------------------------------
 *
 * fsync_rules.h
 *	  The fsync checker's rule engine: obligations to make relation data
 *	  durable, and the events that discharge them or turn them into findings.
 *
 * This is pure logic with no PostgreSQL backend dependency, so that it is
 * unit-tested with cmocka.  The backend glue (fsync_checker.c) places the
 * table in shared memory, serializes access with an LWLock and feeds it the
 * events it sees in the smgr layer, at transaction end and in the checkpoint
 * hook.  docs/fsync-checker.md explains every rule and why it holds.
 *
 * include/pgrac/fsync_rules.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_FSYNC_RULES_H
#define PGRAC_FSYNC_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t FsrLsn;

#define FSR_INVALID_LSN		((FsrLsn) 0)

/* Fork numbers, with PostgreSQL's values (MAIN, FSM, VM, INIT) */
#define FSR_FORK_MAIN	0
#define FSR_FORK_INIT	3
#define FSR_MAX_FORK	3

/* One relation segment: what an obligation and a finding are about. */
typedef struct FsrKey
{
	uint32_t	spcoid;
	uint32_t	dboid;
	uint32_t	relnumber;
	int32_t		fork;
	uint32_t	segno;
} FsrKey;

/*
 * The transaction that wrote: a process slot and its local transaction id.
 * An obligation whose owner is still running may yet be discharged by its
 * owner (bulk writes end with a sync), so a checkpoint does not judge it.
 */
typedef struct FsrOwner
{
	int32_t		procno;			/* < 0: no owner */
	uint32_t	lxid;
} FsrOwner;

#define FSR_NO_OWNER	((FsrOwner) {-1, 0})

typedef enum FsrReason
{
	FSR_UNSYNCED_AT_COMMIT = 1,
	FSR_INIT_FORK_UNSYNCED_AT_COMMIT,
	FSR_SYNC_REGISTERED_LATE,
	FSR_UNSYNCED_AT_CHECKPOINT,
} FsrReason;

typedef struct FsrFinding
{
	FsrKey		key;
	FsrReason	reason;
	FsrLsn		first_unsynced_lsn; /* WAL position at the first unsynced
									 * write */
	FsrLsn		checkpoint_redo;	/* the redo pointer that made it unsafe */
	int64_t		reported_at;	/* filled by the caller (a timestamp) */
} FsrFinding;

/* An unsynced, unbuffered write to one segment that somebody must sync. */
typedef struct FsrObligation
{
	FsrKey		key;
	bool		in_use;
	bool		wal_protected;	/* every page written carried an LSN past
								 * first_redo */
	bool		registered;		/* a sync was registered since the last write */
	bool		unlogged;		/* known to belong to an unlogged relation */
	FsrLsn		first_write_lsn;
	FsrLsn		first_redo;		/* redo pointer at the first write */
	FsrLsn		registered_redo;	/* redo pointer when registered */
	FsrOwner	owner;
} FsrObligation;

/*
 * Open-addressing hash table of obligations (linear probing, backward-shift
 * deletion), in memory the caller provides: fsr_table_size(capacity) bytes.
 * capacity is rounded up to a power of two by fsr_table_init().
 */
typedef struct FsrTable
{
	uint32_t	capacity;		/* slots, a power of two */
	uint32_t	used;
	uint64_t	tracked_writes; /* unbuffered page writes seen */
	uint64_t	untracked_writes;	/* writes lost because the table was full */
	FsrLsn		last_synced_redo;	/* redo pointer of the last checkpoint
									 * whose sync requests were processed */
	FsrObligation slots[];
} FsrTable;

/* Bounded log of findings; when full, new findings are counted, not kept. */
typedef struct FsrFindingLog
{
	uint32_t	capacity;
	uint32_t	count;
	uint64_t	dropped;
	FsrFinding	entries[];
} FsrFindingLog;

/* Collects the findings of one event for the caller to log and store. */
typedef struct FsrFindingSink
{
	void		(*emit) (void *arg, const FsrFinding *finding);
	void	   *arg;
} FsrFindingSink;

/*
 * Questions the rules ask about the world, answered by the backend glue.
 */
typedef struct FsrOracle
{
	/* does the relation have an init fork (i.e. is it unlogged)? */
	bool		(*is_unlogged) (void *arg, const FsrKey *key);
	/* was the relation created by the current transaction of this backend? */
	bool		(*created_in_xact) (void *arg, const FsrKey *key);
	/* is the owner's transaction still running? */
	bool		(*owner_running) (void *arg, FsrOwner owner);
	void	   *arg;
} FsrOracle;

/* What fsr_note_write() did */
typedef enum FsrWriteResult
{
	FSR_WRITE_IGNORED,			/* nothing to track */
	FSR_WRITE_TRACKED,
	FSR_WRITE_UNTRACKED,		/* table full: tracking is incomplete */
} FsrWriteResult;

extern size_t fsr_table_size(uint32_t capacity);
extern uint32_t fsr_table_capacity(uint32_t requested);
extern void fsr_table_init(FsrTable *table, uint32_t requested_capacity);
extern FsrObligation *fsr_lookup(FsrTable *table, const FsrKey *key);

extern size_t fsr_log_size(uint32_t capacity);
extern void fsr_log_init(FsrFindingLog *log, uint32_t capacity);
extern void fsr_log_add(FsrFindingLog *log, const FsrFinding *finding);
extern void fsr_log_reset(FsrFindingLog *log);

/*
 * Events.  redo_now is the current checkpoint redo pointer.
 */

/* An unbuffered write (skipFsync) of one page to key's segment. */
extern FsrWriteResult fsr_note_unbuffered_write(FsrTable *table,
												const FsrKey *key,
												FsrLsn page_lsn,
												bool page_is_new,
												FsrLsn redo_now,
												FsrLsn insert_lsn,
												FsrOwner owner);

/*
 * A buffered write (or anything else md.c registers the segment for at the
 * next checkpoint): discharges a WAL-protected obligation of the segment
 * when the redo pointer has not moved since its first write.
 */
extern void fsr_note_segment_registered(FsrTable *table, const FsrKey *key,
										FsrLsn redo_now);

/*
 * smgrregistersync() of a whole fork.  delaying_checkpoint: the caller holds
 * DELAY_CHKPT_START, so a checkpoint whose redo pointer moved after the
 * caller looked at it has not yet processed sync requests.
 */
extern void fsr_note_fork_registered(FsrTable *table, const FsrKey *fork_key,
									 FsrLsn redo_now,
									 bool delaying_checkpoint,
									 const FsrFindingSink *sink);

/* smgrimmedsync() of a whole fork: everything written is durable. */
extern void fsr_note_fork_synced(FsrTable *table, const FsrKey *fork_key);

/*
 * Storage removed: every segment >= from_segno of the fork (or of all forks
 * when fork_key->fork < 0) is forgotten.  Unlink passes 0.
 */
extern void fsr_forget(FsrTable *table, const FsrKey *fork_key,
					   uint32_t from_segno);

/* Every obligation of a database (DROP DATABASE removes files directly). */
extern void fsr_forget_database(FsrTable *table, uint32_t dboid);

/* The owner's transaction ended (commit or prepare: committed = true). */
extern void fsr_end_of_xact(FsrTable *table, FsrOwner owner, bool committed,
							bool wal_level_minimal, const FsrOracle *oracle,
							FsrLsn redo_now, const FsrFindingSink *sink);

/* A checkpoint or restartpoint with redo pointer redo_new synced. */
extern void fsr_checkpoint(FsrTable *table, FsrLsn redo_new, bool shutdown,
						   const FsrOracle *oracle,
						   const FsrFindingSink *sink);

extern const char *fsr_reason_text(FsrReason reason);
extern const char *fsr_fork_name(int32_t fork);

#endif							/* PGRAC_FSYNC_RULES_H */
