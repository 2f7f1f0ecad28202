#!/usr/bin/env bash
# PostgreSQL's own regression and isolation suites, run in installcheck mode
# against servers from the same patched build, one after the other:
#
#   stock   no library loaded
#   pgrac   shared_preload_libraries = 'pgrac_storage', pgrac.fsync_checker = on
#   bd      as pgrac, on pgrac.storage_backend = 'block_device' (embedded image)
#   bd_loop as bd, on a loop device (attached here, 4 GB sparse, formatted
#           with pgrac_image) with pgrac.direct_io = on and io_uring, so
#           with read-ahead (pgrac.read_ahead), and with write-behind
#           (pgrac.write_behind = 16MB)
#   bd_uring as bd (embedded image, buffered), pgrac.io_method = io_uring
#
# Passes when every configuration gives stock's per-test results, no test
# fails, and the fsync checker reported nothing: no row in
# pgrac.pgrac_fsync_report() after a final checkpoint, and no checker WARNING in
# the server log after a clean shutdown (whose checkpoint is audited too).
# For bd and bd_loop, pgrac_image verify must accept the device after the
# shutdown.  Documented deviations of bd apply to bd_loop too.
# Prints the counts side by side.
#
# Stock's per-test results are deterministic for the pinned PostgreSQL, so
# they are checked in (test/peer/stock/<suite>.outcomes, headed by the
# server's version and the schedule's checksum) and compared against
# instead of running stock every time; a header that does not match this
# build fails the run.  PEER_STOCK=run runs stock too and fails if it
# differs from the checked-in results (make soak); PEER_STOCK=refresh runs
# it and rewrites them (make refresh-stock).
#
# PEER_SUITES="regress isolation" selects suites (default: both);
# PEER_CONFIGS="pgrac bd" the configurations compared with stock (default:
# pgrac bd bd_loop bd_uring; "none" for only stock, with PEER_STOCK=run or
# refresh).
set -euo pipefail
. "$(dirname "$0")/../../src/build/common.sh"

PG_CONFIG=${PG_CONFIG:-$PG_INSTALL_DIR/bin/pg_config}
BINDIR=$("$PG_CONFIG" --bindir)
SRC=${PG_SOURCE_TREE:-$PG_SOURCE_DIR}
OUT=$PGRAC_BUILD/test-results/peer
SUITES=${PEER_SUITES:-regress isolation}
CONFIGS=${PEER_CONFIGS:-pgrac bd bd_loop bd_uring}
PORT_BASE=${PEER_PORT_BASE:-55432}
[ "$CONFIGS" = none ] && CONFIGS=
STOCK_MODE=${PEER_STOCK:-file}
STOCK_DIR=$PGRAC_ROOT/test/peer/stock
mkdir -p "$STOCK_DIR"
case $STOCK_MODE in file | run | refresh) ;; *) die "PEER_STOCK is file, run or refresh, not \"$STOCK_MODE\"" ;; esac

[ -x "$SRC/src/test/isolation/pg_isolation_regress" ] && [ -f "$SRC/src/test/regress/regress.so" ] ||
	die "PostgreSQL's test programs are not built in $SRC (make builds them; with your own PG_CONFIG set PG_SOURCE_TREE to its built source tree)"

ensure_os_user
stop_servers_under "$BINDIR" "$OUT"
LOOP_DEVICE=
cleanup() {
	stop_servers_under "$BINDIR" "$OUT"
	if [ -n "$LOOP_DEVICE" ]; then
		losetup -d "$LOOP_DEVICE" || echo "warning: could not detach $LOOP_DEVICE"
	fi
	rm -f "$OUT/loop.img"
}
trap cleanup EXIT
fresh_user_dir "$OUT"

# the device of a block_device configuration
device_of() {			# config
	case $1 in
	bd | bd_uring) echo "$OUT/$1/data/pg_pgrac/device.img" ;;
	bd_loop) echo "$LOOP_DEVICE" ;;
	esac
}

sql() { as_os_user "$BINDIR/psql" -X -At -h "$OUT" -p "$1" -d postgres -v ON_ERROR_STOP=1 -c "$2"; }

run_suite() {			# config port suite
	local cfg=$1 port=$2 suite=$3 dir=$OUT/$1/$3
	fresh_user_dir "$dir"
	case $suite in
	regress)
		as_os_user "$SRC/src/test/regress/pg_regress" --host="$OUT" --port="$port" \
			--inputdir="$SRC/src/test/regress" --outputdir="$dir" --bindir="$BINDIR" \
			--dlpath="$SRC/src/test/regress" --max-concurrent-tests=20 \
			--schedule="$SRC/src/test/regress/parallel_schedule" >"$dir/run.log" 2>&1 || true
		;;
	isolation)
		as_os_user "$SRC/src/test/isolation/pg_isolation_regress" --host="$OUT" --port="$port" \
			--inputdir="$SRC/src/test/isolation" --outputdir="$dir" --bindir="$BINDIR" \
			--schedule="$SRC/src/test/isolation/isolation_schedule" >"$dir/run.log" 2>&1 || true
		;;
	esac
	# one line per test: "ok name" or "not ok name"
	sed -nE 's/^(not ok|ok) +[0-9]+ +[-+] +([^ ]+).*/\1 \2/p' "$dir/run.log" | sort -k2 >"$dir/outcomes"
	accept_deviations "$cfg" "$suite" "$dir"
}

# A failing test whose changed lines are exactly a documented deviation
# (deviations/<config>/<suite>/<test>.diff, see deviations/README.md)
# becomes "deviation <test>"; anything else stays a failure.
accept_deviations() {		# config suite dir
	local known=$PGRAC_ROOT/test/peer/deviations/${1%%_*}/$2 t
	[ -d "$known" ] || return 0
	for t in $(sed -n 's/^not ok //p' "$3/outcomes"); do
		[ -f "$known/$t.diff" ] || continue
		awk -v t="/$t.out" 'index($0, "diff ") == 1 { p = (index($0, t) > 0) ; next } p' "$3/regression.diffs" |
			grep -E '^[-+]' | grep -vE '^(\+\+\+|---) ' >"$3/$t.changed" || true
		if cmp -s "$3/$t.changed" "$known/$t.diff"; then
			sed -i "s/^not ok $t\$/deviation $t/" "$3/outcomes"
		fi
	done
}

run_config() {			# config port
	local cfg=$1 port=$2 data=$OUT/$1/data
	fresh_user_dir "$OUT/$cfg"
	as_os_user "$BINDIR/initdb" -D "$data" -A trust -U "$PGRAC_OS_USER" --no-sync >/dev/null
	cat >>"$data/postgresql.conf" <<CONF
port = $port
unix_socket_directories = '$OUT'
listen_addresses = ''
max_prepared_transactions = 10
fsync = on
CONF
	if [ "$cfg" != stock ]; then
		cat >>"$data/postgresql.conf" <<CONF
shared_preload_libraries = 'pgrac_storage'
pgrac.fsync_checker = on
CONF
	fi
	case $cfg in
	bd) echo "pgrac.storage_backend = 'block_device'" >>"$data/postgresql.conf" ;;
	bd_uring) printf "pgrac.storage_backend = 'block_device'\npgrac.io_method = io_uring\n" >>"$data/postgresql.conf" ;;
	bd_loop)
		truncate -s 4G "$OUT/loop.img"
		LOOP_DEVICE=$(losetup --find --show "$OUT/loop.img") ||
			die "could not attach a loop device (losetup needs root and /dev/loop-control)"
		chown "$PGRAC_OS_USER" "$LOOP_DEVICE"
		as_os_user "$BINDIR/pgrac_image" format --device="$LOOP_DEVICE" --extent-size=128kB --force >/dev/null
		cat >>"$data/postgresql.conf" <<CONF
pgrac.storage_backend = 'block_device'
pgrac.device = '$LOOP_DEVICE'
pgrac.direct_io = on
pgrac.io_method = io_uring
pgrac.write_behind = 16MB
CONF
		;;
	stock | pgrac) ;;
	*) die "unknown peer configuration \"$cfg\" (pgrac, bd, bd_loop, bd_uring)" ;;
	esac
	as_os_user "$BINDIR/pg_ctl" -D "$data" -l "$OUT/$cfg/server.log" -w start >/dev/null
	[ "$cfg" != stock ] && sql "$port" "CREATE EXTENSION pgrac_storage" >/dev/null
	case $cfg in
	bd*) sql "$port" "SELECT device || ', direct I/O ' || direct_io || ', ' || io_method FROM pgrac.pgrac_block_device" >"$OUT/$cfg/device" ;;
	esac
	local s
	for s in $SUITES; do
		say "[$cfg] $s"
		local t0=$SECONDS
		run_suite "$cfg" "$port" "$s"
		record_time peer "$cfg/$s" $((SECONDS - t0))
	done
	if [ "$cfg" != stock ]; then
		sql "$port" "CHECKPOINT" >/dev/null
		sql "$port" "SELECT count(*) FROM pgrac.pgrac_fsync_report()" >"$OUT/$cfg/findings"
		sql "$port" "SELECT unbuffered_writes FROM pgrac.pgrac_fsync_checker_stats()" >"$OUT/$cfg/unbuffered_writes"
		sql "$port" "SELECT * FROM pgrac.pgrac_fsync_report()" >"$OUT/$cfg/report"
	fi
	if [ "$cfg" = bd_loop ]; then
		sql "$port" "SELECT blocks_queued || ' blocks queued, ' || blocks_written || ' written in ' || writes || ' writes' FROM pgrac.pgrac_write_behind_stats()" >"$OUT/$cfg/write_behind"
	fi
	as_os_user "$BINDIR/pg_ctl" -D "$data" -m fast -w stop >/dev/null
	case $cfg in
	bd*)
		as_os_user "$BINDIR/pgrac_image" verify --device="$(device_of "$cfg")" >"$OUT/$cfg/verify" 2>&1 &&
			echo ok >>"$OUT/$cfg/verify" || echo "FAILED" >>"$OUT/$cfg/verify"
		;;
	esac
}

# what identifies the stock results of a suite: this build's version and
# the schedule the suite runs
stock_header() {		# suite
	local schedule=$SRC/src/test/regress/parallel_schedule
	[ "$1" = isolation ] && schedule=$SRC/src/test/isolation/isolation_schedule
	echo "# $("$BINDIR/postgres" --version), patched, no library loaded; schedule sha256 $(sha256sum <"$schedule" | cut -c1-16)"
}

status=0
total_pass=0
total_fail=0
fail() { echo "FAIL: $*"; status=1; total_fail=$((total_fail + 1)); }

if [ "$STOCK_MODE" = file ]; then
	for s in $SUITES; do
		mkdir -p "$OUT/stock/$s"
		if [ "$(head -n 1 "$STOCK_DIR/$s.outcomes" 2>/dev/null)" != "$(stock_header "$s")" ]; then
			fail "test/peer/stock/$s.outcomes is not for this build ($(head -n 1 "$STOCK_DIR/$s.outcomes" 2>/dev/null || echo missing); this build: $(stock_header "$s")): run make refresh-stock"
			: >"$OUT/stock/$s/outcomes"
		else
			tail -n +2 "$STOCK_DIR/$s.outcomes" >"$OUT/stock/$s/outcomes"
		fi
	done
else
	run_config stock "$PORT_BASE"
	for s in $SUITES; do
		if [ "$STOCK_MODE" = refresh ]; then
			{ stock_header "$s"; cat "$OUT/stock/$s/outcomes"; } >"$STOCK_DIR/$s.outcomes"
			echo "stock: $s: wrote test/peer/stock/$s.outcomes"
		elif ! { stock_header "$s"; cat "$OUT/stock/$s/outcomes"; } | diff -u "$STOCK_DIR/$s.outcomes" - >"$OUT/stock.$s.diff"; then
			fail "stock's $s results differ from test/peer/stock/$s.outcomes:"
			cat "$OUT/stock.$s.diff"
		else
			echo "stock: $s: the same results as test/peer/stock/$s.outcomes"
			total_pass=$((total_pass + $(grep -c '^ok ' "$OUT/stock/$s/outcomes" || true)))
		fi
	done
fi
n=1
for c in $CONFIGS; do
	run_config "$c" "$((PORT_BASE + n))"
	n=$((n + 1))
