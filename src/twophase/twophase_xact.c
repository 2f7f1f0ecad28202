/*-------------------------------------------------------------------------
 *
 * twophase_xact.c
 *	  The commit protocol of distributed transactions, in the transaction
 *	  callbacks: the participants of this session's transaction, their
 *	  savepoints, and what happens to them at commit and at abort.
 *
 * At XACT_EVENT_PRE_COMMIT (after deferred triggers, before the local
 * commit record): Begin, durable; PREPARE TRANSACTION '<gid>.<n>' on each
 * participant; the local transaction gets an xid and a synchronous commit;
 * Committing with that xid, durable.  At XACT_EVENT_COMMIT: COMMIT PREPARED
 * on each, then End.  At XACT_EVENT_ABORT: ROLLBACK PREPARED on each
 * prepared one (the others' transactions end with their connection), then
 * End.  Whatever cannot be finished here (a participant that does not
 * answer) is handed to the resolver: the entry loses its owner.
 * docs/twophase.md gives the argument.
 *
 * src/twophase/twophase_xact.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xloginsert.h"
#include "foreign/foreign.h"
#include "libpq/libpq-be-fe-helpers.h"
#include "miscadmin.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pgrac/pgrac_wal.h"
#include "twophase/twophase_server.h"

typedef struct Participant
{
	Oid			serverid;
	Oid			userid;
	char		name[NAMEDATALEN];
	PGconn	   *conn;
	int			depth;			/* the participant's nesting: 1 its top
								 * transaction, n the savepoint s<n> */
	bool		prepared;
	bool		broken;			/* cannot commit: broken_reason says why */
	char		broken_reason[256];
} Participant;

/*
 * Connections kept between transactions, idle, by (server, user): a
 * connection per transaction would cost a participant backend's start
 * every time.  A change to any foreign server or user mapping drops them
 * (the options may have changed); a broken one is replaced at first use.
 */
typedef struct CachedConn
{
	Oid			serverid;
	Oid			userid;
	PGconn	   *conn;
} CachedConn;

#define CONN_CACHE_SIZE 32
static CachedConn conn_cache[CONN_CACHE_SIZE];
static int	nconn_cache = 0;
static bool conn_cache_callbacks = false;

static void
conn_cache_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	for (int i = 0; i < nconn_cache; i++)
		libpqsrv_disconnect(conn_cache[i].conn);
	nconn_cache = 0;
}

/* an idle cached connection to (serverid, userid), taken out; or NULL */
static PGconn *
conn_cache_take(Oid serverid, Oid userid)
{
	if (!conn_cache_callbacks)
	{
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID, conn_cache_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(USERMAPPINGOID, conn_cache_invalidate, (Datum) 0);
		conn_cache_callbacks = true;
	}
	for (int i = 0; i < nconn_cache; i++)
		if (conn_cache[i].serverid == serverid && conn_cache[i].userid == userid)
		{
			PGconn	   *conn = conn_cache[i].conn;

			conn_cache[i] = conn_cache[--nconn_cache];
			return conn;
		}
	return NULL;
}

/* keep conn if it is healthy and idle, else close it */
static void
conn_cache_put(Oid serverid, Oid userid, PGconn *conn)
{
	if (conn == NULL)
		return;
	if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE ||
		nconn_cache == CONN_CACHE_SIZE)
	{
		libpqsrv_disconnect(conn);
		return;
	}
	conn_cache[nconn_cache].serverid = serverid;
	conn_cache[nconn_cache].userid = userid;
	conn_cache[nconn_cache].conn = conn;
	nconn_cache++;
}

static Participant parts[PGRAC_2PC_MAX_PARTICIPANTS];
static int	nparts = 0;
static int	my_slot = -1;		/* the live entry, once reserved */
static bool begun = false;		/* its Begin inserted */
static char my_gid[PGRAC_2PC_GID_MAX + 1];

#ifdef PGRAC_TEST_HOOKS
/* the coordinator crashes here: the tests' kill -9 at every step */
static void
test_stop(const char *step)
{
	if (pgrac_twophase_test_stop_at && strcmp(pgrac_twophase_test_stop_at, step) == 0)
	{
		elog(LOG, "pgrac test hook: killing this backend at 2PC step %s", step);
		kill(getpid(), SIGKILL);
		pg_usleep(10 * 1000 * 1000L);
	}
}
#else
#define test_stop(step) ((void) 0)
#endif

static const char *
isolation_level_sql(void)
{
	switch (XactIsoLevel)
	{
		case XACT_SERIALIZABLE:
			return "SERIALIZABLE";
		case XACT_REPEATABLE_READ:
			return "REPEATABLE READ";
		default:
			return "READ COMMITTED";
	}
}

