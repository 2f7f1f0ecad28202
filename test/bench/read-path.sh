#!/usr/bin/env bash
# The block-device read path, two revisions side by side (issue 13, item 3):
#
#  1. instructions per block read (valgrind's callgrind, deterministic) at
#     the start and at the end of a fork of FORK_BLOCKS blocks (default
#     1,400,000 = 10.7 GB, made with one smgrzeroextend() by the test
#     module test/modules/zeroextend, so it costs only its metadata on a
#     sparse embedded image): one single-user backend runs pg_prewarm(..., 'read', ...)
#     over READS blocks, which calls smgrread() once per block; only what
#     runs inside pg_prewarm is counted.
#  2. pgbench select-only TPS with CLIENTS clients against md, on a data
#     set larger than shared_buffers (so reads reach the storage manager;
#     they are served from the kernel's page cache), the configurations
#     interleaved md, before, after (rotated each round) over ROUNDS rounds.
#     The ratios are taken per round, so drift between rounds cancels; the
#     report gives the median and the range of the per-round ratios.
#
# BEFORE and AFTER are git revisions (default: the merge base with main,
# and HEAD).  AFTER is built into pgrac_storage_after.so against today's
# bench build of PostgreSQL (no assertions); BEFORE is built with its own
# patched PostgreSQL by baseline_install (src/build/common.sh), since the
# patch series, and so the hooks a library needs, change between
# revisions.  Each revision has its own embedded image, made by itself.
# Results: build/bench-results/read-path-<time>/.
#
#   test/bench/read-path.sh
#   ROUNDS=5 BENCH_SECONDS=20 CLIENTS="1 8" test/bench/read-path.sh
set -euo pipefail
export PGRAC_PG_VARIANT=bench
. "$(dirname "$0")/../../src/build/common.sh"
"$PGRAC_ROOT/src/build/postgres.sh"
BINDIR=$PG_INSTALL_DIR/bin
PG_CONFIG=$BINDIR/pg_config
LIBDIR=$("$PG_CONFIG" --pkglibdir)

BEFORE=${BEFORE:-$(git -C "$PGRAC_ROOT" merge-base HEAD main)}
AFTER=${AFTER:-HEAD}
FORK_BLOCKS=${FORK_BLOCKS:-1400000}
READS=${READS:-10000}
ROUNDS=${ROUNDS:-4}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CLIENTS=${CLIENTS:-"1 2 4 8"}
SCALE=${SCALE:-30}
PORT=${BENCH_PORT:-55541}

ensure_packages valgrind
ensure_os_user
WORK=${BENCH_DIR:-$PGRAC_BUILD/bench-read-path}
OUT=$PGRAC_BUILD/bench-results/read-path-$(date -u +%Y%m%dT%H%M%SZ)
fresh_user_dir "$WORK"
mkdir -p "$OUT"

# ---- the two libraries and the helper ----
build_rev() {
	local name=$1 rev=$2 src=$WORK/src-$1
	mkdir -p "$src/obj"
	git -C "$PGRAC_ROOT" archive "$rev" | tar -x -C "$src"
	make --no-print-directory -s -C "$src/obj" -f "$src/src/extension.mk" \
		PG_CONFIG="$PG_CONFIG" pgrac_storage.so >/dev/null
	install -m 755 "$src/obj/pgrac_storage.so" "$LIBDIR/pgrac_storage_$name.so"
	echo "$name: $(git -C "$PGRAC_ROOT" rev-parse --short "$rev") $(git -C "$PGRAC_ROOT" log -1 --format=%s "$rev")" >>"$OUT/revisions.txt"
}
say "building $AFTER as after, and $BEFORE with its own PostgreSQL as before"
build_rev after "$AFTER"
baseline_install "$BEFORE"
echo "before: $BASE_REV $(git -C "$PGRAC_ROOT" log -1 --format=%s "$BASE_REV"), on PostgreSQL $("$BASE_BINDIR/postgres" --version | awk '{print $3}') with its own patch series" >>"$OUT/revisions.txt"
for b in "$BINDIR" "$BASE_BINDIR"; do
	d=$WORK/zeroextend-$([ "$b" = "$BINDIR" ] && echo after || echo before)
	mkdir -p "$d"
	make --no-print-directory -s -C "$d" -f "$PGRAC_ROOT/test/modules/zeroextend/Makefile" \
		PG_CONFIG="$b/pg_config" >/dev/null