done

printf '\n%-10s %-22s' suite "stock ($STOCK_MODE)"
for c in $CONFIGS; do printf ' %-22s' "$c"; done
printf '\n'
for s in $SUITES; do
	printf '%-10s %-22s' "$s" "$(grep -c '^ok ' "$OUT/stock/$s/outcomes" || true) passed, $(grep -c '^not ok ' "$OUT/stock/$s/outcomes" || true) failed"
	for c in $CONFIGS; do
		dv=$(grep -c '^deviation ' "$OUT/$c/$s/outcomes" || true)
		printf ' %-22s' "$(grep -c '^ok ' "$OUT/$c/$s/outcomes" || true) passed, $(grep -c '^not ok ' "$OUT/$c/$s/outcomes" || true) failed$([ "$dv" -gt 0 ] && echo ", $dv documented deviation")"
	done
	printf '\n'
done
for c in $CONFIGS; do
	for s in $SUITES; do
		cp=$(grep -c '^ok ' "$OUT/$c/$s/outcomes" || true)
		cf=$(grep -c '^not ok ' "$OUT/$c/$s/outcomes" || true)
		total_pass=$((total_pass + cp))
		total_fail=$((total_fail + cf))
		[ $((cp + cf)) -eq 0 ] && fail "$s ran no test on $c; see $OUT/$c/$s/run.log"
		grep '^deviation ' "$OUT/$c/$s/outcomes" | sed "s|^|$c: $s: documented deviation (test/peer/deviations/${c%%_*}/$s): |" || true
		if ! sed 's/^deviation /ok /' "$OUT/$c/$s/outcomes" | sort -k2 | diff -u "$OUT/stock/$s/outcomes" - >"$OUT/$c.$s.results.diff"; then
			echo "FAIL: $s results on $c differ from stock's (test/peer/stock/$s.outcomes):"
			cat "$OUT/$c.$s.results.diff"
			status=1
		fi
		if [ "$cf" -ne 0 ]; then
			echo "FAIL: $s has failing tests on $c; diffs: $OUT/$c/$s/regression.diffs"
			head -n 60 "$OUT/$c/$s/regression.diffs" 2>/dev/null || true
			status=1
		fi
	done
	findings=$(cat "$OUT/$c/findings")
	warnings=$(grep -c 'WARNING:  fsync checker:' "$OUT/$c/server.log" || true)
	echo "$c: fsync checker: $findings findings in pgrac.pgrac_fsync_report(), $warnings WARNINGs in the server log (incl. shutdown checkpoint); it tracked $(cat "$OUT/$c/unbuffered_writes") unbuffered writes"
	if [ "$findings" != 0 ] || [ "$warnings" != 0 ]; then
		fail "the fsync checker reported findings on $c:"
		cat "$OUT/$c/report"
		grep -A1 'WARNING:  fsync checker:' "$OUT/$c/server.log" | head -n 40
	fi
	case $c in
	bd*)
		echo "$c: ran on $(cat "$OUT/$c/device"); pgrac_image verify after shutdown: $(head -n 1 "$OUT/$c/verify")"
		case $c in
		bd) expect="$(device_of bd), direct I/O false, sync" ;;
		bd_loop) expect="$LOOP_DEVICE, direct I/O true, io_uring" ;;
		bd_uring) expect="$(device_of bd_uring), direct I/O false, io_uring" ;;
		esac
		[ "$(cat "$OUT/$c/device")" = "$expect" ] ||
			fail "$c did not run as configured ($expect): $(cat "$OUT/$c/device")"
		grep -q '^ok$' "$OUT/$c/verify" || fail "pgrac_image verify rejects the device of $c: $(cat "$OUT/$c/verify")"
		if [ "$c" = bd_loop ]; then
			echo "$c: write-behind: $(cat "$OUT/$c/write_behind")"
			grep -q '^[1-9][0-9]* blocks queued' "$OUT/$c/write_behind" ||
				fail "write-behind took no block on $c: $(cat "$OUT/$c/write_behind")"
		fi
		;;
	esac
done
echo "peer suites: $total_pass passed, $total_fail failed"
exit $status
