#!/usr/bin/env bash
# Backup throughput of a named block device (docs/backup.md) against the
# device's sequential-read limit, side by side in one run, on a PostgreSQL
# build without assertions (PGRAC_PG_VARIANT=bench).  Run as root: it
# attaches a loop device and drops the page cache before every timed read.
#
# A loop device of LOOP_GB over a file on the build's file system is
# formatted, a cluster imported onto it and filled with pgbench scale
# SCALE; then, ROUNDS times, interleaved, each from a cold page cache:
#   backup     pgrac_image backup of the device with its server running
#              (idle), into BACKUP_TARGET (tmpfs by default, so that the
#              copy's writes do not compete with its reads on one disk):
#              MB/s of the extents copied
#   fio        fio's sequential read of the part of the device that holds
#              the allocated extents (from the first to the last: the
#              image file is sparse, and reading its holes would measure
#              nothing), 4 MB blocks, one at a time, buffered as
#              pgrac_image once read (psync), and direct with 8 in flight
#              (io_uring): the device's limit
# The ratio backup / fio's faster figure is taken per round (goal: at
# least 0.8).  Then 5 % of pgbench_accounts is updated (the first 5 % of
# its rows) and, ROUNDS times, interleaved, from a cold page cache, a full
# backup and an incremental one of the full backup taken before the
# update, at the same start LSN: their sizes and times side by side.  Not
# part of the test suite: no timing is asserted.
#
# The loop device reads its backing file with direct I/O (LOOP_DIRECT_IO=on,
# losetup --direct-io), as a disk or a LUN would be read: in its default
# buffered mode the loop driver copies every byte out of this machine's
# page cache in a kernel worker, which fio and the backup pay differently
# (docs/performance.md).
#
# Settings: LOOP_GB (6), LOOP_DIRECT_IO (on), SCALE (100: about 1.5 GB), ROUNDS (3), BENCH_PORT
# (55641), BACKUP_TARGET (/dev/shm/pgrac-bench-backup).  Writes results.md
# and raw.csv into build/bench-results/backup-<time>/.
set -euo pipefail
export PGRAC_PG_VARIANT=${BENCH_PG_VARIANT:-bench}
[ "$PGRAC_PG_VARIANT" = default ] && unset PGRAC_PG_VARIANT
. "$(dirname "$0")/../../src/build/common.sh"

LOOP_GB=${LOOP_GB:-6}
LOOP_DIRECT_IO=${LOOP_DIRECT_IO:-on}
SCALE=${SCALE:-100}
ROUNDS=${ROUNDS:-3}
PORT=${BENCH_PORT:-55641}
TARGET=${BACKUP_TARGET:-/dev/shm/pgrac-bench-backup}

[ "$(id -u)" = 0 ] || die "run as root: the benchmark attaches a loop device and drops the page cache"
bench_install
ensure_packages fio
ensure_os_user

OUT=$PGRAC_BUILD/bench-results/backup-$(date -u +%Y%m%dT%H%M%SZ)
WORK=$PGRAC_BUILD/bench-backup
LOOP=
cleanup() {
	stop_servers_under "$BINDIR" "$WORK"
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null || true
	rm -rf "$WORK/loop.img" "$TARGET"
}
stop_servers_under "$BINDIR" "$WORK"
trap cleanup EXIT
fresh_user_dir "$WORK"
mkdir -p "$OUT"

