/*-------------------------------------------------------------------------
 *
 * twophase_log.h
 *	  The 2PC coordinator log: record frames, segment headers and names,
 *	  the scan of a segment, the recovery of the whole log and the rules
 *	  that decide a transaction's outcome.  Pure code (no backend
 *	  dependencies), shared by the server, the unit tests and the fuzz
 *	  target; docs/twophase.md gives the layout and the reasons.
 *
 * include/pgrac/twophase_log.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_TWOPHASE_LOG_H
#define PGRAC_TWOPHASE_LOG_H

#define PGRAC_2PC_SEGMENT_MAGIC		"PGRAC2PC"
#define PGRAC_2PC_FORMAT_VERSION	1
#define PGRAC_2PC_SEGMENT_HEADER_SIZE 64
#define PGRAC_2PC_FRAME_HEADER_SIZE	8	/* length + CRC */
#define PGRAC_2PC_RECORD_VERSION	1

#define PGRAC_2PC_GID_MAX			190 /* leaves room for ".NN" in GIDSIZE */
#define PGRAC_2PC_MAX_PARTICIPANTS	32
#define PGRAC_2PC_SERVER_NAME_MAX	63	/* NAMEDATALEN - 1 */
#define PGRAC_2PC_MAX_LIVE			1024

/* the largest Begin payload, and the largest Checkpoint (all live) */
#define PGRAC_2PC_BEGIN_MAX_PAYLOAD \
	(8 + 4 + 1 + PGRAC_2PC_GID_MAX + 1 + \
	 PGRAC_2PC_MAX_PARTICIPANTS * (4 + 4 + 1 + PGRAC_2PC_SERVER_NAME_MAX))
#define PGRAC_2PC_LIVE_MAX_PAYLOAD	(PGRAC_2PC_BEGIN_MAX_PAYLOAD + 1 + 8 + 8)
/* kind + version + payload: what the frame's length counts */
#define PGRAC_2PC_MAX_FRAME_LENGTH \
	(2 + 2 + PGRAC_2PC_MAX_LIVE * PGRAC_2PC_LIVE_MAX_PAYLOAD)
#define PGRAC_2PC_MIN_FRAME_LENGTH	2

/* segment size limits: a full Checkpoint and a Begin always fit */
#define PGRAC_2PC_SEGMENT_SIZE_MIN	(4 * 1024 * 1024)
#define PGRAC_2PC_SEGMENT_SIZE_MAX	(256 * 1024 * 1024)

/* "00000000000A0000.seg", "00000000000A0000.seg.broken" */
#define PGRAC_2PC_SEGMENT_SUFFIX	".seg"
#define PGRAC_2PC_BROKEN_SUFFIX		".broken"
#define PGRAC_2PC_NAME_MAX			40

typedef enum PgracTwophaseKind
{
	PGRAC_2PC_BEGIN = 1,
	PGRAC_2PC_COMMITTING = 2,
	PGRAC_2PC_END = 3,
	PGRAC_2PC_CHECKPOINT = 4,
	/* kinds are never reused: a new kind takes the next number */
} PgracTwophaseKind;

typedef enum PgracTwophaseEndOutcome
{
	PGRAC_2PC_ENDED_COMMITTED = 1,
	PGRAC_2PC_ENDED_ROLLED_BACK = 2,
} PgracTwophaseEndOutcome;

typedef struct PgracTwophaseParticipant
{
	uint32		server_oid;
	uint32		user_oid;		/* of the user mapping; 0 for PUBLIC */
	char		server_name[PGRAC_2PC_SERVER_NAME_MAX + 1];
} PgracTwophaseParticipant;

typedef struct PgracTwophaseBegin
{
	uint64		txn;			/* the log position of this Begin */
	uint32		dboid;
	char		gid[PGRAC_2PC_GID_MAX + 1];
	int			nparticipants;
	PgracTwophaseParticipant participants[PGRAC_2PC_MAX_PARTICIPANTS];
} PgracTwophaseBegin;

/* A transaction the log knows as begun and not ended */
typedef struct PgracTwophaseLive
{
	PgracTwophaseBegin begin;
	bool		committing;		/* a Committing record was written */
	uint64		local_xid;		/* full xid of the local transaction, 0 none */
	int64		decided_at;		/* TimestampTz of the Committing record */
	uint64		first_position; /* of the first surviving record naming it
								 * (its Begin, or a Checkpoint): the segment
								 * holding it is kept; not stored */
} PgracTwophaseLive;

