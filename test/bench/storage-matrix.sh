#!/usr/bin/env bash
# The storage performance matrix: md on the file system against the
# block_device backend on an image file and on a loop device (buffered and
# direct I/O, sync and io_uring), interleaved over ROUNDS rounds in one run
# on one machine, with fio on a loop device as the device's raw limit in
# every round.  Run as root (loop devices, dropping the page cache);
# servers run as the pgrac user on a PostgreSQL build without assertions
# (PGRAC_PG_VARIANT=bench).
#
# Configurations (CONFIGS selects; md is always measured, first):
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
#                 (pgrac.write_behind = WRITE_BEHIND)
#   NAME@base     any of the above on the revision BASELINE (a git revision
#                 of this repository, built with its own patched PostgreSQL
#                 by baseline_install in src/build/common.sh): "before"
#                 against the "after" of the same NAME, in the same rounds.
#                 The report then adds, per measurement, NAME / NAME@base
#                 taken within each round, and whether every pair is worse
#                 (a regression beyond the drift), every pair better, or
#                 neither (no difference resolved).  md@base, when listed,
#                 is the md that the @base configurations are divided by.
# Each configuration has its own cluster (and loop device backing file),
# set up once.  Then ROUNDS rounds measure every configuration once each,
# in the listed order in odd rounds and in reverse in even ones (A B C,
# C B A, ...: a configuration's distance in time from md is the same on
# average, so steady drift cancels), and fio once.  Each ratio is taken
# within a round (configuration over md, or over fio, in the same round)
# and reported as the median of the rounds with the range of the pairs: a
# goal is "met" or "not met" only when every pair is on the same side of
# it, otherwise "unresolved".
#
# Measurements, in each round:
#   tps          pgbench TPC-B, scale SCALE, 4 clients, one run of
#                BENCH_SECONDS s
#   copy         COPY of a COPY_MB-megabyte file into a new table and a
#                CHECKPOINT (MB/s)
#   scan         cold sequential scan of that table, frozen first (VACUUM
#                FREEZE: the scan does not set hint bits), after a restart
#                and dropping the kernel page cache (MB/s); scan_nora the
#                same with pgrac.read_ahead = 0 (block_device only), and
#                scan_par2 with 2 parallel workers (forced)
#   checkpoint   CHECKPOINT wall time after one row went into each of
#                TABLES tables (each a relation with dirty data), and its
#                sync time: PostgreSQL's "sync=" (md: one fsync per file)
#                plus, on block_device, the device flush of the checkpoint
#                hook, which "sync=" does not include
#   fio          its own loop device, direct, 128 kB blocks one at a time
#                (psync) and 8 in flight (io_uring): "vs fio" divides by
#                the faster of the two in the same round
#
# Settings: ROUNDS (5), SCALE (50), BENCH_SECONDS (20), COPY_MB (1100),
# TABLES (5000), CONFIGS, BASELINE, BENCH_PORT (55632), LOOP_GB (8), WRITE_BEHIND
# (32MB), EXTENT_SIZE (128kB: the extent size of the image and of the loop
# devices).  Writes results.md, raw.csv and matrix.png into
# build/bench-results/storage-<time>/.  Not part of the test suite: no
# timing is ever asserted.
set -euo pipefail
# BENCH_PG_VARIANT=default runs on the test build (with assertions): only
# to check the script itself, its numbers mean nothing
export PGRAC_PG_VARIANT=${BENCH_PG_VARIANT:-bench}
[ "$PGRAC_PG_VARIANT" = default ] && unset PGRAC_PG_VARIANT
. "$(dirname "$0")/../../src/build/common.sh"

