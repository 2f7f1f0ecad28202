# PGXS makefile of pgrac_image, the offline device tool.  Run from a build
# directory (the top-level Makefile uses build/tools):
#
#   make -C <builddir> -f <checkout>/src/tools/pgrac_image.mk PG_CONFIG=... [install]

PGRAC_SRC := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/../..)
VPATH = $(PGRAC_SRC)

PROGRAM = pgrac_image
OBJS = \
	src/tools/pgrac_image.o \
	src/tools/pgrac_image_import.o \
	src/tools/pgrac_image_export.o \
	src/tools/pgrac_image_binding.o \
	src/tools/pgrac_image_backup.o \
	src/tools/pgrac_image_incremental.o

PG_CPPFLAGS = -DFRONTEND -I$(PGRAC_SRC)/include
PG_CONFIG ?= pg_config
PG_LIBS_INTERNAL = -L$(shell $(PG_CONFIG) --libdir) -lpgcommon -lpgport
# the pure library (src/pure.mk), built once for the server and the tool;
# libpgcommon and libpgport follow it in LIBS
PG_LIBS = $(PURE_LIB) -luring

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
include $(PGRAC_SRC)/src/pure-lib.mk

$(shell mkdir -p $(sort $(dir $(OBJS))))

$(PROGRAM): $(PURE_LIB)
