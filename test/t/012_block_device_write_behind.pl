# Write-behind of the block_device backend (pgrac.write_behind,
# bd_writebehind.c) under direct I/O with io_uring.  The writer process is
# stopped with SIGSTOP so that writes stay queued for as long as the test
# needs, and each invariant of docs/block-device.md ("Write-behind") is
# attacked while they are:
#   - a read of a block whose write is queued waits, then sees the write;
#   - a second write of a queued block replaces it in the queue;
#   - contiguous blocks leave in one slot;
#   - CHECKPOINT waits for the queue before it flushes the device;
#   - a write finding the queue full waits for a slot;
#   - a crash with writes still queued loses nothing committed (WAL replay).
# The embedded image lives on the test's file system, which must support
# O_DIRECT (ext4, xfs).
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes ();
use PgracTest;

my $node = pgrac_node('writebehind',
	settings => "pgrac.storage_backend = 'block_device'\npgrac.direct_io = on\n"
	  . "pgrac.io_method = io_uring\npgrac.write_behind = 1MB\n"
	  . "shared_buffers = 128MB\nautovacuum = off\nbgwriter_lru_maxpages = 0\n"
	  . "checkpoint_timeout = 1h\nmax_wal_size = 4GB\nrestart_after_crash = on\n");
$node->start;
$node->safe_psql('postgres',
	'CREATE EXTENSION pgrac_storage; CREATE EXTENSION pg_buffercache; CREATE EXTENSION amcheck');

my $stats_cols = 'running, writer_pid, slots, slots_in_use, blocks_queued, blocks_replaced, '
  . 'writes, blocks_written, full_waits, overlap_waits, read_waits';
sub stats
{
	my %s;
	@s{ split /, /, $stats_cols } = split /\|/,
	  $node->safe_psql('postgres', "SELECT $stats_cols FROM pgrac.pgrac_write_behind_stats()");
	return \%s;
}

my $s = stats();
is("$s->{running}|$s->{slots}", 't|8', 'the writer runs, with 8 slots of 128kB (1MB)');
my $writer = $s->{writer_pid};
cmp_ok($writer, '>', 0, "the writer's pid is shown ($writer)");

# 200 blocks, two rows per block's worth of fillfactor room for HOT updates
$node->safe_psql('postgres', q{
	CREATE TABLE t (id int, v text) WITH (fillfactor = 50);
	INSERT INTO t SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 8000) g;
	CHECKPOINT;
});
my $nblocks = $node->safe_psql('postgres', q{SELECT pg_relation_size('t') / 8192});
cmp_ok($nblocks, '>=', 100, "the table has $nblocks blocks");
$s = stats();
cmp_ok($s->{blocks_written}, '>', 0, "the load's blocks went through the writer ($s->{blocks_written} blocks in $s->{writes} writes)");

# evict t's main-fork buffers of blocks [from, to) in block order
sub evict
{
	my ($from, $to) = @_;
	return qq{SELECT count(pg_buffercache_evict(b)) FROM (
		SELECT bufferid AS b FROM pg_buffercache
		WHERE relfilenode = pg_relation_filenode('t') AND relforknumber = 0
		  AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND relblocknumber >= $from AND relblocknumber < $to
		ORDER BY relblocknumber OFFSET 0) s};
}
my $range = q{ctid >= '(16,0)' AND ctid < '(32,0)'};

# start a psql in the background; returns (handle, \stdout, \stderr)
sub start_psql
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return ($h, \$out, \$err);
}

sub waiting_on_writer
{
	my ($who) = @_;
	return $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'PgracWriteBehindSlot' AND $who");
}

# Stop the writer with SIGSTOP, idle, and return only once it has stopped.
# The signal takes effect asynchronously, and a writer stopped with a slot
# in flight would hold every later write of those blocks until SIGCONT
# (the statements before may have queued writes of their own: a SELECT
# sets hint bits, and eviction then writes those pages).
sub proc_state
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return '';
	my $stat = <$fh>;
	return $stat =~ /^\d+ \(.*\) (\S)/ ? $1 : '';
}

