/*-------------------------------------------------------------------------
 *
 * twophase_recovery.c
 *	  Recovery of the whole 2PC coordinator log: which segment to keep,
 *	  truncate, rename ".broken" or remove, where appending resumes, which
 *	  transactions are live, and the rules that decide each one's outcome.
 *
 * Segments are read in position order (the caller sorts them with
 * pgrac_twophase_sort_segments()) and their records applied as they
 * come: Begin adds a live transaction, Committing records its decision,
 * End removes it, and a Checkpoint adds the live transactions it lists
 * that are not known yet (their Begin was in a segment that turned out
 * broken).  Records that a broken segment held before its bad frame still
 * count.  Positions never go backwards: appending resumes after the end of
 * every file, broken ones and their garbage included, so that a
 * transaction number (a Begin's position) is never given out twice.
 *
 * src/twophase/twophase_recovery.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "pgrac/twophase_log.h"

typedef struct ApplyState
{
	PgracTwophaseRecovery *out;
	bool		overflow;
} ApplyState;

static int
find_live(PgracTwophaseRecovery *out, uint64 txn)
{
	for (int i = 0; i < out->nlive; i++)
		if (out->live[i].begin.txn == txn)
			return i;
	return -1;
}

/* The live transaction a Committing or End names, counting one unknown. */
static int
find_named(PgracTwophaseRecovery *out, uint64 txn)
{
	int			i = find_live(out, txn);

	if (i < 0)
		out->norphans++;
	return i;
}

static void
add_live(ApplyState *st, const PgracTwophaseLive *l)
{
	PgracTwophaseRecovery *out = st->out;

	if (out->nlive >= PGRAC_2PC_MAX_LIVE)
	{
		st->overflow = true;
		return;
	}
	out->live[out->nlive++] = *l;
}

static void
apply_record(void *arg, uint64 pos, const PgracTwophaseRecord *rec)
{
	ApplyState *st = arg;
	PgracTwophaseRecovery *out = st->out;
	PgracTwophaseLive l;
	int			i;

	switch (rec->kind)
	{
		case PGRAC_2PC_BEGIN:
			memset(&l, 0, sizeof(l));
			l.begin = rec->u.begin;
			l.first_position = pos;
			/* a Begin is at its own position: it cannot be known already */
			add_live(st, &l);
			break;
		case PGRAC_2PC_COMMITTING:
			i = find_named(out, rec->u.committing.txn);
			if (i >= 0)
			{
				out->live[i].committing = true;
				out->live[i].local_xid = rec->u.committing.local_xid;
				out->live[i].decided_at = rec->u.committing.decided_at;
			}
			break;
		case PGRAC_2PC_END:
			i = find_named(out, rec->u.end.txn);
			if (i >= 0)
				out->live[i] = out->live[--out->nlive];
			break;
		case PGRAC_2PC_CHECKPOINT:
			for (int k = 0; k < rec->u.checkpoint.nlive; k++)
			{
				const PgracTwophaseLive *c = &rec->u.checkpoint.live[k];

				i = find_live(out, c->begin.txn);
				if (i < 0)
					add_live(st, c);
				else if (c->committing && !out->live[i].committing)
				{
					out->live[i].committing = true;
					out->live[i].local_xid = c->local_xid;
					out->live[i].decided_at = c->decided_at;
				}
			}
			break;
	}
}

static int
segment_cmp(const void *a, const void *b)
{
	const PgracTwophaseSegmentInput *x = a;
	const PgracTwophaseSegmentInput *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	/* a broken file first: its twin, if any, came after it */
	return (int) y->broken - (int) x->broken;
}

void
pgrac_twophase_sort_segments(PgracTwophaseSegmentInput *segs, int nsegs)
{
	qsort(segs, nsegs, sizeof(PgracTwophaseSegmentInput), segment_cmp);
}

void
pgrac_twophase_recovery_init(PgracTwophaseRecovery *out, uint64 system_identifier,
							 PgracTwophaseLive *live, PgracTwophaseLive *scratch)
{
	memset(out, 0, sizeof(*out));
	out->ok = true;
	out->system_identifier = system_identifier;
	out->live = live;
	out->scratch = scratch;
	out->append_segment = -1;
}