SCALE=${SCALE:-50}
SECONDS_PER_RUN=${BENCH_SECONDS:-20}
ROUNDS=${ROUNDS:-${BENCH_ROUNDS:-5}}
COPY_MB=${COPY_MB:-1100}
TABLES=${TABLES:-5000}
PORT=${BENCH_PORT:-55632}
LOOP_GB=${LOOP_GB:-8}
WRITE_BEHIND=${WRITE_BEHIND:-32MB}
EXTENT_SIZE=${EXTENT_SIZE:-128kB}
read -r -a CONFIGS <<<"${CONFIGS:-md md_dio image image_dio loop loop_uring loop_dio loop_dio_uring loop_dio_wb loop_dio_uring_wb}"
# md first, once: every ratio is against it
CONFIGS=(md $(printf '%s\n' "${CONFIGS[@]}" | grep -vx md || true))
[ "${#CONFIGS[@]}" -ge 2 ] || die "CONFIGS needs a configuration besides md"
has_config() { printf '%s\n' "${CONFIGS[@]}" | grep -qx -- "$1"; }
BASELINE=${BASELINE:-}
if printf '%s\n' "${CONFIGS[@]}" | grep -q '@base$'; then
	[ -n "$BASELINE" ] || die "CONFIGS names @base configurations: set BASELINE to the revision they run"
elif [ -n "$BASELINE" ]; then
	die "BASELINE is set but no configuration in CONFIGS runs on it (name them NAME@base)"
fi

[ "$(id -u)" = 0 ] || die "run as root: the matrix attaches loop devices and drops the page cache"
bench_install
CUR_BINDIR=$BINDIR
BASE_BINDIR=$BINDIR
[ -n "$BASELINE" ] && baseline_install "$BASELINE"
ensure_packages gnuplot-nox fio
ensure_os_user

