#!/usr/bin/env bash
# The storage performance matrix: md on the file system against the
# block_device backend on an image file and on a loop device (buffered and
# direct I/O, sync and io_uring), side by side in one run on one machine,
# with fio on the same loop device as the device's raw limit.  Run as root
# (loop devices, dropping the page cache); servers run as the pgrac user on
# a PostgreSQL build without assertions (PGRAC_PG_VARIANT=bench).
#
# Configurations (CONFIGS selects; default all):
#   md            stock PostgreSQL files on the file system
#   md_dio        ... with debug_io_direct = data: PostgreSQL's own direct
#                 I/O, to tell the cost of direct I/O from ours
#   image         block_device, embedded image file, buffered, sync
#   image_dio     ... direct I/O, sync: the counterpart of md_dio (same
#                 file system, same direct I/O)
#   loop          block_device on a loop device, buffered, sync
#   loop_uring    ... buffered, io_uring
#   loop_dio      ... direct I/O, sync
#   loop_dio_uring ... direct I/O, io_uring
#   loop_dio_wb, loop_dio_uring_wb  ... with write-behind
#                 (pgrac.write_behind = WRITE_BEHIND, 32MB)
#   md_again      md once more, last: how far the machine drifted during
#                 the run.  The "vs md" ratios divide by the mean of md and
#                 md_again when both ran, and the drift is printed.
#
# Measurements, each configuration on a fresh cluster:
#   tps          pgbench TPC-B, scale SCALE, 4 clients, BENCH_ROUNDS runs
#                of BENCH_SECONDS s: the median (all runs in raw.csv)
#   copy         COPY of a COPY_MB-megabyte file into a new table and a
#                CHECKPOINT (MB/s), BENCH_ROUNDS times: the median
#   scan         cold sequential scan of that table, frozen first (VACUUM
#                FREEZE: the scan does not set hint bits): server restarted
#                and the kernel page cache dropped first (MB/s)
#   checkpoint   CHECKPOINT wall time after one row went into each of
#                TABLES tables (each a relation with dirty data), and its
#                sync time: PostgreSQL's "sync=" (md: one fsync per file)
#                plus, on block_device, the device flush of the checkpoint
#                hook, which "sync=" does not include
# and fio on the loop device (direct, the block size of a combined read,
# 128 kB, one at a time and 8 in flight, and of a page, 8 kB) as the limit
# for the scan.
#
# Settings: SCALE (50), BENCH_SECONDS (20), BENCH_ROUNDS (3), COPY_MB (1100), TABLES (5000),
# CONFIGS, BENCH_PORT (55632), LOOP_GB (8), WRITE_BEHIND (32MB), EXTENT_SIZE (128kB:
# the extent size of the image and of the loop device).  Writes results.md,
# results.csv and matrix.png into build/bench-results/storage-<time>/.
# Not part of the test suite: no timing is ever asserted.
set -euo pipefail
# BENCH_PG_VARIANT=default runs on the test build (with assertions): only
# to check the script itself, its numbers mean nothing
export PGRAC_PG_VARIANT=${BENCH_PG_VARIANT:-bench}
[ "$PGRAC_PG_VARIANT" = default ] && unset PGRAC_PG_VARIANT
. "$(dirname "$0")/../../src/build/common.sh"

SCALE=${SCALE:-50}
SECONDS_PER_RUN=${BENCH_SECONDS:-20}
ROUNDS=${BENCH_ROUNDS:-3}
COPY_MB=${COPY_MB:-1100}
TABLES=${TABLES:-5000}
PORT=${BENCH_PORT:-55632}
LOOP_GB=${LOOP_GB:-8}
WRITE_BEHIND=${WRITE_BEHIND:-32MB}
EXTENT_SIZE=${EXTENT_SIZE:-128kB}
# write-behind's device writes and the blocks in them (the _wb configurations)
wb_stats="SELECT writes || ' ' || blocks_written FROM pgrac.pgrac_write_behind_stats()"
read -r -a CONFIGS <<<"${CONFIGS:-md md_dio image image_dio loop loop_uring loop_dio loop_dio_uring loop_dio_wb loop_dio_uring_wb md_again}"

