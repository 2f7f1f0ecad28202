/* pgrac_storage--1.2--1.3.sql */

\echo Use "ALTER EXTENSION pgrac_storage UPDATE" to load this file. \quit

-- Distributed transactions (pgrac.twophase = on, docs/twophase.md): run
-- statements on foreign servers of postgres_fdw inside one transaction,
-- committed on all of them and here, or on none.

-- A statement on a participant; its row count.
CREATE FUNCTION pgrac_remote_exec(server name, sql text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgrac_remote_exec'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

-- A query on a participant; its rows, typed by a column definition list.
CREATE FUNCTION pgrac_remote_query(server name, sql text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgrac_remote_query'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pgrac_twophase_in_doubt_list(
	OUT global_id text,
	OUT database name,
	OUT decision text,
	OUT local_xid xid8,
	OUT outcome text,
	OUT participants text[],
	OUT participant_states text[],
	OUT owner_pid int,
	OUT since timestamptz,
	OUT decided_at timestamptz,
	OUT next_attempt timestamptz,
	OUT last_error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgrac_twophase_in_doubt'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE VIEW pgrac_twophase_in_doubt AS SELECT * FROM pgrac_twophase_in_doubt_list();

CREATE FUNCTION pgrac_twophase_log_status(
	OUT available boolean,
	OUT unavailable_reason text,
	OUT segments int,
	OUT current_segment_start bigint,
	OUT inserted_position bigint,
	OUT flushed_position bigint,
	OUT appends bigint,
	OUT batches bigint,
	OUT rotations bigint,
	OUT corrupt_segments int,
	OUT corrupt_before bigint,
	OUT live_transactions int)
RETURNS record
AS 'MODULE_PATHNAME', 'pgrac_twophase_log_status'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- An operator finishes a transaction by hand: 'commit' or 'rollback'.
CREATE FUNCTION pgrac_twophase_resolve(global_id text, action text)
RETURNS text
AS 'MODULE_PATHNAME', 'pgrac_twophase_resolve'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

-- Any user with USAGE on a foreign server and a user mapping may use it
-- as a participant (the functions check both); monitoring roles read the
-- state; resolving by hand is for superusers.
GRANT EXECUTE ON FUNCTION pgrac_remote_exec(name, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION pgrac_remote_query(name, text) TO PUBLIC;
REVOKE ALL ON FUNCTION pgrac_twophase_in_doubt_list() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgrac_twophase_log_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgrac_twophase_resolve(text, text) FROM PUBLIC;
REVOKE ALL ON pgrac_twophase_in_doubt FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgrac_twophase_in_doubt_list() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgrac_twophase_log_status() TO pg_monitor;
GRANT SELECT ON pgrac_twophase_in_doubt TO pg_monitor;
