/*-------------------------------------------------------------------------
 *
 * bd_wb_policy.c
 *	  When the write-behind writer takes a queued slot.
 *
 * A slot of the write-behind queue (bd_writebehind.c) grows while a load
 * appends contiguous blocks to it.  Taking it at the first sight would
 * write a bulk load 8 kB at a time whenever the writer is quicker than the
 * load; never taking a slot that is not full would leave a lone write
 * queued for ever.  So a slot is ready when it is full, when the caller
 * wants everything (someone waits for the writer, or it shuts down), or
 * when it has stopped changing: it is the same queueing of the slot, with
 * the same version, as at the previous look.  A slot that changes at every
 * look without growing (one block rewritten again and again) is taken at
 * its BD_WB_MAX_LOOKS-th look.  The writer's looks are separated by its
 * own device writes or a short sleep, which is what lets a slot grow.
 *
 * src/blockdev/bd_wb_policy.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "pgrac/bd_wb_policy.h"

/*
 * Is the slot (seq: its queueing; version: changes since; full: no room
 * left) ready to be written?  If not, the look is remembered in *look.
 */
bool
bd_wb_ready(BdWbLook *look, uint64 seq, uint64 version, bool full, bool all)
{
	if (all || full)
		return true;
	if (look->seq != seq)
	{
		/* first look at this queueing of the slot */
		look->seq = seq;
		look->version = version;
		look->looks = 1;
		return false;
	}
	if (look->version == version || ++look->looks >= BD_WB_MAX_LOOKS)
		return true;
	look->version = version;
	return false;
}
