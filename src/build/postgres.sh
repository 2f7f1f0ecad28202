#!/usr/bin/env bash
# Fetch PostgreSQL 17 from Debian's postgresql-17 source package (trixie),
# apply patches/pg17/, build it with assertions and TAP support, and
# install it into build/postgres.  The patched, configured source tree stays
# in build/postgresql-17 so PostgreSQL's own suites can run from it.
#
# Nothing in the machine's apt configuration changes: the trixie deb-src
# entry lives in build/apt and is passed to apt-get with -o options.
#
# A stamp records what was built (version, patches, options); when it still
# matches, the script returns at once.
#
# With --fetch-only, only downloads the source and prints the tarball path.
set -euo pipefail
. "$(dirname "$0")/common.sh"

case "$PGRAC_PG_VARIANT" in
"") CONFIGURE_OPTS=(--enable-cassert) ;;
bench) CONFIGURE_OPTS=() ;;
*) die "unknown PGRAC_PG_VARIANT '$PGRAC_PG_VARIANT' (known: bench)" ;;
esac
# lz4 as Debian builds postgresql-17: wal_compression = lz4 is what makes an
# online checksum enable cheap in WAL (docs/checksums.md)
CONFIGURE_OPTS+=(--enable-debug --enable-tap-tests --enable-depend --without-icu --with-lz4)
APT_DIR=$PGRAC_BUILD/apt
STAMP=$PG_INSTALL_DIR/.pgrac-build-stamp

