#!/usr/bin/env bash
# The patch series as a git tree of PostgreSQL, to edit and regenerate.
#
#   test/patchset/git-tree.sh DIR           pristine PostgreSQL, tagged base,
#                                           then one commit per patch (git am)
#   test/patchset/git-tree.sh --base DIR    the pristine commit only
#   test/patchset/git-tree.sh --format DIR  rewrite patches/pg17 from DIR's
#                                           commits after base
#
# The pristine commit is the release tarball as it is (generated files
# included: they are part of the release), with a fixed author and date,
# so its hash is the same on every machine.  git am keeps each patch's
# author and date and takes them as committer too, so the commits, and the
# hashes in the patches' "From" lines, are reproducible: the series check
# rebuilds the tree and fails if format-patch does not give back the
# checked-in files byte for byte.
#
# To change a patch: build the tree, edit the commit (git rebase -i base,
# or git commit --fixup and an autosquash rebase), run --format, commit
# patches/pg17 here.
set -euo pipefail
. "$(dirname "$0")/../../src/build/common.sh"

mode=all
case "${1:-}" in
--base) mode=base; shift ;;
--format) mode=format; shift ;;
esac
[ $# -eq 1 ] || die "usage: $0 [--base | --format] DIR"
DIR=$1
PATCH_DIR=$PGRAC_ROOT/patches/pg17

export GIT_COMMITTER_NAME="pgrac_storage developers"
export GIT_COMMITTER_EMAIL="pgrac@localhost"
git_() { git -C "$DIR" -c core.autocrlf=false -c gc.auto=0 "$@"; }

if [ $mode = format ]; then
	git_ rev-parse -q --verify base >/dev/null || die "$DIR has no base tag"
	rm -f "$PATCH_DIR"/*.patch
	git_ format-patch --quiet --no-signature --numbered \
		-o "$PATCH_DIR" base..HEAD
	ls "$PATCH_DIR"/*.patch
	exit 0
fi

[ ! -e "$DIR" ] || [ -z "$(ls -A "$DIR")" ] || die "$DIR exists and is not empty"
tarball=$("$PGRAC_ROOT/src/build/postgres.sh" --fetch-only)
version=$(basename "$tarball" | sed -E 's/^postgresql-17_([0-9.]+)\.orig\.tar\..*/\1/')
mkdir -p "$DIR"
tar -xjf "$tarball" -C "$DIR" --strip-components=1
git_ init --quiet
# the release's .gitignore would leave out its generated files
git_ add --all --force .
GIT_AUTHOR_NAME="PostgreSQL Global Development Group" GIT_AUTHOR_EMAIL="pgsql-hackers@lists.postgresql.org" \
	GIT_AUTHOR_DATE="2000-01-01T00:00:00Z" GIT_COMMITTER_DATE="2000-01-01T00:00:00Z" \
	git_ commit --quiet -m "PostgreSQL $version, as released ($(basename "$tarball"))"
git_ tag base
[ $mode = base ] && exit 0
for p in "$PATCH_DIR"/*.patch; do
	git_ am --quiet --committer-date-is-author-date "$p" ||
		die "$(basename "$p") does not apply with git am"
done
git_ log --oneline base..HEAD
