#!/usr/bin/env bash
# The plot of a test/bench/checksums.sh run: its raw.csv in, checksums.png
# out (gnuplot), beside it.  Each part that ran gets a panel: time to
# enable against pg_checksums; TPS during the sweep against none; steady
# state TPS against core; instructions per page against core.  Medians of
# the rounds.
#
#   test/bench/checksums-plot.sh build/bench-results/checksums-<time>
set -euo pipefail
. "$(dirname "$0")/../../src/build/common.sh"
ensure_packages gnuplot-nox
DIR=${1:?usage: checksums-plot.sh RESULTS_DIR}
RAW=$DIR/raw.csv
[ -f "$RAW" ] || die "no raw.csv in $DIR"

# median of a part's metric for a config, from raw.csv
med() {
	awk -F, -v p="$1" -v m="$2" -v c="$3" '$1 == p && $4 == m && $3 == c { print $5 }' "$RAW" |
		sort -g | awk '{a[NR] = $1} END {if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; else print "NaN"}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NaN" || b == "NaN" || b == 0) print "NaN"; else printf "%.3f", a / b }'; }

DATA=$DIR/plot.dat
{
	echo "panel label value"
	off=$(med enable ms offline)
	for c in online online2; do
		echo "enable \"$c/pg_checksums\" $(ratio "$(med enable ms "$c")" "$off")"
	done
	idle=$(med load tps idle)
	for c in sweep throttled; do
		echo "load \"TPS,$c/no-sweep\" $(ratio "$(med load tps "$c")" "$idle")"
	done
	for m in select_tps tpcb_tps; do
		core=$(med steady "$m" core)
		for c in none idle layer; do
			echo "steady \"$m,$c/core\" $(ratio "$(med steady "$m" "$c")" "$core")"
		done
	done
	for m in read_total write_total; do
		core=$(med instructions "$m" core)
		for c in none idle layer; do
			echo "instructions \"$m,$c/core\" $(ratio "$(med instructions "$m" "$c")" "$core")"
		done
	done
} | awk '$3 != "NaN"' >"$DATA"

gnuplot <<PLOT
set terminal png size 1000,500 noenhanced
set output "$DIR/checksums.png"
set style data histograms
set style fill solid 0.8
set boxwidth 0.8
set yrange [0:*]
set xtics rotate by -35
set ylabel "ratio (medians of the rounds)"
set title "online checksums: enable time vs pg_checksums, TPS vs no sweep, steady state and instructions vs core"
set grid ytics
plot "$DATA" using 3:xtic(2) every ::1 title "ratio"
PLOT
echo "plot: $DIR/checksums.png"
