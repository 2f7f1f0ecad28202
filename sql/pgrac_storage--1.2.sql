/* pgrac_storage--1.2.sql */

\echo Use "CREATE EXTENSION pgrac_storage" to load this file. \quit

-- Every object lives in the extension's own schema, pgrac (the control
-- file's schema, created by CREATE EXTENSION), never in pg_catalog: a
-- binary-upgrade restore creates each object of an extension by itself,
-- and may not create a view in pg_catalog.  Callers name the objects
-- pgrac.<name> or put pgrac on their search_path.  Who may call what is
-- decided per function below; the schema itself is open to everyone, as
-- pg_catalog was in version 1.0.
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;

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

-- The block-device backend (pgrac.storage_backend = 'block_device').
CREATE FUNCTION pgrac_block_device_status(
	OUT backend text,
	OUT device text,
	OUT embedded boolean,
	OUT size_bytes bigint,
	OUT max_size_bytes bigint,
	OUT extent_bytes bigint,
	OUT extents_used bigint,
	OUT extents_free bigint,
	OUT forks bigint,
	OUT metadata_pages_used bigint,
	OUT direct_io boolean,
	OUT io_method text)
RETURNS record
AS 'MODULE_PATHNAME', 'pgrac_block_device_status'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- This backend's read-ahead (direct I/O with io_uring, pgrac.read_ahead).
CREATE FUNCTION pgrac_read_ahead_stats(
	OUT active boolean,
	OUT reads bigint,
	OUT blocks_read bigint,
	OUT blocks_served bigint,
	OUT dropped_stale bigint,
	OUT dropped_failed bigint,
	OUT dropped_unused bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'pgrac_read_ahead_stats'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- The write-behind queue (pgrac.write_behind), for the whole server.
CREATE FUNCTION pgrac_write_behind_stats(
	OUT running boolean,
	OUT writer_pid integer,
	OUT slots integer,
	OUT slots_in_use integer,
	OUT blocks_queued bigint,
	OUT blocks_replaced bigint,
	OUT writes bigint,
	OUT blocks_written bigint,
	OUT full_waits bigint,
	OUT overlap_waits bigint,
	OUT read_waits bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'pgrac_write_behind_stats'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE VIEW pgrac_block_device AS SELECT * FROM pgrac_block_device_status();

-- A relation fork's extents, in order: where on the device its blocks are.
CREATE FUNCTION pgrac_relation_extents(
	rel regclass,
	fork text DEFAULT 'main',
	OUT extent_index int,
	OUT extent bigint,
	OUT device_offset bigint,
	OUT blocks int)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgrac_relation_extents'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

REVOKE ALL ON FUNCTION pgrac_block_device_status() FROM PUBLIC;
REVOKE ALL ON pgrac_block_device FROM PUBLIC;
REVOKE ALL ON FUNCTION pgrac_relation_extents(regclass, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgrac_block_device_status() TO pg_monitor;
GRANT SELECT ON pgrac_block_device TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgrac_relation_extents(regclass, text) TO pg_monitor;
REVOKE ALL ON FUNCTION pgrac_write_behind_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgrac_write_behind_stats() TO pg_monitor;

-- Relations on the device whose creating transaction a checkpoint has not
-- yet seen commit, and what a pass would do about each (docs/block-device.md,
-- "Forks of transactions that never committed").
CREATE FUNCTION pgrac_uncommitted_forks(
	OUT spcoid oid,
	OUT dboid oid,
	OUT relfilenode oid,
	OUT create_xid xid,
	OUT creator text,
	OUT forks int,
	OUT bytes bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgrac_uncommitted_forks'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- Settle or reclaim them now, as the next checkpoint would.
CREATE FUNCTION pgrac_reclaim_uncommitted_forks(
	OUT settled int,
	OUT reclaimed int,
	OUT waiting int)
RETURNS record
AS 'MODULE_PATHNAME', 'pgrac_reclaim_uncommitted_forks'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

REVOKE ALL ON FUNCTION pgrac_uncommitted_forks() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgrac_uncommitted_forks() TO pg_monitor;
REVOKE ALL ON FUNCTION pgrac_reclaim_uncommitted_forks() FROM PUBLIC;

-- The checksum layer (pgrac.checksum_layer = on, docs/checksums.md):
-- data checksums turned on and off while the server runs.

-- off -> inprogress-on (the worker sweeps, then on), or cancel a disable.
CREATE FUNCTION pgrac_enable_checksums(
	cost_delay int DEFAULT 0,
	cost_limit int DEFAULT 100)
RETURNS text
AS 'MODULE_PATHNAME', 'pgrac_enable_checksums'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

-- on -> inprogress-off -> off, or abort a sweep (inprogress-on -> off).
CREATE FUNCTION pgrac_disable_checksums()
RETURNS text
AS 'MODULE_PATHNAME', 'pgrac_disable_checksums'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pgrac_checksum_state(
	OUT state text,
	OUT since timestamptz,
	OUT failures bigint,
	OUT last_failure_at timestamptz,
	OUT last_failure text,
	OUT cost_delay int,
	OUT cost_limit int,
	OUT launcher_pid int,
	OUT last_error text,
	OUT layer_in_stack boolean)
RETURNS record
AS 'MODULE_PATHNAME', 'pgrac_checksum_state'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION pgrac_checksum_sweep_progress(
	OUT launcher_pid int,
	OUT worker_pid int,
	OUT phase text,
	OUT started_at timestamptz,
	OUT databases_total bigint,
	OUT databases_done bigint,
	OUT relations_total bigint,
	OUT relations_done bigint,
	OUT blocks_total bigint,
	OUT blocks_done bigint,
	OUT current_database text,
	OUT current_relid oid,
	OUT current_relation text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgrac_checksum_sweep_progress'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE VIEW pgrac_checksum_status AS SELECT * FROM pgrac_checksum_state();
CREATE VIEW pgrac_checksum_progress AS SELECT * FROM pgrac_checksum_sweep_progress();

-- Changing the state is for superusers only; reading it for monitoring roles.
REVOKE ALL ON FUNCTION pgrac_enable_checksums(int, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgrac_disable_checksums() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgrac_checksum_state() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgrac_checksum_sweep_progress() FROM PUBLIC;
REVOKE ALL ON pgrac_checksum_status FROM PUBLIC;
REVOKE ALL ON pgrac_checksum_progress FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgrac_checksum_state() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pgrac_checksum_sweep_progress() TO pg_monitor;
GRANT SELECT ON pgrac_checksum_status TO pg_monitor;
GRANT SELECT ON pgrac_checksum_progress TO pg_monitor;
