# Shared settings and helpers for the build and test scripts.
# Sourced, never run: callers set -euo pipefail themselves.

PGRAC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PGRAC_BUILD=${PGRAC_BUILD:-$PGRAC_ROOT/build}

# The PostgreSQL release the patchset is tested with, and the SHA-256 of
# Debian's orig tarball of it.  Once a point release replaces it in
# trixie's index, the tarball is still in Debian's pool: it is fetched from
# there by URL and accepted only with this checksum.  If neither works, the
# newest 17.x the index serves is used instead (and said so).
PG_PINNED_VERSION=17.11
PG_PINNED_TARBALL_SHA256=dd27f2b3c59e73ed14aa3324901242bf69a032a6347805f274e6260322d42979
PG_DEBIAN_POOL=http://deb.debian.org/debian/pool/main/p/postgresql-17

# PGRAC_PG_VARIANT=bench selects a second build without assertions, for
# benchmarks (assertions change the costs being compared).
PGRAC_PG_VARIANT=${PGRAC_PG_VARIANT:-}
PG_SOURCE_DIR=$PGRAC_BUILD/postgresql-17${PGRAC_PG_VARIANT:+-$PGRAC_PG_VARIANT}
PG_INSTALL_DIR=$PGRAC_BUILD/postgres${PGRAC_PG_VARIANT:+-$PGRAC_PG_VARIANT}

# PostgreSQL refuses to run as root; servers and test harnesses run as this
# unprivileged user, created when missing.
PGRAC_OS_USER=${PGRAC_OS_USER:-pgrac}

say() { printf '== %s\n' "$*" >&2; }

# PostgreSQL's own build generates headers only in a top-level make
# (MAKELEVEL 0); invoked below our Makefile it would inherit MAKELEVEL and
# the jobserver, and fail on a missing errcodes.h.  Scripts that run
# PostgreSQL's make call this first.
detach_from_parent_make() {
	unset MAKELEVEL MAKEFLAGS MFLAGS MAKEOVERRIDES
}
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian packages the build and the tests need, installed when missing.
PGRAC_PACKAGES=(
	gcc make patch bzip2 xz-utils perl pkg-config   # toolchain, unpacking
	dpkg-dev curl                                   # apt-get source, Debian's pool
	bison flex libreadline-dev zlib1g-dev liblz4-dev # PostgreSQL build
	libipc-run-perl                                 # PostgreSQL TAP tests
	libcmocka-dev                                   # unit tests
	liburing-dev                                    # pgrac.io_method = io_uring
	clang libclang-rt-14-dev                        # fuzzing (libFuzzer)
	ccache                                          # the patchset suite's rebuilds
	python3-minimal binutils                        # test/layers/check-layers.py (nm)
)

# The patchset suite's tree compiles through ccache, with its cache in
# build/ccache: a clean clone starts cold (every patch changes a header that
# nearly every backend file includes, so one run has little to reuse), and
# a second run on the same machine takes every object from it.  Depend
# mode (from the -MMD files of --enable-depend) hashes without running the
# preprocessor, so a miss costs hardly more than the compile; base_dir and
# hash_dir off let the same tree unpacked again hit.  Only root compiles
# into it (the suite hands its tree to the OS user just for make check).
PG_MAKE_CC="ccache gcc"
use_ccache() {
	export CCACHE_DIR=$PGRAC_BUILD/ccache CCACHE_BASEDIR=$PGRAC_BUILD CCACHE_NOHASHDIR=1 CCACHE_DEPEND=1
	export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-2G}
	mkdir -p "$CCACHE_DIR"
}

