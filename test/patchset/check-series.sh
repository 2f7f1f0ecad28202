#!/usr/bin/env bash
# Proves the patchset's claims on a pristine PostgreSQL source tree:
#   - the size table in docs/patchset.md is the one the patches give;
#   - no existing exported function changes its signature (no header line
#     declaring an extern is removed or altered by any patch);
#   - each patch applies in order with git am to a git tree of the release
#     (test/patchset/git-tree.sh), the tree compiles after each one, and
#     PostgreSQL's own "make check" and the series' test module
#     (src/test/modules/test_smgr) pass after each one;
#   - git format-patch of that tree gives back patches/pg17 byte for byte,
#     so the files are what git made, not hand-edited.
#
# One tree, patched and rebuilt incrementally (make's dependency tracking,
# --enable-depend).  The first two patches change smgr.h and xlog.h, which
# most backend files include, so those steps recompile most of the backend:
# the tree compiles at -O0 without debug information (PATCHSET_COPT), with
# the same configure options as the main build otherwise.  The -O2 build
# of the whole series is the main build (src/build/postgres.sh), whose log
# is checked here for warnings in the patched files too, and every other
# suite runs it.  Compiles go through ccache (src/build/common.sh), so a
# second run reuses them.  It compiles as root (the cache is root's) and
# runs make check as the unprivileged OS user, since make check starts
# servers.  docs/testing.md has the measured cost.
set -euo pipefail
. "$(dirname "$0")/../../src/build/common.sh"

