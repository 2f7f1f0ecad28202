#!/usr/bin/env bash
# PostgreSQL's recovery TAP suite (src/test/recovery of the patched build)
# run installcheck-style, once per configuration, through TEMP_CONFIG:
#
#   stock      no library loaded
#   bd         every node on pgrac_storage's block-device backend (embedded
#              image, buffered I/O) plus the fsync checker
#   bd_direct  as bd, with pgrac.direct_io = on
#
# Prints the counts side by side; passes when every script that passes on
# stock passes on each block_device configuration.
#
# Where block_device differs (scripts that handle relation files directly,
# features it refuses), block-device-deviations.txt
# says so script by script: not run, or exactly which subtests fail.  Every
# such line is printed; a script listed with subtests passes only when
# exactly those fail.
#
# Stock's results are deterministic for the pinned PostgreSQL: they are
# checked in (stock-outcomes.txt, headed by the server's version and a
# checksum of the suite's scripts) and the block_device runs are compared
# with them, so stock is not run by default.  RECOVERY_CONFIGS="stock bd
# bd_direct" runs stock too and fails if it differs from the checked-in
# results (make soak); RECOVERY_STOCK=refresh with stock among the
# configurations rewrites them (make refresh-stock).
#
# RECOVERY_CONFIGS selects the runs (default: bd bd_direct);
# RECOVERY_TESTS="t/001*.pl" a subset of scripts (then the comparison is
# with the checked-in results of those scripts).
#
# The scripts of one configuration run two at a time (prove -j2): most of
# their time is spent waiting for servers, standbys and replay.
# RECOVERY_JOBS changes that.
set -euo pipefail
. "$(dirname "$0")/../../src/build/common.sh"

PG_CONFIG=${PG_CONFIG:-$PG_INSTALL_DIR/bin/pg_config}
BINDIR=$("$PG_CONFIG" --bindir)
SRC=${PG_SOURCE_TREE:-$PG_SOURCE_DIR}
OUT=$PGRAC_BUILD/test-results/recovery
CONFIGS=${RECOVERY_CONFIGS:-bd bd_direct}
JOBS=${RECOVERY_JOBS:-2}
STOCK_FILE=$(cd "$(dirname "$0")" && pwd)/stock-outcomes.txt
SUITE=$SRC/src/test/recovery
DEVIATIONS=$(cd "$(dirname "$0")" && pwd)/block-device-deviations.txt

[ -f "$SUITE/Makefile" ] || die "PostgreSQL's source tree is not at $SRC"
ensure_os_user
fresh_user_dir "$OUT"
# the suite writes tmp_check/ next to its scripts
chown -R "$PGRAC_OS_USER" "$SUITE"

run_config() {			# config
	local cfg=$1 conf=$OUT/$1.conf
	: >"$conf"
	case $cfg in
	bd | bd_direct)
		cat >"$conf" <<CONF
