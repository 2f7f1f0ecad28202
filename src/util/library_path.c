/*-------------------------------------------------------------------------
 *
 * library_path.c
 *	  The path of the loaded pgrac_storage library, for the background
 *	  workers it registers.
 *
 * A worker loads the library its registration names.  A test build is
 * preloaded by absolute path, and the name "pgrac_storage" would find the
 * installed library instead: the worker must load the very file this code
 * came from.
 *
 * src/util/library_path.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dlfcn.h>

#include "util/pgrac_util.h"

void
pgrac_library_path(char *path, size_t size)
{
	Dl_info		self;

	if (dladdr((void *) pgrac_library_path, &self) == 0 || self.dli_fname == NULL)
		elog(FATAL, "could not find the path of the pgrac_storage library");
	strlcpy(path, self.dli_fname, size);
}
