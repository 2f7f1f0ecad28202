#!/usr/bin/env bash
# Overhead of pgrac_storage with the fsync checker off and on, against a
# stock server, measured side by side in one run on a PostgreSQL build
# without assertions (PGRAC_PG_VARIANT=bench, built on first use).
#
#   stock  patched PostgreSQL, no library loaded
#   off    pgrac_storage loaded, pgrac.fsync_checker = off (md alone)
#   on     pgrac_storage loaded, pgrac.fsync_checker = on
#
# Workloads, interleaved over ROUNDS rounds so that drift hits every
# configuration alike; the median of the rounds is reported with the
# range.  synchronous_commit is off (SYNC_COMMIT=on to change): this VM's
# fsync latency varies by a third from run to run, which would bury the
# storage-manager path being compared.
#   pgbench   TPC-B, scale SCALE, 4 clients, BENCH_SECONDS seconds (buffered writes:
#             the checker's hot path)
#   index     CREATE INDEX on a 2-million-row table (unbuffered bulk writes:
#             the checker takes its lock per page)
#
# Settings: ROUNDS (5), BENCH_SECONDS (20), SCALE (20), SYNC_COMMIT (off),
# BENCH_DIR, BENCH_PORT.
#
# Writes results.md, results.csv and overhead.png (gnuplot) into
# build/bench-results/fsync-checker-<time>/ and prints the table.
# Not part of the test suite: no timing is ever asserted.
set -euo pipefail
. "$(dirname "$0")/../../src/build/common.sh"

ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${BENCH_SECONDS:-20}
SYNC_COMMIT=${SYNC_COMMIT:-off}
SCALE=${SCALE:-20}
PORT=${BENCH_PORT:-55532}
CONFIGS=(stock off on)

export PGRAC_PG_VARIANT=bench
. "$(dirname "$0")/../../src/build/common.sh"
"$PGRAC_ROOT/src/build/postgres.sh"
PG_CONFIG=$PG_INSTALL_DIR/bin/pg_config
BINDIR=$PG_INSTALL_DIR/bin
mkdir -p "$PGRAC_BUILD/extension-bench"
make --no-print-directory -s -C "$PGRAC_BUILD/extension-bench" -f "$PGRAC_ROOT/src/extension.mk" \
	PG_CONFIG="$PG_CONFIG" install >/dev/null
ensure_packages gnuplot-nox
ensure_os_user

OUT=$PGRAC_BUILD/bench-results/fsync-checker-$(date -u +%Y%m%dT%H%M%SZ)
# BENCH_DIR=/dev/shm/... puts the clusters on tmpfs, taking the disk's
# latency (and its noise) out of the comparison of the code paths
WORK=${BENCH_DIR:-$PGRAC_BUILD/bench-work}
stop_servers_under "$BINDIR" "$WORK"
trap 'stop_servers_under "$BINDIR" "$WORK"' EXIT
fresh_user_dir "$WORK"
mkdir -p "$OUT"

sql() { as_os_user "$BINDIR/psql" -X -At -h "$WORK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$1"; }
now_ms() { date +%s%3N; }