done
[ "$(id -u)" -eq 0 ] && chown -R "$PGRAC_OS_USER" "$WORK"

# Each configuration: its data directory, the bin directory of its
# PostgreSQL and the library it preloads.
config_of() {
	case $1 in
	md) CDIR=$WORK/md CBIN=$BINDIR CLIB=pgrac_storage_after ;;
	after) CDIR=$WORK/bd-after CBIN=$BINDIR CLIB=pgrac_storage_after ;;
	before) CDIR=$WORK/bd-before CBIN=$BASE_BINDIR CLIB=pgrac_storage ;;
	esac
}
psql_do() { as_os_user "$BINDIR/psql" -X -q -h "$WORK" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 "$@" postgres; }
start() { as_os_user "$CBIN/pg_ctl" -D "$CDIR" -l "$CDIR.log" -w -o "-c shared_preload_libraries=$CLIB" start >/dev/null; }
stop() { as_os_user "$CBIN/pg_ctl" -D "$CDIR" -m fast -w stop >/dev/null; }

make_cluster() {	# configuration, backend
	config_of "$1"
	local d=$CDIR
	as_os_user "$CBIN/initdb" -D "$d" -A trust -U postgres --no-sync >/dev/null
	cat >>"$d/postgresql.conf" <<-EOF
		port = $PORT
		unix_socket_directories = '$WORK'
		listen_addresses = ''
		pgrac.storage_backend = '$2'
		shared_buffers = 32MB
		synchronous_commit = off
		max_wal_size = 4GB
		checkpoint_timeout = 30min
	EOF
}

say "clusters: md, and block_device on an embedded image for before and for after"
make_cluster md md
make_cluster after block_device
make_cluster before block_device
for c in md after before; do
	config_of "$c"
	start
	as_os_user "$BINDIR/pgbench" -h "$WORK" -p "$PORT" -U postgres -i -q -s "$SCALE" postgres >/dev/null 2>&1
	if [ "$c" != md ]; then
		psql_do <<-SQL
			CREATE EXTENSION pg_prewarm;
			CREATE FUNCTION zeroextend(regclass, bigint) RETURNS bigint
				AS '$WORK/zeroextend-$c/zeroextend.so' LANGUAGE C STRICT;
			CREATE TABLE big (x int);
			SELECT zeroextend('big', $FORK_BLOCKS);
		SQL
	fi
	psql_do -c CHECKPOINT
	stop
done
fork_bytes=$(( FORK_BLOCKS * 8192 ))

# ---- 1. instructions per block read ----
echo "library,position,first_block,reads,instructions_in_pg_prewarm,per_read,bd_readv_inclusive,bd_readv_per_read" >"$OUT/instructions.csv"
for lib in before after; do
	for pos in start end; do
		if [ "$pos" = start ]; then first=0; else first=$(( FORK_BLOCKS - READS )); fi
		last=$(( first + READS - 1 ))
		cat >"$WORK/reads.sql" <<-SQL
			SELECT pg_relation_size('big');
			SELECT pg_prewarm('big', 'read', 'main', $first, $last);
		SQL
		chmod 644 "$WORK/reads.sql"
		cg=$WORK/cg-$lib-$pos.out
		say "callgrind: $lib, blocks $first..$last"
		config_of "$lib"
		as_os_user valgrind --tool=callgrind --toggle-collect=pg_prewarm --callgrind-out-file="$cg" \
			"$CBIN/postgres" --single -D "$CDIR" -c shared_preload_libraries="$CLIB" postgres \
			<"$WORK/reads.sql" >"$WORK/cg-$lib-$pos.log" 2>&1
		grep -qE '(ERROR|FATAL|PANIC): ' "$WORK/cg-$lib-$pos.log" && die "the reads failed; see $WORK/cg-$lib-$pos.log"
		ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$cg")
		readv=$(callgrind_annotate --inclusive=yes "$cg" 2>/dev/null | awk '!done && /:bd_readv( |$)/ {gsub(",", "", $1); print $1; done = 1}')
		echo "$lib,$pos,$first,$READS,$ir,$(( ir / READS )),${readv:-0},$(( ${readv:-0} / READS ))" >>"$OUT/instructions.csv"
	done
