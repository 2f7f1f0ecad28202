/*-------------------------------------------------------------------------
 *
 * fsync_rules.c
 *	  The fsync checker's rule engine.
 *
 * The checker does not watch fsync() calls.  It tracks obligations: an
 * unbuffered write (skipFsync = true) of a non-empty page creates, for the
 * segment written, the obligation to make that data durable before a
 * checkpoint declares it safe.  Buffered writes create none, because md.c
 * (and every storage manager honouring the smgr contract) hands them to the
 * checkpointer itself; that is also why the checker needs no sync handler
 * of its own and cannot be fooled by sync.c bypassing f_smgr.
 *
 * An obligation ends in one of two ways: something discharges it (an
 * immediate sync, a registration for the next checkpoint early enough,
 * removal of the storage, the commit-time sync of a relation that skipped
 * WAL), or a decision point finds it still open when the data is no longer
 * recoverable, and it becomes a finding.  Each obligation yields at most one
 * finding, because it is deleted when reported.
 *
 * Whether a registration is "early enough" is judged with redo pointers:
 * a registration made while the redo pointer is still the one in force at
 * the first write is processed by the next checkpoint, before that
 * checkpoint's record exists; a registration made after a checkpoint moved
 * the redo pointer leaves the writes before that checkpoint covered neither
 * by its fsyncs nor, after a crash, by WAL replay.
 *
 * src/fsync_checker/fsync_rules.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "pgrac/fsync_rules.h"

static uint32_t
fsr_hash(const FsrKey *key)
{
	/* FNV-1a over the fields; good enough for a few thousand keys */
	uint32_t	h = 2166136261u;
	uint32_t	parts[5];

	parts[0] = key->spcoid;
	parts[1] = key->dboid;
	parts[2] = key->relnumber;
	parts[3] = (uint32_t) key->fork;
	parts[4] = key->segno;
	for (int i = 0; i < 5; i++)
	{
		for (int b = 0; b < 4; b++)
		{
			h ^= (parts[i] >> (8 * b)) & 0xff;
			h *= 16777619u;
		}
	}
	return h;
}

static bool
fsr_key_equal(const FsrKey *a, const FsrKey *b)
{
	return a->spcoid == b->spcoid && a->dboid == b->dboid &&
		a->relnumber == b->relnumber && a->fork == b->fork &&
		a->segno == b->segno;
}

/* Same relation, and same fork unless pattern->fork < 0 */
static bool
fsr_key_matches_fork(const FsrKey *key, const FsrKey *pattern)
{
	return key->spcoid == pattern->spcoid && key->dboid == pattern->dboid &&
		key->relnumber == pattern->relnumber &&
		(pattern->fork < 0 || key->fork == pattern->fork);
}

static bool
fsr_owner_equal(FsrOwner a, FsrOwner b)
{
	return a.procno == b.procno && a.lxid == b.lxid;
}

uint32_t
fsr_table_capacity(uint32_t requested)
{
	uint32_t	capacity = 16;

	/* keep the load factor at or below one half */
	while (capacity < requested * 2 && capacity < (UINT32_C(1) << 30))
		capacity <<= 1;
	return capacity;
}

size_t
fsr_table_size(uint32_t requested)
{
	return sizeof(FsrTable) +
		(size_t) fsr_table_capacity(requested) * sizeof(FsrObligation);
}

void
fsr_table_init(FsrTable *table, uint32_t requested)
{
	table->capacity = fsr_table_capacity(requested);
	table->used = 0;
	table->tracked_writes = 0;
	table->untracked_writes = 0;
	table->last_synced_redo = FSR_INVALID_LSN;
	memset(table->slots, 0, (size_t) table->capacity * sizeof(FsrObligation));
}

FsrObligation *
fsr_lookup(FsrTable *table, const FsrKey *key)
{
	uint32_t	mask = table->capacity - 1;

	for (uint32_t i = fsr_hash(key) & mask;; i = (i + 1) & mask)
	{
		FsrObligation *slot = &table->slots[i];

		if (!slot->in_use)
			return NULL;
		if (fsr_key_equal(&slot->key, key))
			return slot;
	}
}

/*
 * Insert a fresh obligation for key, which must not be present.  Returns
 * NULL when the table is at its bound (half its slots), which keeps probe
 * sequences short and guarantees an empty slot ends every lookup.
 */