[ "$(id -u)" = 0 ] || die "run as root: the matrix attaches a loop device and drops the page cache"
bench_install
ensure_packages gnuplot-nox fio
ensure_os_user

OUT=$PGRAC_BUILD/bench-results/storage-$(date -u +%Y%m%dT%H%M%SZ)
WORK=$PGRAC_BUILD/bench-work
LOOP=
cleanup() {
	stop_servers_under "$BINDIR" "$WORK"
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null || true
	rm -f "$WORK/loop.img"
}
stop_servers_under "$BINDIR" "$WORK"
trap cleanup EXIT
fresh_user_dir "$WORK"
mkdir -p "$OUT"

sql() { as_os_user "$BINDIR/psql" -X -At -h "$WORK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$1"; }
now_ms() { date +%s%3N; }
start() { as_os_user "$BINDIR/pg_ctl" -D "$WORK/data" -l "$WORK/$1.log" -w start >/dev/null; }
stop() { as_os_user "$BINDIR/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
record() { echo "$1,$2,$3" >>"$OUT/raw.csv"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# the loop device over a file on the same file system as md's data
truncate -s "${LOOP_GB}G" "$WORK/loop.img"
LOOP=$(losetup --find --show "$WORK/loop.img") || die "could not attach a loop device"
chown "$PGRAC_OS_USER" "$LOOP"

# the COPY input, made once
say "making a ${COPY_MB} MB COPY file"
rows=$((COPY_MB * 1024 * 1024 / 150))
as_os_user "$BINDIR/initdb" -D "$WORK/data" -A trust -U postgres >/dev/null
printf "port = %s\nunix_socket_directories = '%s'\nlisten_addresses = ''\n" "$PORT" "$WORK" >>"$WORK/data/postgresql.conf"
start gen
sql "COPY (SELECT g, md5(g::text), repeat(md5((g * 7)::text), 3) FROM generate_series(1, $rows) g) TO '$WORK/copy.data'" >/dev/null
stop gen
rm -rf "$WORK/data"
copy_bytes=$(stat -c %s "$WORK/copy.data")

: >"$OUT/raw.csv"
for cfg in "${CONFIGS[@]}"; do
	say "$cfg: setting up"
	# what the previous configuration left dirty is written back now, not
	# during this one's measurements
	drop_caches
	as_os_user "$BINDIR/initdb" -D "$WORK/data" -A trust -U postgres >/dev/null
	cat >>"$WORK/data/postgresql.conf" <<CONF
port = $PORT
unix_socket_directories = '$WORK'
listen_addresses = ''
shared_buffers = 1GB
max_wal_size = 8GB
checkpoint_timeout = 30min
log_checkpoints = on
max_locks_per_transaction = 256
CONF
	case $cfg in
	md | md_again) ;;
	md_dio) echo "debug_io_direct = data" >>"$WORK/data/postgresql.conf" ;;
	image* | loop*)
		printf "shared_preload_libraries = 'pgrac_storage'\npgrac.storage_backend = 'block_device'\n" >>"$WORK/data/postgresql.conf"
		case $cfg in
		image*) printf "pgrac.image_max_size = '64GB'\npgrac.image_extent_size = '%s'\n" "$EXTENT_SIZE" >>"$WORK/data/postgresql.conf" ;;
		loop*)
			as_os_user "$BINDIR/pgrac_image" format --device="$LOOP" --extent-size="$EXTENT_SIZE" --force >/dev/null
			echo "pgrac.device = '$LOOP'" >>"$WORK/data/postgresql.conf"
			;;
		esac
		case $cfg in *dio*) echo "pgrac.direct_io = on" >>"$WORK/data/postgresql.conf" ;; esac
		case $cfg in *uring*) echo "pgrac.io_method = io_uring" >>"$WORK/data/postgresql.conf" ;; esac
		case $cfg in *_wb) echo "pgrac.write_behind = '$WRITE_BEHIND'" >>"$WORK/data/postgresql.conf" ;; esac
		;;
	*) die "unknown configuration $cfg" ;;
	esac
	start "$cfg"

	say "$cfg: pgbench"
	as_os_user "$BINDIR/pgbench" -h "$WORK" -p "$PORT" -U postgres -i -s "$SCALE" -q postgres >/dev/null 2>&1
	sql "CHECKPOINT" >/dev/null
	runs=()
	for _ in $(seq "$ROUNDS"); do
		tps=$(as_os_user "$BINDIR/pgbench" -h "$WORK" -p "$PORT" -U postgres -c 4 -j 2 \
			-T "$SECONDS_PER_RUN" -n postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
		record "$cfg" tps_run "$tps"
		runs+=("$tps")
	done
	record "$cfg" tps "$(median "${runs[@]}")"

	say "$cfg: COPY"
	# with write-behind: how many blocks its writer put into each device write
	case $cfg in *_wb)
		sql "CREATE EXTENSION IF NOT EXISTS pgrac_storage" >/dev/null
		read -r wb_writes0 wb_blocks0 <<<"$(sql "$wb_stats")" ;;
	esac
	runs=()
	for r in $(seq "$ROUNDS"); do
		# each round into a new table; the last one stays for the scan
		sql "DROP TABLE IF EXISTS bulk; CREATE TABLE bulk (id bigint, a text, b text)" >/dev/null
		sql "CHECKPOINT" >/dev/null
		t0=$(now_ms)
		sql "COPY bulk FROM '$WORK/copy.data'" >/dev/null
		sql "CHECKPOINT" >/dev/null
		t1=$(now_ms)
		mb_s=$(awk -v b="$copy_bytes" -v ms=$((t1 - t0)) 'BEGIN {printf "%.1f", b / 1048576 / (ms / 1000)}')
		record "$cfg" copy_run "$mb_s"
		runs+=("$mb_s")
	done
	record "$cfg" copy_mb_s "$(median "${runs[@]}")"
	case $cfg in *_wb)
		read -r wb_writes1 wb_blocks1 <<<"$(sql "$wb_stats")"
		record "$cfg" copy_wb_blocks_per_write "$(awk -v w=$((wb_writes1 - wb_writes0)) -v b=$((wb_blocks1 - wb_blocks0)) \
			'BEGIN {printf "%.1f", (w ? b / w : 0)}')" ;;
	esac

	say "$cfg: cold scan"
	# the first scan of freshly loaded rows sets their hint bits and so
	# writes every page again (synchronously, with direct I/O): freeze
	# them first so the scan measures reading
	sql "VACUUM (FREEZE) bulk" >/dev/null
	sql "CHECKPOINT" >/dev/null
	table_bytes=$(sql "SELECT pg_relation_size('bulk')")
	stop "$cfg"
	drop_caches
	start "$cfg"
	t0=$(now_ms)
	sql "SET max_parallel_workers_per_gather = 0; SELECT count(*) FROM bulk" >/dev/null
	t1=$(now_ms)
	record "$cfg" scan_mb_s "$(awk -v b="$table_bytes" -v ms=$((t1 - t0)) 'BEGIN {printf "%.1f", b / 1048576 / (ms / 1000)}')"

	say "$cfg: checkpoint with $TABLES dirty relations"
	as_os_user "$BINDIR/psql" -X -q -h "$WORK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT format('CREATE TABLE many_%s (a int)', g) FROM generate_series(1, $TABLES) g \gexec
