/*-------------------------------------------------------------------------
 *
 * bd_wb_policy.h
 *	  When the write-behind writer takes a queued slot (pure logic).
 *
 * include/pgrac/bd_wb_policy.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_WB_POLICY_H
#define PGRAC_BD_WB_POLICY_H

/* looks after which a slot that still changes is taken anyway */
#define BD_WB_MAX_LOOKS		4

/*
 * What the writer saw of one slot at its last look: which queueing of the
 * slot (seq, unique per queueing, never 0) and how often it had changed.
 * Zeroed memory is "never looked at".
 */
typedef struct BdWbLook
{
	uint64		seq;
	uint64		version;
	int			looks;
} BdWbLook;

extern bool bd_wb_ready(BdWbLook *look, uint64 seq, uint64 version,
						bool full, bool all);

#endif							/* PGRAC_BD_WB_POLICY_H */