static FsrObligation *
fsr_insert(FsrTable *table, const FsrKey *key)
{
	uint32_t	mask = table->capacity - 1;
	uint32_t	i;

	if (table->used >= table->capacity / 2)
		return NULL;
	for (i = fsr_hash(key) & mask; table->slots[i].in_use; i = (i + 1) & mask)
		;
	memset(&table->slots[i], 0, sizeof(FsrObligation));
	table->slots[i].in_use = true;
	table->slots[i].key = *key;
	table->used++;
	return &table->slots[i];
}

/*
 * Delete by backward shift: later members of the probe chain move up so no
 * lookup stops early at the hole.  Returns true if the slot now holds an
 * entry that was not yet visited by a scan running upwards from it, so that
 * a scan deleting as it goes looks at the same slot again.
 */
static bool
fsr_delete(FsrTable *table, FsrObligation *slot)
{
	uint32_t	mask = table->capacity - 1;
	uint32_t	hole = (uint32_t) (slot - table->slots);
	uint32_t	i = hole;
	bool		refill = false;

	for (;;)
	{
		uint32_t	home;

		i = (i + 1) & mask;
		if (!table->slots[i].in_use)
			break;
		home = fsr_hash(&table->slots[i].key) & mask;

		/*
		 * can the entry at i move to the hole?  only if home is not in (hole,
		 * i]
		 */
		if ((i > hole && (home <= hole || home > i)) ||
			(i < hole && (home <= hole && home > i)))
		{
			table->slots[hole] = table->slots[i];
			if (hole == (uint32_t) (slot - table->slots))
				refill = i > hole;
			hole = i;
		}
	}
	memset(&table->slots[hole], 0, sizeof(FsrObligation));
	table->used--;
	return refill;
}

size_t
fsr_log_size(uint32_t capacity)
{
	return sizeof(FsrFindingLog) + (size_t) capacity * sizeof(FsrFinding);
}

void
fsr_log_init(FsrFindingLog *log, uint32_t capacity)
{
	log->capacity = capacity;
	log->count = 0;
	log->dropped = 0;
}

void
fsr_log_add(FsrFindingLog *log, const FsrFinding *finding)
{
	if (log->count < log->capacity)
		log->entries[log->count++] = *finding;
	else
		log->dropped++;
}

void
fsr_log_reset(FsrFindingLog *log)
{
	log->count = 0;
	log->dropped = 0;
}

static void
fsr_emit(const FsrFindingSink *sink, const FsrObligation *ob, FsrReason reason,
		 FsrLsn checkpoint_redo)
{
	FsrFinding	finding;

	memset(&finding, 0, sizeof(finding));
	finding.key = ob->key;
	finding.reason = reason;
	finding.first_unsynced_lsn = ob->first_write_lsn;
	finding.checkpoint_redo = checkpoint_redo;
	if (sink && sink->emit)
		sink->emit(sink->arg, &finding);
}

FsrWriteResult
fsr_note_unbuffered_write(FsrTable *table, const FsrKey *key,
						  FsrLsn page_lsn, bool page_is_new,
						  FsrLsn redo_now, FsrLsn insert_lsn, FsrOwner owner)
{
	FsrObligation *ob;

	/*
	 * An all-zeroes page needs no durability: a block that reads back as
	 * missing or zero after a crash is what md.c and the buffer manager
	 * already tolerate for new pages.
	 */
	if (page_is_new)
		return FSR_WRITE_IGNORED;

	ob = fsr_lookup(table, key);
	if (ob == NULL)
	{
		ob = fsr_insert(table, key);
		if (ob == NULL)
		{
			table->untracked_writes++;
			return FSR_WRITE_UNTRACKED;
		}
		ob->first_write_lsn = insert_lsn;
		ob->first_redo = redo_now;
		ob->wal_protected = true;
	}

	/*
	 * WAL protects the page only if replay will reach its record, i.e. the
	 * record lies after the redo pointer in force when this segment's
	 * unsynced writes began.
	 */
	if (page_lsn == FSR_INVALID_LSN || page_lsn <= ob->first_redo)
		ob->wal_protected = false;
	ob->registered = false;
	ob->owner = owner;
	table->tracked_writes++;
	return FSR_WRITE_TRACKED;
}

/*
 * A registration of ob's segment for the next checkpoint.  Returns true if
 * ob was deleted.
 */
