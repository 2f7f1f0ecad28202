# PGXS makefile of the pgrac_storage extension, driven by the top-level
# Makefile (run from the repository root: make -f src/extension.mk).

MODULE_big = pgrac_storage
OBJS = \
	src/pgrac_storage.o \
	src/smgr/layer_stack.o \
	src/fsync_checker/fsync_rules.o \
	src/fsync_checker/fsync_checker.o

EXTENSION = pgrac_storage
DATA = sql/pgrac_storage--1.0.sql
PG_CPPFLAGS = -I$(CURDIR)/include

# Sources and data are named relative to the repository root.
VPATH = $(CURDIR)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
