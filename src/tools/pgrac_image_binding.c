/*-------------------------------------------------------------------------
 *
 * pgrac_image_binding.c
 *	  The device binding file of a data directory (pgrac/bd_binding.h), as
 *	  pgrac_image's import and export read, write and remove it.
 *
 * import writes the binding before its commit point, as the server's
 * import does; export marks it exported once the relation files it wrote
 * into a data directory are durable, which lets the cluster start on md
 * again and makes the server refuse the device, stale from then on.
 *
 * src/tools/pgrac_image_binding.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "common/file_utils.h"
#include "common/logging.h"
#include "pgrac/bd_binding.h"
#include "pgrac_image.h"

static void
binding_path(char *out, const char *pgdata, const char *suffix)
{
	snprintf(out, MAXPGPATH, "%s/%s%s", pgdata, BD_BINDING_FILE, suffix);
}

bool
binding_read(const char *pgdata, BdBinding *b)
{
	char		path[MAXPGPATH];
	char		buf[BD_BINDING_MAX_SIZE + 1];
	char		error[256];
	ssize_t		len;
	int			fd;

	binding_path(path, pgdata, "");
	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
	{
		if (errno == ENOENT)
			return false;
		refuse("could not open \"%s\": %m", path);
	}
	len = read(fd, buf, sizeof(buf));
	if (len < 0)
		refuse("could not read \"%s\": %m", path);
	close(fd);
	if (!bd_binding_decode(buf, (size_t) len, b, error, sizeof(error)))
		refuse("device binding file \"%s\" is corrupt: %s", path, error);
	return true;
}

void
binding_write(const char *pgdata, const BdBinding *b)
{
	char		path[MAXPGPATH];
	char		temp[MAXPGPATH];
	char		dir[MAXPGPATH];
	char		buf[BD_BINDING_MAX_SIZE];
	size_t		len = bd_binding_encode(b, buf);
	int			fd;

	snprintf(dir, sizeof(dir), "%s/pg_pgrac", pgdata);
	if (mkdir(dir, pg_dir_create_mode) == 0)
	{
		if (fsync_fname(pgdata, true) != 0)
			exit(EXIT_DEVICE);
	}
	else if (errno != EEXIST)
		device_error("could not create directory \"%s\": %m", dir);
	binding_path(path, pgdata, "");
	binding_path(temp, pgdata, ".tmp");
	fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY, pg_file_create_mode);
	if (fd < 0)
		device_error("could not create \"%s\": %m", temp);
	errno = 0;
	if (write(fd, buf, len) != (ssize_t) len)
	{
		if (errno == 0)
			errno = ENOSPC;
		device_error("could not write \"%s\": %m", temp);
	}
	if (fsync(fd) != 0)
		device_error("could not fsync \"%s\": %m", temp);
	close(fd);
	if (durable_rename(temp, path) != 0 || fsync_fname(dir, true) != 0)
		exit(EXIT_DEVICE);
}