sub stop_writer
{
	for (1 .. 50)
	{
		$node->poll_query_until('postgres', 'SELECT slots_in_use = 0 FROM pgrac.pgrac_write_behind_stats()')
		  or die 'the write-behind queue does not drain';
		kill 'STOP', $writer or die "could not stop the writer: $!";
		my $tries = 0;
		Time::HiRes::usleep(10_000) while proc_state($writer) ne 'T' && ++$tries < 1000;
		die "the writer ($writer) did not stop" unless proc_state($writer) eq 'T';
		return if stats()->{slots_in_use} == 0;
		# it had taken a write before it stopped: let it finish, try again
		kill 'CONT', $writer;
	}
	die 'could not stop the writer while its queue was empty';
}

# ---- a read of a queued block waits for it, then sees it ----
stop_writer();
$node->safe_psql('postgres', "UPDATE t SET v = 'first' WHERE $range");
my $before = stats();
is($node->safe_psql('postgres', evict(16, 32)), 16, 'the 16 updated blocks are evicted (written)');
$s = stats();
is($s->{blocks_queued} - $before->{blocks_queued}, 16, '... into the queue, the writer being stopped');
cmp_ok($s->{slots_in_use}, '<=', 2, "... contiguous blocks share slots ($s->{slots_in_use} for 16 blocks: extents of 128kB may split them)");

my ($h, $out, $err) = start_psql(
	"SET max_parallel_workers_per_gather = 0; SELECT count(*) FILTER (WHERE v = 'first') || '|' || count(*) FROM t WHERE $range");
ok(waiting_on_writer("query LIKE '%first%' AND backend_type = 'client backend'"),
	'a read of the queued blocks waits for the writer');
ok($h->pumpable, '... and has not returned');
kill 'CONT', $writer;
$h->finish;
chomp $$out;
my $rows = $node->safe_psql('postgres', "SELECT count(*) FROM t WHERE $range");
is($$out, "$rows|$rows", 'once the writer goes on, the read sees the update in every row');
cmp_ok(stats()->{read_waits}, '>', 0, 'the wait is counted');

# ---- a second write of a queued block replaces it in the queue ----
# Only a write that keeps the buffer (a checkpoint's, the background
# writer's) can be followed by another write of the same block before the
# first reaches the device, and neither can be timed from here: the
# fsync_inject test module writes a block directly through smgrwrite().
load_fsync_inject($node);
$node->safe_psql('postgres', q{
	CREATE TABLE w AS SELECT g AS id FROM generate_series(1, 3000) g;
	CHECKPOINT;
});
my $in3 = $node->safe_psql('postgres', q{SELECT count(*) FROM w WHERE ctid >= '(3,0)' AND ctid < '(4,0)'});
$node->safe_psql('postgres', evict(0, 1000) =~ s/'t'/'w'/gr);
stop_writer();
$before = stats();
$node->safe_psql('postgres', q{SELECT fsync_inject_unsynced_write('w', 'main', 3, true)});
$node->safe_psql('postgres', q{SELECT fsync_inject_unsynced_write('w', 'main', 3, true)});
$s = stats();
is($s->{blocks_queued} - $before->{blocks_queued}, 2, 'two writes of one block are queued');
is($s->{blocks_replaced} - $before->{blocks_replaced}, 1, '... the second replacing the first in the queue');
is($s->{slots_in_use} - $before->{slots_in_use}, 1, '... in one slot');
kill 'CONT', $writer;
is($node->safe_psql('postgres', q{SELECT count(*) FROM w WHERE ctid >= '(3,0)' AND ctid < '(4,0)'}), 0,
	'the block reads as the page written (empty)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM w}), 3000 - $in3,
	'... and the other blocks as before');

