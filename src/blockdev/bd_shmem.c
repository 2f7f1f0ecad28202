/*-------------------------------------------------------------------------
 *
 * bd_shmem.c
 *	  The one place that requests and initialises the shared memory of
 *	  every module of the block-device backend, in the order startup
 *	  needs: the device's geometry sizes the metadata cache; the device is
 *	  locked before anything in shared memory is trusted; a cache created
 *	  here is loaded (after the checkpoint journal is applied) before any
 *	  backend runs; the postmaster then claims the device, importing
 *	  PGDATA's relation files the first time.
 *
 * src/blockdev/bd_shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "blockdev/bd_server.h"

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
bd_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(bd_meta_shmem_size(bd_startup_geometry()));
	RequestNamedLWLockTranche("pgrac_block_device", 1);
	RequestNamedLWLockTranche("pgrac_block_device_forks", BD_FORK_PARTITIONS);
	RequestAddinShmemSpace(bd_write_gens_shmem_size());
	bd_writebehind_shmem_request();
}

static void
bd_shmem_startup(void)
{
	const BdSuperblock *geometry;
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	geometry = bd_startup_geometry();
	bd_device_lock();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	found = bd_meta_shmem_init(geometry);
	bd_write_gens_shmem_init();
	bd_writebehind_shmem_init();
	if (!found)
		bd_startup_load();
	LWLockRelease(AddinShmemInitLock);

	if (!found && !IsUnderPostmaster)
		bd_startup_claim();
}

/* From _PG_init, when the block-device backend is the base. */
void
bd_shmem_install(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = bd_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = bd_shmem_startup;
}
