# The pure library: the code that needs c.h and nothing of the backend
# (on-disk formats, WAL record and journal encodings, the image loader and
# verifier, the write-behind policy, the fsync rules, the checksum state
# machine and page checksum, the 2PC coordinator log, the device transport).  It is the one list of
# those sources, and it builds them
# into a static archive in one of two flavours (docs/architecture.md):
#
#   make -C <builddir> -f <checkout>/src/pure.mk PG_CONFIG=...
#       libpgrac_pure.a: -fPIC, PostgreSQL's compiler and flags, linked by
#       the extension (src/extension.mk) and pgrac_image
#       (src/tools/pgrac_image.mk), which each build it through here
#
#   make -C <builddir> -f <checkout>/src/pure.mk PG_CONFIG=... PURE_FLAVOUR=instrumented
#       libpgrac_pure_instrumented.a: clang with AddressSanitizer,
#       UndefinedBehaviorSanitizer and libFuzzer's coverage, linked by the
#       unit tests (test/run-tests.sh) and the fuzz targets
#       (test/fuzz/run-fuzz.sh), which must be built with the same clang
#       and sanitizer flags (PURE_INSTRUMENTED_CFLAGS, printed by the
#       print-cflags target)
#
# Both flavours are compiled with FRONTEND defined: the code is
# frontend-safe by contract, and so an Assert in it is assert() in the
# server as in the tool (the backend's ExceptionalCondition does not exist
# in a frontend program).

# (simply expanded, now: MAKEFILE_LIST grows with the dependency files)
ifndef PGRAC_SRC
PGRAC_SRC := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
endif

PURE_SRCS = \
	src/blockdev/bd_format.c \
	src/blockdev/bd_memory.c \
	src/blockdev/bd_layout.c \
	src/blockdev/bd_directory.c \
	src/blockdev/bd_image.c \
	src/blockdev/bd_binding.c \
	src/blockdev/bd_io.c \
	src/blockdev/bd_wal.c \
	src/blockdev/bd_journal.c \
	src/blockdev/bd_manifest.c \
	src/blockdev/bd_incremental.c \
	src/backup/backup_history.c \
	src/blockdev/bd_wb_policy.c \
	src/blockdev/bd_ra_stream.c \
	src/fsync_checker/fsync_rules.c \
	src/checksum/checksum_state.c \
	src/checksum/checksum_page.c \
	src/twophase/twophase_record.c \
	src/twophase/twophase_segment.c \
	src/twophase/twophase_recovery.c \
	src/twophase/twophase_store.c \
	src/transport/transport.c \
	src/transport/transport_fd.c

PG_CONFIG ?= pg_config
PURE_FLAVOUR ?= server
PG_INCLUDEDIR_SERVER := $(shell $(PG_CONFIG) --includedir-server)
PURE_CPPFLAGS = -DFRONTEND -D_GNU_SOURCE -I$(PGRAC_SRC)/include -I$(PG_INCLUDEDIR_SERVER)
PURE_INSTRUMENTED_CFLAGS = -g -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined

ifeq ($(PURE_FLAVOUR),server)
PURE_LIB = libpgrac_pure.a
PURE_CC := $(shell $(PG_CONFIG) --cc)
PURE_CFLAGS := $(shell $(PG_CONFIG) --cflags) -fPIC
PURE_OBJDIR = obj
# the page checksum is compiled as core compiles its checksum.c, with the
# loop unrolling and vectorisation flags configure found (Makefile.global),
# or it costs a third more instructions per page than core's
PG_MAKEFILE_GLOBAL := $(dir $(shell $(PG_CONFIG) --pgxs))../Makefile.global
$(PURE_OBJDIR)/checksum/checksum_page.o: PURE_CFLAGS += $(shell sed -n \
	's/^CFLAGS_\(UNROLL_LOOPS\|VECTORIZE\) *= *//p' $(PG_MAKEFILE_GLOBAL))
else ifeq ($(PURE_FLAVOUR),instrumented)
PURE_LIB = libpgrac_pure_instrumented.a
PURE_CC = clang
PURE_CFLAGS = $(PURE_INSTRUMENTED_CFLAGS) -fsanitize=fuzzer-no-link -Wall -Wno-ignored-attributes
PURE_OBJDIR = obj
else
$(error PURE_FLAVOUR must be server or instrumented, not "$(PURE_FLAVOUR)")
endif

PURE_OBJS = $(patsubst src/%.c,$(PURE_OBJDIR)/%.o,$(PURE_SRCS))

all: $(PURE_LIB)

$(PURE_LIB): $(PURE_OBJS)
	rm -f $@
	ar crs $@ $^

$(PURE_OBJDIR)/%.o: $(PGRAC_SRC)/src/%.c $(PGRAC_SRC)/src/pure.mk
	@mkdir -p $(dir $@)
	$(PURE_CC) $(PURE_CFLAGS) $(PURE_CPPFLAGS) -MMD -MP -c -o $@ $<

print-cflags:
	@echo $(PURE_INSTRUMENTED_CFLAGS)

-include $(PURE_OBJS:.o=.d)

.PHONY: all print-cflags
