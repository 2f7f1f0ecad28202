/*-------------------------------------------------------------------------
 *
 * backup_server.h
 *	  The server side of backups: the history of pgrac_backup_start() and
 *	  pgrac_create_restore_point() (backup_functions.c).
 *
 * src/backup/backup_server.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BACKUP_SERVER_H
#define PGRAC_BACKUP_SERVER_H

extern void backup_shmem_install(void);

#endif							/* PGRAC_BACKUP_SERVER_H */
