# The block_device backend on a real block device: a loop device the test
# runner (root) attaches and hands to the server's OS user
# (PGRAC_TEST_LOOP_DEVICE).  pgrac_image formats it (zeroing it with
# BLKZEROOUT), the cluster is imported into it, pgbench runs, the server is
# killed and recovers, amcheck and pgrac_image verify find nothing.
# Buffered I/O: direct I/O arrives with issue 4.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;

my $dev = $ENV{PGRAC_TEST_LOOP_DEVICE};
BAIL_OUT('PGRAC_TEST_LOOP_DEVICE is not set: run this test through test/run-tests.sh, which attaches a loop device')
  unless $dev && -b $dev;

command_ok([ 'pgrac_image', 'format', "--device=$dev", '--force' ], 'pgrac_image formats the loop device');
command_like([ 'pgrac_image', 'verify', "--device=$dev" ], qr/0 forks, .* 0 problems/, '... which verifies empty');

my $node = pgrac_node('loop',
	settings => "pgrac.storage_backend = 'block_device'\npgrac.device = '$dev'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pgrac_storage; CREATE EXTENSION amcheck');
like($node->safe_psql('postgres', 'SELECT device, embedded FROM pgrac_block_device'),
	qr/^\Q$dev\E\|f$/, 'the server runs on the loop device');

command_ok([ 'pgbench', '-i', '-s', '5', '-q', '-h', $node->host, '-p', $node->port, 'postgres' ],
	'pgbench -i');
command_ok([ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', '5', '-h', $node->host, '-p', $node->port, 'postgres' ],
	'pgbench runs');
my $sum = $node->safe_psql('postgres', 'SELECT sum(abalance), count(*) FROM pgbench_accounts');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', 'SELECT sum(abalance), count(*) FROM pgbench_accounts'), $sum,
	'committed pgbench work survives a crash');
cmp_ok($node->safe_psql('postgres', q{
	SELECT count(bt_index_check(c.oid, true)::text) FROM pg_class c JOIN pg_am am ON am.oid = c.relam
	WHERE am.amname = 'btree' AND c.relkind = 'i' AND c.relpersistence = 'p'}), '>', 100,
	'amcheck finds every B-tree intact');
$node->stop;
command_like([ 'pgrac_image', 'verify', "--device=$dev" ], qr/ 0 problems/, 'the device verifies');

done_testing();
