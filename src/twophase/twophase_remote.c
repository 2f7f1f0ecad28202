/*-------------------------------------------------------------------------
 *
 * twophase_remote.c
 *	  Connections to the participants of distributed transactions, and the
 *	  SQL functions that run statements on them: pgrac_remote_exec() and
 *	  pgrac_remote_query().
 *
 * A participant is a foreign server of postgres_fdw (CREATE SERVER ...
 * FOREIGN DATA WRAPPER postgres_fdw) reached with the current user's
 * mapping.  The connection is built from the libpq options of the server
 * and of the mapping, as postgres_fdw builds its own; the password comes
 * from the mapping and is never written to the log, a message or WAL (the
 * log keeps the server's and the user's OIDs, and the resolver looks the
 * mapping up again).  Waits go through libpq-be-fe-helpers.h, so they are
 * interruptible, except in twophase_command(), which the commit protocol
 * uses where no error may be raised.
 *
 * src/twophase/twophase_remote.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_foreign_server.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "libpq/libpq-be-fe-helpers.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/wait_event.h"

#include "twophase/twophase_server.h"

/* the wait event of every wait on a participant */
uint32
twophase_wait_event_remote(void)
{
	static uint32 wait_event = 0;

	if (wait_event == 0)
		wait_event = WaitEventExtensionNew("PgracTwophaseParticipant");
	return wait_event;
}

/* Is keyword an option libpq knows (not one of postgres_fdw's own)? */
static bool
is_libpq_option(const char *keyword)
{
	static PQconninfoOption *defaults = NULL;

	if (defaults == NULL)
	{
		defaults = PQconndefaults();
		if (defaults == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	for (PQconninfoOption *o = defaults; o->keyword != NULL; o++)
		if (strcmp(o->keyword, keyword) == 0)
			return true;
	return false;
}

/*
 * Connect to a foreign server with userid's user mapping.  ERROR on
 * failure.  check_password: a session of a non-superuser must
 * authenticate with the mapping's password, as postgres_fdw requires, so
 * that no one borrows the server's own trust of the local OS user.
 */
PGconn *
twophase_connect(Oid serverid, Oid userid, bool check_password)
{
	ForeignServer *server = GetForeignServerExtended(serverid, FSV_MISSING_OK);
	UserMapping *um;
	List	   *options;
	int			n;
	const char **keywords;
	const char **values;
	bool		has_password = false;
	int			i = 0;
	PGconn	   *conn;

	if (server == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("foreign server with OID %u does not exist", serverid),
				 errhint("A participant's foreign server was dropped while a distributed transaction still needed it: finish the prepared part by hand on that server (COMMIT PREPARED or ROLLBACK PREPARED, as pgrac.pgrac_twophase_in_doubt gives the outcome); this release cannot forget the entry.")));
	um = GetUserMapping(userid, serverid);
	options = list_concat(list_copy(server->options), um->options);
	n = list_length(options) + 4;
	keywords = palloc0(sizeof(char *) * n);
	values = palloc0(sizeof(char *) * n);

	foreach_node(DefElem, d, options)
	{
		if (!is_libpq_option(d->defname))
			continue;
		if (strcmp(d->defname, "password") == 0)
			has_password = true;
		keywords[i] = d->defname;
		values[i] = defGetString(d);
		i++;
	}
	keywords[i] = "fallback_application_name";
	values[i++] = "pgrac_storage 2PC";
	keywords[i] = "client_encoding";
	values[i++] = GetDatabaseEncodingName();
	keywords[i] = NULL;
	values[i] = NULL;

	if (check_password && !superuser_arg(userid) && !has_password)
		ereport(ERROR,
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
				 errmsg("a password is required to use foreign server \"%s\" as a participant",
						server->servername),
				 errdetail("Non-superusers must give a password in their user mapping.")));

	conn = libpqsrv_connect_params(keywords, values, false, twophase_wait_event_remote());
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		char	   *msg = conn ? pchomp(PQerrorMessage(conn)) : pstrdup("out of memory");

		libpqsrv_disconnect(conn);
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not connect to participant \"%s\"", server->servername),
				 errdetail_internal("%s", msg)));
	}
	if (check_password && !superuser_arg(userid) && !PQconnectionUsedPassword(conn))
	{
		libpqsrv_disconnect(conn);
		ereport(ERROR,
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
				 errmsg("participant \"%s\" did not ask for the password", server->servername),
				 errdetail("Non-superusers must authenticate to participants with a password."),
				 errhint("Make the participant's pg_hba.conf require password authentication for this user.")));
	}
	pfree(keywords);
	pfree(values);
	return conn;
}