/* Run sql on a participant in the open transaction; ERROR as it says. */
static void
exec_or_error(Participant *p, const char *sql)
{
	PGresult   *res = libpqsrv_exec(p->conn, sql, twophase_wait_event_remote());

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		twophase_report_remote_error(res, p->conn, p->name, sql);
	PQclear(res);
}

/* The first statement on a server in this transaction opens it there. */
static Participant *
open_participant(Oid serverid, Oid userid)
{
	ForeignServer *server = GetForeignServer(serverid);
	Participant *p;
	PGresult   *res;
	char		sql[64];
	bool		no_prepared;

	if (nparts == PGRAC_2PC_MAX_PARTICIPANTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a distributed transaction has at most %d participants",
						PGRAC_2PC_MAX_PARTICIPANTS)));
	if (strlen(server->servername) > PGRAC_2PC_SERVER_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("foreign server name \"%s\" is too long for a participant", server->servername)));

	p = &parts[nparts];
	memset(p, 0, sizeof(Participant));
	p->serverid = serverid;
	p->userid = userid;
	strlcpy(p->name, server->servername, sizeof(p->name));
	p->conn = conn_cache_take(serverid, userid);
	nparts++;
	snprintf(sql, sizeof(sql), "START TRANSACTION ISOLATION LEVEL %s", isolation_level_sql());
	if (p->conn != NULL)
	{
		TwophaseConnError err;

		/* checked when it was opened; a participant restarted since breaks it */
		if (twophase_command(p->conn, sql, pgrac_twophase_finish_timeout_ms, &err))
		{
			p->depth = 1;
			return p;
		}
		libpqsrv_disconnect(p->conn);
		p->conn = NULL;
	}
	p->conn = twophase_connect(serverid, userid, true);

	/* without prepared transactions it cannot take part */
	res = libpqsrv_exec(p->conn, "SHOW max_prepared_transactions", twophase_wait_event_remote());
	no_prepared = PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		strcmp(PQgetvalue(res, 0, 0), "0") == 0;
	PQclear(res);
	if (no_prepared)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("foreign server \"%s\" cannot take part in a distributed transaction",
						server->servername),
				 errdetail("Its max_prepared_transactions is 0, so it cannot PREPARE TRANSACTION."),
				 errhint("Set max_prepared_transactions on that server to at least the number of concurrent distributed transactions, and restart it.")));
	exec_or_error(p, sql);
	p->depth = 1;
	return p;
}

/*
 * The connection of this transaction to a participant, opened on first
 * use, with savepoints up to the current nesting level.
 */
PGconn *
twophase_participant_conn(Oid serverid)
{
	Oid			userid = GetUserId();
	Participant *p = NULL;
	int			level = GetCurrentTransactionNestLevel();

	if (!pgrac_twophase)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("distributed transactions are off"),
				 errhint("Set pgrac.twophase = on (ALTER SYSTEM SET pgrac.twophase = on) and restart the server.")));
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("a server in recovery cannot coordinate distributed transactions")));
	twophase_check_available();

	for (int i = 0; i < nparts; i++)
		if (parts[i].serverid == serverid && parts[i].userid == userid)
			p = &parts[i];
	if (p == NULL)
		p = open_participant(serverid, userid);
	if (p->broken)
		ereport(ERROR,
				(errcode(ERRCODE_IN_FAILED_SQL_TRANSACTION),
				 errmsg("the transaction on participant \"%s\" is broken: %s", p->name,
						p->broken_reason),
				 errhint("Roll back the transaction.")));
	while (p->depth < level)
	{
		char		sql[64];

		snprintf(sql, sizeof(sql), "SAVEPOINT s%d", p->depth + 1);
		exec_or_error(p, sql);
		p->depth++;
	}
	return p->conn;
}

static void
reset_state(void)
{
	for (int i = 0; i < nparts; i++)
		conn_cache_put(parts[i].serverid, parts[i].userid, parts[i].conn);
	nparts = 0;
	my_slot = -1;
	begun = false;
	my_gid[0] = '\0';
}

/* give the entry to the resolver */
static void
hand_over(const char *why)
{
	TwophaseEntry *e = &twophase_shared->entries[my_slot];

	LWLockAcquire(twophase_shared->insert_lock, LW_EXCLUSIVE);
	for (int i = 0; i < nparts; i++)
		e->part_state[i] = parts[i].prepared ? TWOPHASE_PART_PREPARED : TWOPHASE_PART_DONE;
	strlcpy(e->last_error, why, sizeof(e->last_error));
	e->owner_pid = 0;
	LWLockRelease(twophase_shared->insert_lock);
	twophase_wake_resolver();
}