sql() { as_os_user "$BINDIR/psql" -X -At -h "$WORK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$1"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
record() { echo "$1,$2,$3" >>"$OUT/raw.csv"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
now_ms() { date +%s%3N; }
val_now() { awk -F, -v r="$1" -v m="$2" '$1 == r && $2 == m {print $3}' "$OUT/raw.csv"; }

truncate -s "${LOOP_GB}G" "$WORK/loop.img"
LOOP=$(losetup --find --show --direct-io="$LOOP_DIRECT_IO" "$WORK/loop.img") || die "could not attach a loop device"
chown "$PGRAC_OS_USER" "$LOOP"
as_os_user "$BINDIR/pgrac_image" format --device="$LOOP" --force >/dev/null
as_os_user "$BINDIR/initdb" -D "$WORK/data" -A trust -U postgres >/dev/null
printf "port = %s\nunix_socket_directories = '%s'\nlisten_addresses = ''\nshared_preload_libraries = 'pgrac_storage'\npgrac.storage_backend = 'block_device'\npgrac.device = '%s'\nsummarize_wal = on\n" \
	"$PORT" "$WORK" "$LOOP" >>"$WORK/data/postgresql.conf"
as_os_user "$BINDIR/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w start >/dev/null
say "pgbench scale $SCALE on $LOOP"
as_os_user "$BINDIR/pgbench" -i -q -s "$SCALE" -h "$WORK" -p "$PORT" -U postgres postgres >/dev/null 2>&1
sql "CHECKPOINT" >/dev/null
start_lsn=$(sql "SELECT pg_current_wal_lsn()")

: >"$OUT/raw.csv"
SPAN_OFFSET=
SPAN_BYTES=
# busy and total CPU time of the whole machine so far (/proc/stat, ticks)
cpu_now() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }
# the share of all cores busy between two cpu_now samples, in percent
busy_pct() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]) }'; }
FIO_BUSY=
fio_mb_s() {			# direct, ioengine, queue depth; sets FIO_BUSY
	local c0 mb
	drop_caches
	c0=$(cpu_now)
	mb=$(fio --name=limit --filename="$LOOP" --rw=read --bs=4M --direct="$1" --ioengine="$2" --iodepth="$3" \
		--offset="$SPAN_OFFSET" --size="$SPAN_BYTES" --output-format=terse --terse-version=3 |
		awk -F';' '{printf "%.0f\n", $7 / 1024}')
	FIO_BUSY=$(busy_pct "$c0" "$(cpu_now)")
	echo "$mb"
}
# the span of allocated extents, from a backup's manifest, in 4 MB units
set_span() {			# manifest
	local first last
	read -r first last < <(awk '/^extent / { if (f == "") f = $2; l = $2 } END { print f, l }' "$1")
	SPAN_OFFSET=$((first * 131072 / 4194304 * 4194304))
	SPAN_BYTES=$(((last + 1) * 131072 - SPAN_OFFSET))
	SPAN_BYTES=$((SPAN_BYTES / 4194304 * 4194304))
}
for r in $(seq "$ROUNDS"); do
	rm -rf "$TARGET"
	drop_caches
	c0=$(cpu_now)
	t0=$(now_ms)
	line=$(as_os_user "$BINDIR/pgrac_image" backup --device="$LOOP" --target="$TARGET" --start-lsn="$start_lsn" | head -1)
	ms=$(($(now_ms) - t0))
	record "$r" backup_cpu_busy_pct "$(busy_pct "$c0" "$(cpu_now)")"
	mb=$(echo "$line" | sed -E 's/.*extents \(([0-9]+) MB\).*/\1/')
	copied=$(echo "$line" | sed -E 's/copied ([0-9]+) of ([0-9]+) extents.*/\1 \2/')
	record "$r" backup_mb "$mb"
	record "$r" backup_ms "$ms"
	record "$r" backup_mb_s "$(awk -v m="$mb" -v t="$ms" 'BEGIN {printf "%.0f", m * 1000 / t}')"
	record "$r" extents "${copied// /_of_}"
	[ -n "$SPAN_BYTES" ] || set_span "$TARGET/backup_manifest.partial"
	fio_mb_s 0 psync 1 >"$WORK/fio.out"
	record "$r" fio_buffered_mb_s "$(cat "$WORK/fio.out")"
	fio_mb_s 1 io_uring 8 >"$WORK/fio.out"
	record "$r" fio_direct_qd8_mb_s "$(cat "$WORK/fio.out")"
	record "$r" fio_direct_qd8_cpu_busy_pct "$FIO_BUSY"
	say "round $r: $(grep "^$r," "$OUT/raw.csv" | tr '\n' ' ')"
done