CHECKPOINT;
SELECT format('INSERT INTO many_%s VALUES (1)', g) FROM generate_series(1, $TABLES) g \gexec
SQL
	t0=$(now_ms)
	sql "CHECKPOINT" >/dev/null
	t1=$(now_ms)
	record "$cfg" checkpoint_ms "$((t1 - t0))"
	pg_sync=$(grep 'checkpoint complete' "$WORK/$cfg.log" | tail -n 1 | sed -n 's/.*sync=\([0-9.]*\) s.*/\1/p')
	dev_flush=$( (grep 'pgrac block device checkpoint:' "$WORK/$cfg.log" || true) | tail -n 1 |
		sed -n 's/.*device flush=\([0-9.]*\) s.*/\1/p')
	record "$cfg" checkpoint_sync_s "$(awk -v a="$pg_sync" -v b="${dev_flush:-0}" 'BEGIN {printf "%.3f", a + b}')"
	stop "$cfg"
	rm -rf "$WORK/data"
done

say "fio on $LOOP"
# written first: reading the holes of a sparse file would measure memory
fio --name=fill --filename="$LOOP" --rw=write --bs=1M --direct=1 --size=4G >/dev/null
fio_mb_s() {			# block size, ioengine, queue depth
	drop_caches
	fio --name=limit --filename="$LOOP" --rw=read --bs="$1" --direct=1 --ioengine="$2" --iodepth="$3" \
		--size=4G --runtime=30 --minimal 2>/dev/null |
		awk -F';' '{printf "%.1f", $7 / 1024}'
}
record fio read_128k_mb_s "$(fio_mb_s 128k psync 1)"
record fio read_128k_qd8_mb_s "$(fio_mb_s 128k io_uring 8)"
record fio read_8k_mb_s "$(fio_mb_s 8k psync 1)"