shared_preload_libraries = 'pgrac_storage'
pgrac.storage_backend = 'block_device'
pgrac.fsync_checker = on
CONF
		[ "$cfg" = bd_direct ] && echo "pgrac.direct_io = on" >>"$conf"
		;;
	stock) ;;
	*) die "unknown recovery configuration \"$cfg\" (stock, bd, bd_direct)" ;;
	esac
	chown "$PGRAC_OS_USER" "$conf"
	local tests=${RECOVERY_TESTS:-$(cd "$SUITE" && ls t/*.pl | tr '\n' ' ')}
	if [ "$cfg" != stock ]; then
		local skip
		for skip in $(grep -v '^#' "$DEVIATIONS" | awk -F'\t' '$2 == "not-run" { print $1 }'); do
			tests=$(echo "$tests" | tr ' ' '\n' | grep -v "^t/$skip\$" | tr '\n' ' ')
		done
	fi
	say "[$cfg] src/test/recovery"
	rm -f "$SUITE/.prove"
	(cd "$SUITE" && as_os_user env PATH="$BINDIR:$PATH" PG_TEST_PORT_DIR="$OUT" make -s installcheck \
		PG_CONFIG="$PG_CONFIG" TEMP_CONFIG="$conf" PROVE_TESTS="$tests" PROVE_FLAGS="--timer --state=save -j$JOBS") \
		>"$OUT/$cfg.log" 2>&1 || true
	record_prove_times recovery "$SUITE/.prove" "$cfg/"
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

# Documented deviations (block-device-deviations.txt): print every line; a
# script failing exactly as listed becomes "deviation".
apply_deviations() {		# config
	local c=$1 script what why got
	while IFS=$'\t' read -r script what why; do
		case $script in '#'* | '') continue ;; esac
		if [ "$what" = not-run ]; then
			echo "$c: not run: t/$script: $why"
			continue
		fi
		got=$(sed -nE 's/^\[[0-9:.]+\]\([0-9.]+s\) not ok [0-9]+ - (.*)$/\1/p' \
			"$OUT/$c-logs/regress_log_${script%.pl}" 2>/dev/null | paste -sd '\t' | sed 's/\t/ ;; /g' || true)
		if [ "$got" = "$what" ] && grep -q "^not ok t/$script\$" "$OUT/$c.outcomes"; then
			echo "$c: documented deviation: t/$script fails exactly as listed ($what): $why"
			sed -i "s|^not ok t/$script\$|deviation t/$script|" "$OUT/$c.outcomes"
		fi
	done <"$DEVIATIONS"
}

# what identifies stock's results: this build's version and the scripts
stock_header() {
	echo "# $("$BINDIR/postgres" --version), patched, no library loaded; scripts sha256 $(cat "$SUITE"/t/*.pl | sha256sum | cut -c1-16)"
}

report=$OUT/deviations
: >"$report"
for c in $CONFIGS; do
	run_config "$c"
	[ "$c" = stock ] || apply_deviations "$c" >>"$report"
done

status=0
stock_checked=0		# scripts of a stock run that matched the file
# stock's outcomes: from this run (then checked against the file, or
# written to it) or from the file
selected() {			# outcomes on stdin: only the scripts this run selected
	if [ -n "${RECOVERY_TESTS:-}" ]; then
		awk 'NR == FNR { want[$1]; next } $2 in want' <(cd "$SUITE" && ls $RECOVERY_TESTS) -
	else
		cat
	fi
}
if [ -f "$OUT/stock.outcomes" ]; then
	if [ "${RECOVERY_STOCK:-}" = refresh ]; then
		{ stock_header; cat "$OUT/stock.outcomes"; } >"$STOCK_FILE"
		echo "stock: wrote test/recovery/stock-outcomes.txt"
	elif [ "$(head -n 1 "$STOCK_FILE")" != "$(stock_header)" ] ||
		! tail -n +2 "$STOCK_FILE" | selected | diff -u - "$OUT/stock.outcomes" >"$OUT/stock.diff"; then
		echo "FAIL: stock's results differ from test/recovery/stock-outcomes.txt (run make refresh-stock if the build changed):"
		head -n 1 "$STOCK_FILE"
		stock_header
		cat "$OUT/stock.diff"
		status=1
	else
		echo "stock: the same results as test/recovery/stock-outcomes.txt"
		stock_checked=$(grep -c '^ok ' "$OUT/stock.outcomes" || true)
	fi
elif [ "$(head -n 1 "$STOCK_FILE" 2>/dev/null)" = "$(stock_header)" ]; then
	tail -n +2 "$STOCK_FILE" | selected >"$OUT/stock.outcomes"
else
	echo "FAIL: test/recovery/stock-outcomes.txt is not for this build ($(head -n 1 "$STOCK_FILE" 2>/dev/null || echo missing); this build: $(stock_header)): run make refresh-stock"
	: >"$OUT/stock.outcomes"
	status=1
fi
SHOWN="stock ${CONFIGS//stock/}"
printf '\n%-12s' "" ; for c in $SHOWN; do printf ' %-40s' "$c"; done; printf '\n'
printf '%-12s' recovery
for c in $SHOWN; do
	dv=$(grep -c '^deviation ' "$OUT/$c.outcomes" || true)
	printf ' %-40s' "$(grep -c '^ok ' "$OUT/$c.outcomes" || true) passed, $(grep -c '^not ok ' "$OUT/$c.outcomes" || true) failed$([ "$dv" -gt 0 ] && echo ", $dv documented deviation")"
done
printf '\n'
cat "$report"
passed=$stock_checked
failed=0
for c in $CONFIGS; do
	[ "$c" = stock ] && continue
	cp=$(grep -c '^ok ' "$OUT/$c.outcomes" || true)
	cf=$(grep -c '^not ok ' "$OUT/$c.outcomes" || true)
	passed=$((passed + cp))
	failed=$((failed + cf))
	if ! grep -v -F -f <(grep -v '^#' "$DEVIATIONS" | awk -F'\t' '$2 == "not-run" { print "t/" $1 }') \
		"$OUT/stock.outcomes" | diff -u - <(sed 's/^deviation /ok /' "$OUT/$c.outcomes" | sort -k2) >"$OUT/$c.diff"; then
		echo "FAIL: recovery results on $c differ from stock:"
		cat "$OUT/$c.diff"
		status=1
	fi
	[ "$cf" -ne 0 ] && { echo "FAIL: failing scripts on $c; logs in $OUT/$c-logs"; status=1; }
done
echo "recovery suite: $passed passed, $failed failed"
exit $status