OUT=$PGRAC_BUILD/bench-results/storage-$(date -u +%Y%m%dT%H%M%SZ)
WORK=$PGRAC_BUILD/bench-work
LOOP=
cleanup() {
	stop_servers_under "$CUR_BINDIR" "$WORK"
	stop_servers_under "$BASE_BINDIR" "$WORK"
	detach
	rm -f "$WORK"/*.img
}
stop_servers_under "$CUR_BINDIR" "$WORK"
stop_servers_under "$BASE_BINDIR" "$WORK"
trap cleanup EXIT
fresh_user_dir "$WORK"
mkdir -p "$OUT"

# the configuration being measured (its cluster, its loop device), what
# kind it is (its name without @base) and the binaries it runs on
CFG= KIND=
use_config() {
	CFG=$1
	KIND=${CFG%@base}
	case $CFG in *@base) BINDIR=$BASE_BINDIR ;; *) BINDIR=$CUR_BINDIR ;; esac
}
sql() { as_os_user "$BINDIR/psql" -X -At -h "$WORK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$1"; }
now_ms() { date +%s%3N; }
start() { as_os_user "$BINDIR/pg_ctl" -D "$WORK/$CFG" -l "$WORK/$CFG.log" -w start >/dev/null; }
stop() { as_os_user "$BINDIR/pg_ctl" -D "$WORK/$CFG" -m fast -w stop >/dev/null; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
round=0
record() { echo "$round,$1,$2,$3" >>"$OUT/raw.csv"; }
mb_s() { awk -v b="$1" -v ms="$2" 'BEGIN {printf "%.1f", b / 1048576 / (ms / 1000)}'; }
# A loop device over a configuration's own backing file (on the same file
# system as md's data), attached only while it is measured.
attach() {
	LOOP=$(losetup --find --show "$WORK/$1.img") || die "could not attach a loop device"
	chown "$PGRAC_OS_USER" "$LOOP"
	ln -sfn "$LOOP" "$WORK/$1.dev"
}
detach() {
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null || true
	LOOP=
}

# the COPY input, made once
say "making a ${COPY_MB} MB COPY file"
rows=$((COPY_MB * 1024 * 1024 / 150))
CFG=gen
as_os_user "$BINDIR/initdb" -D "$WORK/gen" -A trust -U postgres >/dev/null
printf "port = %s\nunix_socket_directories = '%s'\nlisten_addresses = ''\n" "$PORT" "$WORK" >>"$WORK/gen/postgresql.conf"
start
sql "COPY (SELECT g, md5(g::text), repeat(md5((g * 7)::text), 3) FROM generate_series(1, $rows) g) TO '$WORK/copy.data'" >/dev/null
stop
rm -rf "$WORK/gen"
copy_bytes=$(stat -c %s "$WORK/copy.data")

# Setup, once per configuration: a cluster with pgbench's tables and the
# TABLES small ones
: >"$OUT/raw.csv"
for c in "${CONFIGS[@]}"; do
	use_config "$c"
	say "$CFG: setting up"
	as_os_user "$BINDIR/initdb" -D "$WORK/$CFG" -A trust -U postgres >/dev/null
	conf=$WORK/$CFG/postgresql.conf
	cat >>"$conf" <<CONF
port = $PORT
unix_socket_directories = '$WORK'
listen_addresses = ''
shared_buffers = 1GB
max_wal_size = 8GB
checkpoint_timeout = 30min
log_checkpoints = on
max_locks_per_transaction = 256
CONF
	case $KIND in
	md) ;;
	md_dio) echo "debug_io_direct = data" >>"$conf" ;;
	image* | loop*)
		printf "shared_preload_libraries = 'pgrac_storage'\npgrac.storage_backend = 'block_device'\n" >>"$conf"
		case $KIND in
		image*) printf "pgrac.image_max_size = '64GB'\npgrac.image_extent_size = '%s'\n" "$EXTENT_SIZE" >>"$conf" ;;
		loop*)
			truncate -s "${LOOP_GB}G" "$WORK/$CFG.img"
			attach "$CFG"
			as_os_user "$BINDIR/pgrac_image" format --device="$LOOP" --extent-size="$EXTENT_SIZE" --force >/dev/null
			# the server names a link that each round points at the loop
			# device attached for it
			echo "pgrac.device = '$WORK/$CFG.dev'" >>"$conf"
			;;
		esac
		case $KIND in *dio*) echo "pgrac.direct_io = on" >>"$conf" ;; esac
		case $KIND in *uring*) echo "pgrac.io_method = io_uring" >>"$conf" ;; esac
		case $KIND in *_wb) echo "pgrac.write_behind = '$WRITE_BEHIND'" >>"$conf" ;; esac
		;;
	*) die "unknown configuration $CFG" ;;
	esac
	start
	as_os_user "$BINDIR/pgbench" -h "$WORK" -p "$PORT" -U postgres -i -s "$SCALE" -q postgres >/dev/null 2>&1
	as_os_user "$BINDIR/psql" -X -q -h "$WORK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT format('CREATE TABLE many_%s (a int)', g) FROM generate_series(1, $TABLES) g \gexec
CHECKPOINT;
SQL
	stop
	detach
done

# fio's own loop device, written once: reading the holes of a sparse file
# would measure memory
truncate -s 5G "$WORK/fio.img"
attach fio
fio --name=fill --filename="$LOOP" --rw=write --bs=1M --direct=1 --size=4G >/dev/null
detach
fio_mb_s() {			# block size, ioengine, queue depth
	drop_caches
	fio --name=limit --filename="$LOOP" --rw=read --bs="$1" --direct=1 --ioengine="$2" --iodepth="$3" \
		--size=4G --runtime=20 --minimal 2>/dev/null |
		awk -F';' '{printf "%.1f", $7 / 1024}'
}

# One configuration, measured once.
measure() {
	local t0 t1 table_bytes pg_sync dev_flush
	case $KIND in loop*) attach "$CFG" ;; esac
	# what the previous configuration left dirty is written back now, not
	# during this one's measurements
	drop_caches
	start
	say "round $round, $CFG: pgbench"
	record "$CFG" tps "$(as_os_user "$BINDIR/pgbench" -h "$WORK" -p "$PORT" -U postgres -c 4 -j 2 \
		-T "$SECONDS_PER_RUN" -n postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')"

	say "round $round, $CFG: COPY"
	sql "DROP TABLE IF EXISTS bulk; CREATE TABLE bulk (id bigint, a text, b text)" >/dev/null
	sql "CHECKPOINT" >/dev/null
	t0=$(now_ms)
	sql "COPY bulk FROM '$WORK/copy.data'" >/dev/null
	sql "CHECKPOINT" >/dev/null
	t1=$(now_ms)
	record "$CFG" copy_mb_s "$(mb_s "$copy_bytes" $((t1 - t0)))"

	say "round $round, $CFG: cold scans"
	# the first scan of freshly loaded rows sets their hint bits and so
	# writes every page again: freeze them first so the scan measures reading
	sql "VACUUM (FREEZE) bulk" >/dev/null
	sql "CHECKPOINT" >/dev/null
	table_bytes=$(sql "SELECT pg_relation_size('bulk')")
	scan() {		# metric, settings
		stop
		drop_caches
		start
		t0=$(now_ms)
		sql "$2 SELECT count(*) FROM bulk" >/dev/null
		t1=$(now_ms)
		record "$CFG" "$1" "$(mb_s "$table_bytes" $((t1 - t0)))"
	}
	local serial="SET max_parallel_workers_per_gather = 0;"
	scan scan_mb_s "$serial"
	case $KIND in image* | loop*) scan scan_nora_mb_s "$serial SET pgrac.read_ahead = 0;" ;; esac
	scan scan_par2_mb_s "SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;"

	say "round $round, $CFG: checkpoint with $TABLES dirty relations"
	as_os_user "$BINDIR/psql" -X -q -h "$WORK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT format('INSERT INTO many_%s VALUES (1)', g) FROM generate_series(1, $TABLES) g \gexec
SQL
	t0=$(now_ms)
	sql "CHECKPOINT" >/dev/null
	t1=$(now_ms)
	record "$CFG" checkpoint_ms "$((t1 - t0))"
	pg_sync=$(grep 'checkpoint complete' "$WORK/$CFG.log" | tail -n 1 | sed -n 's/.*sync=\([0-9.]*\) s.*/\1/p')
	dev_flush=$( (grep 'pgrac block device checkpoint:' "$WORK/$CFG.log" || true) | tail -n 1 |
		sed -n 's/.*device flush=\([0-9.]*\) s.*/\1/p')
	record "$CFG" checkpoint_sync_s "$(awk -v a="$pg_sync" -v b="${dev_flush:-0}" 'BEGIN {printf "%.3f", a + b}')"
	stop
	detach
}