/* End, without waiting, raising no error; false if it could not be had */
static bool
insert_end_quietly(PgracTwophaseEndOutcome outcome)
{
	PgracTwophaseRecord rec = {.kind = PGRAC_2PC_END};
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = true;

	rec.u.end.txn = twophase_shared->entries[my_slot].live.begin.txn;
	rec.u.end.outcome = outcome;
	PG_TRY();
	{
		(void) twophase_insert(&rec, my_slot);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		FlushErrorState();
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

static void
pre_commit(void)
{
	PgracTwophaseRecord rec = {.kind = PGRAC_2PC_BEGIN};
	FullTransactionId fxid;
	uint64		end;

	for (int i = 0; i < nparts; i++)
		if (parts[i].broken)
			ereport(ERROR,
					(errcode(ERRCODE_IN_FAILED_SQL_TRANSACTION),
					 errmsg("cannot commit: the transaction on participant \"%s\" is broken: %s",
							parts[i].name, parts[i].broken_reason)));
	twophase_check_available();
	my_slot = twophase_reserve_entry();

	/* 1. Begin, durable before any PREPARE */
	rec.u.begin.dboid = MyDatabaseId;
	rec.u.begin.nparticipants = nparts;
	for (int i = 0; i < nparts; i++)
	{
		rec.u.begin.participants[i].server_oid = parts[i].serverid;
		rec.u.begin.participants[i].user_oid = parts[i].userid;
		strlcpy(rec.u.begin.participants[i].server_name, parts[i].name,
				sizeof(rec.u.begin.participants[i].server_name));
	}
	end = twophase_insert(&rec, my_slot);
	begun = true;
	strlcpy(my_gid, rec.u.begin.gid, sizeof(my_gid));
	twophase_flush(end);
	test_stop("after_begin");

	/* 2. prepare each participant */
	for (int i = 0; i < nparts; i++)
	{
		char		pgid[PGRAC_2PC_GID_MAX + 8];
		char		sql[PGRAC_2PC_GID_MAX + 64];

		pgrac_twophase_participant_gid(pgid, sizeof(pgid), my_gid, i + 1);
		snprintf(sql, sizeof(sql), "PREPARE TRANSACTION '%s'", pgid);
		exec_or_error(&parts[i], sql);
		parts[i].prepared = true;
		if (i == 0)
			test_stop("after_prepare_1");
	}

	/*
	 * 3. the decision: Committing with the local xid, durable.  The local
	 * commit record must be flushed before any COMMIT PREPARED is sent,
	 * whatever synchronous_commit says: a local commit lost in a crash would
	 * make the resolver roll back what participants already committed.
	 */
	fxid = GetTopFullTransactionId();
	ForceSyncCommit();
	rec.u.committing.txn = twophase_shared->entries[my_slot].live.begin.txn;

	/*
	 * The xid must be in durable WAL before the decision names it: an xid
	 * that no flushed record carries is forgotten by a crash (recovery sets
	 * the next xid from the WAL it finds), and could be given again to a
	 * transaction that commits.  Recovery advances past the xid of this
	 * record's header.
	 */
	XLogBeginInsert();
	XLogRegisterData((char *) &rec.u.committing.txn, sizeof(uint64));
	XLogFlush(XLogInsert(PGRAC_RMGR_ID, PGRAC_WAL_KIND_TWOPHASE_DECIDING << 4));

	rec.kind = PGRAC_2PC_COMMITTING;
	rec.u.committing.local_xid = U64FromFullTransactionId(fxid);
	rec.u.committing.decided_at = GetCurrentTimestamp();
	end = twophase_insert(&rec, my_slot);
	twophase_flush(end);
	test_stop("after_committing");
}

/* After the local commit: no error may be raised here. */
static void
at_commit(void)
{
	int			unfinished = 0;
	TwophaseConnError err = {{0}};
	char		why[256] = "";

	test_stop("after_local_commit");
	for (int i = 0; i < nparts; i++)
	{
		char		pgid[PGRAC_2PC_GID_MAX + 8];
		char		sql[PGRAC_2PC_GID_MAX + 64];

		pgrac_twophase_participant_gid(pgid, sizeof(pgid), my_gid, i + 1);
		snprintf(sql, sizeof(sql), "COMMIT PREPARED '%s'", pgid);
		if (twophase_command(parts[i].conn, sql, pgrac_twophase_finish_timeout_ms, &err))
			parts[i].prepared = false;
		else
		{
			unfinished++;
			snprintf(why, sizeof(why), "participant \"%s\": %s", parts[i].name, err.message);
		}
		if (i == 0)
			test_stop("after_commit_prepared_1");
	}
	test_stop("before_end");
	if (unfinished == 0 && insert_end_quietly(PGRAC_2PC_ENDED_COMMITTED))
		return;
	if (unfinished > 0)
		ereport(WARNING,
				(errmsg("distributed transaction %s is committed, but %d of its participants could not be told", my_gid, unfinished),
				 errdetail("Last error: %s.", why),
				 errhint("The resolver commits them when they answer; pgrac.pgrac_twophase_in_doubt shows them.")));
	hand_over(unfinished > 0 ? why : "the End record could not be inserted");
}

/* The local transaction aborted: no error may be raised here. */
static void
at_abort(void)
{
	int			unfinished = 0;
	TwophaseConnError err = {{0}};
	char		why[256] = "";

	/* the participants' open transactions end here (or with the connection) */
	for (int i = 0; i < nparts; i++)
	{
		if (parts[i].prepared || parts[i].conn == NULL ||
			PQtransactionStatus(parts[i].conn) == PQTRANS_IDLE)
			continue;
		if (PQtransactionStatus(parts[i].conn) == PQTRANS_ACTIVE ||
			!twophase_command(parts[i].conn, "ROLLBACK", pgrac_twophase_finish_timeout_ms, &err))
		{
			/* an interrupted statement, or no answer: closing ends it */
			libpqsrv_disconnect(parts[i].conn);
			parts[i].conn = NULL;
		}
	}
	if (my_slot < 0)
		return;
	if (!begun)
	{
		/* reserved, nothing logged */
		LWLockAcquire(twophase_shared->insert_lock, LW_EXCLUSIVE);
		memset(&twophase_shared->entries[my_slot], 0, sizeof(TwophaseEntry));
		LWLockRelease(twophase_shared->insert_lock);
		return;
	}
	for (int i = 0; i < nparts; i++)
	{
		char		pgid[PGRAC_2PC_GID_MAX + 8];
		char		sql[PGRAC_2PC_GID_MAX + 64];

		if (!parts[i].prepared)
			continue;
		pgrac_twophase_participant_gid(pgid, sizeof(pgid), my_gid, i + 1);
		snprintf(sql, sizeof(sql), "ROLLBACK PREPARED '%s'", pgid);
		if (twophase_command(parts[i].conn, sql, pgrac_twophase_finish_timeout_ms, &err) ||
			strcmp(err.sqlstate, "42704") == 0)
			parts[i].prepared = false;
		else
		{
			unfinished++;
			snprintf(why, sizeof(why), "participant \"%s\": %s", parts[i].name, err.message);
		}
	}
	if (unfinished == 0 && insert_end_quietly(PGRAC_2PC_ENDED_ROLLED_BACK))
		return;
	if (unfinished == 0 && !twophase_shared->available)
	{
		/* nothing is prepared; the log failed: a restart rolls back again */
		LWLockAcquire(twophase_shared->insert_lock, LW_EXCLUSIVE);
		memset(&twophase_shared->entries[my_slot], 0, sizeof(TwophaseEntry));
		LWLockRelease(twophase_shared->insert_lock);
		return;
	}
	hand_over(unfinished > 0 ? why : "the End record could not be inserted");
}

static void
xact_callback(XactEvent event, void *arg)
{
	if (nparts == 0)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			pre_commit();
			break;
		case XACT_EVENT_COMMIT:
			at_commit();
			reset_state();
			break;
		case XACT_EVENT_ABORT:
			at_abort();
			reset_state();
			break;
		case XACT_EVENT_PRE_PREPARE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot PREPARE a transaction that ran statements on participants"),
					 errdetail("pgrac_storage coordinates the participants itself at COMMIT.")));
			break;
		default:
			break;
	}
}