stamp_text() {
	printf 'version %s\noptions %s\nCFLAGS %s\n' "$1" "${CONFIGURE_OPTS[*]}" "${PG_BUILD_CFLAGS:-}"
	cat "$PGRAC_ROOT"/patches/pg17/*.patch | sha256sum
}

apt_private() {
	apt-get -q -o Dir::Etc::SourceList="$APT_DIR/sources.list" \
		-o Dir::Etc::SourceParts="$APT_DIR/sources.list.d" \
		-o Dir::State::Lists="$APT_DIR/lists" \
		-o Dir::Cache="$APT_DIR/cache" \
		-o APT::Sandbox::User=root "$@"
}

# Download the orig tarball of the pinned version, or of the newest 17.x the
# archive actually serves (an index may list a version whose files 404).
fetch_source() {
	local tarball
	tarball=$(ls "$APT_DIR"/download/postgresql-17_*.orig.tar.bz2 2>/dev/null | head -n 1 || true)
	if [ -n "$tarball" ]; then
		echo "$tarball"
		return
	fi
	mkdir -p "$APT_DIR"/lists/partial "$APT_DIR"/cache/archives/partial \
		"$APT_DIR"/sources.list.d "$APT_DIR"/download
	cat >"$APT_DIR/sources.list" <<'SRC'
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security trixie-security main
SRC
	say "reading Debian trixie source index (private apt configuration in $APT_DIR)"
	apt_private update >/dev/null ||
		die "could not read Debian's trixie source index; is deb.debian.org reachable?"

	local versions pinned others v
	versions=$(apt_private_cache showsrc postgresql-17 | sed -n 's/^Version: //p' | sort -u)
	[ -n "$versions" ] || die "Debian's archive lists no postgresql-17 source package"
	pinned=$(printf '%s\n' $versions | grep "^$PG_PINNED_VERSION-" || true)
	others=$(printf '%s\n' $versions | grep -v "^$PG_PINNED_VERSION-" |
		sort -r -V)
	# the pinned release through the index (its signature chain checks it)
	for v in $pinned; do
		fetch_listed "$v" && return
	done
	# the pinned release from the pool, checked against its pinned SHA-256
	fetch_pinned_from_pool && return
	for v in $others; do
		fetch_listed "$v" && return
	done
	die "no postgresql-17 source package could be downloaded (tried: $PG_PINNED_VERSION from the pool,${pinned:+ $pinned}${others:+ $others})"
}

# apt-get source of one version the index lists; prints the tarball's path
fetch_listed() {			# version
	local v=$1
	say "downloading postgresql-17 $v"
	if (cd "$APT_DIR/download" && apt_private source --download-only "postgresql-17=$v" >/dev/null 2>&1); then
		[ "${v%%-*}" = "$PG_PINNED_VERSION" ] ||
			say "WARNING: pinned $PG_PINNED_VERSION is not served; using $v (the patchset was tested with $PG_PINNED_VERSION)"
		ls "$APT_DIR"/download/postgresql-17_"${v%%-*}".orig.tar.bz2
		return 0
	fi
	say "version $v is listed but not served; trying the next one"
	rm -f "$APT_DIR"/download/postgresql-17_"${v%%-*}"*
	return 1
}

# The pinned release's orig tarball straight from Debian's pool (still
# there after a point release dropped it from the index), accepted only
# with the pinned checksum.
fetch_pinned_from_pool() {
	local name=postgresql-17_$PG_PINNED_VERSION.orig.tar.bz2 part
	part=$APT_DIR/download/$name.part
	say "downloading $name from Debian's pool"
	if ! curl -sSf -o "$part" "$PG_DEBIAN_POOL/$name" >&2; then
		rm -f "$part"
		say "the pool does not serve $name"
		return 1
	fi
	if [ "$(sha256sum "$part" | cut -d' ' -f1)" != "$PG_PINNED_TARBALL_SHA256" ]; then
		rm -f "$part"
		say "WARNING: $name from the pool does not have the pinned SHA-256; not used"
		return 1
	fi
	mv "$part" "$APT_DIR/download/$name"
	echo "$APT_DIR/download/$name"
}

apt_private_cache() {
	apt-cache -o Dir::Etc::SourceList="$APT_DIR/sources.list" \
		-o Dir::Etc::SourceParts="$APT_DIR/sources.list.d" \
		-o Dir::State::Lists="$APT_DIR/lists" \
		-o Dir::Cache="$APT_DIR/cache" "$@"
}

main() {
	detach_from_parent_make
	ensure_packages "${PGRAC_PACKAGES[@]}"
	local tarball version
	tarball=$(fetch_source)
	if [ "${1:-}" = "--fetch-only" ]; then
		echo "$tarball"
		return
	fi
	version=$(basename "$tarball" | sed 's/^postgresql-17_\(.*\)\.orig\.tar\.bz2$/\1/')

	if [ -f "$STAMP" ] && [ -x "$PG_INSTALL_DIR/bin/pg_config" ] &&
		[ "$(cat "$STAMP")" = "$(stamp_text "$version")" ]; then
		say "PostgreSQL $version with the patchset is up to date in $PG_INSTALL_DIR"
		return
	fi

	say "unpacking PostgreSQL $version into $PG_SOURCE_DIR"
	rm -rf "$PG_SOURCE_DIR" "$PG_INSTALL_DIR"
	mkdir -p "$PG_SOURCE_DIR"
	tar -xjf "$tarball" -C "$PG_SOURCE_DIR" --strip-components=1

	local p
	for p in "$PGRAC_ROOT"/patches/pg17/*.patch; do
		say "applying $(basename "$p")"
		patch -d "$PG_SOURCE_DIR" -p1 --quiet --forward <"$p" ||
			die "patch $(basename "$p") does not apply to PostgreSQL $version"
	done

	say "configuring and building PostgreSQL $version (takes a few minutes)"
	cd "$PG_SOURCE_DIR"
	./configure --prefix="$PG_INSTALL_DIR" "${CONFIGURE_OPTS[@]}" \
		${PG_BUILD_CFLAGS:+CFLAGS="$PG_BUILD_CFLAGS"} >"$PGRAC_BUILD/postgres-configure.log" 2>&1 ||
		die "configure failed; see $PGRAC_BUILD/postgres-configure.log"
	{
		make -j"$(nproc)" &&
			make -C contrib -j"$(nproc)" &&
			make -C src/test/isolation -j"$(nproc)" &&
			make -C src/test/regress -j"$(nproc)" &&
			make install && make -C contrib install
	} >"$PGRAC_BUILD/postgres-build.log" 2>&1 ||
		die "PostgreSQL build failed; see $PGRAC_BUILD/postgres-build.log"
	stamp_text "$version" >"$STAMP"
	say "PostgreSQL $version installed into $PG_INSTALL_DIR"
}

main "$@"
