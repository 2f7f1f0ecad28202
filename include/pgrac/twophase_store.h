/*-------------------------------------------------------------------------
 *
 * twophase_store.h
 *	  The files of the 2PC coordinator log (src/twophase/twophase_store.c):
 *	  open with recovery, append, rotate, remove, lock.  Pure code over a
 *	  table of system calls that the unit tests replace to inject faults.
 *
 * include/pgrac/twophase_store.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_TWOPHASE_STORE_H
#define PGRAC_TWOPHASE_STORE_H

#include <sys/types.h>

#include "pgrac/twophase_log.h"

/* segments a store tracks for removal; more are refused at open */
#define PGRAC_2PC_MAX_SEGMENTS		4096

typedef struct PgracTwophaseIo
{
	int			(*open) (const char *path, int flags, int mode);
	ssize_t		(*pread) (int fd, void *buf, size_t len, off_t off);
	ssize_t		(*pwrite) (int fd, const void *buf, size_t len, off_t off);
	int			(*fdatasync) (int fd);
	int			(*fsync) (int fd);
	int			(*ftruncate) (int fd, off_t len);
	int			(*close) (int fd);
	int			(*rename) (const char *from, const char *to);
	int			(*unlink) (const char *path);
	void	   *(*alloc) (size_t size); /* NULL on failure */
	void		(*release) (void *p);
} PgracTwophaseIo;

extern const PgracTwophaseIo pgrac_twophase_posix_io;

typedef struct PgracTwophaseStore
{
	char		dir[1024];
	uint64		system_identifier;
	uint64		new_segment_size;	/* the size limit of segments it creates */
	const PgracTwophaseIo *io;
	int			fd;				/* the segment appended to, -1 none */
	uint64		seg_start;
	uint64		seg_limit;
	size_t		seg_size;		/* bytes in it, header included */
	int			nsegments;		/* not broken, in position order; the last is
								 * the one appended to */
	uint64		segments[PGRAC_2PC_MAX_SEGMENTS];
	bool		untracked;		/* more segments than tracked: some are never
								 * removed */
	bool		failed;			/* sticky: no append until opened again */
	char		error[1400];
	/* what it did, for the log and the tests */
	int			ncorrupt;
	int			ntruncated;
	int			nrenamed;
	int			nremoved;
	int			nsegments_created;
	uint64		nbatches;
} PgracTwophaseStore;

extern bool pgrac_twophase_store_open(PgracTwophaseStore *st, const char *dir,
									  uint64 system_identifier, uint64 new_segment_size,
									  const PgracTwophaseIo *io,
									  PgracTwophaseRecovery *rec,
									  PgracTwophaseLive *live, PgracTwophaseLive *scratch);
extern uint64 pgrac_twophase_store_position(const PgracTwophaseStore *st);
extern size_t pgrac_twophase_store_room(const PgracTwophaseStore *st);
extern bool pgrac_twophase_store_append(PgracTwophaseStore *st, const uint8 *frames, size_t len);
extern bool pgrac_twophase_store_rotate(PgracTwophaseStore *st, const PgracTwophaseLive *live,
										int nlive);
extern int	pgrac_twophase_store_remove_unneeded(PgracTwophaseStore *st,
												 const PgracTwophaseLive *live, int nlive);
extern void pgrac_twophase_store_close(PgracTwophaseStore *st);

typedef enum PgracTwophaseLockResult
{
	PGRAC_2PC_LOCK_ACQUIRED,
	PGRAC_2PC_LOCK_HELD,		/* by another process: holder says whom */
	PGRAC_2PC_LOCK_ERROR,
} PgracTwophaseLockResult;

extern PgracTwophaseLockResult pgrac_twophase_lock(const char *dir, const char *holder_text,
												   int *fd, char *holder, size_t holderlen,
												   char *error, size_t errlen);

#endif							/* PGRAC_TWOPHASE_STORE_H */
