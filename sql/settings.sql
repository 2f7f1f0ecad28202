--
-- pgrac.* settings: values, contexts, and refusals of bad input.
--
SELECT name, setting, context, vartype, min_val, max_val, enumvals
  FROM pg_settings WHERE name LIKE 'pgrac.%' ORDER BY name;

-- postmaster settings cannot change in a session
SET pgrac.fsync_checker = off;
\echo :LAST_ERROR_SQLSTATE
SET pgrac.storage_backend = 'md';
\echo :LAST_ERROR_SQLSTATE

-- ALTER SYSTEM validates before writing postgresql.auto.conf
ALTER SYSTEM SET pgrac.storage_backend = 'nfs';
\echo :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET pgrac.fsync_checker = 'maybe';
\echo :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET pgrac.fsync_checker_max_obligations = 10;
\echo :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET pgrac.fsync_checker_max_findings = 0;
\echo :LAST_ERROR_SQLSTATE
SELECT pg_read_file('postgresql.auto.conf') LIKE '%pgrac%' AS auto_conf_touched;

-- the pgrac prefix is reserved: a typo is an error, not a silent placeholder
SET pgrac.fsync_cheker = on;
\echo :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET pgrac.storage_bakend = 'md';
\echo :LAST_ERROR_SQLSTATE
