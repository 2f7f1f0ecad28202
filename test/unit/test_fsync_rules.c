/*
 * Unit tests of the fsync checker's rule engine.
 *
 * Each test drives the engine through the sequence of events a real code
 * path produces and checks the findings, or their absence, exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pgrac/fsync_rules.h"

#define R0	((FsrLsn) 0x1000000)	/* redo pointer before */
#define R1	((FsrLsn) 0x2000000)	/* after one checkpoint */
#define R2	((FsrLsn) 0x3000000)

/* ---- fixtures ---- */

typedef struct World
{
	FsrTable   *table;
	FsrFinding	found[64];
	int			nfound;
	/* oracle answers */
	bool		unlogged;
	bool		created;
	bool		running;
} World;

static void
collect(void *arg, const FsrFinding *f)
{
	World	   *w = arg;

	assert_true(w->nfound < 64);
	w->found[w->nfound++] = *f;
}

static bool
is_unlogged(void *arg, const FsrKey *key)
{
	(void) key;
	return ((World *) arg)->unlogged;
}

static bool
created_in_xact(void *arg, const FsrKey *key)
{
	(void) key;
	return ((World *) arg)->created;
}

static bool
owner_running(void *arg, FsrOwner owner)
{
	(void) owner;
	return ((World *) arg)->running;
}

static FsrFindingSink
sink_of(World *w)
{
	FsrFindingSink s = {collect, w};

	return s;
}

static FsrOracle
oracle_of(World *w)
{
	FsrOracle	o = {is_unlogged, created_in_xact, owner_running, w};

	return o;
}

static World *
new_world(uint32_t capacity)
{
	World	   *w = calloc(1, sizeof(World));

	w->table = malloc(fsr_table_size(capacity));
	fsr_table_init(w->table, capacity);
	return w;
}

static int
setup(void **state)
{
	*state = new_world(64);
	return 0;
}

static int
teardown(void **state)
{
	World	   *w = *state;

	free(w->table);
	free(w);
	return 0;
}

static FsrKey
key(uint32_t rel, int32_t fork, uint32_t segno)
{
	FsrKey		k = {1663, 5, rel, fork, segno};

	return k;
}

static const FsrOwner ME = {3, 42};
static const FsrOwner OTHER = {4, 7};

/* a WAL-logged (protected) page write at redo R0 */
static void
write_logged(World *w, FsrKey k, FsrLsn redo, FsrLsn lsn, FsrOwner owner)
{
	assert_int_equal(fsr_note_unbuffered_write(w->table, &k, lsn, false, redo,
											   lsn, owner),
					 FSR_WRITE_TRACKED);
}

static void
write_unlogged_wal(World *w, FsrKey k, FsrLsn redo, FsrOwner owner)
{
	/* page LSN 0: written without WAL */
	assert_int_equal(fsr_note_unbuffered_write(w->table, &k, 0, false, redo,
											   redo + 0x100, owner),
					 FSR_WRITE_TRACKED);
}

static void
end_xact(World *w, FsrOwner owner, bool committed, bool minimal, FsrLsn redo)
{
	FsrOracle	o = oracle_of(w);
	FsrFindingSink s = sink_of(w);

	fsr_end_of_xact(w->table, owner, committed, minimal, &o, redo, &s);
}

static void
checkpoint(World *w, FsrLsn redo, bool shutdown)
{
	FsrOracle	o = oracle_of(w);
	FsrFindingSink s = sink_of(w);

	fsr_checkpoint(w->table, redo, shutdown, &o, &s);
}

static void
register_fork(World *w, FsrKey k, FsrLsn redo)
{
	FsrFindingSink s = sink_of(w);

	fsr_note_fork_registered(w->table, &k, redo, false, &s);
}

/* a registration made holding DELAY_CHKPT_START, as bulk_write.c does */
static void
register_fork_delaying(World *w, FsrKey k, FsrLsn redo)
{
	FsrFindingSink s = sink_of(w);

	fsr_note_fork_registered(w->table, &k, redo, true, &s);
}

/* ---- the hash table ---- */

