# The block_device backend on a real block device with direct I/O and
# io_uring (pgrac.io_method): a loop
# device the test runner (root) attaches and hands to the server's OS user
# (PGRAC_TEST_LOOP_DEVICE).  pgrac_image formats it (zeroing it with
# BLKZEROOUT), the cluster is imported into it, pgbench runs, a scan is
# served by read-ahead, then the kill -9 rounds of PgracCrash.pm; amcheck and pgrac_image verify find
# nothing.  Also: a second server cannot open a device in use, and direct
# I/O on a file system that cannot promise its alignment is refused.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;
use PgracCrash;

my $dev = $ENV{PGRAC_TEST_LOOP_DEVICE};
BAIL_OUT('PGRAC_TEST_LOOP_DEVICE is not set: run this test through test/run-tests.sh, which attaches a loop device')
  unless $dev && -b $dev;

command_ok([ 'pgrac_image', 'format', "--device=$dev", '--force' ], 'pgrac_image formats the loop device');
command_like([ 'pgrac_image', 'verify', "--device=$dev" ], qr/0 forks, .* 0 problems/, '... which verifies empty');

my $settings = "pgrac.storage_backend = 'block_device'\npgrac.device = '$dev'\npgrac.direct_io = on\npgrac.io_method = io_uring\n"
  . "checkpoint_timeout = 30s\nmax_wal_size = 64MB\nlog_min_messages = log\n";
my $node = pgrac_node('loop', settings => $settings);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pgrac_storage; CREATE EXTENSION amcheck');
like($node->safe_psql('postgres', 'SELECT device, embedded, direct_io, io_method FROM pgrac.pgrac_block_device'),
	qr/^\Q$dev\E\|f\|t\|io_uring$/, 'the server runs on the loop device with direct I/O and io_uring');
like(slurp_file($node->logfile), qr/block device "\Q$dev\E" uses direct I\/O \(offset alignment \d+, buffer alignment \d+ bytes\)/,
	'the log names the alignment checked at startup');

# another cluster pointed at the same device while it runs
my $intruder = pgrac_node('intruder', settings => $settings);
ok(!$intruder->start(fail_ok => 1), 'a second server cannot start on a device in use');
like(slurp_file($intruder->logfile),
	qr/could not lock block device "\Q$dev\E": it is in use by another process/,
	'... and says why');

command_ok([ 'pgbench', '-i', '-s', '5', '-q', '-h', $node->host, '-p', $node->port, 'postgres' ],
	'pgbench -i');
command_ok([ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', '5', '-h', $node->host, '-p', $node->port, 'postgres' ],
	'pgbench runs');
my $sum = $node->safe_psql('postgres', 'SELECT sum(abalance), count(*) FROM pgbench_accounts');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', 'SELECT sum(abalance), count(*) FROM pgbench_accounts'), $sum,
	'committed pgbench work survives a crash');

# A sequential scan larger than a quarter of shared_buffers goes through a
# ring of buffers, so every block it does not find in shared buffers is read
# from the device, and read-ahead should serve most of them.  Crash recovery
# has just replayed pgbench's updates into shared buffers (on a fast machine
# most of the table), so a clean restart first empties them: otherwise how
# many blocks reach the device depends on the machine's speed.
$node->restart;
my $table_blocks = $node->safe_psql('postgres',
	q{SELECT pg_relation_size('pgbench_accounts') / current_setting('block_size')::int});
cmp_ok($table_blocks, '>', 4000, 'pgbench_accounts is large enough for the scan to mean something');
my ($scan, $ra) = split /\n/, $node->safe_psql('postgres',
	'SET max_parallel_workers_per_gather = 0; SELECT sum(abalance), count(*) FROM pgbench_accounts;'
	  . " SELECT active, blocks_served >= $table_blocks / 2, dropped_failed, blocks_served FROM pgrac.pgrac_read_ahead_stats()");
$ra =~ s/\|(\d+)$//;
note("read-ahead served $1 of the table's $table_blocks blocks");
is($scan, $sum, 'a sequential scan with read-ahead on the loop device reads the same rows');
is($ra, 't|t|0', '... at least half of its blocks served from read-ahead, with no failed read');

kill9_rounds($node, rounds => $ENV{PGRAC_KILL9_ROUNDS} // 6);

$node->stop;
command_like([ 'pgrac_image', 'verify', "--device=$dev" ], qr/ 0 problems/, 'the device verifies');

# tmpfs accepts O_DIRECT on newer kernels but does not report an alignment
# (statx STATX_DIOALIGN), and older kernels refuse O_DIRECT there: either
# way the server must refuse to start, naming the setting.
my $img = "/dev/shm/pgrac_test_$$.img";
command_ok([ 'pgrac_image', 'format', "--device=$img", '--size=64MB' ], 'an image on tmpfs');
my $tmpfs = pgrac_node('tmpfs',
	settings => "pgrac.storage_backend = 'block_device'\npgrac.device = '$img'\npgrac.direct_io = on\n");
ok(!$tmpfs->start(fail_ok => 1), 'direct I/O on tmpfs is refused');
like(slurp_file($tmpfs->logfile),
	qr/FATAL:  (the file system holding "\Q$img\E" does not report its direct I\/O alignment|could not open block device "\Q$img\E" for direct I\/O).*\n.*\n?.*HINT:  Set pgrac.direct_io = off/,
	'... with a message naming pgrac.direct_io');
command_like([ 'pgrac_image', 'verify', "--device=$img" ], qr/0 forks, .* 0 problems/, '... and leaves the image as it was');
unlink $img;

done_testing();
