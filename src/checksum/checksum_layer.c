/*-------------------------------------------------------------------------
 *
 * checksum_layer.c
 *	  The checksum layer of the storage stack: sets pd_checksum on the
 *	  pages it writes and verifies the pages it reads, as the state
 *	  published by checksum_transition.c says (docs/checksums.md).
 *
 * PostgreSQL 17 without data checksums hands the storage manager the live
 * shared buffer (FlushBuffer's PageSetChecksumCopy() returns the page
 * itself), which other backends may still change under a share lock
 * (hint bits).  The layer therefore computes the checksum on a private
 * copy and writes the copy: the checksum matches the bytes written.
 *
 * Each read and write is one window of I/O (checksum_server.h): the state
 * is sampled at its start and the slot cleared at its end, also when the
 * call below raises an error, so a transition waits for it and for
 * nothing else.  Temporary relations are written like any other relation
 * but never verified: their pages may predate the sweep, which cannot
 * reach another backend's local buffers.
 *
 * Verification failures are reported as core reports them (the same
 * WARNING, then ERROR with SQLSTATE XX001 "invalid page in block %u of
 * relation %s"), counted for pgrac_checksum_status, and honour
 * ignore_checksum_failure (a page whose header is sane is let through)
 * and zero_damaged_pages (the page is zeroed, which core then accepts as a
 * new page).  The layer cannot see a caller's RBM_ZERO_ON_ERROR; such a
 * read fails like any other (docs/checksums.md).
 *
 * src/checksum/checksum_layer.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/relpath.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pgrac/checksum_page.h"
#include "pgrac/smgr_layer.h"
#include "checksum/checksum_server.h"

/*
 * Core's setting (storage/page/bufpage.c), which no header declares: its
 * only users are in core, declared in guc_tables.c as here.
 */
extern PGDLLIMPORT bool ignore_checksum_failure;

/* pages copied per call below; a longer write is split */
#define CHECKSUM_COPY_BLOCKS	16

static PgracSmgrLayer checksum_layer;
static char *copy_buffer = NULL;

static void
checksum_smgr_init(void)
{
	/* aligned for direct I/O: the block-device backend may write it as it is */
	copy_buffer = MemoryContextAllocAligned(TopMemoryContext, CHECKSUM_COPY_BLOCKS * BLCKSZ,
											PG_IO_ALIGN_SIZE, 0);
}

static inline void
require_proc_number(void)
{
	if (unlikely(MyProcNumber == INVALID_PROC_NUMBER || MyProcNumber >= checksum_shared->nslots))
		elog(ERROR, "pgrac checksum layer: relation I/O from a process without a ProcNumber");
}

static void
checksum_failure(SMgrRelation reln, ForkNumber forknum, BlockNumber blkno, char *page,
				 uint16 computed, uint16 stored)
{
	char	   *path = relpathbackend(reln->smgr_rlocator.locator,
									  reln->smgr_rlocator.backend, forknum);
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&checksum_shared->mutex);
	checksum_shared->failures++;
	checksum_shared->last_failure_at = now;
	snprintf(checksum_shared->last_failure, sizeof(checksum_shared->last_failure),
			 "block %u of relation %s (%s fork): checksum %u, page has %u",
			 blkno, path, forkNames[forknum], computed, stored);
	SpinLockRelease(&checksum_shared->mutex);

	ereport(WARNING,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("page verification failed, calculated checksum %u but expected %u",
					computed, stored),
			 errdetail("Block %u of relation %s (%s fork), verified by the pgrac checksum layer.",
					   blkno, path, forkNames[forknum])));
	if (ignore_checksum_failure && pgrac_page_header_sane(page))
		return;
	if (zero_damaged_pages)
	{
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid page in block %u of relation %s; zeroing out page", blkno, path)));
		memset(page, 0, BLCKSZ);
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid page in block %u of relation %s", blkno, path),
			 errdetail("The pgrac checksum layer computed checksum %u for block %u of the %s fork; the page carries %u.",
					   computed, blkno, forkNames[forknum], stored)));
}

#ifdef PGRAC_TEST_HOOKS
/*
 * Test builds: hold a read of block 0 of one relation after it sampled
 * the state, so that a test can move the state on meanwhile.
 */
