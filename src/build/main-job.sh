#!/usr/bin/env bash
# The main job: a PostgreSQL server from the patched build with
# pgrac_storage loaded, its relation data on the block-device backend's
# embedded image (the default device) and the fsync checker on, a short
# pgbench run, the device's status and the fsync checker's report.  The server keeps running afterwards so you
# can look around; "make stop" (or "main-job.sh stop") stops it.
#
# Settings: PGRAC_PORT (default 5433), PGBENCH_SECONDS (default 20).
set -euo pipefail
. "$(dirname "$0")/common.sh"

PG_CONFIG=${PG_CONFIG:-$PG_INSTALL_DIR/bin/pg_config}
BINDIR=$("$PG_CONFIG" --bindir)
JOB_DIR=$PGRAC_BUILD/main-job
DATA=$JOB_DIR/data
PORT=${PGRAC_PORT:-5433}
SECONDS_TO_RUN=${PGBENCH_SECONDS:-20}

pg() { as_os_user "$BINDIR/$1" "${@:2}"; }
sql() { pg psql -X -h "$JOB_DIR" -p "$PORT" -d postgres -v ON_ERROR_STOP=1 "$@"; }

stop_server() {
	if [ -f "$DATA/postmaster.pid" ]; then
		pg pg_ctl -D "$DATA" -m fast -w stop >/dev/null
		say "server stopped"
	fi
}

case "${1:-start}" in
stop)
	stop_server
	exit 0
	;;
start) ;;
*) die "usage: $0 [start|stop]" ;;
esac

ensure_os_user
stop_servers_under "$BINDIR" "$JOB_DIR"
fresh_user_dir "$JOB_DIR"
fresh_user_dir "$PGRAC_BUILD/home"

say "initdb in $DATA"
pg initdb -D "$DATA" -A trust -U postgres >"$JOB_DIR/initdb.log"
cat >>"$DATA/postgresql.conf" <<CONF
port = $PORT
unix_socket_directories = '$JOB_DIR'
listen_addresses = ''
shared_preload_libraries = 'pgrac_storage'
log_checkpoints = on
CONF

say "starting the server, then: ALTER SYSTEM SET pgrac.storage_backend = 'block_device', pgrac.fsync_checker = on; restart"
pg pg_ctl -D "$DATA" -l "$JOB_DIR/server.log" -w start >/dev/null
sql -U postgres -q -c "ALTER SYSTEM SET pgrac.storage_backend = 'block_device'"
sql -U postgres -q -c "ALTER SYSTEM SET pgrac.fsync_checker = on"
pg pg_ctl -D "$DATA" -l "$JOB_DIR/server.log" -w restart >/dev/null
grep -E 'formatted embedded image|imported [0-9]+ relation forks' "$JOB_DIR/server.log" | sed 's/^.*LOG:  /    /'
sql -U postgres -q -c "CREATE EXTENSION pgrac_storage"

say "pgbench: initialize (scale 10), then $SECONDS_TO_RUN s with 4 clients"
pg pgbench -h "$JOB_DIR" -p "$PORT" -U postgres -i -s 10 -q postgres 2>&1 | tail -n 1
pg pgbench -h "$JOB_DIR" -p "$PORT" -U postgres -c 4 -j 2 -T "$SECONDS_TO_RUN" -P 5 postgres 2>&1 |
	grep -E '^(progress|tps|number of transactions actually)'
sql -U postgres -q -c "CHECKPOINT"

echo
echo "Storage stack (level 0 is the base backend):"
sql -U postgres -c "SELECT * FROM pgrac.pgrac_storage_layers()"
echo "Block device (the embedded image pg_pgrac/device.img):"
sql -U postgres -c "SELECT device, size_bytes, extent_bytes, extents_used, extents_free, forks FROM pgrac.pgrac_block_device"
sql -U postgres -c "SELECT count(*) AS extents, sum(blocks) AS blocks FROM pgrac.pgrac_relation_extents('pgbench_accounts')"
echo "fsync checker report (empty means: nothing written would have been lost by an OS crash):"
sql -U postgres -c "SELECT * FROM pgrac.pgrac_fsync_report()"
sql -U postgres -c "SELECT * FROM pgrac.pgrac_fsync_checker_stats()"

cat <<MSG
The server is still running.  Connect with:
    $BINDIR/psql -h $JOB_DIR -p $PORT -U postgres postgres
(as root: runuser -u $PGRAC_OS_USER -- $BINDIR/psql -h $JOB_DIR -p $PORT -U postgres postgres)
Server log: $JOB_DIR/server.log
Stop it with: make stop
MSG
