#!/usr/bin/env bash
# Proves the patchset's claims on a pristine PostgreSQL source tree:
#   - each patch applies in order and the tree compiles after each one;
#   - PostgreSQL's own "make check" passes after each one;
#   - no existing exported function changes its signature (no header line
#     declaring an extern is removed or altered by any patch).
# Prints the size of the patchset.
#
# One tree, patched and rebuilt incrementally (make's dependency tracking,
# --enable-depend).  Every patch changes smgr.h, sync.h or xlog.h, which
# nearly every backend file includes, so each step recompiles most of the
# backend: the tree compiles at -O0 without debug information
# (PATCHSET_COPT), with the same configure options as the main build
# otherwise.  Measured on 2 cores: a step's rebuild takes 56 s at -O0
# against 142 s at -O2, and its make check 87 s against 48 s, so a step
# costs 143 s against 190 s.  The -O2 build of the whole series is the main build
# (src/build/postgres.sh), whose log is checked here for warnings in the
# patched files too, and every other suite runs it.  Compiles go through
# ccache (src/build/common.sh), so a second run reuses them.  It compiles
# as root (the cache is root's) and runs make check as the unprivileged OS
# user, since make check starts servers.
set -euo pipefail
. "$(dirname "$0")/../../src/build/common.sh"

WORK=$PGRAC_BUILD/patchset-check
COPT=${PATCHSET_COPT:--O0 -g0}
PATCHED_FILES='smgr|sync\.|xlog\.|dbsize\.|catalog\.'
PATCHES=("$PGRAC_ROOT"/patches/pg17/*.patch)
fail=0

detach_from_parent_make
ensure_packages "${PGRAC_PACKAGES[@]}"
ensure_os_user
tarball=$("$PGRAC_ROOT/src/build/postgres.sh" --fetch-only)

say "patchset size"
for p in "${PATCHES[@]}"; do
	printf '  %-70s %s\n' "$(basename "$p")" "$(grep -cE '^[+-][^+-]' "$p") lines changed"
done
total=$(cat "${PATCHES[@]}" | grep -cE '^[+-][^+-]' || true)
code=$(cat "${PATCHES[@]}" | grep -E '^[+-][^+-]' | grep -cvE '^[+-]\s*(/?\*|\*|$)' || true)
say "total: $total lines added or removed ($code of them not comments or blank)"

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
mkdir -p "$WORK"
use_ccache
say "unpacking $(basename "$tarball") into $WORK"
tar -xjf "$tarball" -C "$WORK" --strip-components=1
cd "$WORK"
./configure --enable-cassert --enable-debug --enable-tap-tests --enable-depend \
	--without-icu --prefix="$WORK/install" >"$WORK/configure.log" 2>&1 ||
	die "configure failed, see $WORK/configure.log"

n=0
for p in "${PATCHES[@]}"; do
	n=$((n + 1))
	name=$(basename "$p")
	say "[$n/${#PATCHES[@]}] applying $name"
	patch -p1 --quiet --forward <"$p" || { echo "FAIL: $name does not apply" >&2; exit 1; }
	say "[$n/${#PATCHES[@]}] compiling"
	t0=$SECONDS
	if ! make -j"$(nproc)" CC="$PG_MAKE_CC" COPT="$COPT" >"$WORK/build-$n.log" 2>&1; then
		echo "FAIL: tree does not compile after $name; see $WORK/build-$n.log" >&2
		exit 1
	fi
	if grep -E 'warning:' "$WORK/build-$n.log" | grep -E "$PATCHED_FILES" >&2; then
		echo "FAIL: compiler warnings in patched files after $name" >&2
		fail=1
	fi
	record_time patchset "build after $name" $((SECONDS - t0))
	say "[$n/${#PATCHES[@]}] make check"
	[ "$(id -u)" -eq 0 ] && chown -R "$PGRAC_OS_USER" "$WORK"
	t0=$SECONDS
	if as_os_user make check COPT="$COPT" >"$WORK/check-$n.log" 2>&1; then
		echo "after $name: $(grep -E '^# All [0-9]+ tests passed' "$WORK/check-$n.log" || grep -E 'tests passed' "$WORK/check-$n.log" | tail -n 1)"
	else
		echo "FAIL: make check after $name; see $WORK/check-$n.log" >&2
		grep -E 'failed|FAILED' "$WORK/check-$n.log" | tail -n 5 >&2 || true
		fail=1
	fi
	record_time patchset "make check after $name" $((SECONDS - t0))
done
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
echo "patchset check: ${#PATCHES[@]} patches, each compiles (COPT=$COPT) and passes make check; no warnings in patched files at $COPT or in the -O2 main build"
