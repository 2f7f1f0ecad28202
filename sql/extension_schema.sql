--
-- The extension's schema: a fresh install puts every object in schema
-- pgrac, and the update from 1.0 (objects in pg_catalog) ends in the same
-- place with the same privileges, keeping what depends on the objects.
--

-- The superuser that runs the tests may be called pgrac, which the default
-- search_path ("$user", public) would find: leave it out.
SET search_path = public;

-- where each function and view of the extension is, and who may use it
CREATE VIEW regress_layout AS
SELECT coalesce(p.pronamespace, c.relnamespace)::regnamespace::text AS schema,
       coalesce(p.proname, c.relname) AS object,
       coalesce(has_function_privilege('public', p.oid, 'EXECUTE'),
                has_table_privilege('public', c.oid, 'SELECT')) AS public,
       coalesce(has_function_privilege('pg_monitor', p.oid, 'EXECUTE'),
                has_table_privilege('pg_monitor', c.oid, 'SELECT')) AS pg_monitor
  FROM pg_depend d
  LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
  LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgrac_storage')
   AND d.classid IN ('pg_proc'::regclass, 'pg_class'::regclass);
CREATE VIEW regress_extension AS
SELECT e.extversion, e.extnamespace::regnamespace AS schema, e.extrelocatable,
       (SELECT count(*) FROM pg_depend d
         WHERE d.classid = 'pg_namespace'::regclass AND d.objid = e.extnamespace
           AND d.refobjid = e.oid) AS schema_is_member,
       has_schema_privilege('public', e.extnamespace, 'USAGE') AS public_usage,
       has_schema_privilege('public', e.extnamespace, 'CREATE') AS public_create
  FROM pg_extension e WHERE e.extname = 'pgrac_storage';

SELECT name, version, schema, relocatable FROM pg_available_extension_versions
 WHERE name = 'pgrac_storage' ORDER BY version;
SELECT default_version FROM pg_available_extensions WHERE name = 'pgrac_storage';

-- a fresh install: everything in pgrac, a schema CREATE EXTENSION made
CREATE EXTENSION pgrac_storage;
SELECT * FROM regress_extension;
SELECT * FROM regress_layout ORDER BY object;
CREATE TEMP TABLE fresh AS SELECT * FROM regress_layout;

-- the short names need pgrac on the search_path
SELECT count(*) FROM pgrac_storage_layers();
\echo :LAST_ERROR_SQLSTATE
SET search_path = public, pgrac;
SELECT count(*) > 0 AS found FROM pgrac_storage_layers();
SET search_path = public;
SELECT count(*) > 0 AS found FROM pgrac.pgrac_storage_layers();

DROP EXTENSION pgrac_storage;
DROP SCHEMA pgrac;

-- version 1.0, as it was installed: in pg_catalog
CREATE EXTENSION pgrac_storage VERSION '1.0';
SELECT * FROM regress_extension;
SELECT * FROM regress_layout ORDER BY object;

-- what users may have added to it, which the update must keep
CREATE ROLE regress_schema_reader;
GRANT EXECUTE ON FUNCTION pg_catalog.pgrac_storage_layers() TO regress_schema_reader;
CREATE VIEW regress_layers AS SELECT layer FROM pg_catalog.pgrac_storage_layers() WHERE level = 0;

ALTER EXTENSION pgrac_storage UPDATE;
SELECT * FROM regress_extension;
-- the same objects, privileges and schema as a fresh install
SELECT 'only fresh' AS side, * FROM (TABLE fresh EXCEPT TABLE regress_layout) f
UNION ALL
SELECT 'only updated', * FROM (TABLE regress_layout EXCEPT TABLE fresh) u;
SELECT count(*) AS left_in_pg_catalog FROM pg_proc
 WHERE pronamespace = 'pg_catalog'::regnamespace AND proname LIKE 'pgrac\_%';
SELECT has_function_privilege('regress_schema_reader', 'pgrac.pgrac_storage_layers()', 'EXECUTE')
       AS grant_kept;
SELECT pg_get_viewdef('regress_layers');
SELECT * FROM regress_layers;
SELECT * FROM pgrac.pgrac_storage_layers();

DROP VIEW regress_layers;
DROP EXTENSION pgrac_storage;
DROP SCHEMA pgrac;

-- the update refuses to move into a schema pgrac someone else made
CREATE SCHEMA pgrac;
CREATE EXTENSION pgrac_storage VERSION '1.0';
ALTER EXTENSION pgrac_storage UPDATE;
\echo :LAST_ERROR_SQLSTATE
SELECT extversion, extnamespace::regnamespace FROM pg_extension WHERE extname = 'pgrac_storage';
DROP EXTENSION pgrac_storage;
DROP SCHEMA pgrac;

DROP VIEW regress_layout, regress_extension;
DROP ROLE regress_schema_reader;
RESET search_path;
