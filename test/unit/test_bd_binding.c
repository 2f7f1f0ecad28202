/*
 * Unit tests of the device binding file (bd_binding.c): what the encoder
 * writes decodes to the same binding, and nothing else decodes.
 *
 * The attacks: every single-byte change and every truncation of a valid
 * file, a CRC recomputed over edited contents with a key missing, moved
 * or unknown, an unknown version, trailing bytes after the CRC line.
 */
#include "c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "port/pg_crc32c.h"

#include "pgrac/bd_binding.h"

static void
sample(BdBinding *b)
{
	memset(b, 0, sizeof(*b));
	b->system_identifier = UINT64CONST(7441234567890123456);
	for (int i = 0; i < 16; i++)
		b->device_uuid[i] = (uint8) (0xa0 + i * 7);
	b->data_checksum_version = 1;
	strlcpy(b->device_path, "/dev/mapper/lun7", sizeof(b->device_path));
}

static void
test_round_trip(void **state pg_attribute_unused())
{
	BdBinding	b,
				out;
	char		buf[BD_BINDING_MAX_SIZE];
	char		error[256];
	size_t		len;
	char		uuid[37];

	sample(&b);
	len = bd_binding_encode(&b, buf);
	assert_true(bd_binding_decode(buf, len, &out, error, sizeof(error)));
	assert_int_equal(out.system_identifier, b.system_identifier);
	assert_memory_equal(out.device_uuid, b.device_uuid, 16);
	assert_int_equal(out.data_checksum_version, 1);
	assert_string_equal(out.device_path, "/dev/mapper/lun7");
	assert_false(out.exported);
	b.exported = true;
	len = bd_binding_encode(&b, buf);
	assert_true(bd_binding_decode(buf, len, &out, error, sizeof(error)));
	assert_true(out.exported);
	assert_non_null(strstr(buf, "relation_data=pgdata\n"));
	bd_uuid_format(b.device_uuid, uuid);
	assert_non_null(strstr(buf, uuid));
	assert_int_equal(strlen(uuid), 36);
	assert_int_equal(uuid[8], '-');
}

/* a newline in the path cannot forge a line */
static void
test_path_newline(void **state pg_attribute_unused())
{
	BdBinding	b,
				out;
	char		buf[BD_BINDING_MAX_SIZE];
	char		error[256];
	size_t		len;

	sample(&b);
	strlcpy(b.device_path, "/dev/x\ndevice_uuid=00", sizeof(b.device_path));
	len = bd_binding_encode(&b, buf);
	assert_true(bd_binding_decode(buf, len, &out, error, sizeof(error)));
	assert_string_equal(out.device_path, "/dev/x?device_uuid=00");
}

static void
test_every_byte_change_refused(void **state pg_attribute_unused())
{
	BdBinding	b,
				out;
	char		buf[BD_BINDING_MAX_SIZE];
	char		error[256];
	size_t		len;

	sample(&b);
	len = bd_binding_encode(&b, buf);
	for (size_t i = 0; i < len; i++)
	{
		char		saved = buf[i];

		buf[i] = (char) (saved ^ 0x01);
		assert_false(bd_binding_decode(buf, len, &out, error, sizeof(error)));
		buf[i] = saved;
	}
	for (size_t cut = 0; cut < len; cut++)
		assert_false(bd_binding_decode(buf, cut, &out, error, sizeof(error)));
	/* trailing bytes */
	buf[len] = '\n';
	assert_false(bd_binding_decode(buf, len + 1, &out, error, sizeof(error)));
}

/* decode a body closed by a valid CRC: the structure itself is checked */
static bool
decode_with_crc(const char *body, char *error, size_t errsize)
{
	char		buf[BD_BINDING_MAX_SIZE];
	BdBinding	out;
	pg_crc32c	crc;
	size_t		len = strlen(body);

	memcpy(buf, body, len);
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf, len);
	FIN_CRC32C(crc);
	len += snprintf(buf + len, sizeof(buf) - len, "crc32c=%08x\n", crc);
	return bd_binding_decode(buf, len, &out, error, errsize);
}

