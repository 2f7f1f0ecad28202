-- Created by the TAP tests with the library's absolute path substituted.
CREATE FUNCTION fsync_inject_unsynced_write(rel regclass, fork text,
	blkno bigint, wal_log bool) RETURNS void
	AS '@LIB@', 'fsync_inject_unsynced_write' LANGUAGE C STRICT;
CREATE FUNCTION fsync_inject_late_registration(rel regclass) RETURNS void
	AS '@LIB@', 'fsync_inject_late_registration' LANGUAGE C STRICT;
CREATE FUNCTION fsync_inject_copy_init_fork(src regclass, dst regclass)
	RETURNS void
	AS '@LIB@', 'fsync_inject_copy_init_fork' LANGUAGE C STRICT;
CREATE FUNCTION fsync_inject_synced_write(rel regclass, blkno bigint)
	RETURNS void
	AS '@LIB@', 'fsync_inject_synced_write' LANGUAGE C STRICT;