static bool
fsr_register_one(FsrTable *table, FsrObligation *ob, FsrLsn redo_now,
				 const FsrFindingSink *sink, bool *refill)
{
	if (ob->first_redo == redo_now)
	{
		if (ob->wal_protected)
		{
			/*
			 * WAL covers it until the next checkpoint, whose fsync covers it
			 * from then on
			 */
			*refill = fsr_delete(table, ob);
			return true;
		}

		/*
		 * Not WAL-logged: the next checkpoint makes it durable, but a crash
		 * before that loses it.  Whether that is fine (unlogged relation, or
		 * WAL skipped under wal_level = minimal with the commit-time sync
		 * still to come) is decided at transaction end or checkpoint.
		 */
		ob->registered = true;
		ob->registered_redo = redo_now;
		return false;
	}

	if (ob->wal_protected && sink != NULL)
	{
		/*
		 * A checkpoint came between the writes and this registration.  It did
		 * not fsync the segment, and recovery starts after the WAL that would
		 * have restored the pages.
		 */
		fsr_emit(sink, ob, FSR_SYNC_REGISTERED_LATE, redo_now);
		*refill = fsr_delete(table, ob);
		return true;
	}
	ob->registered = true;
	ob->registered_redo = redo_now;
	return false;
}

void
fsr_note_segment_registered(FsrTable *table, const FsrKey *key,
							FsrLsn redo_now)
{
	FsrObligation *ob = fsr_lookup(table, key);
	bool		refill;

	/*
	 * A buffered write is somebody else's registration, not the writer's own
	 * sync: it discharges what it covers but is not evidence of a late sync,
	 * so no sink.
	 */
	if (ob != NULL && ob->first_redo == redo_now)
		(void) fsr_register_one(table, ob, redo_now, NULL, &refill);
}

void
fsr_note_fork_registered(FsrTable *table, const FsrKey *fork_key,
						 FsrLsn redo_now, bool delaying_checkpoint,
						 const FsrFindingSink *sink)
{
	for (uint32_t i = 0; i < table->capacity; i++)
	{
		FsrObligation *ob = &table->slots[i];
		FsrLsn		redo = redo_now;
		bool		refill = false;

		if (!ob->in_use || !fsr_key_matches_fork(&ob->key, fork_key))
			continue;

		/*
		 * The caller holds off checkpoints (DELAY_CHKPT_START) while it
		 * compares the redo pointer and registers, as bulk_write.c does.  A
		 * checkpoint that moved the redo pointer after that comparison waits
		 * for the registration before it processes sync requests, so it
		 * fsyncs the segment: the registration counts as made at the redo
		 * pointer of the writes, unless a checkpoint past them has already
		 * synced (it cannot have waited for this caller).
		 */
		if (delaying_checkpoint && redo_now != ob->first_redo &&
			table->last_synced_redo <= ob->first_redo)
			redo = ob->first_redo;
		if (fsr_register_one(table, ob, redo, sink, &refill) && refill)
			i--;
	}
}

/*
 * Delete every obligation for which match() says so.  Deletion shifts later
 * entries back into the visited slot, which is then looked at again.
 */
static void
fsr_delete_where(FsrTable *table,
				 bool (*match) (const FsrObligation *ob, const void *arg),
				 const void *arg)
{
	for (uint32_t i = 0; i < table->capacity; i++)
	{
		if (table->slots[i].in_use && match(&table->slots[i], arg))
		{
			if (fsr_delete(table, &table->slots[i]))
				i--;
		}
	}
}

static bool
match_fork(const FsrObligation *ob, const void *arg)
{
	return fsr_key_matches_fork(&ob->key, (const FsrKey *) arg);
}

void
fsr_note_fork_synced(FsrTable *table, const FsrKey *fork_key)
{
	fsr_delete_where(table, match_fork, fork_key);
}

static bool
match_fork_from_segno(const FsrObligation *ob, const void *arg)
{
	const FsrKey *pattern = (const FsrKey *) arg;

	return fsr_key_matches_fork(&ob->key, pattern) &&
		ob->key.segno >= pattern->segno;
}

void
fsr_forget(FsrTable *table, const FsrKey *fork_key, uint32_t from_segno)
{
	FsrKey		pattern = *fork_key;

	pattern.segno = from_segno;
	fsr_delete_where(table, match_fork_from_segno, &pattern);
}

static bool
match_database(const FsrObligation *ob, const void *arg)
{
	return ob->key.dboid == *(const uint32_t *) arg;
}

void
fsr_forget_database(FsrTable *table, uint32_t dboid)
{
	fsr_delete_where(table, match_database, &dboid);
}

static bool
fsr_ask_unlogged(FsrObligation *ob, const FsrOracle *oracle)
{
	if (!ob->unlogged && oracle->is_unlogged(oracle->arg, &ob->key))
		ob->unlogged = true;
	return ob->unlogged;
}