/* Savepoints on participants follow the local subtransactions. */
static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid,
				 void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (nparts == 0 || (event != SUBXACT_EVENT_PRE_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB))
		return;
	for (int i = 0; i < nparts; i++)
	{
		Participant *p = &parts[i];
		char		sql[128];

		if (p->depth < level || p->broken)
			continue;
		if (event == SUBXACT_EVENT_PRE_COMMIT_SUB)
		{
			snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT s%d", level);
			exec_or_error(p, sql);
		}
		else
		{
			TwophaseConnError err;

			/* an interrupted statement leaves the connection busy */
			if (PQtransactionStatus(p->conn) != PQTRANS_INERROR &&
				PQtransactionStatus(p->conn) != PQTRANS_INTRANS)
			{
				p->broken = true;
				strlcpy(p->broken_reason, "a statement was interrupted in a subtransaction",
						sizeof(p->broken_reason));
				continue;
			}
			snprintf(sql, sizeof(sql), "ROLLBACK TO SAVEPOINT s%d; RELEASE SAVEPOINT s%d",
					 level, level);
			if (!twophase_command(p->conn, sql, pgrac_twophase_finish_timeout_ms, &err))
			{
				p->broken = true;
				snprintf(p->broken_reason, sizeof(p->broken_reason),
						 "rolling back to a savepoint failed: %s", err.message);
			}
		}
		p->depth = level - 1;
	}
}

void
twophase_xact_install(void)
{
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
}