setup_config() {
	local cfg=$1 data=$WORK/$1
	as_os_user "$BINDIR/initdb" -D "$data" -A trust -U postgres >/dev/null
	cat >>"$data/postgresql.conf" <<CONF
port = $PORT
unix_socket_directories = '$WORK'
listen_addresses = ''
shared_buffers = 256MB
max_wal_size = 4GB
checkpoint_timeout = 30min
synchronous_commit = $SYNC_COMMIT
CONF
	case $cfg in
	off) echo "shared_preload_libraries = 'pgrac_storage'" >>"$data/postgresql.conf" ;;
	on) printf "shared_preload_libraries = 'pgrac_storage'\npgrac.fsync_checker = on\n" >>"$data/postgresql.conf" ;;
	esac
	start "$cfg"
	as_os_user "$BINDIR/pgbench" -h "$WORK" -p "$PORT" -U postgres -i -s "$SCALE" -q postgres >/dev/null 2>&1
	sql "CREATE TABLE bulk AS SELECT g AS id, md5(g::text) AS t FROM generate_series(1, 2000000) g" >/dev/null
	sql "VACUUM ANALYZE" >/dev/null
	stop "$cfg"
}
start() { as_os_user "$BINDIR/pg_ctl" -D "$WORK/$1" -l "$WORK/$1.log" -w start >/dev/null; }
stop() { as_os_user "$BINDIR/pg_ctl" -D "$WORK/$1" -m fast -w stop >/dev/null; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
range() { sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%.0f-%.0f", lo, hi}'; }
metric() { grep "^$1,$2," "$OUT/raw.csv" | cut -d, -f3; }

for cfg in "${CONFIGS[@]}"; do
	say "preparing $cfg"
	setup_config "$cfg"
done

: >"$OUT/raw.csv"
for round in $(seq 1 "$ROUNDS"); do
	for cfg in "${CONFIGS[@]}"; do
		say "round $round/$ROUNDS: $cfg"
		start "$cfg"
		sql "CHECKPOINT" >/dev/null
		tps=$(as_os_user "$BINDIR/pgbench" -h "$WORK" -p "$PORT" -U postgres -c 4 -j 2 \
			-T "$SECONDS_PER_RUN" -n postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
		echo "$cfg,pgbench_tps,$tps" >>"$OUT/raw.csv"
		sql "DROP INDEX IF EXISTS bulk_t" >/dev/null
		sql "CHECKPOINT" >/dev/null
		t0=$(now_ms)
		sql "CREATE INDEX bulk_t ON bulk (t)" >/dev/null
		t1=$(now_ms)
		echo "$cfg,index_ms,$((t1 - t0))" >>"$OUT/raw.csv"
		if [ "$cfg" = on ]; then
			findings=$(sql "SELECT findings FROM pgrac.pgrac_fsync_checker_stats()" 2>/dev/null ||
				{ sql "CREATE EXTENSION IF NOT EXISTS pgrac_storage" >/dev/null; sql "SELECT findings FROM pgrac.pgrac_fsync_checker_stats()"; })
			echo "on,findings,$findings" >>"$OUT/raw.csv"
		fi
		stop "$cfg"
	done
done

{
	echo "config,pgbench_tps,index_ms,tps_range,index_range"
	for cfg in "${CONFIGS[@]}"; do
		echo "$cfg,$(metric "$cfg" pgbench_tps | median),$(metric "$cfg" index_ms | median),$(metric "$cfg" pgbench_tps | range),$(metric "$cfg" index_ms | range)"
	done
} >"$OUT/results.csv"

base_tps=$(awk -F, '$1=="stock"{print $2}' "$OUT/results.csv")
base_idx=$(awk -F, '$1=="stock"{print $3}' "$OUT/results.csv")
{
	echo "# fsync checker overhead ($(date -u +%Y-%m-%d))"
	echo
	bench_environment "$WORK"
	echo "Median of $ROUNDS interleaved rounds (range in brackets); pgbench TPC-B scale $SCALE, 4 clients, ${SECONDS_PER_RUN} s, synchronous_commit = $SYNC_COMMIT; CREATE INDEX on 2,000,000 md5 strings."
	echo
	echo "| config | pgbench TPS | ratio to stock | CREATE INDEX ms | ratio to stock |"
	echo "|---|---|---|---|---|"
	awk -F, -v bt="$base_tps" -v bi="$base_idx" 'NR>1 {printf "| %s | %.0f [%s] | %.3f | %d [%s] | %.3f |\n", $1, $2, $4, $2/bt, $3, $5, $3/bi}' "$OUT/results.csv"
	echo
	echo "Checker findings during the runs: $(grep '^on,findings,' "$OUT/raw.csv" | cut -d, -f3 | sort -u | tr '\n' ' ')"
	echo
	echo "Raw values (config, metric, value):"
	echo
	sed 's/^/    /' "$OUT/raw.csv"
} >"$OUT/results.md"

gnuplot <<PLOT
set terminal png size 800,400 noenhanced
set output "$OUT/overhead.png"
set datafile separator ","
set key autotitle columnhead
set style data histograms
set style fill solid 0.8
set yrange [0:*]
set ylabel "ratio to stock"
set title "pgrac_storage: ratio to stock (TPS: higher is better; index time: lower)"
set key outside right top
plot "$OUT/results.csv" using (\$2/$base_tps):xtic(1) title "pgbench TPS", \
     "" using (\$3/$base_idx) title "CREATE INDEX time"
PLOT

cat "$OUT/results.md"
echo "results: $OUT"
