# Read-ahead of the block_device backend under direct I/O with io_uring
# (bd_readahead.c): a sequential scan is served from blocks read ahead, the
# result is the same as without read-ahead, and a block written (by another
# backend, then evicted from shared buffers) after it was read ahead is
# never served from the old copy: the slot is dropped as stale and the
# block is read again.  The embedded image lives on the test's file system,
# which must support O_DIRECT with a reported alignment (ext4, xfs).
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;

my $node = pgrac_node('readahead',
	settings => "pgrac.storage_backend = 'block_device'\nshared_buffers = 128MB\n"
	  . "include_if_exists = 'io.conf'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pgrac_storage; CREATE EXTENSION pg_buffercache');

# about 2,500 blocks (20 MB): below a quarter of shared_buffers, so a scan
# reads through shared buffers without a ring and every block comes from
# the device once it has been evicted
$node->safe_psql('postgres', q{
	CREATE TABLE t (id int, v text) WITH (fillfactor = 50);
	INSERT INTO t SELECT g, repeat(md5(g::text), 2) FROM generate_series(1, 100000) g;
	CHECKPOINT;
});
my $nblocks = $node->safe_psql('postgres', q{SELECT pg_relation_size('t') / 8192});
cmp_ok($nblocks, '>', 1000, "the table has $nblocks blocks");

my $evict = q{SELECT count(pg_buffercache_evict(bufferid)) >= 0 FROM pg_buffercache
	WHERE relfilenode = pg_relation_filenode('t') AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database());};
my $digest = q{SET max_parallel_workers_per_gather = 0; SELECT count(*), sum(hashtext(v)::bigint), sum(id) FROM t;};
my $stats = q{SELECT active, reads > 0, blocks_served, dropped_stale, dropped_failed FROM pgrac.pgrac_read_ahead_stats();};

my $range = q{ctid >= '(100,0)' AND ctid < '(200,0)'};

sub scan_continues
{
	my ($a, $mode, $between) = @_;
	$node->safe_psql('postgres', $evict);
	$a->query_safe(q{SELECT count(*) FROM t WHERE ctid < '(100,0)'});
	my $before = $a->query_safe(q{SELECT blocks_served || '|' || dropped_stale FROM pgrac.pgrac_read_ahead_stats()});
	$node->safe_psql('postgres', $between) if $between;
	$node->safe_psql('postgres', $evict);
	my $seen = $a->query_safe("SELECT count(*) FILTER (WHERE v = '$mode') || '|' || count(*) FROM t WHERE $range");
	my $after = $a->query_safe(q{SELECT blocks_served || '|' || dropped_stale FROM pgrac.pgrac_read_ahead_stats()});
	my ($s0, $d0) = split /\|/, $before;
	my ($s1, $d1) = split /\|/, $after;
	return ($seen, $s1 - $s0, $d1 - $d0);
}

