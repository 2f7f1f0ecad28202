/*-------------------------------------------------------------------------
 *
 * backup_history.h
 *	  The backup history and restore points the server keeps in
 *	  $PGDATA/pg_pgrac/backup_history (docs/backup.md, "Backup history
 *	  and restore points"): one line per backup started with
 *	  pgrac_backup_start() and per restore point made with
 *	  pgrac_create_restore_point(), each line led by the CRC-32C of the
 *	  rest of it:
 *
 *	  <crc> backup <id> <result> <kind> <start X/X> <stop X/X or -> <timeline>
 *			<started> <stopped or -> <device bytes or -> <pid> <postmaster start> <label>
 *	  <crc> restore-point <id> <X/X> <timeline> <created> <name>
 *
 * Times are PostgreSQL timestamps (microseconds since 2000-01-01 UTC) in
 * decimal; the label and name come last, with backslash, newline and tab
 * written as \\, \n and \t.  Kinds of line are never reused.
 *
 * Pure code (c.h and PostgreSQL's CRC-32C): the server reads and writes
 * the file, the unit tests the lines.
 *
 * include/pgrac/backup_history.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BACKUP_HISTORY_H
#define PGRAC_BACKUP_HISTORY_H

#define PGRAC_HISTORY_TEXT_MAX	1024	/* label or name, unescaped */
#define PGRAC_HISTORY_LINE_MAX	(2 * PGRAC_HISTORY_TEXT_MAX + 256)
#define PGRAC_HISTORY_KEEP		1000	/* entries of each kind kept */

typedef enum PgracBackupResult
{
	PGRAC_BACKUP_IN_PROGRESS = 1,
	PGRAC_BACKUP_COMPLETED,
	PGRAC_BACKUP_ABORTED,		/* its session ended, or the server stopped */
} PgracBackupResult;

typedef enum PgracHistoryKind
{
	PGRAC_HISTORY_BACKUP = 1,
	PGRAC_HISTORY_RESTORE_POINT,
} PgracHistoryKind;

typedef struct PgracHistoryEntry
{
	PgracHistoryKind kind;
	uint32		id;				/* increasing, per kind */
	/* a backup */
	PgracBackupResult result;
	bool		incremental;
	uint64		start_lsn;
	uint64		stop_lsn;		/* 0: not stopped */
	uint32		timeline;
	int64		started_at;
	int64		stopped_at;		/* 0: not stopped */
	int64		device_bytes;	/* -1: not known */
	int32		pid;			/* the session that started it */
	int64		postmaster_start;	/* when the server it ran in started */
	/* a restore point: lsn in start_lsn, time in started_at */
	char text[	PGRAC_HISTORY_TEXT_MAX + 1];	/* label or name */
} PgracHistoryEntry;

/* the line of e, with its newline, into buf; its length (0 if too long) */
extern size_t pgrac_history_encode(const PgracHistoryEntry *e, char *buf,
								   size_t size);

/*
 * Parse one line (without its newline).  On failure returns false with
 * what is wrong in error.
 */
extern bool pgrac_history_decode(const char *line, size_t len,
								 PgracHistoryEntry *e, char *error,
								 size_t error_size);

extern const char *pgrac_backup_result_name(PgracBackupResult result);

#endif							/* PGRAC_BACKUP_HISTORY_H */
