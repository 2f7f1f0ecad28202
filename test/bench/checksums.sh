#!/usr/bin/env bash
# Online data checksums (the checksum layer, docs/checksums.md) measured
# side by side in one run, on md, on a PostgreSQL build without assertions
# (PGRAC_PG_VARIANT=bench).  Run as root: the kernel's page cache is
# dropped before each timed enable, so that both ways of enabling read a
# cold database.
#
# One database of pgbench scale SCALE (150: about 2.3 GB) is initialised
# once, without data checksums, and copied:
#   online   enabled and disabled again online, ENABLE_ROUNDS times
#   plain    never enabled
#   core     enabled offline with pg_checksums: core data_checksums = on
#
# 1. Time to enable, interleaved (the order rotates by round):
#    offline  pg_checksums --enable on a fresh copy of plain (the server
#             down, as pg_checksums needs)
#    online   pgrac_enable_checksums(0) on the running server (no other
#             load), from the call until the state is on: the sweep, its
#             full-page images and the closing checkpoint; one sweep
#             worker (pgrac.checksum_sweep_workers, the default)
#    online2  the same with two sweep workers
#    online_lz4  one worker, wal_compression = lz4 (the build has lz4, as
#             Debian's postgresql-17 does): the full-page images compressed
#             by the process that logs them
#    online2_lz4  two workers, lz4: the compression on both cores
#    The ratio online/offline is taken per round (goal: at most 1.5).
# 2. TPS during the sweep at the default throttling: pgbench TPC-B,
#    2 clients, LOAD_SECONDS s, on the online cluster with the state off,
#    then again started together with pgrac_enable_checksums() (cost_delay
#    0, the default), its TPS the mean of pgbench's per-second reports over
#    the seconds the sweep lasted; the ratio per round; and once more
#    with a throttled sweep (THROTTLE: the arguments of
#    pgrac_enable_checksums(), default "10, 100": 100 pages per 10 ms).
#    The sweep's wall time under that load is taken by polling the state.
# 3. Steady state, ROUNDS rounds, the order rotated each round:
#    none     the layer not in the stack (pgrac.checksum_layer = off),
#             wal_log_hints = off: a cluster without checksums
#    idle     the layer in the stack, state off (plain cluster)
#    layer    the layer in the stack, state on (the online cluster)
#    core     data_checksums = on (the core cluster), layer off
#    pgbench select-only and TPC-B, 2 clients, BENCH_SECONDS s each, after
#    the database is read into the page cache and a 5 s warm-up;
#    shared_buffers 128MB, so that reads and writes reach the storage
#    manager (from and into the kernel's page cache).  Ratios per round
#    against core and against none.
# 4. Instructions (callgrind, deterministic), a single-user backend each:
#    per block read by pg_prewarm(..., 'buffer') over CG_BLOCKS blocks of
#    pgbench_accounts with 16 MB of shared buffers (every block a miss),
#    and per buffer written by a CHECKPOINT after an INSERT dirtied
#    about CG_BLOCKS pages; with the inclusive counts of the functions that
#    compute checksums (core's pg_checksum_page, the layer's
#    pgrac_page_verify and pgrac_page_copy_set_checksum).
#
# Settings: PARTS ("enable steady instructions": 1 and 2, 3, 4), THROTTLE, SCALE
# (150), ENABLE_ROUNDS (3), LOAD_SECONDS (30), ROUNDS (5),
# BENCH_SECONDS (10), CG_BLOCKS (20000), SYNC_COMMIT (off), BENCH_PORT
# (55651), BENCH_DIR.  Writes results.md, raw.csv and checksums.png
# (test/bench/checksums-plot.sh) into build/bench-results/checksums-<time>/
# and prints the report.  Not part
# of the test suite: no timing is ever asserted.  About 35 minutes at the
# defaults on the 2-core machine.
set -euo pipefail
export PGRAC_PG_VARIANT=${BENCH_PG_VARIANT:-bench}
[ "$PGRAC_PG_VARIANT" = default ] && unset PGRAC_PG_VARIANT
. "$(dirname "$0")/../../src/build/common.sh"