static void
test_table_insert_lookup_delete(void **state)
{
	World	   *w = new_world(1000);
	uint32_t	n = 1000;

	(void) state;
	for (uint32_t i = 0; i < n; i++)
		write_logged(w, key(i % 37, (int32_t) (i % 4), i), R0, R0 + 1, ME);
	assert_int_equal(w->table->used, n);
	for (uint32_t i = 0; i < n; i++)
	{
		FsrKey		k = key(i % 37, (int32_t) (i % 4), i);

		assert_non_null(fsr_lookup(w->table, &k));
	}

	/* remove every relation with an odd number: all forks, all segments */
	for (uint32_t rel = 1; rel < 37; rel += 2)
	{
		FsrKey		k = key(rel, -1, 0);

		fsr_forget(w->table, &k, 0);
	}
	for (uint32_t i = 0; i < n; i++)
	{
		FsrKey		k = key(i % 37, (int32_t) (i % 4), i);

		if ((i % 37) % 2 == 1)
			assert_null(fsr_lookup(w->table, &k));
		else
			assert_non_null(fsr_lookup(w->table, &k));
	}
	free(w->table);
	free(w);
}

static void
test_table_bound_counts_untracked(void **state)
{
	World	   *w = new_world(8);
	uint32_t	bound = w->table->capacity / 2;
	FsrKey		k;

	(void) state;
	for (uint32_t i = 0; i < bound; i++)
		write_logged(w, key(100 + i, 0, 0), R0, R0 + 1, ME);
	k = key(999, 0, 0);
	assert_int_equal(fsr_note_unbuffered_write(w->table, &k, R0 + 1, false, R0,
											   R0 + 1, ME),
					 FSR_WRITE_UNTRACKED);
	assert_int_equal(w->table->untracked_writes, 1);
	assert_int_equal(w->table->tracked_writes, bound);
	/* an existing key still updates */
	k = key(100, 0, 0);
	assert_int_equal(fsr_note_unbuffered_write(w->table, &k, R0 + 2, false, R0,
											   R0 + 2, ME),
					 FSR_WRITE_TRACKED);
	free(w->table);
	free(w);
}

static void
test_capacity_is_power_of_two_with_headroom(void **state)
{
	(void) state;
	assert_int_equal(fsr_table_capacity(4096), 8192);
	assert_int_equal(fsr_table_capacity(5000), 16384);
	assert_int_equal(fsr_table_capacity(1), 16);
}

/* ---- rules ---- */

static void
test_new_page_is_ignored(void **state)
{
	World	   *w = *state;
	FsrKey		k = key(1, 0, 0);

	assert_int_equal(fsr_note_unbuffered_write(w->table, &k, 0, true, R0, R0, ME),
					 FSR_WRITE_IGNORED);
	assert_int_equal(w->table->used, 0);
	end_xact(w, ME, true, false, R0);
	assert_int_equal(w->nfound, 0);
}

/* bulk_write.c, WAL-logged relation, no checkpoint meanwhile */
static void
test_logged_bulk_write_registered_in_time(void **state)
{
	World	   *w = *state;

	write_logged(w, key(1, 0, 0), R0, R0 + 10, ME);
	write_logged(w, key(1, 0, 1), R0, R0 + 20, ME);
	register_fork(w, key(1, 0, 0), R0);
	assert_int_equal(w->table->used, 0);
	end_xact(w, ME, true, false, R0);
	checkpoint(w, R1, false);
	assert_int_equal(w->nfound, 0);
}

/* bulk_write.c sees the redo pointer moved and fsyncs itself */
static void
test_checkpoint_during_bulk_write_then_immedsync(void **state)
{
	World	   *w = *state;
	FsrKey		fork = key(1, 0, 0);

	w->running = true;
	write_logged(w, key(1, 0, 0), R0, R0 + 10, ME);
	checkpoint(w, R1, false);
	assert_int_equal(w->nfound, 0);
	assert_int_equal(w->table->used, 1);	/* deferred, not judged */
	fsr_note_fork_synced(w->table, &fork);
	end_xact(w, ME, true, false, R1);
	assert_int_equal(w->nfound, 0);
	assert_int_equal(w->table->used, 0);
}