/*
 * One segment, in position order; is_last: no file of the directory comes
 * after it.  Its records are applied at once, so that the caller can free
 * its bytes before reading the next.
 */
void
pgrac_twophase_recovery_add(PgracTwophaseRecovery *out, const PgracTwophaseSegmentInput *s,
							bool is_last, PgracTwophaseSegmentPlan *p)
{
	ApplyState	st;
	char		name[PGRAC_2PC_NAME_MAX];

	memset(p, 0, sizeof(*p));
	if (!out->ok)
		return;
	st.out = out;
	st.overflow = false;
	is_last = is_last && !s->broken;
	pgrac_twophase_segment_name(s->start, name, sizeof(name));

	if (out->nsegments > 0 &&
		(s->start < out->prev_start || (s->start == out->prev_start && !out->prev_broken)))
	{
		out->ok = false;
		snprintf(out->error, sizeof(out->error), "segment %s comes out of position order", name);
		return;
	}
	out->prev_start = s->start;
	out->prev_broken = s->broken;
	out->nsegments++;

	/* overlapping an earlier file: its positions cannot be trusted */
	if (s->start < out->prev_end)
	{
		p->scan.status = PGRAC_2PC_SEG_CORRUPT;
		p->scan.file_end_position = s->start +
			(s->len > PGRAC_2PC_SEGMENT_HEADER_SIZE ? s->len - PGRAC_2PC_SEGMENT_HEADER_SIZE : 0);
		snprintf(p->scan.error, sizeof(p->scan.error),
				 "it starts at %016llX, inside the previous segment (which ends at %016llX)",
				 (unsigned long long) s->start, (unsigned long long) out->prev_end);
	}
	else
		pgrac_twophase_scan_segment(s->data, s->len, s->start, out->system_identifier,
									out->scratch, PGRAC_2PC_MAX_LIVE, apply_record, &st, &p->scan);

	switch (p->scan.status)
	{
		case PGRAC_2PC_SEG_FOREIGN:
			out->ok = false;
			snprintf(out->error, sizeof(out->error), "segment %s%s: %s", name,
					 s->broken ? PGRAC_2PC_BROKEN_SUFFIX : "", p->scan.error);
			return;
		case PGRAC_2PC_SEG_CLEAN:
			p->action = PGRAC_2PC_KEEP;
			break;
		case PGRAC_2PC_SEG_TORN_TAIL:
			if (is_last)
			{
				p->action = PGRAC_2PC_TRUNCATE;
				p->truncate_at = p->scan.valid_end;
			}
			else
				p->action = s->broken ? PGRAC_2PC_KEEP : PGRAC_2PC_RENAME_BROKEN;
			break;
		case PGRAC_2PC_SEG_SHORT_HEADER:
			if (is_last)
				p->action = PGRAC_2PC_REMOVE;
			else
				p->action = s->broken ? PGRAC_2PC_KEEP : PGRAC_2PC_RENAME_BROKEN;
			break;
		case PGRAC_2PC_SEG_CORRUPT:
			p->action = s->broken ? PGRAC_2PC_KEEP : PGRAC_2PC_RENAME_BROKEN;
			break;
	}
	/* a file already named .broken stays corrupt, whatever it reads as */
	if (s->broken || p->action == PGRAC_2PC_RENAME_BROKEN)
	{
		out->ncorrupt++;
		out->corrupt_before = Max(out->corrupt_before, p->scan.file_end_position);
	}
	/* a removed short last segment gave out no positions */
	if (p->action == PGRAC_2PC_REMOVE)
		out->next_free = Max(out->next_free, s->start);
	else
		out->next_free = Max(out->next_free, p->action == PGRAC_2PC_TRUNCATE ?
							 p->scan.end_position : p->scan.file_end_position);
	out->prev_end = Max(out->prev_end, p->scan.file_end_position);

	if (st.overflow)
	{
		out->ok = false;
		snprintf(out->error, sizeof(out->error),
				 "the log names more than %d live transactions, more than a coordinator can have",
				 PGRAC_2PC_MAX_LIVE);
		return;
	}
	if (is_last && (p->action == PGRAC_2PC_KEEP || p->action == PGRAC_2PC_TRUNCATE))
	{
		out->append_segment = out->nsegments - 1;
		out->append_offset = p->action == PGRAC_2PC_TRUNCATE ? p->truncate_at : s->len;
		out->append_position = p->scan.end_position;
		out->append_size_limit = p->scan.size_limit;
	}
}