# ---- incremental against full after 5 % of the data changed ----
backup_at() {			# target start-lsn [parent]: "MB ms"
	local t0 line ms
	drop_caches
	t0=$(now_ms)
	line=$(as_os_user "$BINDIR/pgrac_image" backup --device="$LOOP" --target="$1" --start-lsn="$2" \
		${3:+--incremental-from="$3" --pgdata="$WORK/data"} | head -1)
	ms=$(($(now_ms) - t0))
	as_os_user "$BINDIR/pgrac_image" finish-backup --target="$1" --stop-lsn="$2" >/dev/null
	echo "$(echo "$line" | sed -E 's/.*extents \(([0-9]+) MB.*/\1/') $ms"
}
PARENT=$WORK/parent
rm -rf "$PARENT" "$TARGET"
sql "CHECKPOINT" >/dev/null
base_lsn=$(sql "SELECT redo_lsn FROM pg_control_checkpoint()")
read -r parent_mb _ <<<"$(backup_at "$PARENT" "$base_lsn")"
naccounts=$((SCALE * 100000))
sql "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= $((naccounts / 20))" >/dev/null
sql "CHECKPOINT" >/dev/null
incr_lsn=$(sql "SELECT redo_lsn FROM pg_control_checkpoint()")
for r in $(seq "$ROUNDS"); do
	rm -rf "$TARGET"
	read -r mb ms <<<"$(backup_at "$TARGET" "$incr_lsn")"
	record "$r" full_after_mb "$mb"
	record "$r" full_after_ms "$ms"
	rm -rf "$TARGET"
	read -r mb ms <<<"$(backup_at "$TARGET" "$incr_lsn" "$PARENT")"
	record "$r" incremental_mb "$mb"
	record "$r" incremental_ms "$ms"
	say "round $r: full $(val_now "$r" full_after_mb) MB in $(val_now "$r" full_after_ms) ms, incremental $mb MB in $ms ms"
done
rm -rf "$PARENT"
as_os_user "$BINDIR/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null

val() { awk -F, -v r="$1" -v m="$2" '$1 == r && $2 == m {print $3}' "$OUT/raw.csv"; }
ratios=()
for r in $(seq "$ROUNDS"); do
	best=$(awk -v a="$(val "$r" fio_buffered_mb_s)" -v b="$(val "$r" fio_direct_qd8_mb_s)" 'BEGIN {print (a > b ? a : b)}')
	ratios+=("$(awk -v b="$(val "$r" backup_mb_s)" -v f="$best" 'BEGIN {printf "%.2f", b / f}')")
done
{
	echo "# Backup of a named device against fio ($(date -u +%Y-%m-%d))"
	echo
	bench_environment "$WORK"
	echo "Loop device of ${LOOP_GB} GB over a file there (losetup --direct-io=$LOOP_DIRECT_IO); pgbench scale $SCALE; backup target $TARGET; $(fio --version), reading $((SPAN_BYTES >> 20)) MB from offset $((SPAN_OFFSET >> 20)) MB (the span of the allocated extents)."
	echo
	echo "| round | extents copied (of the device's) | backup MB/s | CPU busy | fio 4 MB buffered, 1 at a time | fio 4 MB direct, 8 in flight | CPU busy | backup / faster fio |"
	echo "|---|---|---|---|---|---|---|---|"
	for r in $(seq "$ROUNDS"); do
		echo "| $r | $(val "$r" extents | tr _ ' ') | $(val "$r" backup_mb_s) | $(val "$r" backup_cpu_busy_pct) % | $(val "$r" fio_buffered_mb_s) | $(val "$r" fio_direct_qd8_mb_s) | $(val "$r" fio_direct_qd8_cpu_busy_pct) % | ${ratios[$((r - 1))]} |"
	done
	echo
	echo "CPU busy: the share of both cores' time that the whole machine spent busy (/proc/stat) while the backup, or fio direct, ran."
	echo
	echo "Median ratio $(median "${ratios[@]}") (goal: at least 0.8). Cold page cache before every timed read."
	echo
	echo "After an update of 5 % of pgbench_accounts (its first $((SCALE * 5000)) rows), at the same start LSN, the parent a full backup from before the update ($parent_mb MB):"
	echo
	echo "| round | full backup MB | ms | incremental MB | ms | incremental / full, size | time |"
	echo "|---|---|---|---|---|---|---|"
	for r in $(seq "$ROUNDS"); do
		echo "| $r | $(val "$r" full_after_mb) | $(val "$r" full_after_ms) | $(val "$r" incremental_mb) | $(val "$r" incremental_ms) | $(awk -v a="$(val "$r" incremental_mb)" -v b="$(val "$r" full_after_mb)" 'BEGIN {printf "%.3f", a / b}') | $(awk -v a="$(val "$r" incremental_ms)" -v b="$(val "$r" full_after_ms)" 'BEGIN {printf "%.3f", a / b}') |"
	done
} >"$OUT/results.md"
cat "$OUT/results.md"
