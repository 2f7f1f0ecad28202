/* pgrac_storage--1.1--1.2.sql */

\echo Use "ALTER EXTENSION pgrac_storage UPDATE" to load this file. \quit

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
