/*-------------------------------------------------------------------------
 *
 * bd_ownership.c
 *	  Which device holds this cluster's relation data: the device binding
 *	  file in PGDATA (include/pgrac/bd_binding.h), and the startup checks
 *	  that refuse to run a cluster anywhere else.
 *
 * Every check runs in the postmaster, while shared_preload_libraries load
 * or shared memory is sized, before any other process exists; each
 * refusal is a FATAL naming the device the data is on and the way out
 * (docs/block-device.md, "Which device holds the data").
 *
 * The binding is written (durably, through a rename) before an import's
 * commit point and never removed by the server; pgrac_image export, having
 * put the relation files back into PGDATA, marks it exported: md may start
 * then, and the device it names, stale from then on, is refused.  A cluster
 * whose device names it as owner but that has no binding (made by an
 * older pgrac_storage) gets one written at start.
 *
 * src/blockdev/startup/bd_ownership.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "miscadmin.h"
#include "storage/fd.h"

#include "blockdev/startup/bd_startup.h"
#include "pgrac/bd_binding.h"

#define BINDING_TEMP	BD_BINDING_FILE ".tmp"

static bool binding_loaded = false;
static bool binding_present = false;
static BdBinding binding;

/* The binding of this data directory (read once); false when it has none. */
bool
bd_binding_get(BdBinding *out)
{
	if (!binding_loaded)
	{
		char		buf[BD_BINDING_MAX_SIZE + 1];
		char		error[256];
		int			fd;
		ssize_t		len;

		fd = OpenTransientFile(BD_BINDING_FILE, O_RDONLY | PG_BINARY);
		if (fd < 0 && errno != ENOENT)
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not open file \"%s\": %m", BD_BINDING_FILE)));
		if (fd >= 0)
		{
			len = read(fd, buf, sizeof(buf));
			if (len < 0)
				ereport(FATAL,
						(errcode_for_file_access(),
						 errmsg("could not read file \"%s\": %m", BD_BINDING_FILE)));
			CloseTransientFile(fd);
			if (!bd_binding_decode(buf, (size_t) len, &binding, error, sizeof(error)))
				ereport(FATAL,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("device binding file \"%s\" is corrupt: %s", BD_BINDING_FILE, error),
						 errdetail("The file names the device that holds this cluster's relation data."),
						 errhint("If pgrac.device names this cluster's device, remove the file: the server writes it again from the device's superblock at the next start.  Otherwise restore it from a backup of the data directory.")));
			binding_present = true;
		}
		binding_loaded = true;
	}
	if (binding_present && out)
		*out = binding;
	return binding_present;
}

/* Write the binding durably: a temporary file, fsynced, renamed. */
void
bd_binding_put(const BdBinding *b)
{
	char		buf[BD_BINDING_MAX_SIZE];
	size_t		len = bd_binding_encode(b, buf);
	int			fd;

	/* an external device: the directory may not exist yet */
	if (MakePGDirectory("pg_pgrac") == 0)
		fsync_fname(".", true);
	else if (errno != EEXIST)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", "pg_pgrac")));
	fd = OpenTransientFile(BINDING_TEMP, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", BINDING_TEMP)));
	errno = 0;
	if (write(fd, buf, len) != (ssize_t) len)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", BINDING_TEMP)));
	}
	if (pg_fsync(fd) != 0)
		ereport(data_sync_elevel(FATAL),
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", BINDING_TEMP)));
	CloseTransientFile(fd);
	(void) durable_rename(BINDING_TEMP, BD_BINDING_FILE, FATAL);
	binding = *b;
	binding_present = binding_loaded = true;
}

/* A UUID as text; two may appear in one message. */
static const char *
uuid_text(const uint8 uuid[16])
{
	char	   *text = palloc(37);

	bd_uuid_format(uuid, text);
	return text;
}

/*
 * The backend is md (or the extension is about to let core read PGDATA):
 * refuse when the relation data is on a device.
 */
void
bd_refuse_md_with_binding(void)
{
	BdBinding	b;

	if (!bd_binding_get(&b) || b.exported)
		return;
	ereport(FATAL,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("pgrac.storage_backend is \"md\", but this cluster's relation data is on block device %s",
					uuid_text(b.device_uuid)),
			 errdetail("The data directory's %s says the relation files moved onto that device (then at \"%s\"); md would find no relations.",
					   BD_BINDING_FILE, b.device_path),
			 errhint("Set pgrac.storage_backend = 'block_device' (and pgrac.device to that device), or, with the server stopped, move the data back with \"pgrac_image export --device=... --target=<data directory>\".")));
}

