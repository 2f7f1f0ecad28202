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
	src/transport/transport.o \
	src/transport/transport_fd.o \
	src/blockdev/bd_binding.o \
	src/blockdev/bd_format.o \
	src/blockdev/bd_layout.o \
	src/blockdev/bd_directory.o \
	src/blockdev/bd_image.o

PG_CPPFLAGS = -DFRONTEND -I$(PGRAC_SRC)/include
PG_CONFIG ?= pg_config
PG_LIBS_INTERNAL = -L$(shell $(PG_CONFIG) --libdir) -lpgcommon -lpgport
PG_LIBS = -luring

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(shell mkdir -p $(sort $(dir $(OBJS))))
