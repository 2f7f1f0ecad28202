# PGXS makefile of the pgrac_storage extension.  The top-level Makefile runs
# it from a build directory (build/extension), so objects never land in the
# source tree and one checkout can build against several PostgreSQL installs:
#
#   make -C <builddir> -f <checkout>/src/extension.mk PG_CONFIG=... [install]

PGRAC_SRC := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
VPATH = $(PGRAC_SRC)

MODULE_big = pgrac_storage
OBJS = \
	src/pgrac_storage.o \
	src/smgr/layer_stack.o \
	src/fsync_checker/fsync_checker.o \
	src/blockdev/device/bd_device.o \
	src/blockdev/device/bd_write_gens.o \
	src/blockdev/device/bd_powerloss.o \
	src/blockdev/device/bd_writebehind.o \
	src/blockdev/device/bd_dataio.o \
	src/blockdev/meta/bd_meta.o \
	src/blockdev/meta/bd_fork_table.o \
	src/blockdev/meta/bd_alloc.o \
	src/blockdev/forks/bd_fork_extents.o \
	src/blockdev/forks/bd_forks.o \
	src/blockdev/forks/bd_unsettled.o \
	src/blockdev/forks/bd_readahead.o \
	src/blockdev/forks/bd_smgr.o \
	src/blockdev/forks/bd_reclaim.o \
	src/blockdev/forks/bd_bypass.o \
	src/blockdev/checkpoint/bd_checkpoint.o \
	src/blockdev/checkpoint/bd_journal_file.o \
	src/blockdev/redo/bd_redo.o \
	src/blockdev/redo/bd_rmgr.o \
	src/blockdev/startup/bd_startup.o \
	src/blockdev/startup/bd_backup_copy.o \
	src/blockdev/startup/bd_ownership.o \
	src/blockdev/startup/bd_import.o \
	src/blockdev/sql/bd_sql.o \
	src/blockdev/bd_shmem.o \
	src/checksum/checksum_shared.o \
	src/checksum/checksum_transition.o \
	src/checksum/checksum_layer.o \
	src/checksum/checksum_worker.o \
	src/checksum/checksum_refusals.o \
	src/checksum/checksum_sql.o \
	src/twophase/twophase_shmem.o \
	src/twophase/twophase_remote.o \
	src/twophase/twophase_xact.o \
	src/twophase/twophase_resolver.o \
	src/twophase/twophase_sql.o \
	src/backup/backup_functions.o \
	src/wal/pgrac_rmgr.o \
	src/util/file_copy_statements.o \
	src/util/library_path.o

EXTENSION = pgrac_storage
DATA = \
	sql/pgrac_storage--1.1.sql \
	sql/pgrac_storage--1.0.sql \
	sql/pgrac_storage--1.0.control \
	sql/pgrac_storage--1.0--1.1.sql \
	sql/pgrac_storage--1.1--1.2.sql \
	sql/pgrac_storage--1.2--1.3.sql \
	sql/pgrac_storage--1.3--1.4.sql
# PGRAC_EXTRA_CPPFLAGS: -DPGRAC_POWERLOSS_SIM -DPGRAC_TEST_HOOKS for the
# test-only build (test/modules/powerloss); never set for an installed build.
PG_CPPFLAGS = -I$(PGRAC_SRC)/include -I$(PGRAC_SRC)/src $(PGRAC_EXTRA_CPPFLAGS)
# the pure library (src/pure.mk), built once for the server and the tool
SHLIB_LINK = $(PURE_LIB) -luring
# libpq: connections to the participants of distributed transactions
SHLIB_LINK_INTERNAL = $(libpq)
PG_CPPFLAGS += -I$(libpq_srcdir)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
include $(PGRAC_SRC)/src/pure-lib.mk

# VPATH build: the object directories must exist (a rule would not do:
# make would find the source directories of the same name through VPATH)
$(shell mkdir -p $(sort $(dir $(OBJS))))

$(shlib): $(PURE_LIB)