/* injected bug class 2: a sync registered too late */
static void
test_late_registration_is_reported(void **state)
{
	World	   *w = *state;

	w->running = true;
	write_logged(w, key(7, 0, 2), R0, R0 + 10, ME);
	checkpoint(w, R1, false);
	assert_int_equal(w->nfound, 0);
	register_fork(w, key(7, 0, 0), R1);
	assert_int_equal(w->nfound, 1);
	assert_int_equal(w->found[0].reason, FSR_SYNC_REGISTERED_LATE);
	assert_int_equal(w->found[0].key.relnumber, 7);
	assert_int_equal(w->found[0].key.fork, 0);
	assert_int_equal(w->found[0].key.segno, 2);
	assert_int_equal(w->found[0].first_unsynced_lsn, R0 + 10);
	assert_int_equal(w->found[0].checkpoint_redo, R1);
	/* reported once: nothing left for commit or the next checkpoint */
	end_xact(w, ME, true, false, R1);
	checkpoint(w, R2, false);
	assert_int_equal(w->nfound, 1);
}

/*
 * bulk_write.c compares the redo pointer and registers while holding
 * DELAY_CHKPT_START.  A checkpoint that moves the redo pointer between the
 * two waits for the flag before it processes sync requests, so it fsyncs
 * the segment: not late (a regression run once reported this as late).
 */
static void
test_registration_holding_checkpoint_is_in_time(void **state)
{
	World	   *w = *state;

	w->running = true;
	write_logged(w, key(7, 0, 0), R0, R0 + 10, ME);
	/* checkpoint R1 has moved the redo pointer and waits for the flag */
	register_fork_delaying(w, key(7, 0, 0), R1);
	assert_int_equal(w->nfound, 0);
	assert_int_equal(w->table->used, 0);
	checkpoint(w, R1, false);
	end_xact(w, ME, true, false, R1);
	assert_int_equal(w->nfound, 0);
}

/* ... but the flag cannot hold off a checkpoint that has already synced */
static void
test_registration_holding_checkpoint_after_sync_is_late(void **state)
{
	World	   *w = *state;

	w->running = true;
	write_logged(w, key(7, 0, 0), R0, R0 + 10, ME);
	checkpoint(w, R1, false);
	assert_int_equal(w->nfound, 0);
	register_fork_delaying(w, key(7, 0, 0), R2);
	assert_int_equal(w->nfound, 1);
	assert_int_equal(w->found[0].reason, FSR_SYNC_REGISTERED_LATE);
}

/* a checkpoint that finds no obligation still counts as synced */
static void
test_checkpoint_with_empty_table_counts(void **state)
{
	World	   *w = *state;

	checkpoint(w, R1, false);
	assert_int_equal(w->table->last_synced_redo, R1);
	checkpoint(w, R0, false);	/* never backwards */
	assert_int_equal(w->table->last_synced_redo, R1);
}

/* injected bug class 1: an unbuffered write never synced */
static void
test_unsynced_write_reported_at_commit(void **state)
{
	World	   *w = *state;

	write_logged(w, key(9, 0, 1), R0, R0 + 10, ME);
	end_xact(w, OTHER, true, false, R0);	/* someone else's commit */
	assert_int_equal(w->nfound, 0);
	end_xact(w, ME, true, false, R0);
	assert_int_equal(w->nfound, 1);
	assert_int_equal(w->found[0].reason, FSR_UNSYNCED_AT_COMMIT);
	assert_int_equal(w->found[0].key.segno, 1);
	assert_int_equal(w->table->used, 0);
}

/* injected bug class 3: init fork copied without sync */
static void
test_init_fork_reported_at_commit(void **state)
{
	World	   *w = *state;

	w->unlogged = true;
	write_logged(w, key(11, FSR_FORK_INIT, 0), R0, R0 + 10, ME);
	end_xact(w, ME, true, false, R0);
	assert_int_equal(w->nfound, 1);
	assert_int_equal(w->found[0].reason, FSR_INIT_FORK_UNSYNCED_AT_COMMIT);
	assert_int_equal(w->found[0].key.fork, FSR_FORK_INIT);
}

