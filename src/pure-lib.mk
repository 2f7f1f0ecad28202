# Included by src/extension.mk and src/tools/pgrac_image.mk: the pure
# library they link (src/pure.mk), built in PURE_DIR, which the top-level
# Makefile sets to build/pure for both, so that it is compiled once.  A
# makefile run on its own (test/modules/powerloss) builds one of its own.
PURE_DIR ?= $(CURDIR)/pure
PURE_LIB = $(PURE_DIR)/libpgrac_pure.a

# Always asked: the sub-make decides whether anything changed, and the
# archive's time stamp tells this make whether to link again.
$(PURE_LIB): pure-lib-force
	@mkdir -p $(PURE_DIR)
	@$(MAKE) --no-print-directory -C $(PURE_DIR) -f $(PGRAC_SRC)/src/pure.mk PG_CONFIG=$(PG_CONFIG)

.PHONY: pure-lib-force
pure-lib-force:
