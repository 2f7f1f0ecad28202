#!/usr/bin/env bash
# The whole test suite (make check; .ci/run calls it).
#
#   unit       cmocka tests of the pure logic (test/unit)
#   sql        pg_regress tests of the SQL API (sql/, expected/)
#   tap        TAP tests with PostgreSQL::Test::Cluster (test/t)
#   peer       PostgreSQL's own regression and isolation suites against a
#              stock server, one with the extension and the fsync checker,
#              and one on the block device, side by side, plus the checker's
#              findings
#   recovery   PostgreSQL's recovery TAP suite on stock and on the block
#              device (TEMP_CONFIG), side by side
#   patchset   each patch compiles and passes PostgreSQL's make check
#   fuzz       libFuzzer on everything decoded from the device (superblock,
#              metadata pages, WAL records), FUZZ_SECONDS per target
#
# PGRAC_TEST_SUITES="unit sql" runs a subset (the default is all of them;
# nothing is skipped unless you say so).  Every suite that runs and fails
# makes the command fail.  Servers and harnesses run as the unprivileged OS
# user (see src/build/common.sh).
#
# Suites run in two lanes side by side (LANES below), each lane's suites
# one after the other; each suite's output is kept and printed at the end,
# with a line as each one ends.  Measured alone on 2 cores (the time table
# of PGRAC_TEST_SERIAL=1), the patchset suite is all compiling and make
# check (docs/testing.md has its cost), while the TAP and recovery suites spend most of their
# time waiting on servers, standbys and replay (0.3 and 0.9 of a core), so
# the patchset suite (then the fuzzer, one core) runs beside all the
# others.  PGRAC_TEST_SERIAL=1 runs every suite alone, to time it.
set -euo pipefail
. "$(dirname "$0")/../src/build/common.sh"

PG_CONFIG=${PG_CONFIG:-$PG_INSTALL_DIR/bin/pg_config}
BINDIR=$("$PG_CONFIG" --bindir)
PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
PGXS_DIR=$(dirname "$("$PG_CONFIG" --pgxs)")/../..
SUITES=${PGRAC_TEST_SUITES:-unit sql fuzz tap peer recovery patchset}
OUT=$PGRAC_BUILD/test-results

KNOWN_SUITES="unit sql fuzz tap peer recovery patchset"
if [ "${PGRAC_TEST_SERIAL:-0}" = 1 ]; then
	LANES=("$KNOWN_SUITES")
else
	LANES=("patchset fuzz" "unit sql tap peer recovery")
fi

# A suite's result: $OUT/result/<suite> holds "passed failed" (a suite
# that ends without one has failed) and $OUT/result/<suite>.wall its wall
# seconds.
record() {				# suite passed failed
	echo "$2 $3" >"$OUT/result/$1"
}

# The time table printed at the end of every run: suite, wall seconds,
# passed, failed, the suites it ran beside; then the five slowest test
# scripts of all suites ($PGRAC_TIMES, filled by record_time in each suite).
print_time_table() {
	local s c
	echo
	echo "== time table"
	printf '%-10s %8s %8s %8s  %s\n' suite "wall s" passed failed "beside (the other lane)"
	for s in $RUN; do
		c=$(cat "$OUT/result/$s" 2>/dev/null || echo "0 1")
		printf '%-10s %8s %8s %8s  %s\n' "$s" "$(cat "$OUT/result/$s.wall")" ${c} "$(cat "$OUT/result/$s.beside")"
	done
	printf '%-10s %8s  (the whole of run-tests.sh; make check also builds first)\n' total "$((SECONDS - run_start))"
	echo "five slowest test scripts:"
	sort -t$'\t' -k3,3nr "$PGRAC_TIMES" | head -n 5 |
		awk -F'\t' '{ printf "  %-10s %-52s %6d s\n", $1, $2, $3 }'
}

suite_unit() {
	local dir=$PGRAC_BUILD/unit t log passed failed
	mkdir -p "$dir"
	passed=0
	failed=0
	build_pure_instrumented "$PG_CONFIG"
	for t in "$PGRAC_ROOT"/test/unit/test_*.c; do
		local name
		name=$(basename "$t" .c)
		# a test links the instrumented pure library (src/pure.mk), with
		# the same clang and sanitizers; PostgreSQL's frontend-safe headers
		# and libraries (c.h, pg_crc32c) are available to it
		log=$OUT/unit-$name.log
		if ! clang -std=c99 -Wall -Wextra -Werror -Wno-ignored-attributes $PURE_INSTRUMENTED_CFLAGS \
			-DFRONTEND -D_GNU_SOURCE -I"$PGRAC_ROOT/include" -I"$("$PG_CONFIG" --includedir-server)" "$t" \
			"$PURE_INSTRUMENTED_LIB" \
			"$("$PG_CONFIG" --libdir)/libpgcommon.a" "$("$PG_CONFIG" --libdir)/libpgport.a" \
			-lcmocka -luring -o "$dir/$name"; then
			echo "unit: $name does not compile"
			failed=$((failed + 1))
			continue
		fi
		local t0=$SECONDS
		if "$dir/$name" >"$log" 2>&1; then :; fi
		record_time unit "$name" $((SECONDS - t0))
		cat "$log"
		passed=$((passed + $(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1 | grep . || echo 0)))
		failed=$((failed + $(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1 | grep . || echo 0)))
		# a crash before cmocka's summary is a failure too
		grep -q '^\[==========\] .* test(s) run\.' "$log" || failed=$((failed + 1))
	done
	# the server's layers, on the built objects (test/layers/check-layers.py)
	if python3 "$PGRAC_ROOT/test/layers/check-layers.py" "$PGRAC_BUILD/extension" "$PGRAC_BUILD/pure" >"$OUT/unit-layers.log" 2>&1; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
	cat "$OUT/unit-layers.log"
	record unit "$passed" "$failed"
}

# Test-only libraries, built outside the source tree, never installed.
PGRAC_TEST_MODULES=$PGRAC_BUILD/test-modules
build_test_modules() {
	local m name
	for m in "$PGRAC_ROOT"/test/modules/*/; do
		name=$(basename "$m")
		mkdir -p "$PGRAC_TEST_MODULES/$name"
		make --no-print-directory -s -C "$PGRAC_TEST_MODULES/$name" \
			-f "$m/Makefile" PG_CONFIG="$PG_CONFIG" >/dev/null
	done
}

suite_sql() {
	local dir=$OUT/sql log tests
	fresh_user_dir "$dir"
	tests=$(cd "$PGRAC_ROOT/sql" && ls [a-z]*.sql | grep -v -- '--' | sed 's/\.sql$//' | sort)
	log=$dir/pg_regress.log
	local t0=$SECONDS
	if (cd "$PGRAC_ROOT" && as_os_user "$PKGLIBDIR/pgxs/src/test/regress/pg_regress" \
		--temp-instance="$dir/instance" --temp-config="$PGRAC_ROOT/test/regress.conf" \
		--inputdir="$PGRAC_ROOT" --outputdir="$dir" --bindir="$BINDIR" \
		--dbname=contrib_regression $tests) >"$log" 2>&1; then :; fi
	record_time sql pg_regress $((SECONDS - t0))
	cat "$log"
	[ -f "$dir/regression.diffs" ] && cat "$dir/regression.diffs"
	count_pg_regress sql "$log"
}

# pg_regress output: "ok N - name" / "not ok N - name" per test
count_pg_regress() {
	local p f
	p=$(grep -cE '^ok [0-9]+ ' "$2" || true)
	f=$(grep -cE '^not ok [0-9]+ ' "$2" || true)
	# no result line at all means the harness itself failed
	if [ $((p + f)) -eq 0 ]; then f=1; fi
	record "$1" "$p" "$f"
}

# PGRAC_TAP_TESTS="005 003" runs the TAP scripts whose names start so
tap_scripts() {
	local t
	if [ -z "${PGRAC_TAP_TESTS:-}" ]; then
		ls "$PGRAC_ROOT"/test/t/*.pl
		return
	fi
	for t in $PGRAC_TAP_TESTS; do ls "$PGRAC_ROOT"/test/t/"$t"*.pl; done
}

# Loop devices over sparse files for the tests on a real block device
# (008; 023 backs up the second while its server runs and restores onto
# the third), handed to the servers' OS user; detached when the suite ends.
attach_loop_devices() {
	truncate -s 2G "$1/loop.img"
	truncate -s 1G "$1/loop2.img" "$1/loop3.img"
	LOOP_DEVICE=$(losetup --find --show "$1/loop.img") ||
		die "could not attach a loop device (losetup needs root and /dev/loop-control)"
	LOOP_DEVICE_2=$(losetup --find --show "$1/loop2.img") ||
		die "could not attach a second loop device"
	LOOP_DEVICE_3=$(losetup --find --show "$1/loop3.img") ||
		die "could not attach a third loop device"
	chown "$PGRAC_OS_USER" "$LOOP_DEVICE" "$LOOP_DEVICE_2" "$LOOP_DEVICE_3"
}

suite_tap() {
	local dir=$OUT/tap log
	fresh_user_dir "$dir"
	log=$dir/prove.log
	attach_loop_devices "$dir"
	if (cd "$dir" && as_os_user env PATH="$BINDIR:$PATH" \
		PGRAC_TEST_LOOP_DEVICE="$LOOP_DEVICE" PGRAC_TEST_LOOP_DEVICE_2="$LOOP_DEVICE_2" \
		PGRAC_TEST_LOOP_DEVICE_3="$LOOP_DEVICE_3" \
		PG_REGRESS="$PKGLIBDIR/pgxs/src/test/regress/pg_regress" \
		TESTDATADIR="$dir/data" TESTLOGDIR="$dir/log" \
		PGRAC_ROOT="$PGRAC_ROOT" PG_CONFIG="$PG_CONFIG" \
		PGRAC_TEST_MODULES="$PGRAC_TEST_MODULES" \
		prove -v -j"${TAP_JOBS:-2}" --state=save -I "$PKGLIBDIR/pgxs/src/test/perl" -I "$PGRAC_ROOT/test/t" \
		$(tap_scripts)) >"$log" 2>&1; then :; fi
	record_prove_times tap "$dir/.prove"
	local d
	for d in "$LOOP_DEVICE" "$LOOP_DEVICE_2" "$LOOP_DEVICE_3"; do
		losetup -d "$d" || echo "warning: could not detach $d"
	done
	rm -f "$dir/loop.img" "$dir/loop2.img" "$dir/loop3.img"
	grep -vE '^\s*$' "$log" | grep -E '^(ok|not ok|#|t/|Files=|Result:|All tests|Failed|Parse errors|Bad plan|Wstat)|^\S+\.pl' || true
	local p f
	p=$(grep -cE '^\s*ok [0-9]+' "$log" || true)
	f=$(grep -cE '^\s*not ok [0-9]+' "$log" || true)
	grep -q '^Result: PASS' "$log" || f=$((f == 0 ? 1 : f))
	# a script that bailed out stops prove, which may still print PASS for
	# what it ran: every script must have run, and none bailed out
	local want ran
	want=$(tap_scripts | wc -l)
	ran=$(sed -nE 's/^Files=([0-9]+),.*/\1/p' "$log")
	if grep -q '^Bailout called' "$log" || [ "${ran:-0}" -ne "$want" ]; then
		echo "tap: ${ran:-0} of $want scripts ran to the end; $(grep -m1 '^Bailout called' "$log" || echo 'no bail-out reported')"
		f=$((f + 1))
	fi
	record tap "$p" "$f"
	if [ "$f" -ne 0 ]; then
		echo "TAP logs: $dir/log"
		tail -n 50 "$dir"/log/*.log 2>/dev/null | tail -n 200 || true
	fi
}

# A suite script whose output ends with "<label>: N passed, M failed";
# a failing exit counts as at least one failure.
suite_script() {		# suite script label
	local log=$OUT/$1.log status=0 p f
	PG_CONFIG=$PG_CONFIG "$2" >"$log" 2>&1 || status=$?
	cat "$log"
	p=$(sed -n "s/^$3: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p" "$log")
	f=$(sed -n "s/^$3: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p" "$log")
	f=${f:-0}
	if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	record "$1" "${p:-0}" "$f"
}

suite_peer() {
	suite_script peer "$PGRAC_ROOT/test/peer/run-peer-suites.sh" "peer suites"
}

suite_recovery() {
	suite_script recovery "$PGRAC_ROOT/test/recovery/run-recovery-suite.sh" "recovery suite"
}

suite_fuzz() {
	suite_script fuzz "$PGRAC_ROOT/test/fuzz/run-fuzz.sh" fuzz
}

suite_patchset() {
	local log=$OUT/patchset.log
	if "$PGRAC_ROOT/test/patchset/check-series.sh" >"$log" 2>&1; then
		cat "$log"
		record patchset "$(grep -c '^after ' "$log")" 0
	else
		cat "$log"
		record patchset "$(grep -c '^after ' "$log")" 1
	fi
}

for s in $SUITES; do
	case " $KNOWN_SUITES " in
	*" $s "*) ;;
	*) die "unknown suite '$s' (known: $KNOWN_SUITES)" ;;
	esac
done

run_start=$SECONDS
ensure_packages "${PGRAC_PACKAGES[@]}"
ensure_os_user
fresh_user_dir "$OUT"
mkdir -p "$OUT/result"
export PGRAC_TIMES=$OUT/times
: >"$PGRAC_TIMES"
build_test_modules
# before the lanes: the unit and fuzz suites both link it
case " $SUITES " in *" unit "* | *" fuzz "*) build_pure_instrumented "$PG_CONFIG" ;; esac

# One suite, its output into $OUT/result/<suite>.out.  In a background
# subshell, so that set -e still applies inside it: a suite that stops on
# an error counts one failure more than it recorded (or leaves no result).
run_suite() {			# suite
	local start=$SECONDS status=0 p f
	("suite_$1") >"$OUT/result/$1.out" 2>&1 &
	wait $! || status=$?
	if [ "$status" -ne 0 ]; then
		echo "(suite $1 stopped with status $status)" >>"$OUT/result/$1.out"
		read -r p f 2>/dev/null <"$OUT/result/$1" || p=0 f=0
		record "$1" "$p" $((f + 1))
	fi
	echo $((SECONDS - start)) >"$OUT/result/$1.wall"
}

# the suites of one lane, one after the other
run_lane() {			# suites
	local s
	for s in $1; do
		run_suite "$s"
		say "suite $s ended after $(cat "$OUT/result/$s.wall") s: $(cat "$OUT/result/$s" 2>/dev/null || echo 'no result') (passed failed)"
	done
}

RUN=
pids=()
for lane in "${LANES[@]}"; do
	here=
	for s in $lane; do
		case " $SUITES " in *" $s "*) here="$here $s" ;; esac
	done
	[ -n "$here" ] || continue
	RUN="$RUN$here"
	say "lane:$here"
	for s in $here; do echo "$lane" >"$OUT/result/$s.lane"; done
	run_lane "$here" &
	pids+=($!)
done
wait "${pids[@]}" || true
# beside each suite: the suites of the other lanes
for s in $RUN; do
	others=
	for t in $RUN; do
		[ "$(cat "$OUT/result/$t.lane")" = "$(cat "$OUT/result/$s.lane")" ] || others="$others $t"
	done
	echo "${others# }" >"$OUT/result/$s.beside"
done
for s in $RUN; do
	say "suite: $s"
	cat "$OUT/result/$s.out"
done

total_pass=0
total_fail=0
failed_suites=()
echo
echo "== summary"
for s in $RUN; do
	if [ -f "$OUT/result/$s" ]; then
		read -r p f <"$OUT/result/$s"
	else
		echo "$s: ended without a result (see its output above)"
		p=0 f=1
	fi
	printf '%-9s %s passed, %s failed (%s s)\n' "$s:" "$p" "$f" "$(cat "$OUT/result/$s.wall")"
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	if [ "$f" -ne 0 ] || [ "$p" -eq 0 ]; then
		failed_suites+=("$s")
	fi
done
if [ ${#failed_suites[@]} -ne 0 ]; then
	echo "failed suites: ${failed_suites[*]}"
fi
print_time_table
echo
echo "$total_pass passed, $total_fail failed"
[ ${#failed_suites[@]} -eq 0 ]
