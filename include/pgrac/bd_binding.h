/*-------------------------------------------------------------------------
 *
 * bd_binding.h
 *	  The device binding: a small file in the data directory naming the
 *	  device that holds the cluster's relation data (docs/block-device.md,
 *	  "Which device holds the data").
 *
 * Once relation files have moved from PGDATA onto a device, the data
 * directory alone no longer describes the cluster: started on md, on a
 * freshly formatted device, or on another cluster's device, the server
 * would come up with no relations at all.  The binding is written before
 * the import's commit point ("the relations are on device UUID"); an
 * export that put the files back marks it exported ("they are in PGDATA
 * again, and that device is stale").  Every start checks the device
 * against it.
 *
 * Pure code (c.h and PostgreSQL's CRC-32C): shared by the server,
 * pgrac_image and the unit tests.  The file is text, one "key=value" per
 * line in a fixed order, closed by a CRC-32C of everything before it.
 *
 * include/pgrac/bd_binding.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BD_BINDING_H
#define PGRAC_BD_BINDING_H

/* relative to the data directory */
#define BD_BINDING_FILE			"pg_pgrac/device_binding"
#define BD_BINDING_VERSION		1
#define BD_BINDING_MAX_SIZE		(MAXPGPATH + 512)

typedef struct BdBinding
{
	uint64		system_identifier;
	uint8		device_uuid[16];
	/* pg_control's data_checksum_version the device's pages are written with */
	uint32		data_checksum_version;

	/*
	 * false: the relation data is on the device.  true: pgrac_image export
	 * put it back into PGDATA; the device (still owned by the cluster) is
	 * stale, and no start may use it again until it is formatted.
	 */
	bool		exported;
	/* where the device was when the data moved: for messages only */
	char		device_path[MAXPGPATH];
} BdBinding;

/* Returns the length written (buf of BD_BINDING_MAX_SIZE bytes). */
extern size_t bd_binding_encode(const BdBinding *b, char *buf);

/* false with a reason in error when the text is not a valid binding */
extern bool bd_binding_decode(const char *buf, size_t len, BdBinding *b,
							  char *error, size_t errsize);

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into out[37] */
extern void bd_uuid_format(const uint8 uuid[16], char *out);

/* the 36-character form back into 16 bytes; false if it is not one */
extern bool bd_uuid_parse(const char *text, uint8 uuid[16]);

/* A random (version 4) UUID from pg_strong_random(); false if it has none */
extern bool bd_uuid_generate(uint8 uuid[16]);

#endif							/* PGRAC_BD_BINDING_H */