static void
set_conn_error(TwophaseConnError *err, const char *sqlstate, const char *msg)
{
	strlcpy(err->sqlstate, sqlstate ? sqlstate : "", sizeof(err->sqlstate));
	strlcpy(err->message, msg ? msg : "", sizeof(err->message));
	/* one line */
	for (char *c = err->message; *c; c++)
		if (*c == '\n')
			*c = ' ';
}

/*
 * Run sql on conn and wait at most timeout_ms for its results, raising no
 * error (interrupts are not served: the commit protocol calls this where
 * they are held).  True if every result succeeded; otherwise *err says
 * what the participant said, or why there was no answer.
 */
bool
twophase_command(PGconn *conn, const char *sql, int timeout_ms, TwophaseConnError *err)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	bool		ok = true;

	set_conn_error(err, "", "");
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		set_conn_error(err, "08006", "the connection is broken");
		return false;
	}
	if (!PQsendQuery(conn, sql))
	{
		set_conn_error(err, "08006", PQerrorMessage(conn));
		return false;
	}
	for (;;)
	{
		PGresult   *res;

		while (PQisBusy(conn))
		{
			long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
			int			rc;

			if (left <= 0)
			{
				set_conn_error(err, "57014", "no answer within pgrac.twophase_finish_timeout");
				return false;
			}
			rc = WaitLatchOrSocket(MyLatch,
								   WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT |
								   WL_EXIT_ON_PM_DEATH,
								   PQsocket(conn), left, twophase_wait_event_remote());
			if (rc & WL_LATCH_SET)
				ResetLatch(MyLatch);
			if ((rc & WL_SOCKET_READABLE) && !PQconsumeInput(conn))
			{
				set_conn_error(err, "08006", PQerrorMessage(conn));
				return false;
			}
		}
		res = PQgetResult(conn);
		if (res == NULL)
			break;
		if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			if (ok)
				set_conn_error(err, PQresultErrorField(res, PG_DIAG_SQLSTATE),
							   PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) ?
							   PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) :
							   PQerrorMessage(conn));
			ok = false;
		}
		PQclear(res);
	}
	return ok;
}

/* twophase_connect() raising no error: NULL, and *err says why */
static PGconn *
connect_quietly(Oid serverid, Oid userid, TwophaseConnError *err)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	PGconn	   *volatile conn = NULL;

	PG_TRY();
	{
		conn = twophase_connect(serverid, userid, false);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		set_conn_error(err, unpack_sql_state(edata->sqlerrcode),
					   edata->detail ? edata->detail : edata->message);
		FreeErrorData(edata);
		conn = NULL;
	}
	PG_END_TRY();
	return conn;
}

/*
 * COMMIT PREPARED or ROLLBACK PREPARED of pgid on a participant, raising
 * no error.  *done: the participant no longer has it.  "Does not exist"
 * (42704) counts as done: the ids are exact, so it can only mean that
 * the participant finished it before, or never prepared it.
 */
void
twophase_finish_prepared(Oid serverid, Oid userid, const char *pgid, bool commit,
						 int timeout_ms, bool *done, TwophaseConnError *err)
{
	PGconn	   *conn;
	char		sql[PGRAC_2PC_GID_MAX + 64];

	*done = false;
	snprintf(sql, sizeof(sql), "%s PREPARED '%s'", commit ? "COMMIT" : "ROLLBACK", pgid);
	conn = connect_quietly(serverid, userid, err);
	if (conn == NULL)
		return;
	if (twophase_command(conn, sql, timeout_ms, err) || strcmp(err->sqlstate, "42704") == 0)
		*done = true;
	libpqsrv_disconnect(conn);
}

/*
 * Does the participant hold pgid prepared?  False if it could not be
 * asked (*err says why); raises no error.
 */