static void
test_pause(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum, PgracChecksumState state)
{
	if (pgrac_checksum_test_pause_ms <= 0 || forknum != MAIN_FORKNUM || blocknum != 0 ||
		reln->smgr_rlocator.locator.relNumber != (RelFileNumber) pgrac_checksum_test_pause_relfilenode)
		return;
	elog(LOG, "pgrac checksum test: read paused after sampling state \"%s\"",
		 pgrac_checksum_state_name(state));
	pg_usleep((long) pgrac_checksum_test_pause_ms * 1000L);
	elog(LOG, "pgrac checksum test: read resumed");
}
#endif

static void
checksum_readv(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
			   void **buffers, BlockNumber nblocks)
{
	PgracChecksumState state;

	if (SmgrIsTemp(reln))
	{
		checksum_layer.below->smgr_readv(reln, forknum, blocknum, buffers, nblocks);
		return;
	}
	require_proc_number();
	state = checksum_io_begin();
	PG_TRY();
	{
#ifdef PGRAC_TEST_HOOKS
		test_pause(reln, forknum, blocknum, state);
#endif
		checksum_layer.below->smgr_readv(reln, forknum, blocknum, buffers, nblocks);
		if (pgrac_checksum_state_verifies(state))
		{
			for (BlockNumber i = 0; i < nblocks; i++)
			{
				uint16		computed,
							stored;

				if (pgrac_page_verify(buffers[i], blocknum + i, &computed, &stored) == PGRAC_PAGE_MISMATCH)
					checksum_failure(reln, forknum, blocknum + i, buffers[i], computed, stored);
			}
		}
	}
	PG_FINALLY();
	{
		checksum_io_end();
	}
	PG_END_TRY();
}

static void
checksum_writev(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
				const void **buffers, BlockNumber nblocks, bool skipFsync)
{
	PgracChecksumState state;

	require_proc_number();
	state = checksum_io_begin();
	PG_TRY();
	{
		if (!pgrac_checksum_state_sets(state))
			checksum_layer.below->smgr_writev(reln, forknum, blocknum, buffers, nblocks, skipFsync);
		else
		{
			for (BlockNumber done = 0; done < nblocks;)
			{
				const void *copies[CHECKSUM_COPY_BLOCKS];
				BlockNumber n = Min(nblocks - done, CHECKSUM_COPY_BLOCKS);

				for (BlockNumber i = 0; i < n; i++)
				{
					char	   *copy = copy_buffer + (Size) i * BLCKSZ;

					pgrac_page_copy_set_checksum(copy, buffers[done + i], blocknum + done + i);
					copies[i] = copy;
				}
				checksum_layer.below->smgr_writev(reln, forknum, blocknum + done, copies, n, skipFsync);
				done += n;
			}
		}
	}
	PG_FINALLY();
	{
		checksum_io_end();
	}
	PG_END_TRY();
}

static void
checksum_extend(SMgrRelation reln, ForkNumber forknum, BlockNumber blocknum,
				const void *buffer, bool skipFsync)
{
	PgracChecksumState state;

	require_proc_number();
	state = checksum_io_begin();
	PG_TRY();
	{
		if (pgrac_checksum_state_sets(state))
		{
			pgrac_page_copy_set_checksum(copy_buffer, buffer, blocknum);
			checksum_layer.below->smgr_extend(reln, forknum, blocknum, copy_buffer, skipFsync);
		}
		else
			checksum_layer.below->smgr_extend(reln, forknum, blocknum, buffer, skipFsync);
	}
	PG_FINALLY();
	{
		checksum_io_end();
	}
	PG_END_TRY();
}

/*
 * From _PG_init when pgrac.checksum_layer is on: the top of the stack, so
 * that the checksum is set on what every layer below sees.
 */
void
checksum_layer_install(void)
{
	checksum_layer = (PgracSmgrLayer)
	{
		.name = "checksum",
			.ops =
		{
			.smgr_init = checksum_smgr_init,
				.smgr_extend = checksum_extend,
				.smgr_readv = checksum_readv,
				.smgr_writev = checksum_writev,
		},
	};
	pgrac_stack_push(&checksum_layer);
}
