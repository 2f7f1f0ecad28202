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
	src/fsync_checker/fsync_rules.o \
	src/fsync_checker/fsync_checker.o

EXTENSION = pgrac_storage
DATA = sql/pgrac_storage--1.0.sql
PG_CPPFLAGS = -I$(PGRAC_SRC)/include

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# VPATH build: the object directories must exist (a rule would not do:
# make would find the source directories of the same name through VPATH)
$(shell mkdir -p $(sort $(dir $(OBJS))))