ensure_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]}; run as root or install them"
	say "installing Debian packages: ${missing[*]}"
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Create the unprivileged OS user when missing and make sure it can reach
# the checkout (a clone under a 0700 home directory would otherwise hide the
# build from it).
ensure_os_user() {
	if ! id "$PGRAC_OS_USER" >/dev/null 2>&1; then
		[ "$(id -u)" -eq 0 ] || die "OS user $PGRAC_OS_USER is missing; create it or run as root"
		say "creating unprivileged OS user $PGRAC_OS_USER"
		useradd --system --no-create-home --shell /usr/sbin/nologin "$PGRAC_OS_USER"
	fi
	local d=$PGRAC_ROOT
	while [ "$d" != / ]; do
		if ! runuser -u "$PGRAC_OS_USER" -- test -x "$d" 2>/dev/null; then
			say "granting $PGRAC_OS_USER search permission on $d"
			chmod o+x "$d"
		fi
		d=$(dirname "$d")
	done
	mkdir -p "$PGRAC_BUILD/home"
	[ "$(id -u)" -eq 0 ] && chown "$PGRAC_OS_USER" "$PGRAC_BUILD/home"
	return 0
}

# Run a command as the unprivileged user (directly when already not root).
as_os_user() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$PGRAC_OS_USER" -- env HOME="$PGRAC_BUILD/home" "$@"
	else
		"$@"
	fi
}

# Stop (immediately) every server whose data directory lies below $2, using
# pg_ctl from bin directory $1.  Wiping a directory under a running server
# would leave a postmaster behind that, on noticing its lock file gone,
# exits and unlinks the socket a newer server on the same port uses.
stop_servers_under() {
	local pidfile
	[ -d "$2" ] || return 0
	while IFS= read -r pidfile; do
		as_os_user "$1/pg_ctl" -D "$(dirname "$pidfile")" -m immediate -w stop >/dev/null 2>&1 || true
	done < <(find "$2" -name postmaster.pid 2>/dev/null)
}

# Per-script wall times for make check's time table: each suite appends
# "suite<TAB>script<TAB>seconds" to $PGRAC_TIMES (set by test/run-tests.sh;
# nothing is recorded when a suite script runs on its own).
record_time() {			# suite script seconds
	[ -n "${PGRAC_TIMES:-}" ] || return 0
	printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$PGRAC_TIMES"
}

