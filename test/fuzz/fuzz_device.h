/*
 * The device of the fuzz targets: an anonymous memory file (memfd) reached
 * through the device transport (pgrac/transport.h) that the server and
 * pgrac_image use, so that what is fuzzed reads and writes pages the way
 * they do: positional reads and writes on a file descriptor, a read past
 * the end refused.  The file is also mapped (fuzz_device), so that a
 * target resets it and applies its edits with memcpy, as cheaply as to a
 * buffer; the mapping and the descriptor share the memory file's pages.
 */
#ifndef PGRAC_FUZZ_DEVICE_H
#define PGRAC_FUZZ_DEVICE_H

#include "c.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pgrac/bd_image.h"
#include "pgrac/transport.h"

static uint8 *fuzz_device;
static uint64 fuzz_device_pages;
static PgracTransport *fuzz_transport;

static inline void *
fuzz_alloc(void *arg, size_t size)
{
	(void) arg;
	return calloc(1, size);
}

static inline void
fuzz_free(void *arg, void *ptr)
{
	(void) arg;
	free(ptr);
}

/* the page callbacks of the transport; arg set by fuzz_device_create() */
static BdIo fuzz_io = {pgrac_transport_read_page, pgrac_transport_write_page,
fuzz_alloc, fuzz_free, NULL};

/*
 * A zeroed device of pages pages, opened through the transport by the
 * memory file's /proc/self/fd path (a second open file description of it,
 * as a server opening a device path gets).
 */
static inline void
fuzz_device_create(uint64 pages)
{
	PgracTransportOptions options = {.writable = true};
	PgracTransportError error;
	char		path[64];
	int			fd = memfd_create("pgrac-fuzz-device", 0);

	if (fd < 0 || ftruncate(fd, (off_t) (pages * BD_PAGE_SIZE)) < 0)
	{
		perror("fuzz device: memfd");
		abort();
	}
	fuzz_device = mmap(NULL, pages * BD_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fuzz_device == MAP_FAILED)
	{
		perror("fuzz device: mmap");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fuzz_transport = pgrac_transport_open(path, &options, &error);
	if (fuzz_transport == NULL)
	{
		fprintf(stderr, "fuzz device: %s\n", error.message);
		abort();
	}
	close(fd);
	fuzz_device_pages = pages;
	fuzz_io.arg = fuzz_transport;
}

/* An inconsistency the code under test accepted: a finding, not a crash. */
#define FUZZ_REQUIRE(cond, ...) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "fuzz finding: " __VA_ARGS__); \
			fprintf(stderr, "\n"); \
			abort(); \
		} \
	} while (0)

#endif
