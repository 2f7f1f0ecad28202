#!/usr/bin/env bash
# The block device's metadata at scale (issue 17, item 5): what it costs
# in shared memory and how long a server takes to start on it.
#
#  1. Shared memory: sparse image files formatted by pgrac_image with a
#     maximum size of each of SIZES (default "64GB 1TB 8TB 16TB 64TB"; the
#     file itself is 16 GB, sparse, so the metadata is sized for the maximum),
#     at the default extent size and at a fixed 128 kB (the default before
#     it depended on the size); a server started on each, and its
#     pg_shmem_allocations total minus that of the same server on md: MiB,
#     MiB per TiB, and what pgrac_image said it would need.
#  2. Startup: the embedded image holding FORKS forks (default 100,000:
#     FORKS/2 tables of one row with a primary key: the table's main fork
#     and its index's, each of at least one extent; no VACUUM, whose
#     memory-context checks in an assertion build grow with every relation
#     it has opened), restarted
#     STARTS times: the wall time of pg_ctl start -w (which polls every
#     100 ms), and the server's own time from its first log line to "ready
#     to accept connections".  The startup reads the whole metadata area,
#     verifies the layout and builds the fork table.
#  3. Mapping: instructions per block read (valgrind's callgrind,
#     deterministic) of pg_prewarm(..., 'read') over READS blocks at the
#     start of a fork of SMALL_BLOCKS blocks, and at the start and the end
#     of a fork of BIG_BLOCKS (default 134,217,727: 1 TB, made with one
#     smgrzeroextend() by test/modules/zeroextend, so it costs only its
#     metadata on the sparse embedded image of pgrac.image_max_size 2TB),
#     at 128 kB extents (8 Mi extents in the fork: the most map pages) and
#     at that size's default extent size.
#
# BENCH_PG_VARIANT=default runs on the test build (with assertions): its
# startup figures are then an upper bound of the bench build's.  Settings:
# PARTS ("memory startup map"), SIZES, FORKS, STARTS (3), READS (10000),
# SMALL_BLOCKS (12800: 100 MB), BIG_BLOCKS, BENCH_PORT (55661).  Writes results.md into
# build/bench-results/metadata-scale-<time>/.  Not part of the test suite:
# no timing is ever asserted.  About 10 minutes with the defaults.
set -euo pipefail
export PGRAC_PG_VARIANT=${BENCH_PG_VARIANT:-bench}
[ "$PGRAC_PG_VARIANT" = default ] && unset PGRAC_PG_VARIANT
. "$(dirname "$0")/../../src/build/common.sh"

read -r -a SIZES <<<"${SIZES:-64GB 1TB 8TB 16TB 64TB}"
PARTS=${PARTS:-memory startup map}
READS=${READS:-10000}
SMALL_BLOCKS=${SMALL_BLOCKS:-12800}
BIG_BLOCKS=${BIG_BLOCKS:-134217727}
FORKS=${FORKS:-100000}
STARTS=${STARTS:-3}
PORT=${BENCH_PORT:-55661}

bench_install
ensure_os_user
OUT=$PGRAC_BUILD/bench-results/metadata-scale-$(date -u +%Y%m%dT%H%M%SZ)
WORK=$PGRAC_BUILD/bench-metadata-scale
cleanup() { stop_servers_under "$BINDIR" "$WORK"; }
stop_servers_under "$BINDIR" "$WORK"
trap cleanup EXIT
fresh_user_dir "$WORK"
mkdir -p "$OUT"