SCALE=${SCALE:-150}
ENABLE_ROUNDS=${ENABLE_ROUNDS:-3}
LOAD_SECONDS=${LOAD_SECONDS:-30}
ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CG_BLOCKS=${CG_BLOCKS:-20000}
SYNC_COMMIT=${SYNC_COMMIT:-off}
PORT=${BENCH_PORT:-55651}
THROTTLE=${THROTTLE:-"10, 100"}
PARTS=${PARTS:-"enable steady instructions"}
part() { [[ " $PARTS " == *" $1 "* ]]; }

[ "$(id -u)" -eq 0 ] || die "run as root: the page cache is dropped before each timed enable"
"$PGRAC_ROOT/src/build/postgres.sh"
BINDIR=$PG_INSTALL_DIR/bin
PG_CONFIG=$BINDIR/pg_config
mkdir -p "$PGRAC_BUILD/extension-${PGRAC_PG_VARIANT:-default}"
make --no-print-directory -s -C "$PGRAC_BUILD/extension-${PGRAC_PG_VARIANT:-default}" -f "$PGRAC_ROOT/src/extension.mk" \
	PG_CONFIG="$PG_CONFIG" install >/dev/null
ensure_packages valgrind
ensure_os_user

WORK=${BENCH_DIR:-$PGRAC_BUILD/bench-checksums}
OUT=$PGRAC_BUILD/bench-results/checksums-$(date -u +%Y%m%dT%H%M%SZ)
stop_servers_under "$BINDIR" "$WORK"
trap 'stop_servers_under "$BINDIR" "$WORK"' EXIT
fresh_user_dir "$WORK"
mkdir -p "$OUT"
RAW=$OUT/raw.csv
echo "part,round,config,metric,value" >"$RAW"
record() { echo "$1,$2,$3,$4,$5" >>"$RAW"; }

sql() { as_os_user "$BINDIR/psql" -X -At -h "$WORK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$1"; }
now_ms() { date +%s%3N; }
cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# data directory, layer on|off, wal_log_hints on|off
start() {
	as_os_user "$BINDIR/pg_ctl" -D "$WORK/$1" -l "$WORK/$1.log" -w \
		-o "-c pgrac.checksum_layer=$2 -c wal_log_hints=$3" start >/dev/null
}
stop() { as_os_user "$BINDIR/pg_ctl" -D "$WORK/$1" -m fast -w stop >/dev/null; }
state() { sql "SELECT state FROM pgrac.pgrac_checksum_status"; }
wait_state() {	# wanted state, seconds; prints the milliseconds waited
	local t0 deadline
	t0=$(now_ms)
	deadline=$(( t0 + $2 * 1000 ))
	while [ "$(state)" != "$1" ]; do
		[ "$(now_ms)" -lt "$deadline" ] || die "state $1 not reached in $2 s (now $(state)); see $WORK/*.log"
		sleep 0.2
	done
	echo $(( $(now_ms) - t0 ))
}
pgbench_tps() {	# extra pgbench arguments...
	as_os_user "$BINDIR/pgbench" -h "$WORK" -p "$PORT" -U postgres -n -c 2 -j 2 "$@" postgres 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}
copy_cluster() { rm -rf "${WORK:?}/$2"; cp -a "$WORK/$1" "$WORK/$2"; }
# the database into the kernel's page cache (each cluster is a separate
# copy, and the timed enables drop the cache), so that the TPS runs
# compare code paths rather than who read from the disk first
warm() {
	sql "SELECT sum(pg_prewarm(oid, 'read')) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'i')" >/dev/null
}

