#!/usr/bin/env bash
# Run PostgreSQL's pgindent over the project's C code, with PostgreSQL's
# typedef list plus the project's own typedefs:
#
#   src/build/pgindent.sh [--check]
#
# Needs the patched source tree the main build leaves in build/postgresql-17
# (make builds it); pg_bsd_indent is compiled from it on first use.  With
# --check nothing is rewritten and the exit status is 1 if a file would
# change.
set -euo pipefail
. "$(dirname "$0")/common.sh"

TREE=$PGRAC_BUILD/postgresql-17
[ -d "$TREE/src/tools/pgindent" ] || die "no PostgreSQL source tree in $TREE; run make first"
INDENT=$TREE/src/tools/pg_bsd_indent/pg_bsd_indent
[ -x "$INDENT" ] || make -s -C "$TREE/src/tools/pg_bsd_indent" >/dev/null

typedefs=$(mktemp)
trap 'rm -f "$typedefs"' EXIT
{
	cat "$TREE/src/tools/pgindent/typedefs.list"
	# the project's: "} Name;" closing a typedef, and one-line typedefs
	cat $(git -C "$PGRAC_ROOT" ls-files '*.c' '*.h' | sed "s|^|$PGRAC_ROOT/|") |
		sed -n -e 's/^} \([A-Za-z_][A-Za-z0-9_]*\);$/\1/p' \
			-e 's/^typedef [^(]*[ *]\([A-Za-z_][A-Za-z0-9_]*\);$/\1/p' \
			-e 's/^typedef [^(]*(\*\([A-Za-z_][A-Za-z0-9_]*\)).*$/\1/p'
} | sort -u >"$typedefs"

files=$(git -C "$PGRAC_ROOT" ls-files 'src/*.c' 'src/*.h' 'include/*.h' 'test/*.c' 'test/*.h' | sed "s|^|$PGRAC_ROOT/|")
args=(--indent="$INDENT" --typedefs="$typedefs")
[ "${1:-}" = "--check" ] && args+=(--check --diff)
"$TREE/src/tools/pgindent/pgindent" "${args[@]}" $files
