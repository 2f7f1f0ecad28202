#!/usr/bin/env bash
# Build the fuzz targets (libFuzzer from Debian's clang, with ASan and
# UBSan) and run each for FUZZ_SECONDS (default 30) from a generated seed
# corpus.  Prints "fuzz: N passed, M failed" (one per target); a crash or
# a finding (an inconsistent layout accepted) fails its target and leaves
# the input in $OUT/<target>/.  docs/fuzzing.md has the longer runs.
set -euo pipefail
. "$(dirname "$0")/../../src/build/common.sh"

PG_CONFIG=${PG_CONFIG:-$PG_INSTALL_DIR/bin/pg_config}
OUT=${FUZZ_OUT:-$PGRAC_BUILD/fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-30}
TARGETS=${FUZZ_TARGETS:-superblock wal image journal checksum_state twophase_log manifest backup_history}
HERE=$(cd "$(dirname "$0")" && pwd)
INC=$("$PG_CONFIG" --includedir-server)
LIB=$("$PG_CONFIG" --libdir)
command -v clang >/dev/null || die "clang is missing (src/build/common.sh installs it)"

mkdir -p "$OUT"
# the pure code comes from its instrumented library (src/pure.mk), built
# once for the unit tests and the fuzz targets
build_pure_instrumented "$PG_CONFIG"
build() {			# output main-source [extra flags...]
	local out=$1 src=$2
	shift 2
	clang -Wno-ignored-attributes $PURE_INSTRUMENTED_CFLAGS -DFRONTEND -D_GNU_SOURCE -I"$PGRAC_ROOT/include" \
		-I"$HERE" -I"$INC" "$@" "$src" "$PURE_INSTRUMENTED_LIB" \
		"$LIB/libpgcommon.a" "$LIB/libpgport.a" -luring -o "$out"
}

# the seed corpus: valid superblocks, WAL records and an unedited device
build "$OUT/fuzz_seeds" "$HERE/fuzz_seeds.c" -fsanitize=fuzzer-no-link
rm -rf "$OUT/corpus"
"$OUT/fuzz_seeds" "$OUT/corpus"

passed=0
failed=0
for t in $TARGETS; do
	dir=$OUT/$t
	rm -rf "$dir"
	mkdir -p "$dir/corpus"
	cp "$OUT/corpus/$t"/* "$dir/corpus/"
	t0=$SECONDS
	build "$dir/fuzz_$t" "$HERE/fuzz_$t.c" -fsanitize=fuzzer
	if (cd "$dir" && "./fuzz_$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
		-artifact_prefix="$dir/" corpus >"$dir/run.log" 2>&1); then
		echo "fuzz $t: $(grep -E '^stat::number_of_executed_units' "$dir/run.log" | awk '{print $2}') inputs in ${SECONDS_EACH} s, corpus $(ls "$dir/corpus" | wc -l), no crash, no finding"
		passed=$((passed + 1))
	else
		echo "fuzz $t: FAILED; input and log in $dir"
		grep -E 'fuzz finding|ERROR: |SUMMARY' "$dir/run.log" | head -n 5
		failed=$((failed + 1))
	fi
	record_time fuzz "fuzz_$t" $((SECONDS - t0))
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