# ---- the clusters ----
say "initialising pgbench scale $SCALE"
as_os_user "$BINDIR/initdb" -D "$WORK/online" -A trust -U postgres >/dev/null
cat >>"$WORK/online/postgresql.conf" <<CONF
port = $PORT
unix_socket_directories = '$WORK'
listen_addresses = ''
shared_buffers = 128MB
max_wal_size = 16GB
checkpoint_timeout = 30min
synchronous_commit = $SYNC_COMMIT
shared_preload_libraries = 'pgrac_storage'
log_checkpoints = on
CONF
start online on on
as_os_user "$BINDIR/pgbench" -h "$WORK" -p "$PORT" -U postgres -i -q -s "$SCALE" postgres >/dev/null 2>&1
sql "CREATE EXTENSION pgrac_storage" >/dev/null
sql "CREATE EXTENSION pg_prewarm" >/dev/null
sql "CHECKPOINT" >/dev/null
db_bytes=$(sql "SELECT pg_database_size('postgres')")
stop online
copy_cluster online plain
copy_cluster online core
as_os_user "$BINDIR/pg_checksums" --enable -D "$WORK/core" >/dev/null

# pgbench in the background, reporting every second, while a sweep runs
# with the given pgrac_enable_checksums() arguments; the sweep is timed by
# polling its state, and its TPS is the mean of the seconds it covered
load_sweep() {	# round label arguments
	local round=$1 label=$2 t0 sweep_ms load_pid
	as_os_user "$BINDIR/pgbench" -h "$WORK" -p "$PORT" -U postgres -n -c 2 -j 2 -P 1 -T "$LOAD_SECONDS" \
		postgres >/dev/null 2>"$WORK/load.progress" &
	load_pid=$!
	t0=$(now_ms)
	sql "SELECT pgrac.pgrac_enable_checksums($3)" >/dev/null
	wait_state on 3600 >/dev/null
	sweep_ms=$(( $(now_ms) - t0 ))
	record load "$round" "$label" sweep_ms "$sweep_ms"
	record load "$round" "$label" sweep_within_run "$(kill -0 "$load_pid" 2>/dev/null && echo 1 || echo 0)"
	wait "$load_pid"
	record load "$round" "$label" tps "$(awk -v lim="$(( sweep_ms / 1000 ))" '
		/^progress: / { t = $2 + 0; if (t <= lim || n == 0) { s += $4; n++ } }
		END { if (n) printf "%.1f", s / n }' "$WORK/load.progress")"
}

# ---- 1 and 2: enabling ----
part enable || ENABLE_ROUNDS=0
for round in $(seq 1 "$ENABLE_ROUNDS"); do
	hows=(offline online online2 online_lz4 online2_lz4)
	for k in 0 1 2 3 4; do
		how=${hows[$(( (k + round - 1) % 5 ))]}
		if [ "$how" = offline ]; then
			copy_cluster plain copy
			cold
			t0=$(now_ms)
			as_os_user "$BINDIR/pg_checksums" --enable -D "$WORK/copy" >/dev/null
			record enable "$round" offline ms $(( $(now_ms) - t0 ))
			rm -rf "${WORK:?}/copy"
		else
			cold
			start online on on
			[ "$(state)" = off ] || die "online cluster not off at round $round"
			workers=$([[ $how == online2* ]] && echo 2 || echo 1)
			sql "ALTER SYSTEM SET pgrac.checksum_sweep_workers = $workers" >/dev/null
			sql "ALTER SYSTEM SET wal_compression = $([[ $how == *_lz4 ]] && echo lz4 || echo off)" >/dev/null
			sql "SELECT pg_reload_conf()" >/dev/null
			sleep 1
			lsn0=$(sql "SELECT pg_current_wal_lsn()")
			t0=$(now_ms)
			sql "SELECT pgrac.pgrac_enable_checksums(0)" >/dev/null
			wait_state on 3600 >/dev/null
			record enable "$round" "$how" ms $(( $(now_ms) - t0 ))
			record enable "$round" "$how" wal_bytes "$(sql "SELECT pg_current_wal_lsn() - '$lsn0'")"
			sql "SELECT pgrac.pgrac_disable_checksums()" >/dev/null
			stop online
		fi
		say "enable round $round/$ENABLE_ROUNDS: $how $(tail -1 "$RAW" | cut -d, -f5)"
	done

	start online on on
	sql "ALTER SYSTEM RESET pgrac.checksum_sweep_workers" >/dev/null
	sql "ALTER SYSTEM RESET wal_compression" >/dev/null
	sql "SELECT pg_reload_conf()" >/dev/null
	warm
	pgbench_tps -T 5 >/dev/null
	record load "$round" idle tps "$(pgbench_tps -T "$LOAD_SECONDS")"
	load_sweep "$round" sweep ""
	sql "SELECT pgrac.pgrac_disable_checksums()" >/dev/null
	load_sweep "$round" throttled "$THROTTLE"
	sql "SELECT pgrac.pgrac_disable_checksums()" >/dev/null
	stop online
	say "load round $round/$ENABLE_ROUNDS: $(grep "^load,$round," "$RAW" | cut -d, -f3-5 | tr '\n' ' ')"