typedef struct PgracTwophaseRecord
{
	PgracTwophaseKind kind;
	union
	{
		PgracTwophaseBegin begin;
		struct
		{
			uint64		txn;
			uint64		local_xid;
			int64		decided_at;
		}			committing;
		struct
		{
			uint64		txn;
			PgracTwophaseEndOutcome outcome;
		}			end;
		struct
		{
			int			nlive;
			PgracTwophaseLive *live;	/* the caller's array */
		}			checkpoint;
	}			u;
} PgracTwophaseRecord;

typedef enum PgracTwophaseFrameResult
{
	PGRAC_2PC_FRAME_COMPLETE,
	PGRAC_2PC_FRAME_INCOMPLETE, /* a strict prefix of a frame that could be
								 * valid: more bytes might complete it */
	PGRAC_2PC_FRAME_CORRUPT,
} PgracTwophaseFrameResult;

/* the files' own helper: a message into error (if not NULL); returns false */
extern bool pgrac_twophase_error(char *error, size_t errlen, const char *fmt,...)
			pg_attribute_printf(3, 4);

/* frames: encode, and decode at log position pos */
extern size_t pgrac_twophase_record_size(const PgracTwophaseRecord *rec);
extern size_t pgrac_twophase_record_encode(const PgracTwophaseRecord *rec, uint8 *out);
extern PgracTwophaseFrameResult pgrac_twophase_frame_decode(const uint8 *buf, size_t avail,
															uint64 pos,
															PgracTwophaseRecord *rec,
															PgracTwophaseLive *cp_live,
															int cp_capacity,
															size_t *consumed,
															char *error, size_t errlen);
extern bool pgrac_twophase_begin_valid(const PgracTwophaseBegin *b, char *error, size_t errlen);
extern void pgrac_twophase_format_gid(char *out, size_t outlen, uint64 system_identifier,
									  uint32 dboid, uint64 txn);
extern void pgrac_twophase_participant_gid(char *out, size_t outlen, const char *gid, int n);

/* segment headers and names */
typedef struct PgracTwophaseSegmentHeader
{
	uint32		version;
	uint64		system_identifier;
	uint64		start;			/* log position of its first record byte */
	uint64		size_limit;
} PgracTwophaseSegmentHeader;

extern void pgrac_twophase_segment_header_encode(const PgracTwophaseSegmentHeader *h,
												 uint8 *out);
extern bool pgrac_twophase_segment_header_decode(const uint8 *buf, size_t len,
												 PgracTwophaseSegmentHeader *h,
												 char *error, size_t errlen);
extern void pgrac_twophase_segment_name(uint64 start, char *out, size_t outlen);
extern bool pgrac_twophase_parse_segment_name(const char *name, uint64 *start, bool *broken);

/* the scan of one segment file */
typedef enum PgracTwophaseSegmentStatus
{
	PGRAC_2PC_SEG_CLEAN,		/* complete frames up to the end of the file */
	PGRAC_2PC_SEG_TORN_TAIL,	/* complete frames, then a tail that can only
								 * be a torn write (valid_end tells where) */
	PGRAC_2PC_SEG_CORRUPT,		/* a bad frame with a complete one after it,
								 * or a bad header */
	PGRAC_2PC_SEG_SHORT_HEADER, /* the file ends within its header */
	PGRAC_2PC_SEG_FOREIGN,		/* another cluster's segment */
} PgracTwophaseSegmentStatus;

typedef void (*PgracTwophaseRecordCallback) (void *arg, uint64 pos,
											 const PgracTwophaseRecord *rec);

typedef struct PgracTwophaseSegmentScan
{
	PgracTwophaseSegmentStatus status;
	size_t		valid_end;		/* file offset after the last complete frame */
	uint64		end_position;	/* log position at valid_end */
	uint64		file_end_position;	/* log position at the end of the file */
	uint64		size_limit;		/* from the header, when it decoded */
	char		error[256];
} PgracTwophaseSegmentScan;

extern void pgrac_twophase_scan_segment(const uint8 *data, size_t len, uint64 named_start,
										uint64 system_identifier,
										PgracTwophaseLive *cp_live, int cp_capacity,
										PgracTwophaseRecordCallback cb, void *arg,
										PgracTwophaseSegmentScan *scan);

