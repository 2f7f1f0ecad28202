/* pgrac_storage--1.0.sql */

\echo Use "CREATE EXTENSION pgrac_storage" to load this file. \quit

-- The storage manager stack, base backend first (level 0).
CREATE FUNCTION pgrac_storage_layers(
	OUT level int,
	OUT layer text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgrac_storage_layers'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

-- Findings of the fsync checker (pgrac.fsync_checker = on).
CREATE FUNCTION pgrac_fsync_report(
	OUT spcoid oid,
	OUT dboid oid,
	OUT relfilenode oid,
	OUT fork text,
	OUT segno int,
	OUT first_unsynced_lsn pg_lsn,
	OUT checkpoint_redo pg_lsn,
	OUT reason text,
	OUT reported_at timestamptz,
	OUT path text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgrac_fsync_report'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION pgrac_fsync_checker_stats(
	OUT findings bigint,
	OUT findings_dropped bigint,
	OUT open_obligations int,
	OUT unbuffered_writes bigint,
	OUT untracked_writes bigint,
	OUT max_obligations int)
RETURNS record
AS 'MODULE_PATHNAME', 'pgrac_fsync_checker_stats'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION pgrac_fsync_report_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'pgrac_fsync_report_reset'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- Reading is for monitoring roles; resetting is for superusers only.
REVOKE ALL ON FUNCTION pgrac_storage_layers() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgrac_fsync_report() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgrac_fsync_checker_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgrac_fsync_report_reset() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgrac_storage_layers() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgrac_fsync_report() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgrac_fsync_checker_stats() TO pg_monitor;
