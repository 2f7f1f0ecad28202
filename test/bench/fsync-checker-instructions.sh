#!/usr/bin/env bash
# Deterministic companion of fsync-checker-overhead.sh: CPU instructions
# executed by one PostgreSQL process (single-user mode, under valgrind's
# callgrind) for the same workload with no library, with pgrac_storage and
# the checker off, and with the checker on.  Wall-clock numbers on a shared
# VM vary by a third between identical runs; instruction counts do not, so
# they resolve overheads of a few percent.  Needs the bench build
# (fsync-checker-overhead.sh makes it).
#
# Workload: CREATE TABLE AS (ROWS rows), CREATE INDEX, an UPDATE of a tenth
# of the rows, CHECKPOINT, VACUUM FULL, CHECKPOINT: buffered writes,
# unbuffered bulk writes, syncs and the checkpoint hook.
set -euo pipefail
export PGRAC_PG_VARIANT=bench
. "$(dirname "$0")/../../src/build/common.sh"

ROWS=${ROWS:-100000}
BINDIR=$PG_INSTALL_DIR/bin
[ -x "$BINDIR/postgres" ] || die "run test/bench/fsync-checker-overhead.sh first (it builds $PG_INSTALL_DIR)"
mkdir -p "$PGRAC_BUILD/extension-bench"
make --no-print-directory -s -C "$PGRAC_BUILD/extension-bench" -f "$PGRAC_ROOT/src/extension.mk" \
	PG_CONFIG="$BINDIR/pg_config" install >/dev/null
ensure_packages valgrind
ensure_os_user

WORK=${BENCH_DIR:-$PGRAC_BUILD/bench-instructions}
OUT=$PGRAC_BUILD/bench-results/fsync-checker-instructions-$(date -u +%Y%m%dT%H%M%SZ)
fresh_user_dir "$WORK"
mkdir -p "$OUT"

cat >"$WORK/workload.sql" <<SQL
CREATE TABLE t AS SELECT g AS id, md5(g::text) AS s FROM generate_series(1, $ROWS) g;
CREATE INDEX t_s ON t (s);
UPDATE t SET id = id + 1 WHERE id % 10 = 0;
CHECKPOINT;
VACUUM FULL t;
CHECKPOINT;
SQL
chmod 644 "$WORK/workload.sql"

declare -A settings=(
	[stock]=""
	[off]="-c shared_preload_libraries=pgrac_storage"
	[on]="-c shared_preload_libraries=pgrac_storage -c pgrac.fsync_checker=on"
)
echo "config,instructions" >"$OUT/results.csv"
for cfg in stock off on; do
	say "$cfg"
	as_os_user "$BINDIR/initdb" -D "$WORK/$cfg" -A trust -U postgres --no-sync >/dev/null
	# shellcheck disable=SC2086
	as_os_user valgrind --tool=callgrind --callgrind-out-file="$WORK/$cfg.callgrind" \
		"$BINDIR/postgres" --single -D "$WORK/$cfg" ${settings[$cfg]} postgres \
		<"$WORK/workload.sql" >"$WORK/$cfg.log" 2>&1
	if grep -E '(ERROR|WARNING|FATAL|PANIC): ' "$WORK/$cfg.log"; then
		die "the workload did not run cleanly for $cfg; see $WORK/$cfg.log"
	fi
	ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$WORK/$cfg.callgrind")
	[ -n "$ir" ] || die "no instruction count for $cfg; see $WORK/$cfg.log"
	echo "$cfg,$ir" >>"$OUT/results.csv"
done

base=$(awk -F, '$1=="stock"{print $2}' "$OUT/results.csv")
{
	echo "# fsync checker overhead in instructions ($(date -u +%Y-%m-%d))"
	echo
	echo "One backend in single-user mode under callgrind: CREATE TABLE AS $ROWS rows, CREATE INDEX, UPDATE of 10%, CHECKPOINT, VACUUM FULL, CHECKPOINT."
	echo "PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}') with patches/pg17, no assertions; pgrac_storage $(git -C "$PGRAC_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown); valgrind $(valgrind --version)."
	echo
	echo "| config | instructions | ratio to stock |"
	echo "|---|---|---|"
	awk -F, -v b="$base" 'NR>1 {printf "| %s | %.0f | %.4f |\n", $1, $2, $2/b}' "$OUT/results.csv"
} >"$OUT/results.md"
cat "$OUT/results.md"
echo "results: $OUT"
