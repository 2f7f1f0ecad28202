/*-------------------------------------------------------------------------
 *
 * twophase_server.h
 *	  The 2PC coordinator in the server: the log in shared memory with
 *	  group commit (twophase_shmem.c), connections to participants and the
 *	  SQL functions that use them (twophase_remote.c), the commit protocol
 *	  in the transaction callbacks (twophase_xact.c), the resolver
 *	  (twophase_resolver.c), and the views and the operator's function
 *	  (twophase_sql.c).  docs/twophase.md is the design.
 *
 * src/twophase/twophase_server.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_TWOPHASE_SERVER_H
#define PGRAC_TWOPHASE_SERVER_H

#include "datatype/timestamp.h"
#include "libpq-fe.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/procnumber.h"

#include "pgrac/twophase_store.h"

/* ---- settings (defined in pgrac_storage.c) ---- */

extern PGDLLIMPORT bool pgrac_twophase;
extern PGDLLIMPORT int pgrac_twophase_max_transactions;
extern PGDLLIMPORT int pgrac_twophase_segment_size_mb;
extern PGDLLIMPORT int pgrac_twophase_commit_delay_us;
extern PGDLLIMPORT int pgrac_twophase_resolver_interval_ms;
extern PGDLLIMPORT int pgrac_twophase_finish_timeout_ms;
#ifdef PGRAC_TEST_HOOKS
extern PGDLLIMPORT char *pgrac_twophase_test_stop_at;
#endif

#define TWOPHASE_BUFFER_SIZE		(256 * 1024)

/* what a participant of a live transaction is known to be */
typedef enum TwophasePartState
{
	TWOPHASE_PART_UNKNOWN,		/* after a restart: ask it */
	TWOPHASE_PART_PREPARED,		/* by the owning session */
	TWOPHASE_PART_DONE,			/* committed or rolled back, or never prepared */
} TwophasePartState;

/* a live transaction, as the log knows it, and its resolution */
typedef struct TwophaseEntry
{
	bool		in_use;
	bool		busy;			/* a resolver or an operator works on it */
	bool		operator_rollback;	/* an operator chose rollback (not
									 * durable: asked again after a restart) */
	int			owner_pid;		/* the session committing it; 0: none */
	TimestampTz since;			/* begun, or found in the log at start */
	PgracTwophaseLive live;
	uint8		part_state[PGRAC_2PC_MAX_PARTICIPANTS];
	TimestampTz next_try[PGRAC_2PC_MAX_PARTICIPANTS];
	int			backoff_ms[PGRAC_2PC_MAX_PARTICIPANTS];
	char		last_error[256];
} TwophaseEntry;

typedef struct TwophaseShared
{
	LWLock	   *insert_lock;	/* the buffer, positions, the entries */
	LWLock	   *write_lock;		/* the store and its files */
	bool		available;		/* the log opened and no I/O failed */
	char		unavailable_reason[1400];
	uint64		corrupt_before;
	int			ncorrupt;
	int			norphans;
	int			resolver_pid;
	ProcNumber	resolver_proc;
	/* positions: under insert_lock, flushed also atomically */
	uint64		buf_base;		/* the log position of buffer[0] */
	uint64		inserted;
	uint64		segment_end;	/* a record must end at or before it */
	pg_atomic_uint64 flushed;
	pg_atomic_uint32 nflushing; /* appenders waiting for a flush */
	uint64		nappends;
	uint64		nbatches;
	uint64		nrotations;
	PgracTwophaseStore store;	/* fd: -1 but while the write_lock holder
								 * works; each process has its own */
	int			nentries;
	TwophaseEntry *entries;		/* in this segment of shared memory */
	uint8	   *buffer;
} TwophaseShared;

extern TwophaseShared *twophase_shared;

/* ---- the log (twophase_shmem.c) ---- */
extern void twophase_shmem_install(void);
extern void twophase_check_available(void);
extern int	twophase_reserve_entry(void);
extern uint64 twophase_insert(PgracTwophaseRecord *rec, int slot);
extern void twophase_flush(uint64 upto);
extern int	twophase_remove_unneeded_segments(void);
extern TwophaseEntry *twophase_find_gid(const char *gid, int *slot);

/* ---- participants (twophase_remote.c) ---- */
extern uint32 twophase_wait_event_remote(void);
typedef struct TwophaseConnError
{
	char		sqlstate[6];
	char		message[512];
} TwophaseConnError;

extern PGconn *twophase_connect(Oid serverid, Oid userid, bool check_password);
extern void twophase_report_remote_error(PGresult *res, PGconn *conn, const char *servername,
										 const char *protocol_sql) pg_attribute_noreturn();
extern bool twophase_command(PGconn *conn, const char *sql, int timeout_ms,
							 TwophaseConnError *err);
extern bool twophase_has_prepared(Oid serverid, Oid userid, const char *pgid, bool *has,
								  TwophaseConnError *err);
extern void twophase_finish_prepared(Oid serverid, Oid userid, const char *pgid,
									 bool commit, int timeout_ms, bool *done,
									 TwophaseConnError *err);

/* ---- the commit protocol (twophase_xact.c) ---- */
extern void twophase_xact_install(void);
extern PGconn *twophase_participant_conn(Oid serverid);

/* ---- the resolver (twophase_resolver.c) ---- */
extern void twophase_resolver_register(void);
extern void twophase_wake_resolver(void);
extern PgracLocalXidStatus twophase_local_xid_status(uint64 fxid);
extern PgracTwophaseOutcome twophase_entry_outcome(const TwophaseEntry *e);
extern bool twophase_resolve_entry(int slot, bool by_operator, char *status, size_t len);

#endif							/* PGRAC_TWOPHASE_SERVER_H */