val() { awk -F, -v c="$1" -v m="$2" '$1 == c && $2 == m {print $3}' "$OUT/raw.csv"; }
range() { awk -F, -v c="$1" -v m="$2" '$1 == c && $2 == m {v = $3 + 0; lo = (n && lo < v) ? lo : v; hi = (n && hi > v) ? hi : v; n++} END {printf "%.0f-%.0f", lo, hi}' "$OUT/raw.csv"; }
# the reference: md, or the mean of md and md_again when both ran
ref() {
	awk -F, -v m="$1" '($1 == "md" || $1 == "md_again") && $2 == m {s += $3; n++} END {if (n) printf "%.4f", s / n}' "$OUT/raw.csv"
}
drift() {			# md_again's value over md's, for metric $1
	awk -v a="$(val md "$1")" -v b="$(val md_again "$1")" 'BEGIN {if (a > 0 && b != "") printf "%.2f", b / a}'
}
md_tps=$(ref tps)
md_copy=$(ref copy_mb_s)
md_scan=$(ref scan_mb_s)
md_ckpt=$(ref checkpoint_ms)
md_sync=$(ref checkpoint_sync_s)
fio128=$(val fio read_128k_mb_s)
fio128q=$(val fio read_128k_qd8_mb_s)
fio_best=$(awk -v a="$fio128" -v b="$fio128q" 'BEGIN {print (a > b ? a : b)}')
{
	echo "config,tps,copy_mb_s,scan_mb_s,checkpoint_ms,checkpoint_sync_s"
	for cfg in "${CONFIGS[@]}"; do
		echo "$cfg,$(val "$cfg" tps),$(val "$cfg" copy_mb_s),$(val "$cfg" scan_mb_s),$(val "$cfg" checkpoint_ms),$(val "$cfg" checkpoint_sync_s)"
	done
} >"$OUT/results.csv"
{
	echo "# Storage performance matrix ($(date -u +%Y-%m-%d))"
	echo
	bench_environment "$WORK"
	echo "PGDATA, the embedded image and the loop device's backing file share that file system; $(fio --version)."
	echo "pgbench TPC-B scale $SCALE, 4 clients, median of $ROUNDS runs of ${SECONDS_PER_RUN} s [range]; COPY of $((copy_bytes / 1048576)) MB into a new table followed by CHECKPOINT, median of $ROUNDS [range]; cold scan of that table (frozen first) after restart and dropping the page cache; CHECKPOINT after one row into each of $TABLES tables: wall time, and sync time (PostgreSQL's \"sync=\" plus, on block_device, the device flush of the checkpoint hook). One cluster per configuration, in the order listed. block_device extents of $EXTENT_SIZE; write-behind (the _wb configurations) $WRITE_BEHIND."
	echo
	echo "| config | pgbench TPS [range] | vs md | COPY MB/s [range] | vs md | cold scan MB/s | vs fio | checkpoint ms | vs md | checkpoint sync s | vs md |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	for cfg in "${CONFIGS[@]}"; do
		awk -v c="$cfg" -v t="$(val "$cfg" tps)" -v tr="$(range "$cfg" tps_run)" -v mt="$md_tps" \
			-v cp="$(val "$cfg" copy_mb_s)" -v cr="$(range "$cfg" copy_run)" -v mc="$md_copy" \
			-v s="$(val "$cfg" scan_mb_s)" -v f="$fio_best" -v k="$(val "$cfg" checkpoint_ms)" -v mk="$md_ckpt" \
			-v y="$(val "$cfg" checkpoint_sync_s)" -v my="$md_sync" \
			'BEGIN {printf "| %s | %.0f [%s] | %.2f | %.1f [%s] | %.2f | %.1f | %.2f | %d | %.2f | %.3f | %.2f |\n", c, t, tr, (mt ? t/mt : 0), cp, cr, (mc ? cp/mc : 0), s, (f ? s/f : 0), k, (mk ? k/mk : 0), y, (my ? y/my : 0)}'
	done
	if [ -n "$(val md_again tps)" ]; then
		echo
		echo "Drift: md run again at the end of the run, against md at its start: TPS $(drift tps), COPY $(drift copy_mb_s), cold scan $(drift scan_mb_s), checkpoint $(drift checkpoint_ms), checkpoint sync $(drift checkpoint_sync_s). The \"vs md\" ratios divide by the mean of the two; a ratio is not resolved within about the drift."
	fi
	echo
	echo "fio on the loop device, direct sequential reads: 128 kB blocks one at a time (psync) $fio128 MB/s, 8 in flight (io_uring) $fio128q MB/s; 8 kB blocks one at a time $(val fio read_8k_mb_s) MB/s. \"vs fio\" divides by the faster 128 kB figure."
	wb_lines=$(awk -F, '$2 == "copy_wb_blocks_per_write" {printf "%s%s %s", (n++ ? ", " : ""), $1, $3}' "$OUT/raw.csv")
	if [ -n "$wb_lines" ]; then
		echo
		echo "Write-behind, blocks per device write of its writer during the COPY rounds: $wb_lines."
	fi
	echo
	echo "Raw values (config, metric, value):"
	echo
	sed 's/^/    /' "$OUT/raw.csv"
} >"$OUT/results.md"

gnuplot <<PLOT
set terminal png size 1000,480 noenhanced
set output "$OUT/matrix.png"
set datafile separator ","
set style data histograms
set style fill solid 0.8
set logscale y
set yrange [0.1:*]
set xtics rotate by -25
set grid ytics
set ylabel "ratio to md, log scale (checkpoint: md time / time)"
set title "block_device against md (higher is better)"
set key outside right top
plot "< tail -n +2 $OUT/results.csv" using (\$2/$md_tps):xtic(1) title "pgbench TPS", \
     "" using (\$3/$md_copy) title "COPY", \
     "" using (\$4/$md_scan) title "cold scan", \
     "" using ($md_ckpt/\$5) title "checkpoint", \
     "" using ($md_sync/\$6) title "checkpoint sync"
PLOT

cat "$OUT/results.md"
echo "results: $OUT"