/* a registered init fork without WAL is still not safe at commit */
static void
test_registered_unlogged_init_fork_reported(void **state)
{
	World	   *w = *state;

	write_unlogged_wal(w, key(11, FSR_FORK_INIT, 0), R0, ME);
	register_fork(w, key(11, FSR_FORK_INIT, 0), R0);
	assert_int_equal(w->table->used, 1);
	end_xact(w, ME, true, false, R0);
	assert_int_equal(w->nfound, 1);
	assert_int_equal(w->found[0].reason, FSR_INIT_FORK_UNSYNCED_AT_COMMIT);
}

/* wal_level = minimal: relation created in the transaction, WAL skipped */
static void
test_minimal_new_relation_discharged_by_commit(void **state)
{
	World	   *w = *state;

	w->created = true;
	write_unlogged_wal(w, key(12, 0, 0), R0, ME);
	register_fork(w, key(12, 0, 0), R0);
	assert_int_equal(w->nfound, 0);
	end_xact(w, ME, true, true, R0);
	assert_int_equal(w->nfound, 0);
	assert_int_equal(w->table->used, 0);
}

/* same, with a checkpoint in the middle of the transaction */
static void
test_minimal_checkpoint_while_running_is_deferred(void **state)
{
	World	   *w = *state;

	w->created = true;
	w->running = true;
	write_unlogged_wal(w, key(12, 0, 0), R0, ME);
	checkpoint(w, R1, false);
	register_fork(w, key(12, 0, 0), R1);
	assert_int_equal(w->nfound, 0);
	end_xact(w, ME, true, true, R1);
	assert_int_equal(w->nfound, 0);
}

/* without WAL, a relation not created in the transaction is not covered */
static void
test_minimal_old_relation_without_wal_reported(void **state)
{
	World	   *w = *state;

	w->created = false;
	write_unlogged_wal(w, key(13, 0, 0), R0, ME);
	register_fork(w, key(13, 0, 0), R0);
	end_xact(w, ME, true, true, R0);
	assert_int_equal(w->nfound, 1);
	assert_int_equal(w->found[0].reason, FSR_UNSYNCED_AT_COMMIT);
}

/* a page whose LSN predates the redo pointer is not protected by WAL */
static void
test_stale_page_lsn_is_not_protection(void **state)
{
	World	   *w = *state;

	write_logged(w, key(14, 0, 0), R0, R0 - 1, ME);
	register_fork(w, key(14, 0, 0), R0);
	assert_int_equal(w->table->used, 1);	/* registered, not discharged */
	end_xact(w, ME, true, false, R0);
	assert_int_equal(w->nfound, 1);
}

/* unlogged relation: registration discharges at commit */
static void
test_unlogged_registered_discharged(void **state)
{
	World	   *w = *state;

	w->unlogged = true;
	write_unlogged_wal(w, key(15, 0, 0), R0, ME);
	register_fork(w, key(15, 0, 0), R0);
	end_xact(w, ME, true, false, R0);
	assert_int_equal(w->nfound, 0);
	assert_int_equal(w->table->used, 0);
}

/* unlogged, never synced: only a shutdown checkpoint makes it a finding */
static void
test_unlogged_unsynced_reported_at_shutdown(void **state)
{
	World	   *w = *state;

	w->unlogged = true;
	write_unlogged_wal(w, key(16, 0, 0), R0, ME);
	end_xact(w, ME, true, false, R0);
	assert_int_equal(w->nfound, 0);
	checkpoint(w, R1, false);
	assert_int_equal(w->nfound, 0);
	checkpoint(w, R2, true);
	assert_int_equal(w->nfound, 1);
	assert_int_equal(w->found[0].reason, FSR_UNSYNCED_AT_CHECKPOINT);
	assert_int_equal(w->found[0].checkpoint_redo, R2);
}

/* the unlogged status learnt at commit survives the relation's files */
static void
test_unlogged_status_is_remembered(void **state)
{
	World	   *w = *state;

	w->unlogged = true;
	write_unlogged_wal(w, key(16, 0, 0), R0, ME);
	end_xact(w, ME, true, false, R0);
	w->unlogged = false;		/* e.g. files gone with DROP DATABASE */
	checkpoint(w, R1, false);
	assert_int_equal(w->nfound, 0);
}