sql() { as_os_user "$BINDIR/psql" -X -At -h "$WORK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$1"; }
start() { as_os_user "$BINDIR/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w -t 600 start >/dev/null; }
stop() { as_os_user "$BINDIR/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null; }
now_ms() { date +%s%3N; }
shmem_total() { sql "SELECT sum(allocated_size) FROM pg_shmem_allocations"; }
bytes_of() {	# 8TB -> bytes
	numfmt --from=iec "${1%B}"
}

# a data directory: initdb once, copied for each server
as_os_user "$BINDIR/initdb" -D "$WORK/template" -A trust -U postgres >/dev/null
cat >>"$WORK/template/postgresql.conf" <<CONF
port = $PORT
unix_socket_directories = '$WORK'
listen_addresses = ''
shared_preload_libraries = 'pgrac_storage'
max_locks_per_transaction = 1024
CONF
fresh_data() {
	rm -rf "$WORK/data"
	as_os_user cp -a "$WORK/template" "$WORK/data"
}

{
	echo "# Block-device metadata at scale ($(date -u +%Y-%m-%dT%H:%MZ))"
	echo
	bench_environment "$WORK"
	echo
} >"$OUT/results.md"

# ---- 1. shared memory ----
if [[ " $PARTS " == *" memory "* ]]; then
fresh_data
start
base=$(shmem_total)
stop
{
	echo "## Shared memory of the metadata (server on the device minus the same server on md)"
	echo
	echo "| maximum size | extent size | MiB | MiB per TiB | pgrac_image's estimate, MB |"
	echo "|---|---|---|---|---|"
} >>"$OUT/results.md"
for size in "${SIZES[@]}"; do
	for extent in default 128kB; do
		say "shared memory: $size, extent size $extent"
		rm -f "$WORK/dev.img"
		opts=(--device="$WORK/dev.img" --size=16GB --max-size="$size")
		[ "$extent" = default ] || opts+=(--extent-size="$extent")
		out=$(as_os_user "$BINDIR/pgrac_image" format "${opts[@]}")
		got_extent=$(sed -n 's/.* extents of \([0-9]*\) kB.*/\1/p' <<<"$out" | head -n 1)
		estimate=$(sed -n 's/.*needs at most \([0-9]*\) MB.*/\1/p' <<<"$out")
		fresh_data
		printf "pgrac.storage_backend = 'block_device'\npgrac.device = '%s'\n" "$WORK/dev.img" >>"$WORK/data/postgresql.conf"
		start
		cost=$(($(shmem_total) - base))
		stop
		awk -v s="$size" -v e="$extent" -v k="$got_extent" -v c="$cost" -v b="$(bytes_of "$size")" -v est="$estimate" \
			'BEGIN { mib = c / 1048576; printf "| %s | %s kB%s | %.1f | %.1f | %s |\n", s, k, (e == "default" ? " (default)" : ""), mib, mib / (b / 2^40), est }' >>"$OUT/results.md"
	done
done
rm -f "$WORK/dev.img"
fi

# ---- 2. startup with FORKS forks ----
if [[ " $PARTS " == *" startup "* ]]; then
say "startup: making $FORKS forks on the embedded image"
fresh_data
printf "pgrac.storage_backend = 'block_device'\nautovacuum = off\nfsync = off\n" >>"$WORK/data/postgresql.conf"
start
tables=$(((FORKS + 1) / 2))
for ((first = 1; first <= tables; first += 1000)); do
	last=$((first + 999 > tables ? tables : first + 999))
	sql "DO \$\$ BEGIN FOR i IN $first..$last LOOP
		EXECUTE format('CREATE TABLE t%s (a int PRIMARY KEY)', i);
		EXECUTE format('INSERT INTO t%s VALUES (1)', i);
	END LOOP; END \$\$" >/dev/null
done
sql "CREATE EXTENSION pgrac_storage" >/dev/null
forks=$(sql "SELECT forks FROM pgrac.pgrac_block_device")
used=$(sql "SELECT extents_used FROM pgrac.pgrac_block_device")
meta=$(sql "SELECT metadata_pages_used FROM pgrac.pgrac_block_device")
stop
# fsync back on for the measured starts
sed -i 's/^fsync = off$//' "$WORK/data/postgresql.conf"
{
	echo
	echo "## Startup on the embedded image with $forks forks ($used extents used, $meta metadata pages used)"
	echo
	echo "| start | pg_ctl start -w, ms | first log line to ready, ms |"
	echo "|---|---|---|"
} >>"$OUT/results.md"
for ((i = 1; i <= STARTS; i++)); do
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	: >"$WORK/server.log"
	t0=$(now_ms)
	start
	t1=$(now_ms)
	server_ms=$(awk '
		/^[0-9-]+ [0-9:.]+ UTC/ { split($2, t, ":"); s = t[1] * 3600000 + t[2] * 60000 + t[3] * 1000;
			if (first == "") first = s; if (/ready to accept connections/) ready = s }
		END { printf "%d", ready - first }' "$WORK/server.log")
	echo "| $i (cold page cache) | $((t1 - t0)) | $server_ms |" >>"$OUT/results.md"
	stop
done
fi

# ---- 3. instructions per block read, small fork against 1 TB ----
if [[ " $PARTS " == *" map "* ]]; then
ensure_packages valgrind
mkdir -p "$WORK/zeroextend"
make --no-print-directory -s -C "$WORK/zeroextend" -f "$PGRAC_ROOT/test/modules/zeroextend/Makefile" \
	PG_CONFIG="$PG_CONFIG" >/dev/null
chown -R "$PGRAC_OS_USER" "$WORK/zeroextend"
{
	echo
	echo "## Instructions per block read (callgrind), $READS reads each, embedded image of 2 TB"
	echo
	echo "| extent size | fork | blocks read | instructions per read (in pg_prewarm) | of which bd_readv |"
	echo "|---|---|---|---|---|"
} >>"$OUT/results.md"
for extent in 128kB 0; do
	say "mapping: extent size $extent, a fork of $BIG_BLOCKS blocks"
	fresh_data
	printf "pgrac.storage_backend = 'block_device'\npgrac.image_max_size = '2TB'\npgrac.image_extent_size = '%s'\nautovacuum = off\nshared_buffers = 16MB\nmax_wal_size = 8GB\n" \
		"$extent" >>"$WORK/data/postgresql.conf"
	start
	as_os_user "$BINDIR/psql" -X -q -h "$WORK" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 postgres <<-SQL
		CREATE EXTENSION pg_prewarm;
		CREATE EXTENSION pgrac_storage;
		CREATE FUNCTION zeroextend(regclass, bigint) RETURNS bigint
			AS '$WORK/zeroextend/zeroextend.so' LANGUAGE C STRICT;
		CREATE TABLE small (x int);
		CREATE TABLE big (x int);
		SELECT zeroextend('small', $SMALL_BLOCKS);
		SELECT zeroextend('big', $BIG_BLOCKS);
		CHECKPOINT;
	SQL
	extent_kb=$(($(sql "SELECT extent_bytes FROM pgrac.pgrac_block_device") / 1024))
	stop
	for run in "small 0" "big 0" "big $((BIG_BLOCKS - READS))"; do
		set -- $run
		printf "SELECT pg_prewarm('%s', 'read', 'main', %s, %s);\n" "$1" "$2" "$(($2 + READS - 1))" >"$WORK/reads.sql"
		chmod 644 "$WORK/reads.sql"
		cg=$WORK/cg.out
		rm -f "$cg"
		as_os_user valgrind --tool=callgrind --toggle-collect=pg_prewarm --callgrind-out-file="$cg" \
			"$BINDIR/postgres" --single -D "$WORK/data" postgres <"$WORK/reads.sql" >"$WORK/cg.log" 2>&1
		grep -qE '(ERROR|FATAL|PANIC): ' "$WORK/cg.log" && die "the reads failed; see $WORK/cg.log"
		ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$cg")
		readv=$(callgrind_annotate --inclusive=yes "$cg" 2>/dev/null | awk '!done && /:bd_readv( |$)/ {gsub(",", "", $1); print $1; done = 1}')
		blocks=$SMALL_BLOCKS
		[ "$1" = big ] && blocks=$BIG_BLOCKS
		echo "| $extent_kb kB | $1 ($blocks blocks) | $2 .. $(($2 + READS - 1)) | $((ir / READS)) | $((${readv:-0} / READS)) |" >>"$OUT/results.md"
	done
done
fi

cat "$OUT/results.md"
say "results in $OUT"