bool
twophase_has_prepared(Oid serverid, Oid userid, const char *pgid, bool *has,
					  TwophaseConnError *err)
{
	PGconn	   *conn;
	PGresult   *res;
	const char *params[1] = {pgid};
	bool		ok;

	*has = false;
	conn = connect_quietly(serverid, userid, err);
	if (conn == NULL)
		return false;
	res = PQexecParams(conn, "SELECT count(*) FROM pg_catalog.pg_prepared_xacts WHERE gid = $1",
					   1, NULL, params, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
	if (ok)
		*has = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
	else
		set_conn_error(err, PQresultErrorField(res, PG_DIAG_SQLSTATE), PQerrorMessage(conn));
	PQclear(res);
	libpqsrv_disconnect(conn);
	return ok;
}

/*
 * Report an error result of a participant as this session's ERROR: its
 * SQLSTATE, message, detail and hint, in the context of the participant
 * (and of the protocol's statement, when the protocol sent it).
 */
void
twophase_report_remote_error(PGresult *res, PGconn *conn, const char *servername,
							 const char *protocol_sql)
{
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	char	   *primary = pstrdup(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) ?
								  PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) :
								  pchomp(PQerrorMessage(conn)));
	char	   *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) ?
		pstrdup(PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)) : NULL;
	char	   *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) ?
		pstrdup(PQresultErrorField(res, PG_DIAG_MESSAGE_HINT)) : NULL;
	int			code = sqlstate ? MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
												sqlstate[3], sqlstate[4]) :
		ERRCODE_CONNECTION_FAILURE;

	PQclear(res);
	ereport(ERROR,
			(errcode(code),
			 errmsg_internal("%s", primary),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0,
			 protocol_sql ?
			 errcontext("\"%s\" on participant \"%s\"", protocol_sql, servername) :
			 errcontext("statement on participant \"%s\"", servername)));
}

/*
 * Run sql on the participant and return its last result, checked: an
 * error is raised as the participant's, and a statement that ended the
 * participant's transaction (COMMIT, ROLLBACK) is refused.
 */
static PGresult *
remote_run(Name servername, text *sql_text)
{
	ForeignServer *server = GetForeignServerByName(NameStr(*servername), false);
	char	   *sql = text_to_cstring(sql_text);
	PGconn	   *conn;
	PGresult   *res;
	AclResult	aclresult;

	aclresult = object_aclcheck(ForeignServerRelationId, server->serverid, GetUserId(), ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, server->servername);

	conn = twophase_participant_conn(server->serverid);
	res = libpqsrv_exec(conn, sql, twophase_wait_event_remote());
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		twophase_report_remote_error(res, conn, server->servername, NULL);
	if (PQtransactionStatus(conn) != PQTRANS_INTRANS)
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("the statement ended the transaction on participant \"%s\"",
						server->servername),
				 errdetail("The participant's transaction is committed or rolled back by the distributed transaction, never by a statement."),
				 errhint("Leave out COMMIT, ROLLBACK, PREPARE TRANSACTION and the like from pgrac_remote_exec() and pgrac_remote_query().")));
	}
	return res;
}

PG_FUNCTION_INFO_V1(pgrac_remote_exec);

/* pgrac_remote_exec(server name, sql text): the statement's row count */
Datum
pgrac_remote_exec(PG_FUNCTION_ARGS)
{
	PGresult   *res = remote_run(PG_GETARG_NAME(0), PG_GETARG_TEXT_PP(1));
	int64		rows;

	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		rows = PQntuples(res);
	else
		rows = *PQcmdTuples(res) ? strtoll(PQcmdTuples(res), NULL, 10) : 0;
	PQclear(res);
	PG_RETURN_INT64(rows);
}

PG_FUNCTION_INFO_V1(pgrac_remote_query);

/* pgrac_remote_query(server name, sql text): its rows, as the caller says */
Datum
pgrac_remote_query(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PGresult   *res;
	AttInMetadata *attinmeta;
	int			natts;
	char	  **values;

	InitMaterializedSRF(fcinfo, 0);
	res = remote_run(PG_GETARG_NAME(0), PG_GETARG_TEXT_PP(1));
	natts = rsinfo->setDesc->natts;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != natts)
	{
		int			nfields = PQresultStatus(res) == PGRES_TUPLES_OK ? PQnfields(res) : 0;

		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the participant returned %d columns, the column definition list has %d",
						nfields, natts)));
	}
	attinmeta = TupleDescGetAttInMetadata(rsinfo->setDesc);
	values = palloc(sizeof(char *) * natts);
	PG_TRY();
	{
		for (int r = 0; r < PQntuples(res); r++)
		{
			HeapTuple	tuple;

			for (int c = 0; c < natts; c++)
				values[c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
			tuple = BuildTupleFromCStrings(attinmeta, values);
			tuplestore_puttuple(rsinfo->setResult, tuple);
			heap_freetuple(tuple);
		}
	}
	PG_FINALLY();
	{
		PQclear(res);
	}
	PG_END_TRY();
	return (Datum) 0;
}