static void
refused_with_crc(const char *body, const char *reason)
{
	char		error[256];

	assert_false(decode_with_crc(body, error, sizeof(error)));
	assert_non_null(strstr(error, reason));
}

static void
test_structure_refused(void **state pg_attribute_unused())
{
	const char *uuid = "device_uuid=a0a7aeb5-bcc3-cad1-d8df-e6edf4fb0209\n";
	char		body[1024];

	/* accepted as a control */
	snprintf(body, sizeof(body), "pgrac_storage device binding 1\nsystem_identifier=1\n%sdata_checksum_version=0\nrelation_data=device\ndevice_path=/x\n", uuid);
	{
		char		error[256];

		assert_true(decode_with_crc(body, error, sizeof(error)));
	}
	snprintf(body, sizeof(body), "pgrac_storage device binding 2\nsystem_identifier=1\n%sdata_checksum_version=0\nrelation_data=device\ndevice_path=/x\n", uuid);
	refused_with_crc(body, "version \"2\"");
	snprintf(body, sizeof(body), "pgrac_storage device binding 1\n%sdata_checksum_version=0\nrelation_data=device\ndevice_path=/x\n", uuid);
	refused_with_crc(body, "system_identifier");
	snprintf(body, sizeof(body), "pgrac_storage device binding 1\nsystem_identifier=1\ndata_checksum_version=0\n%sdevice_path=/x\n", uuid);
	refused_with_crc(body, "device_uuid");
	snprintf(body, sizeof(body), "pgrac_storage device binding 1\nsystem_identifier=1x\n%sdata_checksum_version=0\nrelation_data=device\ndevice_path=/x\n", uuid);
	refused_with_crc(body, "system_identifier");
	snprintf(body, sizeof(body), "pgrac_storage device binding 1\nsystem_identifier=1\ndevice_uuid=a0a7aeb5-bcc3\ndata_checksum_version=0\nrelation_data=device\ndevice_path=/x\n");
	refused_with_crc(body, "device_uuid");
	snprintf(body, sizeof(body), "pgrac_storage device binding 1\nsystem_identifier=1\n%sdata_checksum_version=0\nrelation_data=device\ndevice_path=/x\nextra=1\n", uuid);
	refused_with_crc(body, "does not know");
	snprintf(body, sizeof(body), "pgrac_storage device binding 1\nsystem_identifier=1\n%sdata_checksum_version=0\nrelation_data=device\n", uuid);
	refused_with_crc(body, "device_path");
	snprintf(body, sizeof(body), "pgrac_storage device binding 1\nsystem_identifier=1\n%sdata_checksum_version=0\nrelation_data=md\ndevice_path=/x\n", uuid);
	refused_with_crc(body, "relation_data");
	snprintf(body, sizeof(body), "something else 1\nsystem_identifier=1\n%sdata_checksum_version=0\nrelation_data=device\ndevice_path=/x\n", uuid);
	refused_with_crc(body, "first line");
}

/* Random version-4 UUIDs: the version and variant bits set, never twice the same. */
static void
test_uuid_generate(void **state pg_attribute_unused())
{
	uint8		a[16];
	uint8		b[16];
	char text[	37];

	assert_true(bd_uuid_generate(a));
	assert_true(bd_uuid_generate(b));
	assert_int_equal(a[6] >> 4, 4);
	assert_int_equal(a[8] >> 6, 2);
	assert_int_equal(b[6] >> 4, 4);
	assert_int_equal(b[8] >> 6, 2);
	assert_memory_not_equal(a, b, 16);
	bd_uuid_format(a, text);
	assert_int_equal(strlen(text), 36);
	assert_int_equal(text[14], '4');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_path_newline),
		cmocka_unit_test(test_every_byte_change_refused),
		cmocka_unit_test(test_structure_refused),
		cmocka_unit_test(test_uuid_generate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
