#!/usr/bin/env bash
# The size table of docs/patchset.md, computed from patches/pg17.
#
#   test/patchset/size-table.sh           print it
#   test/patchset/size-table.sh --write   put it into docs/patchset.md
#   test/patchset/size-table.sh --check   fail if the doc's table differs
#
# Counted in each patch's diff (not its message): lines added and removed
# outside src/test/, of those the code (not comment or blank lines), and
# the lines of the tests (src/test/) the patch adds or changes.
# The table sits between two marker lines in the doc; the series check
# runs --check, so a patch changed without --write fails make check.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DOC=$ROOT/docs/patchset.md
BEGIN='<!-- size table: test/patchset/size-table.sh --write -->'
END='<!-- end of size table -->'

table() {
	echo '| patch | files | added | removed | of which code | test lines |'
	echo '|---|---:|---:|---:|---:|---:|'
	for p in "$ROOT"/patches/pg17/*.patch; do
		# the Subject header, unfolded, without its [PATCH n/N]
		subject=$(awk '/^Subject: / { s = $0; more = 1; next }
			more && /^ / { s = s $0; next } { more = 0 }
			END { sub(/^Subject: \[PATCH [0-9]+\/[0-9]+\] /, "", s); print s }' "$p")
		awk -v name="$(basename "$p" | cut -c1-4) $subject" '
			/^diff --git / { files++; body = 1; test = ($3 ~ /^a\/src\/test\//); next }
			!body { next }
			/^(\+\+\+|---) / { next }
			/^[-+]/ && test { tests++; next }
			/^\+/ { add++; if ($0 !~ /^\+[ \t]*(\/?\*|\*|$)/) code++ }
			/^-/ { del++; if ($0 !~ /^-[ \t]*(\/?\*|\*|$)/) code++ }
			END { printf "| %s | %d | %d | %d | %d | %d |\n", name, files, add, del, code, tests }' "$p"
	done
}

rows=$(table)
total=$(printf '%s\n' "$rows" | tail -n +3 | awk -F'|' '
	{ f += $3; a += $4; d += $5; c += $6; t += $7 }
	END { printf "| total | %d | %d | %d | %d | %d |\n", f, a, d, c, t }')
out=$(printf '%s\n%s\n' "$rows" "$total")

doc_table() { awk -v b="$BEGIN" -v e="$END" '$0 == e { p = 0 } p { print } $0 == b { p = 1 }' "$DOC"; }

case "${1:-}" in
'') printf '%s\n' "$out" ;;
--write)
	grep -qxF "$BEGIN" "$DOC" && grep -qxF "$END" "$DOC" || { echo "no size table markers in $DOC" >&2; exit 1; }
	awk -v b="$BEGIN" -v e="$END" -v t="$out" '
		$0 == b { print; print t; skip = 1; next }
		$0 == e { skip = 0 }
		!skip { print }' "$DOC" >"$DOC.new"
	mv "$DOC.new" "$DOC"
	;;
--check)
	if [ "$(doc_table)" != "$out" ]; then
		echo "FAIL: the size table in docs/patchset.md is stale; test/patchset/size-table.sh --write updates it:" >&2
		diff <(doc_table) <(printf '%s\n' "$out") >&2 || true
		exit 1
	fi
	echo "size table in docs/patchset.md matches patches/pg17"
	;;
*) echo "usage: $0 [--write | --check]" >&2; exit 2 ;;
esac