# ---- CHECKPOINT waits for the queue before it flushes ----
stop_writer();
$node->safe_psql('postgres', "UPDATE t SET v = 'third' WHERE $range");
$node->safe_psql('postgres', evict(16, 32));
($h, $out, $err) = start_psql('CHECKPOINT');
ok(waiting_on_writer("backend_type = 'checkpointer'"), 'CHECKPOINT waits for the queued writes');
ok($h->pumpable, '... and has not returned');
kill 'CONT', $writer;
$h->finish;
is($$err, '', 'it completes once the writer goes on');
is(stats()->{slots_in_use}, 0, '... with the queue empty');

# ---- a full queue makes a write wait for a slot ----
# every other block dirty, nothing else (VACUUM first: the update's scan
# must not prune or set hint bits on the blocks between): no two writes
# can share a slot, and 8 slots fill up
$node->safe_psql('postgres', 'VACUUM t; CHECKPOINT;');
stop_writer();
$node->safe_psql('postgres', q{UPDATE t SET v = 'fourth' WHERE (ctid::text::point)[0]::int % 2 = 0 AND (ctid::text::point)[0] < 40});
$before = stats();
($h, $out, $err) = start_psql(evict(0, 40));
ok(waiting_on_writer("query LIKE '%pg_buffercache_evict%'"), 'with 8 slots taken, the next write waits');
kill 'CONT', $writer;
$h->finish;
chomp $$out;
cmp_ok($$out, '>=', 20, "... and completes once the writer goes on ($$out buffers evicted)");
cmp_ok(stats()->{full_waits}, '>', $before->{full_waits}, 'the wait for a slot is counted');
is($node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE v = 'fourth'}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE (ctid::text::point)[0]::int % 2 = 0 AND (ctid::text::point)[0] < 40}),
	'every row of the update is there after eviction');

# ---- a crash with writes queued: WAL replay restores them ----
stop_writer();
$node->safe_psql('postgres', "UPDATE t SET v = 'crash' WHERE $range");
$node->safe_psql('postgres', evict(16, 32));
cmp_ok(stats()->{slots_in_use}, '>', 0, 'committed rows are queued, not on the device');
kill 'KILL', $writer;
# the postmaster treats the writer's death as a crash: every process restarts
ok($node->poll_query_until('postgres', "SELECT running AND writer_pid <> $writer FROM pgrac.pgrac_write_behind_stats()"),
	'the server restarts after the crash, with a new writer');
is($node->safe_psql('postgres', "SELECT count(*) FROM t WHERE $range AND v = 'crash'"), $rows,
	'every committed row lost from the queue is back, replayed from WAL');
is($node->safe_psql('postgres', q{SELECT count(*) FROM verify_heapam('t')}), 0, 'verify_heapam finds nothing');
like(slurp_file($node->logfile), qr/background worker "pgrac write-behind" \(PID $writer\) was terminated by signal 9/,
	'the log names the writer as the process that died');

# ---- a clean stop puts the queue on the device ----
$node->safe_psql('postgres', "UPDATE t SET v = 'stop' WHERE $range");
$node->safe_psql('postgres', evict(16, 32));
$node->stop('fast');
$node->start;
is($node->safe_psql('postgres', "SELECT count(*) FROM t WHERE $range AND v = 'stop'"), $rows,
	'rows written just before a clean stop are there after it');

# the setting: 0, or whole slots of 128kB and at least 1MB
my ($ret, $stdout, $stderr) = $node->psql('postgres', q{ALTER SYSTEM SET pgrac.write_behind = '200kB'});
like($stderr, qr/invalid value for parameter "pgrac.write_behind".*\n.*DETAIL:  pgrac.write_behind is 0 \(off\) or a multiple of 128kB of at least 1MB/,
	'a write-behind size that is not whole slots is refused');
$node->stop;

done_testing();