WORK=$PGRAC_BUILD/patchset-check
COPT=${PATCHSET_COPT:--O0 -g0}
PATCHED_FILES='smgr|xlog\.|dbsize\.|catalog\.'
PATCHES=("$PGRAC_ROOT"/patches/pg17/*.patch)
fail=0

detach_from_parent_make
ensure_packages "${PGRAC_PACKAGES[@]}"
ensure_os_user
tarball=$("$PGRAC_ROOT/src/build/postgres.sh" --fetch-only)

"$PGRAC_ROOT/test/patchset/size-table.sh" --check || fail=1

say "checking that no patch alters an existing extern declaration"
for p in "${PATCHES[@]}"; do
	# removed lines inside hunks of header files
	removed=$(awk '/^diff --git/ { hdr = ($3 ~ /\.h$/) } hdr && /^-[^-]/' "$p" | grep -E '^-\s*extern' || true)
	if [ -n "$removed" ]; then
		echo "FAIL: $(basename "$p") removes or changes exported declarations:" >&2
		echo "$removed" >&2
		fail=1
	fi
done

rm -rf "$WORK"
use_ccache
say "a git tree of $(basename "$tarball") in $WORK"
"$PGRAC_ROOT/test/patchset/git-tree.sh" --base "$WORK"
cd "$WORK"
./configure --enable-cassert --enable-debug --enable-tap-tests --enable-depend \
	--without-icu --with-lz4 --prefix="$WORK/install" >"$WORK/configure.log" 2>&1 ||
	die "configure failed, see $WORK/configure.log"

# git am takes the patch's author and date as committer too, so the
# hashes are the ones git-tree.sh makes and format-patch reproduces them
export GIT_COMMITTER_NAME="pgrac_storage developers" GIT_COMMITTER_EMAIL="pgrac@localhost"
# the tree belongs to the OS user after the first make check
git_() { git -c safe.directory="$WORK" -c gc.auto=0 "$@"; }
MODULE=src/test/modules/test_smgr
n=0
for p in "${PATCHES[@]}"; do
	n=$((n + 1))
	name=$(basename "$p")
	say "[$n/${#PATCHES[@]}] git am $name"
	git_ am --quiet --committer-date-is-author-date "$p" ||
		{ echo "FAIL: $name does not apply with git am" >&2; exit 1; }
	say "[$n/${#PATCHES[@]}] compiling"
	t0=$SECONDS
	if ! make -j"$(nproc)" CC="$PG_MAKE_CC" COPT="$COPT" >"$WORK/build-$n.log" 2>&1 ||
		{ [ -d "$MODULE" ] && ! make -C "$MODULE" CC="$PG_MAKE_CC" COPT="$COPT" >>"$WORK/build-$n.log" 2>&1; }; then
		echo "FAIL: tree does not compile after $name; see $WORK/build-$n.log" >&2
		exit 1
	fi
	if grep -E 'warning:' "$WORK/build-$n.log" | grep -E "$PATCHED_FILES" >&2; then
		echo "FAIL: compiler warnings in patched files after $name" >&2
		fail=1
	fi
	record_time patchset "build after $name" $((SECONDS - t0))
	say "[$n/${#PATCHES[@]}] make check, and the test module's TAP test"
	[ "$(id -u)" -eq 0 ] && chown -R "$PGRAC_OS_USER" "$WORK"
	t0=$SECONDS
	# one temporary installation, with the module, serves both
	extra=""
	[ -d "$MODULE" ] && extra=$MODULE
	if as_os_user make check COPT="$COPT" EXTRA_INSTALL="$extra" >"$WORK/check-$n.log" 2>&1; then
		echo "after $name: $(grep -E '^# All [0-9]+ tests passed' "$WORK/check-$n.log" || grep -E 'tests passed' "$WORK/check-$n.log" | tail -n 1)"
	else
		echo "FAIL: make check after $name; see $WORK/check-$n.log" >&2
		grep -E 'failed|FAILED' "$WORK/check-$n.log" | tail -n 5 >&2 || true
		fail=1
	fi
	record_time patchset "make check after $name" $((SECONDS - t0))
	if [ -n "$extra" ]; then
		t0=$SECONDS
		if as_os_user make -C "$MODULE" check NO_TEMP_INSTALL=1 COPT="$COPT" >"$WORK/module-$n.log" 2>&1; then
			echo "after $name: test_smgr $(grep -E '^Result:|^All tests successful' "$WORK/module-$n.log" | tr '\n' ' ')"
		else
			echo "FAIL: test_smgr's TAP test after $name; see $WORK/module-$n.log and $WORK/$MODULE/tmp_check/log" >&2
			fail=1
		fi
		record_time patchset "test_smgr after $name" $((SECONDS - t0))
	fi
done

say "git format-patch of the tree against patches/pg17"
regen=$(mktemp -d)
git_ format-patch --quiet --no-signature --numbered -o "$regen" base..HEAD
if ! diff -r "$regen" "$PGRAC_ROOT/patches/pg17" >"$WORK/format-patch.diff"; then
	echo "FAIL: patches/pg17 is not what git format-patch makes of the series (hand-edited?); see $WORK/format-patch.diff, and test/patchset/git-tree.sh --format" >&2
	fail=1
else
	echo "git format-patch of the tree reproduces patches/pg17"
fi
rm -rf "$regen"
echo "ccache: $(ccache --print-stats 2>/dev/null | awk -F'\t' '$1 == "direct_cache_hit" || $1 == "preprocessed_cache_hit" { h += $2 } $1 == "cache_miss" { m = $2 } END { print h + 0 " hits, " m + 0 " misses (whole cache, main build included)" }')"

# the main build compiled the whole series at -O2
if [ ! -f "$PGRAC_BUILD/postgres-build.log" ]; then
	echo "FAIL: no log of the main build ($PGRAC_BUILD/postgres-build.log) to check for -O2 warnings; make builds it" >&2
	fail=1
elif grep -E 'warning:' "$PGRAC_BUILD/postgres-build.log" | grep -E "$PATCHED_FILES" >&2; then
	echo "FAIL: compiler warnings in patched files in the main (-O2) build; see $PGRAC_BUILD/postgres-build.log" >&2
	fail=1
fi

[ $fail -eq 0 ] || { echo "patchset check: FAILED" >&2; exit 1; }
echo "patchset check: ${#PATCHES[@]} patches, each applies with git am, compiles (COPT=$COPT) and passes make check and test_smgr; format-patch reproduces them; no warnings in patched files at $COPT or in the -O2 main build"