for round in $(seq "$ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then
		order=("${CONFIGS[@]}")
	else
		order=($(printf '%s\n' "${CONFIGS[@]}" | tac))
	fi
	for c in "${order[@]}"; do
		use_config "$c"
		measure
	done
	say "round $round: fio"
	attach fio
	record fio read_128k_mb_s "$(fio_mb_s 128k psync 1)"
	record fio read_128k_qd8_mb_s "$(fio_mb_s 128k io_uring 8)"
	detach
done

# ---- the report: every ratio within a round, then over the rounds ----
BINDIR=$CUR_BINDIR
# per-round values of config $1, metric $2
values() { awk -F, -v c="$1" -v m="$2" '$2 == c && $3 == m {print $4}' "$OUT/raw.csv"; }
# per-round ratios: config $1 metric $2 over reference $3 ("md:METRIC":
# the md of $1, md@base for a @base configuration when md@base runs;
# "cfg:CONFIG:METRIC"; "fio"; or "self:METRIC": the same configuration's
# METRIC); $4 = inv to
# divide the reference by the value instead (times: lower is better)
ratios() {
	local md=md
	case $1 in *@base) has_config md@base && md=md@base ;; esac
	awk -F, -v c="$1" -v m="$2" -v ref="$3" -v inv="${4:-}" -v md="$md" '
		{ v[$1, $2, $3] = $4; r[$1] = 1 }
		END {
			split(ref, rp, ":")
			for (k in r) {
				x = v[k, c, m]
				if (rp[1] == "md") y = v[k, md, rp[2]]
				else if (rp[1] == "cfg") y = v[k, rp[2], rp[3]]
				else if (rp[1] == "self") y = v[k, c, rp[2]]
				else { a = v[k, "fio", "read_128k_mb_s"]; b = v[k, "fio", "read_128k_qd8_mb_s"]; y = (a > b ? a : b) }
				if (x == "" || y == "" || x + 0 == 0 || y + 0 == 0) continue
				printf "%.4f\n", inv ? y / x : x / y
			}
		}' "$OUT/raw.csv"
}
# "median [lo-hi]" of a list on stdin, with the format $1
summary() {
	sort -g | awk -v f="$1" '{v[NR] = $1} END {if (NR) printf f " [" f "-" f "]", v[int((NR + 1) / 2)], v[1], v[NR]}'
}
# a ratio against a goal: met or not met when every pair agrees
verdict() {			# goal, ">=" or "<=", then the ratios on stdin
	sort -g | awk -v g="$1" -v d="$2" '{v[NR] = $1} END {
		if (!NR) { print "-"; exit }
		ok = 0; for (i = 1; i <= NR; i++) if ((d == ">=" && v[i] >= g) || (d == "<=" && v[i] <= g)) ok++
		if (ok == NR) printf "met (%d of %d)", ok, NR
		else if (ok == 0) printf "not met (0 of %d)", NR
		else printf "unresolved (%d of %d)", ok, NR }'
}
# after against before: every pair below 1, every pair above, or neither
compare() {
	awk '{ if ($1 < 1) lo++; else if ($1 > 1) hi++; n++ } END {
		if (n && lo == n) print "worse"; else if (n && hi == n) print "better"; else print "no difference resolved" }'
}
row() {				# one configuration's line of the table
	local c=$1 sync_goal=0.3 scan_nora="-" vs_nora="-"
	case $c in image*) sync_goal=0.1 ;; esac
	case $c in image* | loop*)
		scan_nora="$(values "$c" scan_nora_mb_s | summary %.0f)"
		vs_nora="$(ratios "$c" scan_nora_mb_s fio | summary %.2f)" ;;
	esac
	local md_cols="| 1 | | 1 | |" sync_cols="| 1 | |"
	if [ "${c%@base}" != md ]; then
		md_cols="| $(ratios "$c" tps md:tps | summary %.2f) | $(ratios "$c" tps md:tps | verdict 1 '>=') | $(values "$c" copy_mb_s | summary %.0f) | $(ratios "$c" copy_mb_s md:copy_mb_s | summary %.2f) | $(ratios "$c" copy_mb_s md:copy_mb_s | verdict 1 '>=') |"
		sync_cols="| $(ratios "$c" checkpoint_sync_s md:checkpoint_sync_s | summary %.3f) | $(ratios "$c" checkpoint_sync_s md:checkpoint_sync_s | verdict "$sync_goal" '<=') ($sync_goal) |"
	else
		md_cols="| 1 | | $(values "$c" copy_mb_s | summary %.0f) | 1 | |"
	fi
	echo "| $c | $(values "$c" tps | summary %.0f) $md_cols $(values "$c" scan_mb_s | summary %.0f) | $(ratios "$c" scan_mb_s fio | summary %.2f) | $(ratios "$c" scan_mb_s fio | verdict 0.8 '>=') | $scan_nora | $vs_nora | $(ratios "$c" scan_par2_mb_s self:scan_mb_s | summary %.2f) | $(ratios "$c" scan_par2_mb_s self:scan_mb_s | verdict 1 '>=') | $(values "$c" checkpoint_ms | summary %.0f) | $(values "$c" checkpoint_sync_s | summary %.3f) $sync_cols"
}
{
	echo "# Storage performance matrix ($(date -u +%Y-%m-%d))"
	echo
	bench_environment "$WORK"
	[ -n "$BASELINE" ] && echo "Baseline (the @base configurations): pgrac_storage $BASE_REV on $("$BASE_BINDIR/postgres" --version | awk '{print $3}') with that revision's patch series."
	echo "PGDATA, the embedded image and the loop devices' backing files share that file system; $(fio --version)."
	echo "$ROUNDS rounds; each measures every configuration once (listed order in odd rounds, reversed in even ones) and fio once. pgbench TPC-B scale $SCALE, 4 clients, one run of ${SECONDS_PER_RUN} s; COPY of $((copy_bytes / 1048576)) MB into a new table followed by CHECKPOINT; cold scans of that table (frozen first) after a restart and dropping the page cache: serial, serial with pgrac.read_ahead = 0 (\"no RA\"), and with 2 parallel workers (\"par 2\", against the serial scan); CHECKPOINT after one row into each of $TABLES tables: wall time, and sync time (PostgreSQL's \"sync=\" plus, on block_device, the device flush of the checkpoint hook). block_device extents of $EXTENT_SIZE; write-behind (the _wb configurations) $WRITE_BEHIND."
	echo
	echo "Values: median of the rounds [range]. Ratios: taken within each round, median [range of the pairs]; a goal is met or not met only when every pair agrees, otherwise unresolved. \"vs fio\": over the faster of fio's two 128 kB figures in the same round."
	echo
	echo "| config | TPS | vs md | TPS ≥ md | COPY MB/s | vs md | COPY ≥ md | cold scan MB/s | vs fio | scan ≥ 0.8 fio | no RA MB/s | no RA vs fio | par 2 / serial | par 2 ≥ serial | checkpoint ms | checkpoint sync s | sync vs md | sync goal |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	for c in "${CONFIGS[@]}"; do row "$c"; done
	echo
	if [ -n "$BASELINE" ]; then
		echo "## Against the baseline: NAME / NAME@base"
		echo
		echo "NAME runs pgrac_storage $(git -C "$PGRAC_ROOT" rev-parse --short HEAD) on today's patched PostgreSQL, NAME@base runs $BASE_REV ($(git -C "$PGRAC_ROOT" log -1 --format=%s "$BASE_REV")) on PostgreSQL with its own patch series; both bench builds. Each ratio is taken within a round, oriented so that above 1 is better (times are divided the other way): median [range of the pairs], and \"worse\" or \"better\" only when every pair is, otherwise \"no difference resolved\" (within the drift)."
		echo
		echo "| config | TPS | COPY | cold scan | scan no RA | scan par 2 | checkpoint | checkpoint sync |"
		echo "|---|---|---|---|---|---|---|---|"
		for c in "${CONFIGS[@]}"; do
			case $c in *@base) continue ;; esac
			has_config "$c@base" || continue
			line="| $c"
			for m in tps copy_mb_s scan_mb_s scan_nora_mb_s scan_par2_mb_s checkpoint_ms checkpoint_sync_s; do
				inv=
				case $m in checkpoint_*) inv=inv ;; esac
				r=$(ratios "$c" "$m" "cfg:$c@base:$m" $inv)
				if [ -z "$r" ]; then line="$line | -"; continue; fi
				line="$line | $(summary %.2f <<<"$r") $(compare <<<"$r")"
			done
			echo "$line |"
		done
		echo
	fi
	echo "fio on its loop device, direct 128 kB sequential reads: one at a time (psync) $(values fio read_128k_mb_s | summary %.0f) MB/s, 8 in flight (io_uring) $(values fio read_128k_qd8_mb_s | summary %.0f) MB/s."
	echo
	echo "Raw values (round, config, metric, value):"
	echo
	sed 's/^/    /' "$OUT/raw.csv"
} >"$OUT/results.md"

# the plot: each configuration's median ratios
{
	echo "config,tps,copy,scan_fio,sync"
	for c in "${CONFIGS[@]}"; do
		[ "${c%@base}" = md ] && continue
		med() { sort -g | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]; else print 0}'; }
		echo "$c,$(ratios "$c" tps md:tps | med),$(ratios "$c" copy_mb_s md:copy_mb_s | med),$(ratios "$c" scan_mb_s fio | med),$(ratios "$c" checkpoint_sync_s md:checkpoint_sync_s inv | med)"
	done
} >"$OUT/ratios.csv"
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
set ylabel "median ratio over $ROUNDS rounds, log scale"
set title "block_device against md and fio (higher is better)"
set key outside right top
plot "< tail -n +2 $OUT/ratios.csv" using 2:xtic(1) title "TPS / md", \
     "" using 3 title "COPY / md", \
     "" using 4 title "cold scan / fio", \
     "" using 5 title "md sync / sync"
PLOT

cat "$OUT/results.md"
echo "results: $OUT"
