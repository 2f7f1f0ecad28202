#!/usr/bin/env bash
# The 2PC coordinator (docs/twophase.md) measured side by side in one run,
# on a PostgreSQL build without assertions (PGRAC_PG_VARIANT=bench).
#
# 1. The log's group commit: pgbench with K = 1, 4, 16 and 64 clients, each
#    calling pgrac_twophase_test_append(APPENDS) of the test build (the
#    records of a distributed transaction as the protocol appends them:
#    Begin and Committing each waited for, End not; no participant), for
#    SECONDS s per run, ROUNDS rounds with the order of K rotated.  Per run:
#    appends per second and appends per batch (one write and one fdatasync
#    each), from pgrac_twophase_log_status(); against fio's fdatasync rate
#    on the same file system (one 256-byte write and one fdatasync per
#    operation), which is what one fdatasync per append would allow.  Once
#    more at K = 64 with pgrac.twophase_commit_delay = COMMIT_DELAY us.
# 2. The latency of a distributed transaction with two participants:
#    pgbench, 1 client, SECONDS s, ROUNDS rounds interleaved, of
#      2pc   BEGIN; two pgrac_remote_exec() UPDATEs, one per participant;
#            COMMIT
#      fdw   the same UPDATEs through postgres_fdw foreign tables, which
#            commits each participant on its own at COMMIT (no 2PC)
#    on three local servers; the ratio 2pc/fdw per round.
#
# Settings: PARTS ("log latency"), ROUNDS (3), RUN_SECONDS (10), APPENDS (20),
# COMMIT_DELAY (100), BENCH_PORT (55661, and the next two), BENCH_DIR.
# Writes results.md and raw.csv into build/bench-results/twophase-<time>/
# and prints the report.  Not part of the test suite: no timing is ever
# asserted.  About 6 minutes at the defaults on the 2-core machine.
set -euo pipefail
export PGRAC_PG_VARIANT=${BENCH_PG_VARIANT:-bench}
[ "$PGRAC_PG_VARIANT" = default ] && unset PGRAC_PG_VARIANT
. "$(dirname "$0")/../../src/build/common.sh"

ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${RUN_SECONDS:-10}
APPENDS=${APPENDS:-20}
COMMIT_DELAY=${COMMIT_DELAY:-100}
PORT=${BENCH_PORT:-55661}
PARTS=${PARTS:-"log latency"}
part() { [[ " $PARTS " == *" $1 "* ]]; }

"$PGRAC_ROOT/src/build/postgres.sh"
BINDIR=$PG_INSTALL_DIR/bin
PG_CONFIG=$BINDIR/pg_config
# the coordinator loads the test build (pgrac_twophase_test_append) by
# path; the participants are stock servers
HOOKS=$PGRAC_BUILD/extension-${PGRAC_PG_VARIANT:-default}-hooks
mkdir -p "$HOOKS"
make --no-print-directory -s -C "$HOOKS" -f "$PGRAC_ROOT/src/extension.mk" \
	PG_CONFIG="$PG_CONFIG" PGRAC_EXTRA_CPPFLAGS="-DPGRAC_TEST_HOOKS" all >/dev/null
LIB=$HOOKS/pgrac_storage.so
ensure_packages fio
ensure_os_user

WORK=${BENCH_DIR:-$PGRAC_BUILD/bench-twophase}
OUT=$PGRAC_BUILD/bench-results/twophase-$(date -u +%Y%m%dT%H%M%SZ)
stop_servers_under "$BINDIR" "$WORK"
trap 'stop_servers_under "$BINDIR" "$WORK"' EXIT
fresh_user_dir "$WORK"
mkdir -p "$OUT"
RAW=$OUT/raw.csv
echo "part,round,config,metric,value" >"$RAW"
record() { echo "$1,$2,$3,$4,$5" >>"$RAW"; }