# prove --state=save leaves .prove (YAML) in its directory with each
# script's elapsed seconds; record them for the time table.  (Remove the
# file before the run: it keeps the scripts of earlier runs.)
record_prove_times() {		# suite .prove-file [label-prefix]
	[ -f "$2" ] || return 0
	local script secs
	while read -r script secs; do
		record_time "$1" "${3:-}$script" "$secs"
	done < <(awk '/^  [^ ].*\.pl"?:$/ { s = $1; gsub(/[":]/, "", s); sub(/.*\//, "", s) }
		/^    elapsed:/ && s != "" { printf "%s %.0f\n", s, $2; s = "" }' "$2")
}

# A directory the unprivileged user owns, created fresh.
fresh_user_dir() {
	rm -rf "$1"
	mkdir -p "$1"
	[ "$(id -u)" -eq 0 ] && chown -R "$PGRAC_OS_USER" "$1"
	return 0
}

# The machine and the builds, for a benchmark's results: data directory
# as the argument; BINDIR is the benchmarked PostgreSQL's bin directory.
# For a benchmark: PostgreSQL of PGRAC_PG_VARIANT built, the extension and
# pgrac_image installed into it (each in its own build directory); sets
# PG_CONFIG and BINDIR.
bench_install() {
	local ext=$PGRAC_BUILD/extension-${PGRAC_PG_VARIANT:-default}
	"$PGRAC_ROOT/src/build/postgres.sh"
	PG_CONFIG=$PG_INSTALL_DIR/bin/pg_config
	BINDIR=$PG_INSTALL_DIR/bin
	mkdir -p "$ext/extension" "$ext/tools"
	make --no-print-directory -s -C "$ext/extension" -f "$PGRAC_ROOT/src/extension.mk" \
		PG_CONFIG="$PG_CONFIG" install >/dev/null
	make --no-print-directory -s -C "$ext/tools" -f "$PGRAC_ROOT/src/tools/pgrac_image.mk" \
		PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# An older revision of pgrac_storage for a before-and-after benchmark, built
# the way that revision builds itself: `git archive` of it into
# build/baseline-<rev>/src, its own PostgreSQL (its own patch series: the
# hooks change between revisions, so its library cannot load into today's
# server), bench variant, and its extension and pgrac_image installed there.
# The PostgreSQL tarball already downloaded is reused.  Sets BASE_BINDIR
# and BASE_REV (the short hash).
baseline_install() {		# revision
	local dir tarball
	BASE_REV=$(git -C "$PGRAC_ROOT" rev-parse --short "$1^{commit}" 2>/dev/null) ||
		die "BASELINE: '$1' is not a revision of $PGRAC_ROOT"
	dir=$PGRAC_BUILD/baseline-$BASE_REV
	if [ ! -f "$dir/src/.complete" ]; then
		rm -rf "$dir/src"
		mkdir -p "$dir/src"
		git -C "$PGRAC_ROOT" archive "$BASE_REV" | tar -x -C "$dir/src"
		touch "$dir/src/.complete"
	fi
	mkdir -p "$dir/build/apt/download"
	for tarball in "$PGRAC_BUILD"/apt/download/postgresql-17_*.orig.tar.bz2; do
		if [ -f "$tarball" ]; then
			ln -f "$tarball" "$dir/build/apt/download/" 2>/dev/null || cp -f "$tarball" "$dir/build/apt/download/"
		fi
	done
	say "baseline $BASE_REV: its PostgreSQL and extension in $dir"
	(
		export PGRAC_BUILD=$dir/build PGRAC_PG_VARIANT=bench
		"$dir/src/src/build/postgres.sh"
		pg_config=$dir/build/postgres-bench/bin/pg_config
		mkdir -p "$dir/build/extension" "$dir/build/tools"
		make --no-print-directory -s -C "$dir/build/extension" -f "$dir/src/src/extension.mk" \
			PG_CONFIG="$pg_config" install >/dev/null
		make --no-print-directory -s -C "$dir/build/tools" -f "$dir/src/src/tools/pgrac_image.mk" \
			PG_CONFIG="$pg_config" install >/dev/null
	) || die "could not build baseline $BASE_REV (see $dir/build/postgres-build.log)"
	BASE_BINDIR=$dir/build/postgres-bench/bin
}

bench_environment() {
	echo "Machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, kernel $(uname -r), data on $(df -h "$1" | awk 'NR==2{print $1" ("$2")"}') at $1."
	local asserts="no assertions"
	"$BINDIR/pg_config" --configure | grep -q -- --enable-cassert && asserts="with assertions (the test build)"
	echo "PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}') with patches/pg17, $asserts; pgrac_storage $(git -C "$PGRAC_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)."
}

# The instrumented flavour of the pure library (src/pure.mk: clang, ASan,
# UBSan, libFuzzer coverage) that the unit tests and the fuzz targets link,
# built in build/pure-instrumented when anything changed.  Sets
# PURE_INSTRUMENTED_LIB, and PURE_INSTRUMENTED_CFLAGS, the sanitizer flags
# whatever links it must be compiled with.  test/run-tests.sh calls it once
# before its suites start side by side, so that they never build it at once.
build_pure_instrumented() {		# pg_config
	local dir=$PGRAC_BUILD/pure-instrumented
	mkdir -p "$dir"
	make -s --no-print-directory -C "$dir" -f "$PGRAC_ROOT/src/pure.mk" PG_CONFIG="$1" \
		PURE_FLAVOUR=instrumented >/dev/null
	PURE_INSTRUMENTED_LIB=$dir/libpgrac_pure_instrumented.a
	PURE_INSTRUMENTED_CFLAGS=$(make -s --no-print-directory -f "$PGRAC_ROOT/src/pure.mk" \
		PG_CONFIG="$1" print-cflags)
}
