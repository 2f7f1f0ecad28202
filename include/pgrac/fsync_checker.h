/*-------------------------------------------------------------------------
 *
 * fsync_checker.h
 *	  The fsync checker layer (see src/fsync_checker/fsync_checker.c).
 *
 * include/pgrac/fsync_checker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_FSYNC_CHECKER_H
#define PGRAC_FSYNC_CHECKER_H

extern PGDLLIMPORT bool pgrac_fsync_checker;
extern PGDLLIMPORT int pgrac_fsync_checker_max_obligations;
extern PGDLLIMPORT int pgrac_fsync_checker_max_findings;

extern void pgrac_fsync_checker_install(void);

#endif							/* PGRAC_FSYNC_CHECKER_H */
