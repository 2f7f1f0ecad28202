#!/usr/bin/env bash
# PostgreSQL's recovery TAP suite (src/test/recovery of the patched build)
# run twice, installcheck-style: on stock PostgreSQL, and with every node on
# pgrac_storage's block-device backend (embedded image) plus the fsync
# checker, through TEMP_CONFIG.  Prints the counts side by side; passes
# when every script that passes on stock passes on block_device.
#
# Scripts that handle relation files directly cannot run on block_device:
# not-on-block-device.txt lists each with its reason; they are reported as
# not run, by name, never silently.
#
# RECOVERY_CONFIGS="stock bd" selects the runs; RECOVERY_TESTS="t/001*.pl"
# a subset of scripts.
set -euo pipefail
. "$(dirname "$0")/../../src/build/common.sh"

PG_CONFIG=${PG_CONFIG:-$PG_INSTALL_DIR/bin/pg_config}
BINDIR=$("$PG_CONFIG" --bindir)
SRC=${PG_SOURCE_TREE:-$PG_SOURCE_DIR}
OUT=$PGRAC_BUILD/test-results/recovery
CONFIGS=${RECOVERY_CONFIGS:-stock bd}
SUITE=$SRC/src/test/recovery

[ -f "$SUITE/Makefile" ] || die "PostgreSQL's source tree is not at $SRC"
ensure_os_user
fresh_user_dir "$OUT"
# the suite writes tmp_check/ next to its scripts
chown -R "$PGRAC_OS_USER" "$SUITE"

run_config() {			# config
	local cfg=$1 conf=$OUT/$1.conf
	: >"$conf"
	if [ "$cfg" = bd ]; then
		cat >"$conf" <<CONF
shared_preload_libraries = 'pgrac_storage'
pgrac.storage_backend = 'block_device'
pgrac.fsync_checker = on
CONF
	fi
	chown "$PGRAC_OS_USER" "$conf"
	local tests=${RECOVERY_TESTS:-$(cd "$SUITE" && ls t/*.pl | tr '\n' ' ')}
	if [ "$cfg" = bd ]; then
		local skip
		for skip in $(grep -v '^#' "$(dirname "$0")/not-on-block-device.txt" | cut -f1); do
			tests=$(echo "$tests" | tr ' ' '\n' | grep -v "^t/$skip\$" | tr '\n' ' ')
		done
	fi
	say "[$cfg] src/test/recovery"
	(cd "$SUITE" && as_os_user env PATH="$BINDIR:$PATH" PG_TEST_PORT_DIR="$OUT" make -s installcheck \
		PG_CONFIG="$PG_CONFIG" TEMP_CONFIG="$conf" PROVE_TESTS="$tests" PROVE_FLAGS="--timer") \
		>"$OUT/$cfg.log" 2>&1 || true
	rm -rf "$OUT/$cfg-logs"
	cp -r "$SUITE/tmp_check/log" "$OUT/$cfg-logs" 2>/dev/null || true
	# one line per script: "ok t/001_x.pl" or "not ok t/001_x.pl"
	sed -nE 's/^(\[[0-9:]+\] )?(t\/[0-9A-Za-z_]+\.pl) \.+ ok.*/ok \2/p;
		s/^(\[[0-9:]+\] )?(t\/[0-9A-Za-z_]+\.pl) \.+ *$/pending \2/p' "$OUT/$cfg.log" |
		grep -v '^pending' | sort -k2 >"$OUT/$cfg.outcomes" || true
	grep -E '^t/[0-9A-Za-z_]+\.pl +\(Wstat' "$OUT/$cfg.log" | sed -E 's/^(t\/[^ ]+).*/not ok \1/' |
		sort -k2 >>"$OUT/$cfg.outcomes" || true
	sort -k2 -o "$OUT/$cfg.outcomes" "$OUT/$cfg.outcomes"
}

for c in $CONFIGS; do run_config "$c"; done

status=0
printf '\n%-12s' "" ; for c in $CONFIGS; do printf ' %-26s' "$c"; done; printf '\n'
printf '%-12s' recovery
for c in $CONFIGS; do
	printf ' %-26s' "$(grep -c '^ok ' "$OUT/$c.outcomes" || true) passed, $(grep -c '^not ok ' "$OUT/$c.outcomes" || true) failed"
done
printf '\n'
passed=0
failed=0
for c in $CONFIGS; do
	[ "$c" = stock ] && continue
	passed=$(grep -c '^ok ' "$OUT/$c.outcomes" || true)
	failed=$(grep -c '^not ok ' "$OUT/$c.outcomes" || true)
	grep -v '^#' "$(dirname "$0")/not-on-block-device.txt" | while IFS=$'\t' read -r script why; do
		echo "$c: not run: t/$script ($why)"
	done
	if [ -f "$OUT/stock.outcomes" ] && ! grep -v -F -f <(grep -v '^#' "$(dirname "$0")/not-on-block-device.txt" | cut -f1) \
		"$OUT/stock.outcomes" | diff -u - "$OUT/$c.outcomes" >"$OUT/$c.diff"; then
		echo "FAIL: recovery results on $c differ from stock:"
		cat "$OUT/$c.diff"
		status=1
	fi
	[ "$failed" -ne 0 ] && { echo "FAIL: failing scripts on $c; logs in $OUT/$c-logs"; status=1; }
done
echo "recovery suite: $passed passed, $failed failed"
exit $status
