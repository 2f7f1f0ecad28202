/* pgrac_storage--1.0--1.1.sql */

\echo Use "ALTER EXTENSION pgrac_storage UPDATE" to load this file. \quit

-- Version 1.0 put its objects in pg_catalog, where pg_upgrade's restore
-- cannot create the view pgrac_block_device; 1.1 has the same objects in
-- schema pgrac.  This script runs with search_path = pg_catalog.

-- An existing schema pgrac makes the update fail (schema "pgrac" already
-- exists): it does not take over a schema it did not make, with whatever
-- is in it.  Rename that schema first, or drop and create the extension,
-- which then uses it.
CREATE SCHEMA pgrac;

-- Created here the schema would be a member of the extension, as a schema
-- that CREATE EXTENSION creates is not; and ALTER EXTENSION SET SCHEMA
-- refuses to move an extension into a schema it contains.
ALTER EXTENSION pgrac_storage DROP SCHEMA pgrac;
GRANT USAGE ON SCHEMA pgrac TO PUBLIC;

-- ALTER EXTENSION SET SCHEMA moves every member (keeping its OID, so its
-- privileges and the objects that depend on it) and also the extension's
-- own schema, pg_extension.extnamespace and its pg_depend entry, which no
-- other command changes.  It only moves a relocatable extension, and this
-- one is not, before or after: no command changes that either, so the flag
-- is set directly around the move, in this transaction, as contrib's own
-- update scripts change catalog entries that no DDL reaches.
UPDATE pg_catalog.pg_extension SET extrelocatable = true
 WHERE extname = 'pgrac_storage';
ALTER EXTENSION pgrac_storage SET SCHEMA pgrac;
UPDATE pg_catalog.pg_extension SET extrelocatable = false
 WHERE extname = 'pgrac_storage';

-- New in 1.1, created in schema pgrac now that the extension lives there.
SET LOCAL search_path = pgrac;

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
