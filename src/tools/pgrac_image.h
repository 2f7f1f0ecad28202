/*-------------------------------------------------------------------------
 *
 * pgrac_image.h
 *	  Declarations shared by the source files of pgrac_image: opening the
 *	  device (a PgracTransport, pgrac/transport.h), error exits, and the
 *	  commands that live in their own files.
 *
 * src/tools/pgrac_image.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_IMAGE_TOOL_H
#define PGRAC_IMAGE_TOOL_H

#include "catalog/pg_control.h"
#include "pgrac/bd_image.h"
#include "pgrac/transport.h"

/* exit status */
#define EXIT_PROBLEMS	1		/* verify found problems */
#define EXIT_USAGE		2
#define EXIT_DEVICE		3		/* device, I/O, layout, or a refusal */

extern const char *progname;

extern void fail(int code, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

#define usage_error(...)	fail(EXIT_USAGE, __VA_ARGS__)
#define device_error(...)	fail(EXIT_DEVICE, __VA_ARGS__)
/* a command that will not act, on what it found (exit 3 too) */
#define refuse(...)			fail(EXIT_DEVICE, __VA_ARGS__)
/* a transport call that failed: its sentence names device, offset, length */
#define transport_error(t)	fail(EXIT_DEVICE, "%s", (t)->error.message)

extern PgracTransport *open_device(const char *path, bool create,
								   bool writable);
extern PgracTransport *open_device_unlocked(const char *path);
extern BdIo device_io(PgracTransport *dev);
extern void load_or_die(PgracTransport *dev, const BdIo *io,
						BdLoadedLayout *layout);
extern void check_device_size(PgracTransport *dev, const BdSuperblock *sb);
extern void check_layout_or_die(PgracTransport *dev, const BdIo *io,
								const BdLoadedLayout *layout);

/* pgrac_image_import.c, pgrac_image_export.c */
extern int	cmd_import(const char *path, const char *pgdata);
extern int	cmd_export(const char *path, const char *target);

/* pgrac_image_backup.c */
extern int	cmd_backup(const char *path, const char *target, const char *start_lsn,
					   uint32 timeline, const char *parent_dir,
					   const char *pgdata, int wait_seconds);
extern int	cmd_finish_backup(const char *target, const char *stop_lsn);
extern int	cmd_verify_backup(char *const *targets, int ntargets);
extern int	cmd_restore(const char *path, char *const *targets, int ntargets);

/* pgrac_image_import.c: the data directory's control file, checked */
extern ControlFileData *read_control_file(const char *pgdata);
extern ControlFileData *read_stopped_control_file(const char *pgdata,
												  const char *action,
												  const char *subject,
												  const char *hint);
extern const char *cluster_state_name(int state);

/* pgrac_image_binding.c: the data directory's device binding */
struct BdBinding;
extern bool binding_read(const char *pgdata, struct BdBinding *b);
extern void binding_write(const char *pgdata, const struct BdBinding *b);

#endif							/* PGRAC_IMAGE_TOOL_H */