void
fsr_end_of_xact(FsrTable *table, FsrOwner owner, bool committed,
				bool wal_level_minimal, const FsrOracle *oracle,
				FsrLsn redo_now, const FsrFindingSink *sink)
{
	for (uint32_t i = 0; i < table->capacity; i++)
	{
		FsrObligation *ob = &table->slots[i];
		bool		discharge;

		if (!ob->in_use || !fsr_owner_equal(ob->owner, owner))
			continue;

		/*
		 * On abort, the storage created by the transaction is unlinked (which
		 * forgets its obligations); whatever else remains is judged by the
		 * next checkpoint.
		 */
		if (!committed)
		{
			ob->owner = FSR_NO_OWNER;
			continue;
		}

		if (ob->key.fork == FSR_FORK_INIT)
		{
			/*
			 * The init fork is what an unlogged relation is reset from after
			 * a crash, so it must be durable once the creating transaction
			 * commits; a registered but unlogged write would still be lost by
			 * a crash before the next checkpoint.
			 */
			fsr_emit(sink, ob, FSR_INIT_FORK_UNSYNCED_AT_COMMIT, redo_now);
			discharge = true;
		}
		else if (fsr_ask_unlogged(ob, oracle))
		{
			/*
			 * Unlogged data only has to survive a clean shutdown, which the
			 * registered sync (or, failing that, the shutdown checkpoint
			 * judging it) takes care of.
			 */
			if (!ob->registered)
			{
				ob->owner = FSR_NO_OWNER;
				continue;
			}
			discharge = true;
		}
		else if (!ob->wal_protected && wal_level_minimal &&
				 oracle->created_in_xact(oracle->arg, &ob->key))
		{
			/*
			 * WAL was skipped for a relation created in this transaction; the
			 * pending-sync machinery synced it (or WAL-logged it whole) just
			 * before the commit record.
			 */
			discharge = true;
		}
		else
		{
			fsr_emit(sink, ob, FSR_UNSYNCED_AT_COMMIT, redo_now);
			discharge = true;
		}

		if (discharge && fsr_delete(table, ob))
			i--;
	}
}

void
fsr_checkpoint(FsrTable *table, FsrLsn redo_new, bool shutdown,
			   const FsrOracle *oracle, const FsrFindingSink *sink)
{
	if (redo_new > table->last_synced_redo)
		table->last_synced_redo = redo_new;
	for (uint32_t i = 0; i < table->capacity; i++)
	{
		FsrObligation *ob = &table->slots[i];

		/* written after this checkpoint's redo pointer: not its business */
		if (!ob->in_use || ob->first_redo >= redo_new)
			continue;

		if (ob->registered && ob->registered_redo < redo_new)
		{
			/* this checkpoint's ProcessSyncRequests() fsynced it */
		}
		else if (ob->owner.procno >= 0 &&
				 oracle->owner_running(oracle->arg, ob->owner))
		{
			/*
			 * The writer may still sync (bulk_write.c fsyncs immediately when
			 * it sees the redo pointer moved); its registration or commit
			 * will judge it.
			 */
			continue;
		}
		else if (ob->key.fork != FSR_FORK_INIT && fsr_ask_unlogged(ob, oracle))
		{
			/*
			 * unlogged data is reset after a crash; only a clean shutdown
			 * promises it
			 */
			if (!shutdown)
				continue;
			fsr_emit(sink, ob, FSR_UNSYNCED_AT_CHECKPOINT, redo_new);
		}
		else
			fsr_emit(sink, ob, FSR_UNSYNCED_AT_CHECKPOINT, redo_new);

		if (fsr_delete(table, ob))
			i--;
	}
}

const char *
fsr_reason_text(FsrReason reason)
{
	switch (reason)
	{
		case FSR_UNSYNCED_AT_COMMIT:
			return "unbuffered write not synced at commit";
		case FSR_INIT_FORK_UNSYNCED_AT_COMMIT:
			return "init fork not synced at commit";
		case FSR_SYNC_REGISTERED_LATE:
			return "sync registered after a checkpoint had passed the write";
		case FSR_UNSYNCED_AT_CHECKPOINT:
			return "unbuffered write not synced by checkpoint";
	}
	return "unknown";
}

const char *
fsr_fork_name(int32_t fork)
{
	static const char *const names[] = {"main", "fsm", "vm", "init"};

	if (fork < 0 || fork > FSR_MAX_FORK)
		return "invalid";
	return names[fork];
}