/*
 * Tools that work on the files of a data directory cannot see relation
 * data on a device: refuse their results, at the start they lead to.
 *
 * pg_upgrade starts the old server with -b (binary upgrade); pg_rewind
 * leaves a backup_label whose method is "pg_rewind".  Both are refused
 * only while the data is on a device: an md cluster with the library
 * preloaded upgrades and rewinds as stock does.
 */
void
bd_refuse_file_tools(void)
{
	BdBinding	b;
	FILE	   *label;

	if (!bd_binding_get(&b) || b.exported)
		return;
	if (IsBinaryUpgrade)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pg_upgrade cannot upgrade a cluster whose relation data is on block device %s",
						uuid_text(b.device_uuid)),
				 errdetail("pg_upgrade copies or links the relation files in the data directory; this cluster has none there (%s).",
						   BD_BINDING_FILE),
				 errhint("With the old server stopped, move the data into the data directory with \"pgrac_image export\", start it once with pgrac.storage_backend = 'md' and shut it down, upgrade, then start the new cluster on a device.")));

	label = AllocateFile("backup_label", "r");
	if (label == NULL && errno != ENOENT)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", "backup_label")));
	if (label != NULL)
	{
		char		line[1024];
		bool		rewound = false;

		while (fgets(line, sizeof(line), label) != NULL)
			if (strcmp(line, "BACKUP METHOD: pg_rewind\n") == 0)
				rewound = true;
		FreeFile(label);
		if (rewound)
			ereport(FATAL,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("this data directory was rewound by pg_rewind, which cannot rewind relation data on block device %s",
							uuid_text(b.device_uuid)),
					 errdetail("pg_rewind copied the changed files of the data directory; the relation data on the device still holds this node's diverged changes."),
					 errhint("Rebuild this node from a base backup of the new primary.")));
	}
}

/* bd_read_geometry(): the superblock was read; is it the bound device? */
void
bd_check_bound_device(const uint8 device_uuid[16])
{
	BdBinding	b;

	/* exported: the data is in PGDATA; bd_import_if_needed() decides */
	if (!bd_binding_get(&b) || b.exported || memcmp(b.device_uuid, device_uuid, 16) == 0)
		return;
	ereport(FATAL,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("block device \"%s\" does not hold this cluster's relation data", bd_dev->path),
			 errdetail("The device's UUID is %s; the data directory's %s says the data is on device %s (then at \"%s\").",
					   uuid_text(device_uuid), BD_BINDING_FILE,
					   uuid_text(b.device_uuid), b.device_path),
			 errhint("Point pgrac.device at the device with UUID %s (\"pgrac_image info\" shows a device's UUID).",
					 uuid_text(b.device_uuid))));
}

/* bd_read_geometry(): the embedded image is missing; may it be created? */
void
bd_refuse_missing_embedded(const char *path)
{
	BdBinding	b;

	if (!bd_binding_get(&b) || b.exported)
		return;
	ereport(FATAL,
			(errcode(ERRCODE_UNDEFINED_FILE),
			 errmsg("the embedded image \"%s\" holding this cluster's relation data is missing", path),
			 errdetail("The data directory's %s says the data is on device %s (then at \"%s\"); a new image would hold no relations.",
					   BD_BINDING_FILE, uuid_text(b.device_uuid), b.device_path),
			 errhint("Restore the image file from a backup of the data directory, or point pgrac.device at the device with UUID %s.",
					 uuid_text(b.device_uuid))));
}