/* abort: obligations of surviving storage are judged by the checkpoint */
static void
test_abort_leaves_obligation_for_checkpoint(void **state)
{
	World	   *w = *state;

	write_logged(w, key(17, 0, 0), R0, R0 + 10, ME);
	end_xact(w, ME, false, false, R0);
	assert_int_equal(w->nfound, 0);
	w->running = true;			/* the slot's new transaction must not matter */
	checkpoint(w, R1, false);
	assert_int_equal(w->nfound, 1);
	assert_int_equal(w->found[0].reason, FSR_UNSYNCED_AT_CHECKPOINT);
	assert_int_equal(w->found[0].first_unsynced_lsn, R0 + 10);
}

/* a registration the checkpoint processed discharges non-WAL data too */
static void
test_registered_then_checkpoint_discharges(void **state)
{
	World	   *w = *state;

	write_unlogged_wal(w, key(18, 0, 0), R0, OTHER);
	register_fork(w, key(18, 0, 0), R0);
	checkpoint(w, R1, false);
	assert_int_equal(w->nfound, 0);
	assert_int_equal(w->table->used, 0);
}

/* writes after the checkpoint's redo pointer are not its business */
static void
test_checkpoint_ignores_newer_writes(void **state)
{
	World	   *w = *state;

	write_logged(w, key(19, 0, 0), R1, R1 + 10, FSR_NO_OWNER);
	checkpoint(w, R1, false);
	assert_int_equal(w->nfound, 0);
	assert_int_equal(w->table->used, 1);
}

/* a write after a registration needs a new one */
static void
test_write_after_registration_reopens(void **state)
{
	World	   *w = *state;

	write_unlogged_wal(w, key(20, 0, 0), R0, FSR_NO_OWNER);
	register_fork(w, key(20, 0, 0), R0);
	write_unlogged_wal(w, key(20, 0, 0), R0, FSR_NO_OWNER);
	checkpoint(w, R1, false);
	assert_int_equal(w->nfound, 1);
}

/* a buffered write to the segment registers it, but never reports */
static void
test_buffered_write_registers_segment(void **state)
{
	World	   *w = *state;
	FsrKey		k0 = key(21, 0, 0);
	FsrKey		k1 = key(21, 0, 1);

	write_logged(w, k0, R0, R0 + 10, ME);
	write_logged(w, k1, R0, R0 + 10, ME);
	fsr_note_segment_registered(w->table, &k0, R0);
	assert_null(fsr_lookup(w->table, &k0));
	assert_non_null(fsr_lookup(w->table, &k1));
	/* after the redo pointer moved, a buffered write proves nothing */
	fsr_note_segment_registered(w->table, &k1, R1);
	assert_non_null(fsr_lookup(w->table, &k1));
	assert_int_equal(w->nfound, 0);
}

static void
test_truncate_and_unlink_forget(void **state)
{
	World	   *w = *state;
	FsrKey		main_fork = key(22, 0, 0);
	FsrKey		all_forks = key(22, -1, 0);
	FsrKey		other = key(23, 0, 0);

	for (uint32_t seg = 0; seg < 4; seg++)
		write_logged(w, key(22, 0, seg), R0, R0 + 10, ME);
	write_logged(w, key(22, 1, 0), R0, R0 + 10, ME);
	write_logged(w, key(23, 0, 0), R0, R0 + 10, ME);

	fsr_forget(w->table, &main_fork, 2);	/* truncate to two segments */
	assert_int_equal(w->table->used, 4);
	fsr_forget(w->table, &all_forks, 0);	/* unlink every fork */
	assert_int_equal(w->table->used, 1);
	assert_non_null(fsr_lookup(w->table, &other));
}

static void
test_forget_database(void **state)
{
	World	   *w = *state;
	FsrKey		other_db = {1663, 6, 1, 0, 0};

	write_logged(w, key(24, 0, 0), R0, R0 + 10, ME);
	write_logged(w, other_db, R0, R0 + 10, ME);
	fsr_forget_database(w->table, 5);
	assert_int_equal(w->table->used, 1);
	assert_non_null(fsr_lookup(w->table, &other_db));
}