/* the recovery of the whole log */
typedef struct PgracTwophaseSegmentInput
{
	uint64		start;			/* from the name */
	bool		broken;			/* already named .broken */
	const uint8 *data;
	size_t		len;
} PgracTwophaseSegmentInput;

typedef enum PgracTwophaseSegmentAction
{
	PGRAC_2PC_KEEP,
	PGRAC_2PC_TRUNCATE,			/* to truncate_at, then append there */
	PGRAC_2PC_RENAME_BROKEN,
	PGRAC_2PC_REMOVE,			/* a last segment that never got its header,
								 * or one no live transaction needs */
} PgracTwophaseSegmentAction;

typedef struct PgracTwophaseSegmentPlan
{
	PgracTwophaseSegmentAction action;
	size_t		truncate_at;
	PgracTwophaseSegmentScan scan;
} PgracTwophaseSegmentPlan;

typedef struct PgracTwophaseRecovery
{
	bool		ok;				/* false: the log must not be opened (error) */
	char		error[320];
	uint64		system_identifier;
	int			nsegments;		/* added so far */
	int			append_segment; /* index to append to, -1: a new segment */
	uint64		append_position;	/* the next record's position */
	size_t		append_offset;	/* file offset in append_segment */
	uint64		append_size_limit;	/* that segment's size limit */
	uint64		corrupt_before; /* undecided transactions begun before this
								 * position need an operator; 0: none */
	int			ncorrupt;		/* segments found corrupt (now or before) */
	int			norphans;		/* Committing or End records naming a
								 * transaction the log does not know */
	int			nlive;
	PgracTwophaseLive *live;	/* the caller's array of PGRAC_2PC_MAX_LIVE */
	PgracTwophaseLive *scratch; /* another, for decoding Checkpoints */
	/* progress */
	uint64		prev_start;
	bool		prev_broken;
	uint64		prev_end;
	uint64		next_free;
} PgracTwophaseRecovery;

extern void pgrac_twophase_sort_segments(PgracTwophaseSegmentInput *segs, int nsegs);
extern void pgrac_twophase_recovery_init(PgracTwophaseRecovery *out, uint64 system_identifier,
										 PgracTwophaseLive *live, PgracTwophaseLive *scratch);
extern void pgrac_twophase_recovery_add(PgracTwophaseRecovery *out,
										const PgracTwophaseSegmentInput *s, bool is_last,
										PgracTwophaseSegmentPlan *plan);
extern void pgrac_twophase_recovery_finish(PgracTwophaseRecovery *out,
										   const PgracTwophaseSegmentInput *segs,
										   PgracTwophaseSegmentPlan *plans, int nsegs);

/* all at once: init, add each (sorted), finish */
extern void pgrac_twophase_recover(const PgracTwophaseSegmentInput *segs, int nsegs,
								   uint64 system_identifier,
								   PgracTwophaseSegmentPlan *plans,
								   PgracTwophaseLive *live,
								   PgracTwophaseLive *scratch,
								   PgracTwophaseRecovery *out);

/* removal: a segment [start, end) that is not the one appended to */
extern bool pgrac_twophase_segment_removable(uint64 start, uint64 end,
											 const PgracTwophaseLive *live, int nlive);

/* the outcome of a live transaction */
typedef enum PgracLocalXidStatus
{
	PGRAC_LOCAL_NONE,			/* no local xid (0 in the record) */
	PGRAC_LOCAL_COMMITTED,
	PGRAC_LOCAL_ABORTED,
	PGRAC_LOCAL_RUNNING,
	PGRAC_LOCAL_UNKNOWN,		/* too old for the commit log, or in the
								 * future: never guessed */
} PgracLocalXidStatus;

typedef enum PgracTwophaseOutcome
{
	PGRAC_2PC_OUTCOME_WAIT,		/* its coordinator is still at work */
	PGRAC_2PC_OUTCOME_COMMIT,
	PGRAC_2PC_OUTCOME_ROLLBACK,
	PGRAC_2PC_OUTCOME_OPERATOR, /* not decidable from what survives */
} PgracTwophaseOutcome;

extern PgracTwophaseOutcome pgrac_twophase_outcome(const PgracTwophaseLive *t,
												   bool owner_active,
												   PgracLocalXidStatus local,
												   uint64 corrupt_before);
extern const char *pgrac_twophase_outcome_name(PgracTwophaseOutcome o);

#endif							/* PGRAC_TWOPHASE_LOG_H */