done

# ---- 2. pgbench select-only, interleaved ----
configs=(md before after)
echo "round,config,clients,tps" >"$OUT/tps.csv"
for round in $(seq 1 "$ROUNDS"); do
	for k in 0 1 2; do
		cfg=${configs[$(( (k + round - 1) % 3 ))]}
		config_of "$cfg"
		start
		# warm the kernel's page cache and the buffer pool alike for all
		as_os_user "$BINDIR/pgbench" -h "$WORK" -p "$PORT" -U postgres -n -S -c 2 -j 2 -T 5 postgres >/dev/null 2>&1
		for c in $CLIENTS; do
			tps=$(as_os_user "$BINDIR/pgbench" -h "$WORK" -p "$PORT" -U postgres -n -S -c "$c" -j "$(( c < 2 ? c : 2 ))" \
				-T "$SECONDS_PER_RUN" postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
			echo "$round,$cfg,$c,$tps" >>"$OUT/tps.csv"
			say "round $round $cfg $c clients: $tps TPS"
		done
		stop
	done
done

# ---- report ----
{
	echo "# Block-device read path ($(date -u +%Y-%m-%d))"
	echo
	bench_environment "$WORK"
	echo
	sed 's/^/* /' "$OUT/revisions.txt"
	echo
	echo "## Instructions per block read (callgrind), fork of $FORK_BLOCKS blocks ($(( fork_bytes / 1024 / 1024 )) MB), $READS reads each"
	echo
	echo "| library | blocks | per read, all of pg_prewarm's loop | per read, in bd_readv |"
	echo "|---|---|---|---|"
	awk -F, 'NR>1 {printf "| %s | %s..%d | %d | %d |\n", $1, $3, $3+$4-1, $6, $8}' "$OUT/instructions.csv"
	echo
	echo "## pgbench -S TPS, scale $SCALE, shared_buffers 32MB, $SECONDS_PER_RUN s per run, $ROUNDS rounds"
	echo
	echo "Median TPS [min-max] over the rounds; ratios are per round (config / md of the same round, after / before of the same round), median [min-max]."
	echo
	echo "| clients | md | before | after | before/md | after/md | after/before |"
	echo "|---|---|---|---|---|---|---|"
	for c in $CLIENTS; do
		awk -F, -v c="$c" '
			function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
				return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
			function rng(a, n,   i, lo, hi) { lo = a[1]; hi = a[1]; for (i = 2; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
				return sprintf("%.2f-%.2f", lo, hi) }
			NR > 1 && $3 == c { t[$2, $1] = $4; rounds[$1] = 1 }
			END {
				n = 0; for (r in rounds) n++
				line = "| " c
				split("md before after", cf, " ")
				for (k = 1; k <= 3; k++) { m = 0; for (r = 1; r <= n; r++) x[++m] = t[cf[k], r]; lo = rng(x, m); line = line sprintf(" | %.0f [%s]", med(x, m), lo); delete x }
				split("before md after md after before", pr, " ")
				for (k = 1; k <= 5; k += 2) { m = 0; for (r = 1; r <= n; r++) x[++m] = t[pr[k], r] / t[pr[k + 1], r]; lo = rng(x, m); line = line sprintf(" | %.3f [%s]", med(x, m), lo); delete x }
				print line " |"
			}' "$OUT/tps.csv"
	done
} >"$OUT/results.md"
cat "$OUT/results.md"
echo "results: $OUT"
