/*-------------------------------------------------------------------------
 *
 * file_copy_statements.c
 *	  Recognise the statements that copy a database's relation files with
 *	  copydir(), around the storage manager: the block-device backend
 *	  refuses them always (there are no files), the checksum layer while a
 *	  transition runs (the copies would never pass through it).
 *
 * src/util/file_copy_statements.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/defrem.h"
#include "nodes/parsenodes.h"

#include "util/pgrac_util.h"

PgracFileCopyStatement
pgrac_file_copy_statement(Node *parsetree)
{
	if (IsA(parsetree, CreatedbStmt))
	{
		foreach_node(DefElem, opt, ((CreatedbStmt *) parsetree)->options)
		{
			if (strcmp(opt->defname, "strategy") == 0 &&
				pg_strcasecmp(defGetString(opt), "file_copy") == 0)
				return PGRAC_CREATE_DATABASE_FILE_COPY;
		}
	}
	else if (IsA(parsetree, AlterDatabaseStmt))
	{
		foreach_node(DefElem, opt, ((AlterDatabaseStmt *) parsetree)->options)
		{
			if (strcmp(opt->defname, "tablespace") == 0)
				return PGRAC_ALTER_DATABASE_SET_TABLESPACE;
		}
	}
	return PGRAC_NO_FILE_COPY;
}