done

# the online cluster ends enabled: the layer's steady state
start online on on
sql "SELECT pgrac.pgrac_enable_checksums(0)" >/dev/null
wait_state on 3600 >/dev/null
stop online

# ---- 3: steady state ----
configs=(none idle layer core)
dir_of() { case $1 in none | idle) echo plain ;; layer) echo online ;; core) echo core ;; esac; }
start_config() {
	case $1 in
	none) start plain off off ;;
	idle) start plain on off ;;
	layer) start online on on ;;
	core) start core off off ;;
	esac
}
part steady || ROUNDS=0
for round in $(seq 1 "$ROUNDS"); do
	for k in 0 1 2 3; do
		cfg=${configs[$(( (k + round - 1) % 4 ))]}
		start_config "$cfg"
		warm
		pgbench_tps -S -T 5 >/dev/null
		record steady "$round" "$cfg" select_tps "$(pgbench_tps -S -T "$SECONDS_PER_RUN")"
		record steady "$round" "$cfg" tpcb_tps "$(pgbench_tps -T "$SECONDS_PER_RUN")"
		if [ "$cfg" = layer ]; then
			record steady "$round" layer failures "$(sql "SELECT failures FROM pgrac.pgrac_checksum_status")"
		fi
		stop "$(dir_of "$cfg")"
		say "steady round $round/$ROUNDS: $cfg $(grep "^steady,$round,$cfg," "$RAW" | cut -d, -f4-5 | tr '\n' ' ')"
	done
done

# ---- 4: instructions ----
inclusive() {	# callgrind file, function
	callgrind_annotate --inclusive=yes "$1" 2>/dev/null |
		awk -v f="$2" '!done && $0 ~ (":" f "( |$)") {gsub(",", "", $1); print $1; done = 1}'
}
single_user() {	# config, toggle function, shared_buffers, sql file, output prefix
	local cfg=$1 layer=off hints=off
	case $cfg in idle) layer=on ;; layer) layer=on hints=on ;; esac
	chmod 644 "$4"
	as_os_user valgrind --tool=callgrind --toggle-collect="$2" --callgrind-out-file="$5.out" \
		"$BINDIR/postgres" --single -D "$WORK/$(dir_of "$cfg")" -c pgrac.checksum_layer=$layer \
		-c wal_log_hints=$hints -c shared_buffers="$3" -c log_checkpoints=on postgres <"$4" >"$5.log" 2>&1
	if grep -qE '(ERROR|FATAL|PANIC): ' "$5.log"; then die "single-user run failed; see $5.log"; fi
}
cat >"$WORK/reads.sql" <<SQL
SELECT pg_prewarm('pgbench_accounts', 'buffer', 'main', 0, $(( CG_BLOCKS - 1 )));
SQL
rows=$(( CG_BLOCKS * 60 ))
cat >"$WORK/writes.sql" <<SQL
CREATE TABLE cg_writes (a int, b text);
INSERT INTO cg_writes SELECT g, repeat('x', 100) FROM generate_series(1, $rows) g;
CHECKPOINT;
DROP TABLE cg_writes;
SQL
cg_configs=("${configs[@]}")
part instructions || cg_configs=()
for cfg in "${cg_configs[@]}"; do
	say "callgrind: $cfg"
	p=$WORK/cg-read-$cfg
	single_user "$cfg" pg_prewarm 16MB "$WORK/reads.sql" "$p"
	record instructions 1 "$cfg" read_total "$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$p.out")"
	record instructions 1 "$cfg" read_core_checksum "$(inclusive "$p.out" pg_checksum_page)"
	record instructions 1 "$cfg" read_layer "$(inclusive "$p.out" pgrac_page_verify)"
	p=$WORK/cg-write-$cfg
	single_user "$cfg" CheckPointBuffers 1GB "$WORK/writes.sql" "$p"
	written=$(sed -n 's/.*checkpoint complete: wrote \([0-9]*\) buffers.*/\1/p' "$p.log" | head -1)
	[ -n "$written" ] || die "no checkpoint line in $p.log"
	record instructions 1 "$cfg" buffers_written "$written"
	record instructions 1 "$cfg" write_total "$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$p.out")"
	record instructions 1 "$cfg" write_core_checksum "$(inclusive "$p.out" pg_checksum_page)"
	record instructions 1 "$cfg" write_layer "$(inclusive "$p.out" pgrac_page_copy_set_checksum)"
