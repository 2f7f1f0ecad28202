/*-------------------------------------------------------------------------
 *
 * layer_stack.c
 *	  Composition of the base backend and its layers into the one storage
 *	  manager pgrac_storage registers with PostgreSQL.
 *
 * The stack is built once, in the postmaster while shared_preload_libraries
 * load, from PGC_POSTMASTER settings, and inherited by every child process.
 * Nothing here runs per call: after pgrac_stack_install() the registered
 * f_smgr points straight at the top-most override of each callback.
 *
 * src/smgr/layer_stack.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgrac/smgr_layer.h"

#define PGRAC_MAX_LAYERS 8

static PgracSmgrBase *stack_base = NULL;
static PgracSmgrLayer *stack_layers[PGRAC_MAX_LAYERS];
static int	stack_nlayers = 0;

/* composed[0] is the base; composed[i] is the base plus layers 0..i-1 */
static f_smgr composed[PGRAC_MAX_LAYERS + 1];
static bool installed = false;

void
pgrac_stack_set_base(PgracSmgrBase *base)
{
	Assert(!installed && stack_base == NULL);
	stack_base = base;
}

void
pgrac_stack_push(PgracSmgrLayer *layer)
{
	Assert(!installed);
	if (stack_nlayers >= PGRAC_MAX_LAYERS)
		elog(ERROR, "too many pgrac_storage layers");
	stack_layers[stack_nlayers++] = layer;
}

static void
stack_init(void)
{
	if (stack_base->ops->smgr_init)
		stack_base->ops->smgr_init();
	for (int i = 0; i < stack_nlayers; i++)
		if (stack_layers[i]->ops.smgr_init)
			stack_layers[i]->ops.smgr_init();
}

static void
stack_shutdown(void)
{
	for (int i = stack_nlayers - 1; i >= 0; i--)
		if (stack_layers[i]->ops.smgr_shutdown)
			stack_layers[i]->ops.smgr_shutdown();
	if (stack_base->ops->smgr_shutdown)
		stack_base->ops->smgr_shutdown();
}

/* Copy every non-NULL callback of from over into; init/shutdown excepted. */
static void
override_callbacks(f_smgr *into, const f_smgr *from)
{
#define OVERRIDE(field) \
	if (from->field) \
		into->field = from->field

	OVERRIDE(smgr_open);
	OVERRIDE(smgr_close);
	OVERRIDE(smgr_create);
	OVERRIDE(smgr_exists);
	OVERRIDE(smgr_unlink);
	OVERRIDE(smgr_extend);
	OVERRIDE(smgr_zeroextend);
	OVERRIDE(smgr_prefetch);
	OVERRIDE(smgr_readv);
	OVERRIDE(smgr_writev);
	OVERRIDE(smgr_writeback);
	OVERRIDE(smgr_nblocks);
	OVERRIDE(smgr_truncate);
	OVERRIDE(smgr_immedsync);
	OVERRIDE(smgr_registersync);
#undef OVERRIDE
}

/*
 * Compose the stack, register it with PostgreSQL and make it the storage
 * manager of every relation.
 */
SMgrId
pgrac_stack_install(void)
{
	SMgrId		id;

	Assert(!installed && stack_base != NULL);

	composed[0] = *stack_base->ops;

	for (int i = 0; i < stack_nlayers; i++)
	{
		PgracSmgrLayer *layer = stack_layers[i];

		composed[i + 1] = composed[i];
		override_callbacks(&composed[i + 1], &layer->ops);
		layer->below = &composed[i];
	}

	composed[stack_nlayers].name = "pgrac";
	composed[stack_nlayers].smgr_init = stack_init;
	composed[stack_nlayers].smgr_shutdown = stack_shutdown;

	id = smgr_register(&composed[stack_nlayers]);
	smgr_set_default(id);
	installed = true;
	return id;
}

/* Number of levels: the base plus the layers. */
int
pgrac_stack_depth(void)
{
	return installed ? stack_nlayers + 1 : 0;
}

/* Name of a level; 0 is the base backend. */
const char *
pgrac_stack_layer_name(int level)
{
	Assert(level >= 0 && level <= stack_nlayers);
	return level == 0 ? stack_base->name : stack_layers[level - 1]->name;
}
