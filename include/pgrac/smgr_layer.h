/*-------------------------------------------------------------------------
 *
 * smgr_layer.h
 *	  The layer stack: pgrac_storage's storage manager is a base backend
 *	  with layers on top, each inheriting the callbacks it does not override
 *	  from the layer below.
 *
 * A layer fills in the f_smgr callbacks it needs (NULL means "inherit") and
 * calls the layer below through layer->below, which the stack fills in when
 * it composes itself at postmaster start.  Composition copies the inherited
 * pointers upwards, so a call costs one indirect call per layer that
 * overrides it and nothing for the layers that do not.
 *
 * include/pgrac/smgr_layer.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_SMGR_LAYER_H
#define PGRAC_SMGR_LAYER_H

#include "storage/smgr.h"

typedef struct PgracSmgrLayer
{
	const char *name;

	/*
	 * Overridden callbacks; NULL ones are inherited.  smgr_init and
	 * smgr_shutdown are never inherited: the stack calls each layer's own,
	 * bottom-up for init and top-down for shutdown.
	 */
	f_smgr		ops;

	/* Filled in by the stack: the composed manager under this layer */
	const f_smgr *below;
} PgracSmgrLayer;

/*
 * A base backend: complete callbacks.  init/shutdown are NULL for md.c,
 * which PostgreSQL initializes itself as smgr entry 0.
 */
typedef struct PgracSmgrBase
{
	const char *name;
	const f_smgr *ops;
} PgracSmgrBase;

extern void pgrac_stack_set_base(PgracSmgrBase *base);
extern void pgrac_stack_push(PgracSmgrLayer *layer);
extern SMgrId pgrac_stack_install(void);
extern int	pgrac_stack_depth(void);
extern const char *pgrac_stack_layer_name(int level);

#endif							/* PGRAC_SMGR_LAYER_H */