# Under direct I/O, pgrac.io_method as given: served from the slots, and
# never from a stale one.
sub direct_io_mode
{
	my ($mode) = @_;
	$node->append_conf('io.conf', "pgrac.direct_io = on\npgrac.io_method = $mode\n");
	$node->restart;

	# without read-ahead: the reference result
	# (counted from the backend's start, which read catalogs after the
	# restart: what the scan adds is compared)
	my @ref = split /\n/, $node->safe_psql('postgres', "SET pgrac.read_ahead = 0; $stats $evict $digest $stats");
	is($ref[3], $ref[0], "$mode, pgrac.read_ahead = 0: nothing is read ahead");
	like($ref[3], qr/^f\|/, "$mode, pgrac.read_ahead = 0: not active");
	@ref = @ref[ 1, 2 ];

	my @on = split /\n/, $node->safe_psql('postgres', "$evict $digest $stats");
	is($on[1], $ref[1], "$mode: a cold sequential scan with read-ahead returns the same rows");
	my ($active, $reads, $served, $stale, $failed) = split /\|/, $on[2];
	is("$active|$reads", 't|t', "$mode: read-ahead is active and submitted reads");
	cmp_ok($served, '>', $nblocks * 0.9, "$mode: ... and served most of the scan ($served of $nblocks blocks)");
	is($failed, 0, "$mode: ... with no failed read");

	# a parallel scan: each process reads the blocks it is handed, and
	# learns the chunks (bd_ra_stream.c) once two of its runs agree
	my $parallel = q{SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0;
		SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;};
	my @par = split /\n/, $node->safe_psql('postgres', "$evict $parallel SELECT count(*), sum(hashtext(v)::bigint), sum(id) FROM t;");
	is($par[1], $ref[1], "$mode: a cold parallel scan with read-ahead returns the same rows");
	like($node->safe_psql('postgres', "$parallel EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT count(*) FROM t"),
		qr/Workers Launched: [12]/, "$mode: ... and ran with parallel workers");

	# Coherence: backend A scans blocks 0..99, so blocks from 100 on are read
	# ahead; backend B then changes rows in blocks 100..199, checkpoints and
	# evicts them; A's next scan continues at block 100 and must see B's rows.
	my $a = $node->background_psql('postgres');
	$a->query_safe("SET max_parallel_workers_per_gather = 0");
	# control: nothing changes in between, the continuation is served
	my ($seen, $served_delta, $stale_delta) = scan_continues($a, $mode, undef);
	my ($changed, $rows) = split /\|/, $seen;
	is($changed, 0, "$mode, control: no row is changed");
	my $nrange = $rows;
	cmp_ok($served_delta, '>', 50, "$mode, control: the continued scan is served from read-ahead ($served_delta blocks)");
	is($stale_delta, 0, "$mode, control: no slot is stale");

	# now with B's update, checkpoint and eviction in between
	my $updated = $node->safe_psql('postgres', "SELECT count(*) FROM t WHERE $range AND id % 3 = 0");
	($seen, $served_delta, $stale_delta) = scan_continues($a, $mode,
		"UPDATE t SET v = '$mode' WHERE $range AND id % 3 = 0; CHECKPOINT;");
	($changed, $rows) = split /\|/, $seen;
	cmp_ok($updated, '>', 0, "$mode: the update changes $updated rows (HOT: they stay in blocks 100..199)");
	is($changed, $updated, "$mode: the scan after the update sees every changed row");
	is($rows, $nrange, "$mode: ... and no more or fewer rows");
	cmp_ok($stale_delta, '>', 0, "$mode: ... because the slots read before the update were dropped as stale ($stale_delta)");
	$a->quit;
}

# Buffered I/O is left to the kernel's read-ahead (advice of the fork's
# next extents measured slower than it: docs/performance.md): read-ahead
# is not active, nothing is read ahead, and the rows are the same.
sub buffered_mode
{
	my ($mode) = @_;
	$node->append_conf('io.conf', "pgrac.direct_io = off\npgrac.io_method = $mode\n");
	$node->restart;
	my @ref = split /\n/, $node->safe_psql('postgres', "SET pgrac.read_ahead = 0; $evict $digest");
	my @on = split /\n/, $node->safe_psql('postgres', "$evict $digest $stats");
	is($on[1], $ref[1], "buffered $mode: a cold sequential scan returns the same rows");
	is($on[2], 'f|f|0|0|0', "buffered $mode: read-ahead is not active and read nothing");
}

direct_io_mode('io_uring');
direct_io_mode('sync');
buffered_mode('sync');
buffered_mode('io_uring');

# the setting: 0 or at least one read-ahead of 16 blocks
my ($ret, $stdout, $stderr) = $node->psql('postgres', q{SET pgrac.read_ahead = '64kB'});
like($stderr, qr/invalid value for parameter "pgrac.read_ahead".*\n.*DETAIL:  pgrac.read_ahead is 0 \(off\) or at least 128kB/,
	'a read-ahead below 128kB is refused');

# the table is intact for amcheck's heap check
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck');
is($node->safe_psql('postgres', q{SELECT count(*) FROM verify_heapam('t')}), 0, 'verify_heapam finds nothing');
$node->stop;

done_testing();
