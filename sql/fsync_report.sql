--
-- The SQL API of the fsync checker: report, statistics, reset, privileges.
-- The server runs with pgrac.fsync_checker = on (test/regress.conf).
--
CREATE EXTENSION pgrac_storage;

-- the layer stack, base first
SELECT * FROM pgrac.pgrac_storage_layers();

-- the report's shape
SELECT p.proname, pg_get_function_arguments(p.oid) AS arguments,
       pg_get_function_result(p.oid) AS result
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgrac_storage')
 ORDER BY p.proname;

-- correct bulk operations leave nothing to report
CREATE TABLE regress_fsync_t AS SELECT g FROM generate_series(1, 20000) g;
CREATE INDEX regress_fsync_t_g ON regress_fsync_t (g);
CREATE UNLOGGED TABLE regress_fsync_u AS SELECT g FROM generate_series(1, 2000) g;
CREATE INDEX regress_fsync_u_g ON regress_fsync_u USING hash (g);
VACUUM FULL regress_fsync_t;
CLUSTER regress_fsync_t USING regress_fsync_t_g;
REINDEX TABLE regress_fsync_u;
CHECKPOINT;
SELECT count(*) AS findings FROM pgrac.pgrac_fsync_report();
SELECT findings, findings_dropped, open_obligations, unbuffered_writes > 0 AS saw_writes, untracked_writes
  FROM pgrac.pgrac_fsync_checker_stats();

-- privileges: nothing for PUBLIC, reading for pg_monitor, reset for superusers
CREATE ROLE regress_fsync_nobody;
CREATE ROLE regress_fsync_monitor IN ROLE pg_monitor;
SET ROLE regress_fsync_nobody;
SELECT count(*) FROM pgrac.pgrac_fsync_report();
\echo :LAST_ERROR_SQLSTATE
SELECT findings FROM pgrac.pgrac_fsync_checker_stats();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM pgrac.pgrac_storage_layers();
\echo :LAST_ERROR_SQLSTATE
SELECT pgrac.pgrac_fsync_report_reset();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_fsync_monitor;
SELECT count(*) FROM pgrac.pgrac_fsync_report();
SELECT findings FROM pgrac.pgrac_fsync_checker_stats();
SELECT pgrac.pgrac_fsync_report_reset();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT pgrac.pgrac_fsync_report_reset();

-- bad arguments: the functions take none
SELECT * FROM pgrac.pgrac_fsync_report(0);
\echo :LAST_ERROR_SQLSTATE
SELECT pgrac.pgrac_fsync_report_reset(true);
\echo :LAST_ERROR_SQLSTATE

-- the block-device functions refuse on md, saying what to set
\set VERBOSITY terse
SELECT * FROM pgrac.pgrac_block_device;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrac.pgrac_relation_extents('pg_class');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default

DROP TABLE regress_fsync_t, regress_fsync_u;
DROP ROLE regress_fsync_nobody, regress_fsync_monitor;
DROP EXTENSION pgrac_storage;
DROP SCHEMA pgrac;
