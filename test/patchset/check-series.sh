#!/usr/bin/env bash
# Proves the patchset's claims on a pristine PostgreSQL source tree:
#   - each patch applies in order and the tree compiles after each one;
#   - PostgreSQL's own "make check" passes after each one;
#   - no existing exported function changes its signature (no header line
#     declaring an extern is removed or altered by any patch).
# Prints the size of the patchset.  Runs as the unprivileged OS user,
# since make check starts servers.
set -euo pipefail
. "$(dirname "$0")/../../src/build/common.sh"

WORK=$PGRAC_BUILD/patchset-check
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

fresh_user_dir "$WORK"
fresh_user_dir "$PGRAC_BUILD/home"
say "unpacking $(basename "$tarball") into $WORK"
as_os_user tar -xjf "$tarball" -C "$WORK" --strip-components=1
cd "$WORK"
as_os_user ./configure --enable-cassert --enable-debug --enable-tap-tests --enable-depend \
	--without-icu --prefix="$WORK/install" >"$WORK/configure.log" 2>&1 ||
	die "configure failed, see $WORK/configure.log"

n=0
for p in "${PATCHES[@]}"; do
	n=$((n + 1))
	name=$(basename "$p")
	say "[$n/${#PATCHES[@]}] applying $name"
	as_os_user patch -p1 --quiet --forward <"$p" || { echo "FAIL: $name does not apply" >&2; exit 1; }
	say "[$n/${#PATCHES[@]}] compiling"
	if ! as_os_user make -j"$(nproc)" >"$WORK/build-$n.log" 2>&1; then
		echo "FAIL: tree does not compile after $name; see $WORK/build-$n.log" >&2
		exit 1
	fi
	if grep -E 'warning:' "$WORK/build-$n.log" | grep -E 'smgr|sync\.|xlog\.' >&2; then
		echo "FAIL: compiler warnings in patched files after $name" >&2
		fail=1
	fi
	say "[$n/${#PATCHES[@]}] make check"
	if as_os_user make check >"$WORK/check-$n.log" 2>&1; then
		echo "after $name: $(grep -E '^# All [0-9]+ tests passed' "$WORK/check-$n.log" || grep -E 'tests passed' "$WORK/check-$n.log" | tail -n 1)"
	else
		echo "FAIL: make check after $name; see $WORK/check-$n.log" >&2
		grep -E 'failed|FAILED' "$WORK/check-$n.log" | tail -n 5 >&2 || true
		fail=1
	fi
done

[ $fail -eq 0 ] || { echo "patchset check: FAILED" >&2; exit 1; }
echo "patchset check: ${#PATCHES[@]} patches, each compiles and passes make check"