done

# ---- report ----
# per-round ratios of a metric, config a over config b: "median [min-max]"
ratio() {	# part metric a b
	awk -F, -v p="$1" -v m="$2" -v a="$3" -v b="$4" '
		$1 == p && $4 == m { v[$3, $2] = $5; r[$2] = 1 }
		END {
			n = 0
			for (k in r) if (((a, k) in v) && ((b, k) in v) && v[b, k] > 0) x[++n] = v[a, k] / v[b, k]
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
			if (n == 0) { print "n/a"; exit }
			printf "%.3f [%.3f-%.3f]", (n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2), x[1], x[n]
		}' "$RAW"
}
median_of() {	# part metric config
	awk -F, -v p="$1" -v m="$2" -v c="$3" '$1 == p && $4 == m && $3 == c { print $5 }' "$RAW" |
		sort -g | awk '{a[NR] = $1} END {if (NR) printf "%.0f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
value() { awk -F, -v p="$1" -v m="$2" -v c="$3" '$1 == p && $4 == m && $3 == c { print $5; exit }' "$RAW"; }
per() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f", a / b; else print "n/a" }'; }
{
	echo "# Online data checksums ($(date -u +%Y-%m-%d))"
	echo
	bench_environment "$WORK"
	echo "Database: pgbench scale $SCALE, $(( db_bytes / 1024 / 1024 )) MB; shared_buffers 128MB; synchronous_commit = $SYNC_COMMIT."
	echo
	if part enable; then
		echo "## Enabling: online sweep against pg_checksums --enable, cold page cache, $ENABLE_ROUNDS rounds"
		echo
		echo "| | median ms | per-round ratio online/offline, median [range] |"
		echo "|---|---|---|"
		echo "| pg_checksums --enable (server down) | $(median_of enable ms offline) | |"
		echo "| pgrac_enable_checksums(0), until on, 1 sweep worker (the default) | $(median_of enable ms online) | $(ratio enable ms online offline) |"
		echo "| the same, 2 sweep workers | $(median_of enable ms online2) | $(ratio enable ms online2 offline) |"
		echo "| 1 sweep worker, wal_compression = lz4 | $(median_of enable ms online_lz4) | $(ratio enable ms online_lz4 offline) |"
		echo "| 2 sweep workers, wal_compression = lz4 | $(median_of enable ms online2_lz4) | $(ratio enable ms online2_lz4 offline) |"
		echo
		echo "WAL written by one online enable: $(median_of enable wal_bytes online) bytes (full-page images of every page; pg_checksums writes none); with wal_compression = lz4 $(median_of enable wal_bytes online_lz4) bytes."
		echo
		echo "## pgbench TPC-B (2 clients, $LOAD_SECONDS s) during the sweep, default throttling (cost_delay 0)"
		echo
		echo "| | median TPS | ratio to no sweep, per round |"
		echo "|---|---|---|"
		echo "| no sweep (state off) | $(median_of load tps idle) | |"
		echo "| during the sweep | $(median_of load tps sweep) | $(ratio load tps sweep idle) |"
		echo "| during a sweep throttled with pgrac_enable_checksums($THROTTLE) | $(median_of load tps throttled) | $(ratio load tps throttled idle) |"
		echo
		echo "TPS during the sweep: the mean of pgbench's per-second reports (-P 1) over the seconds the sweep lasted. Sweep wall time under that load: $(median_of load sweep_ms sweep) ms, throttled $(median_of load sweep_ms throttled) ms (medians); it ended within the $LOAD_SECONDS s run in $(awk -F, '$3 == "sweep" && $4 == "sweep_within_run" { s += $5; n++ } END { printf "%d of %d", s, n }' "$RAW") rounds, throttled in $(awk -F, '$3 == "throttled" && $4 == "sweep_within_run" { s += $5; n++ } END { printf "%d of %d", s, n }' "$RAW") (if not, the TPS covers only the part of the sweep the run saw)."
		echo
	fi
	if part steady; then
		echo "## Steady state, $ROUNDS rounds, order rotated; 2 clients, $SECONDS_PER_RUN s per run"
		echo
		echo "| config | select-only TPS | /core | /none | TPC-B TPS | /core | /none |"
		echo "|---|---|---|---|---|---|---|"
		for cfg in "${configs[@]}"; do
			echo "| $cfg | $(median_of steady select_tps "$cfg") | $(ratio steady select_tps "$cfg" core) | $(ratio steady select_tps "$cfg" none) | $(median_of steady tpcb_tps "$cfg") | $(ratio steady tpcb_tps "$cfg" core) | $(ratio steady tpcb_tps "$cfg" none) |"
		done
		echo
		echo "Verification failures counted by the layer during its runs: $(awk -F, '$4 == "failures" { print $5 }' "$RAW" | sort -u | tr '\n' ' ')"
		echo
	fi
	if part instructions; then
		echo "## Instructions (callgrind)"
		echo
		echo "Per block read: pg_prewarm('pgbench_accounts', 'buffer') over $CG_BLOCKS blocks, 16 MB of shared buffers. Per buffer written: CHECKPOINT after an INSERT of $rows rows."
		echo
		echo "| config | per read, all | per read, checksum (core / layer) | per buffer written, CheckPointBuffers | per write, checksum (core / layer) | buffers written |"
		echo "|---|---|---|---|---|---|"
		for cfg in "${configs[@]}"; do
			w=$(value instructions buffers_written "$cfg")
			echo "| $cfg | $(per "$(value instructions read_total "$cfg")" "$CG_BLOCKS") | $(per "$(value instructions read_core_checksum "$cfg")" "$CG_BLOCKS") / $(per "$(value instructions read_layer "$cfg")" "$CG_BLOCKS") | $(per "$(value instructions write_total "$cfg")" "$w") | $(per "$(value instructions write_core_checksum "$cfg")" "$w") / $(per "$(value instructions write_layer "$cfg")" "$w") | $w |"
		done
		echo
		echo "(core: pg_checksum_page, inclusive; layer: pgrac_page_verify on reads and pgrac_page_copy_set_checksum on writes, inclusive: the copy and the checksum.)"
		echo
	fi
	echo "Raw values (part, round, config, metric, value): raw.csv beside this file."
} >"$OUT/results.md"
"$PGRAC_ROOT/test/bench/checksums-plot.sh" "$OUT" >/dev/null
cat "$OUT/results.md"
echo "results: $OUT (raw.csv, results.md, checksums.png)"
