/*
 * An in-memory device for the fuzz targets: pages at addresses, read and
 * written through the BdIo callbacks the server and pgrac_image use.
 */
#ifndef PGRAC_FUZZ_DEVICE_H
#define PGRAC_FUZZ_DEVICE_H

#include "c.h"

#include <stdio.h>
#include <stdlib.h>

#include "pgrac/bd_image.h"

static uint8 *fuzz_device;
static uint64 fuzz_device_pages;

static bool
fuzz_read(void *arg, uint64 address, uint8 *page)
{
	(void) arg;
	if (address >= fuzz_device_pages)
		return false;
	memcpy(page, fuzz_device + address * BD_PAGE_SIZE, BD_PAGE_SIZE);
	return true;
}

static bool
fuzz_write(void *arg, uint64 address, const uint8 *page)
{
	(void) arg;
	if (address >= fuzz_device_pages)
		return false;
	memcpy(fuzz_device + address * BD_PAGE_SIZE, page, BD_PAGE_SIZE);
	return true;
}

static void *
fuzz_alloc(void *arg, size_t size)
{
	(void) arg;
	return calloc(1, size);
}

static void
fuzz_free(void *arg, void *ptr)
{
	(void) arg;
	free(ptr);
}

static const BdIo fuzz_io = {fuzz_read, fuzz_write, fuzz_alloc, fuzz_free, NULL};

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
