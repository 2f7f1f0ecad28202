/* pgrac_storage--1.3--1.4.sql */

\echo Use "ALTER EXTENSION pgrac_storage UPDATE" to load this file. \quit

-- Backups with a history (docs/backup.md, "Backup history and restore
-- points"): core's pg_backup_start(), pg_backup_stop() and
-- pg_create_restore_point(), called with the caller's privileges, and a
-- record of each in pg_pgrac/backup_history.

CREATE FUNCTION pgrac_backup_start(label text, fast boolean DEFAULT false,
								   incremental boolean DEFAULT false)
RETURNS pg_lsn
AS 'MODULE_PATHNAME', 'pgrac_backup_start'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pgrac_backup_stop(wait_for_archive boolean DEFAULT true,
								  OUT lsn pg_lsn, OUT labelfile text,
								  OUT spcmapfile text)
RETURNS record
AS 'MODULE_PATHNAME', 'pgrac_backup_stop'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pgrac_create_restore_point(name text)
RETURNS pg_lsn
AS 'MODULE_PATHNAME', 'pgrac_create_restore_point'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pgrac_backup_history_list(
	OUT id bigint,
	OUT label text,
	OUT kind text,
	OUT result text,
	OUT start_lsn pg_lsn,
	OUT stop_lsn pg_lsn,
	OUT timeline bigint,
	OUT started_at timestamptz,
	OUT stopped_at timestamptz,
	OUT duration interval,
	OUT device_bytes bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgrac_backup_history_list'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE VIEW pgrac_backup_history AS SELECT * FROM pgrac_backup_history_list();

CREATE FUNCTION pgrac_restore_points_list(
	OUT id bigint,
	OUT name text,
	OUT lsn pg_lsn,
	OUT timeline bigint,
	OUT created_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgrac_restore_points_list'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE VIEW pgrac_restore_points AS SELECT * FROM pgrac_restore_points_list();

-- Starting and stopping backups and making restore points are for
-- superusers (or whom they grant them, with core's functions too, which
-- these call with the caller's privileges); monitoring roles read the
-- history.
REVOKE ALL ON FUNCTION pgrac_backup_start(text, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgrac_backup_stop(boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgrac_create_restore_point(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgrac_backup_history_list() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgrac_restore_points_list() FROM PUBLIC;
REVOKE ALL ON pgrac_backup_history FROM PUBLIC;
REVOKE ALL ON pgrac_restore_points FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgrac_backup_history_list() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgrac_restore_points_list() TO pg_monitor;
GRANT SELECT ON pgrac_backup_history TO pg_monitor;
GRANT SELECT ON pgrac_restore_points TO pg_monitor;
