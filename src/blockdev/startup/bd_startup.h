/*-------------------------------------------------------------------------
 *
 * bd_startup.h
 *	  Startup of the block-device backend: which device holds the data,
 *	  formatting, loading, claiming the device, importing PGDATA.
 *
 * src/blockdev/startup/bd_startup.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_STARTUP_H
#define PGRAC_BD_STARTUP_H

#include "blockdev/checkpoint/bd_checkpoint.h"
#include "blockdev/forks/bd_forks.h"

/* settings (pgrac_storage.c defines them; the variables are in bd_startup.c) */
extern int	pgrac_image_max_size_mb;
extern int	pgrac_image_extent_kb;

/* bd_ownership.c: which device holds the data (pgrac/bd_binding.h) */
struct BdBinding;
extern bool bd_binding_get(struct BdBinding *out);
extern void bd_binding_put(const struct BdBinding *b);
extern void bd_refuse_md_with_binding(void);
extern void bd_refuse_file_tools(void);
extern void bd_check_bound_device(const uint8 device_uuid[16]);
extern void bd_refuse_missing_embedded(const char *path);

/* a data directory restored from a base backup (bd_backup_copy.c) */
extern bool bd_backup_copy_pending(void);
extern bool bd_backup_copy_settle(void);
extern void bd_backup_copy_grow_file(void);

/* startup in the postmaster (bd_startup.c) */
extern const BdSuperblock *bd_startup_geometry(void);
extern void bd_startup_load(void);
extern void bd_startup_claim(void);
extern void bd_meta_reset(void);
extern void bd_meta_write_all(void);
extern void bd_zero_free_extents(void);
extern void bd_meta_claim(uint64 system_identifier);

/* ---- import of a PGDATA's relation files (bd_import.c) ---- */

extern void bd_import_if_needed(void);

#endif							/* PGRAC_BD_STARTUP_H */