# node: c (coordinator), p1, p2
port_of() { case $1 in c) echo "$PORT" ;; p1) echo $(( PORT + 1 )) ;; p2) echo $(( PORT + 2 )) ;; esac; }
sql() { as_os_user "$BINDIR/psql" -X -At -h "$WORK" -p "$(port_of "$1")" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$2"; }
make_node() {
	as_os_user "$BINDIR/initdb" -D "$WORK/$1" -A trust -U postgres >/dev/null
	cat >>"$WORK/$1/postgresql.conf" <<CONF
port = $(port_of "$1")
unix_socket_directories = '$WORK'
listen_addresses = ''
max_connections = 120
max_prepared_transactions = 100
$2
CONF
	as_os_user "$BINDIR/pg_ctl" -D "$WORK/$1" -l "$WORK/$1.log" -w start >/dev/null
}

say "three servers in $WORK"
make_node p1 ""
make_node p2 ""
make_node c "shared_preload_libraries = '$LIB'
pgrac.twophase = on
pgrac.twophase_max_transactions = 128"
for p in p1 p2; do
	sql "$p" "CREATE TABLE accounts (id int PRIMARY KEY, balance int); INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 100) g" >/dev/null
done
sql c "CREATE EXTENSION postgres_fdw;
	CREATE SCHEMA t;
	CREATE FUNCTION t.append(int) RETURNS bigint AS '$LIB', 'pgrac_twophase_test_append' LANGUAGE C STRICT;
	CREATE FUNCTION t.exec(name, text) RETURNS bigint AS '$LIB', 'pgrac_remote_exec' LANGUAGE C STRICT;
	CREATE FUNCTION t.log_status(OUT available boolean, OUT unavailable_reason text, OUT segments int,
		OUT current_segment_start bigint, OUT inserted_position bigint, OUT flushed_position bigint,
		OUT appends bigint, OUT batches bigint, OUT rotations bigint, OUT corrupt_segments int,
		OUT corrupt_before bigint, OUT live_transactions int)
		RETURNS record AS '$LIB', 'pgrac_twophase_log_status' LANGUAGE C STRICT;
	CREATE SERVER s1 FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$WORK', port '$(port_of p1)', dbname 'postgres');
	CREATE SERVER s2 FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$WORK', port '$(port_of p2)', dbname 'postgres');
	CREATE USER MAPPING FOR CURRENT_USER SERVER s1 OPTIONS (user 'postgres');
	CREATE USER MAPPING FOR CURRENT_USER SERVER s2 OPTIONS (user 'postgres');
	CREATE FOREIGN TABLE a1 (id int, balance int) SERVER s1 OPTIONS (table_name 'accounts');
	CREATE FOREIGN TABLE a2 (id int, balance int) SERVER s2 OPTIONS (table_name 'accounts');" >/dev/null

pgbench_run() {	# clients, script file; prints "tps latency_ms"
	as_os_user "$BINDIR/pgbench" -h "$WORK" -p "$PORT" -U postgres -n -c "$1" -j 2 \
		-T "$SECONDS_PER_RUN" -f "$2" postgres 2>/dev/null |
		awk '/^latency average/ { lat = $4 } /^tps = / { tps = $3 } END { print tps, lat }'
}
counters() { sql c "SELECT appends || ' ' || batches FROM t.log_status()"; }

# ---- 1: the log ----
if part log; then
	echo "SELECT t.append($APPENDS);" >"$WORK/append.sql"
	chmod 644 "$WORK/append.sql"
	fio_iops=$(cd "$WORK" && as_os_user fio --name=fdatasync --directory="$WORK" --rw=write --bs=256 \
		--size=2m --fdatasync=1 --runtime="$SECONDS_PER_RUN" --time_based --output-format=json 2>/dev/null |
		python3 -c 'import json, sys; print(round(json.load(sys.stdin)["jobs"][0]["write"]["iops"]))')
	rm -f "$WORK"/fdatasync.*
	record log 0 fio fdatasync_per_s "$fio_iops"
	say "fio: $fio_iops fdatasyncs/s"
	ks=(1 4 16 64)
	for round in $(seq 1 "$ROUNDS"); do
		for i in 0 1 2 3; do
			k=${ks[$(( (i + round - 1) % 4 ))]}
			read -r a0 b0 < <(counters)
			t0=$(date +%s%3N)
			pgbench_run "$k" "$WORK/append.sql" >/dev/null
			ms=$(( $(date +%s%3N) - t0 ))
			read -r a1 b1 < <(counters)
			record log "$round" "k$k" appends_per_s "$(awk -v a=$(( a1 - a0 )) -v ms="$ms" 'BEGIN { printf "%.0f", a * 1000 / ms }')"
			record log "$round" "k$k" appends_per_batch "$(awk -v a=$(( a1 - a0 )) -v b=$(( b1 - b0 )) 'BEGIN { printf "%.1f", a / b }')"
			say "log round $round: $k clients: $(( a1 - a0 )) appends in $(( b1 - b0 )) batches, $ms ms"
		done
		sql c "ALTER SYSTEM SET pgrac.twophase_commit_delay = $COMMIT_DELAY" >/dev/null
		sql c "SELECT pg_reload_conf()" >/dev/null
		sleep 1
		read -r a0 b0 < <(counters)
		t0=$(date +%s%3N)
		pgbench_run 64 "$WORK/append.sql" >/dev/null
		ms=$(( $(date +%s%3N) - t0 ))
		read -r a1 b1 < <(counters)
		record log "$round" k64delay appends_per_s "$(awk -v a=$(( a1 - a0 )) -v ms="$ms" 'BEGIN { printf "%.0f", a * 1000 / ms }')"
		record log "$round" k64delay appends_per_batch "$(awk -v a=$(( a1 - a0 )) -v b=$(( b1 - b0 )) 'BEGIN { printf "%.1f", a / b }')"
		sql c "ALTER SYSTEM RESET pgrac.twophase_commit_delay" >/dev/null
		sql c "SELECT pg_reload_conf()" >/dev/null
	done
fi

# ---- 2: latency ----
if part latency; then
	cat >"$WORK/2pc.sql" <<'SQL'
\set a random(1, 100)
BEGIN;
SELECT t.exec('s1', 'UPDATE accounts SET balance = balance - 1 WHERE id = :a');
SELECT t.exec('s2', 'UPDATE accounts SET balance = balance + 1 WHERE id = :a');
COMMIT;
SQL
	cat >"$WORK/fdw.sql" <<'SQL'
\set a random(1, 100)
BEGIN;
UPDATE a1 SET balance = balance - 1 WHERE id = :a;
UPDATE a2 SET balance = balance + 1 WHERE id = :a;
COMMIT;
SQL
	chmod 644 "$WORK"/*.sql
	for round in $(seq 1 "$ROUNDS"); do
		for how in $([ $(( round % 2 )) -eq 1 ] && echo "2pc fdw" || echo "fdw 2pc"); do
			read -r tps lat < <(pgbench_run 1 "$WORK/$how.sql")
			record latency "$round" "$how" latency_ms "$lat"
			say "latency round $round: $how $lat ms"
		done
	done
fi

# ---- the report ----
median_of() {	# part metric config
	awk -F, -v p="$1" -v m="$2" -v c="$3" '$1 == p && $4 == m && $3 == c { print $5 }' "$RAW" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() {	# part metric config base: per-round ratios, "median [min-max]"
	awk -F, -v p="$1" -v m="$2" -v c="$3" -v b="$4" '
		$1 == p && $4 == m && $3 == c { x[$2] = $5 }
		$1 == p && $4 == m && $3 == b { y[$2] = $5 }
		END { n = 0; for (r in x) if (r in y && y[r] > 0) r_[++n] = x[r] / y[r]
			if (n == 0) { print "-"; exit }
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r_[j] < r_[i]) { t = r_[i]; r_[i] = r_[j]; r_[j] = t }
			med = (n % 2) ? r_[(n + 1) / 2] : (r_[n / 2] + r_[n / 2 + 1]) / 2
			printf "%.2f [%.2f-%.2f]", med, r_[1], r_[n] }' "$RAW"
}
{
	echo "# The 2PC coordinator ($(date -u +%Y-%m-%d))"
	echo
	bench_environment "$WORK"
	echo
	if part log; then
		fio_rate=$(median_of log fdatasync_per_s fio)
		echo "## The log: appends with K concurrent committers, $ROUNDS rounds of $SECONDS_PER_RUN s"
		echo
		echo "fio, one 256-byte write and one fdatasync per operation on the same file system: $fio_rate per second (what one fdatasync per append would allow)."
		echo
		echo "| committers | appends/s (median) | against fio's fdatasyncs/s | appends per batch (one write + one fdatasync), median [range] |"
		echo "|---|---|---|---|"
		for k in 1 4 16 64 64delay; do
			label=$k
			[ "$k" = 64delay ] && label="64, pgrac.twophase_commit_delay = $COMMIT_DELAY us"
			aps=$(median_of log appends_per_s "k$k")
			echo "| $label | $aps | $(awk -v a="$aps" -v f="$fio_rate" 'BEGIN { if (f > 0) printf "%.1f", a / f; else print "-" }') | $(median_of log appends_per_batch "k$k") [$(awk -F, -v c="k$k" '$3 == c && $4 == "appends_per_batch" { print $5 }' "$RAW" | sort -g | sed -n '1p;$p' | paste -sd-)] |"
		done
		echo
		echo "Each call appends $APPENDS transactions' records (3 each; 2 of them waited for)."
		echo
	fi
	if part latency; then
		echo "## A transaction with two participants, 1 client, $ROUNDS rounds of $SECONDS_PER_RUN s"
		echo
		echo "| | latency ms (median) | per-round ratio to postgres_fdw |"
		echo "|---|---|---|"
		echo "| postgres_fdw foreign tables (each participant committed on its own, no 2PC) | $(median_of latency latency_ms fdw) | |"
		echo "| pgrac_remote_exec() with the 2PC protocol | $(median_of latency latency_ms 2pc) | $(ratio latency latency_ms 2pc fdw) |"
		echo
	fi
} >"$OUT/results.md"
cat "$OUT/results.md"
say "results in $OUT"