static void
test_finding_log_is_bounded(void **state)
{
	FsrFindingLog *log = malloc(fsr_log_size(2));
	FsrFinding	f = {0};

	(void) state;
	fsr_log_init(log, 2);
	for (int i = 0; i < 5; i++)
	{
		f.key.relnumber = (uint32_t) i;
		fsr_log_add(log, &f);
	}
	assert_int_equal(log->count, 2);
	assert_int_equal(log->dropped, 3);
	assert_int_equal(log->entries[1].key.relnumber, 1);
	fsr_log_reset(log);
	assert_int_equal(log->count, 0);
	assert_int_equal(log->dropped, 0);
	free(log);
}

static void
test_names(void **state)
{
	(void) state;
	assert_string_equal(fsr_fork_name(0), "main");
	assert_string_equal(fsr_fork_name(1), "fsm");
	assert_string_equal(fsr_fork_name(2), "vm");
	assert_string_equal(fsr_fork_name(3), "init");
	assert_string_equal(fsr_fork_name(4), "invalid");
	assert_string_equal(fsr_reason_text(FSR_SYNC_REGISTERED_LATE),
						"sync registered after a checkpoint had passed the write");
}

/*
 * Deleting while scanning must visit every entry exactly once: fill a table
 * so that probe chains wrap around, then discharge everything by commit.
 */
static void
test_scan_delete_with_wraparound(void **state)
{
	World	   *w = new_world(64);
	int			n = (int) w->table->capacity / 2;

	(void) state;
	for (int i = 0; i < n; i++)
		write_logged(w, key(1000 + (uint32_t) i, 0, (uint32_t) i * 7), R0, R0 + 1, ME);
	end_xact(w, ME, true, false, R0);
	assert_int_equal(w->nfound, n);
	assert_int_equal(w->table->used, 0);
	for (uint32_t i = 0; i < w->table->capacity; i++)
		assert_false(w->table->slots[i].in_use);
	free(w->table);
	free(w);
}

/*
 * Random inserts and deletes in a small, half-full table (so that probe
 * chains collide and wrap around), checked against a model after each step.
 */
static void
test_table_matches_model_under_churn(void **state)
{
	World	   *w = new_world(8);
	bool		present[64] = {0};
	uint32_t	seed = 12345;

	(void) state;
	for (int step = 0; step < 20000; step++)
	{
		uint32_t	rel;
		FsrKey		k;

		seed = seed * 1103515245u + 12345u;
		rel = (seed >> 16) % 64;
		k = key(rel, 0, 0);
		if (present[rel])
		{
			fsr_note_fork_synced(w->table, &k);
			present[rel] = false;
		}
		else if (w->table->used < w->table->capacity / 2)
		{
			write_logged(w, k, R0, R0 + 1, ME);
			present[rel] = true;
		}
		for (uint32_t r = 0; r < 64; r++)
		{
			FsrKey		probe = key(r, 0, 0);

			if (present[r])
				assert_non_null(fsr_lookup(w->table, &probe));
			else
				assert_null(fsr_lookup(w->table, &probe));
		}
	}
	free(w->table);
	free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_insert_lookup_delete),
		cmocka_unit_test(test_table_bound_counts_untracked),
		cmocka_unit_test(test_capacity_is_power_of_two_with_headroom),
		cmocka_unit_test(test_scan_delete_with_wraparound),
		cmocka_unit_test(test_table_matches_model_under_churn),
		cmocka_unit_test_setup_teardown(test_new_page_is_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logged_bulk_write_registered_in_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_during_bulk_write_then_immedsync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_registration_is_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registration_holding_checkpoint_is_in_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registration_holding_checkpoint_after_sync_is_late, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_with_empty_table_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsynced_write_reported_at_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_fork_reported_at_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registered_unlogged_init_fork_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_minimal_new_relation_discharged_by_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_minimal_checkpoint_while_running_is_deferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_minimal_old_relation_without_wal_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_page_lsn_is_not_protection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlogged_registered_discharged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlogged_unsynced_reported_at_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlogged_status_is_remembered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_leaves_obligation_for_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registered_then_checkpoint_discharges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_ignores_newer_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_after_registration_reopens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffered_write_registers_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_and_unlink_forget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget_database, setup, teardown),
		cmocka_unit_test(test_finding_log_is_bounded),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("fsync_rules", tests, NULL, NULL);
}