/*
 * After the last segment: where appending resumes, and which kept segments
 * no live transaction needs any more (never a broken one, never the one
 * appended to).  segs and plans as given to pgrac_twophase_recovery_add(),
 * in the same order; only their start, broken and action are read.
 */
void
pgrac_twophase_recovery_finish(PgracTwophaseRecovery *out, const PgracTwophaseSegmentInput *segs,
							   PgracTwophaseSegmentPlan *plans, int nsegs)
{
	if (!out->ok)
		return;
	if (out->append_segment < 0)
		out->append_position = out->next_free;
	for (int i = 0; i + 1 < nsegs; i++)
	{
		if (i == out->append_segment || segs[i].broken || plans[i].action != PGRAC_2PC_KEEP)
			continue;
		if (pgrac_twophase_segment_removable(segs[i].start, segs[i + 1].start, out->live,
											 out->nlive))
			plans[i].action = PGRAC_2PC_REMOVE;
	}
}

void
pgrac_twophase_recover(const PgracTwophaseSegmentInput *segs, int nsegs, uint64 system_identifier,
					   PgracTwophaseSegmentPlan *plans, PgracTwophaseLive *live,
					   PgracTwophaseLive *scratch, PgracTwophaseRecovery *out)
{
	pgrac_twophase_recovery_init(out, system_identifier, live, scratch);
	for (int i = 0; i < nsegs && out->ok; i++)
		pgrac_twophase_recovery_add(out, &segs[i], i == nsegs - 1, &plans[i]);
	pgrac_twophase_recovery_finish(out, segs, plans, nsegs);
}

bool
pgrac_twophase_segment_removable(uint64 start, uint64 end, const PgracTwophaseLive *live,
								 int nlive)
{
	for (int i = 0; i < nlive; i++)
		if (live[i].first_position >= start && live[i].first_position < end)
			return false;
	return true;
}

PgracTwophaseOutcome
pgrac_twophase_outcome(const PgracTwophaseLive *t, bool owner_active, PgracLocalXidStatus local,
					   uint64 corrupt_before)
{
	if (owner_active)
		return PGRAC_2PC_OUTCOME_WAIT;
	if (!t->committing)
	{
		/* its Committing record may have been in the corrupt part */
		if (t->begin.txn < corrupt_before)
			return PGRAC_2PC_OUTCOME_OPERATOR;
		return PGRAC_2PC_OUTCOME_ROLLBACK;
	}
	if (t->local_xid == 0)
		return PGRAC_2PC_OUTCOME_COMMIT;
	switch (local)
	{
		case PGRAC_LOCAL_COMMITTED:
			return PGRAC_2PC_OUTCOME_COMMIT;
		case PGRAC_LOCAL_ABORTED:

			/*
			 * decided, but the local commit never happened: no COMMIT
			 * PREPARED can have been sent
			 */
			return PGRAC_2PC_OUTCOME_ROLLBACK;
		case PGRAC_LOCAL_RUNNING:
			return PGRAC_2PC_OUTCOME_WAIT;
		case PGRAC_LOCAL_NONE:
		case PGRAC_LOCAL_UNKNOWN:
			break;
	}
	return PGRAC_2PC_OUTCOME_OPERATOR;
}

const char *
pgrac_twophase_outcome_name(PgracTwophaseOutcome o)
{
	switch (o)
	{
		case PGRAC_2PC_OUTCOME_WAIT:
			return "wait";
		case PGRAC_2PC_OUTCOME_COMMIT:
			return "commit";
		case PGRAC_2PC_OUTCOME_ROLLBACK:
			return "rollback";
		case PGRAC_2PC_OUTCOME_OPERATOR:
			return "needs operator";
	}
	return "?";
}
