/*-------------------------------------------------------------------------
 *
 * pgrac_util.h
 *	  Small helpers several subsystems of the server share.
 *
 * src/util/pgrac_util.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_UTIL_H
#define PGRAC_UTIL_H

#include "nodes/nodes.h"

/* statements that copy a database's files behind the storage manager */
typedef enum PgracFileCopyStatement
{
	PGRAC_NO_FILE_COPY,
	PGRAC_CREATE_DATABASE_FILE_COPY,	/* CREATE DATABASE ... STRATEGY
										 * FILE_COPY */
	PGRAC_ALTER_DATABASE_SET_TABLESPACE,	/* ALTER DATABASE ... SET
											 * TABLESPACE */
} PgracFileCopyStatement;

extern PgracFileCopyStatement pgrac_file_copy_statement(Node *parsetree);

extern void pgrac_library_path(char *path, size_t size);

#endif							/* PGRAC_UTIL_H */
