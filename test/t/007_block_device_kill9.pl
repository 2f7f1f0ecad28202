# kill -9 of the postmaster at random points of a write-heavy workload on
# the embedded image (buffered I/O); see PgracCrash.pm for the workload and
# what each round checks.  At the end pgrac_image verify accepts the image.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;
use PgracCrash;

my $node = pgrac_node('kill9',
	settings => "pgrac.storage_backend = 'block_device'\ncheckpoint_timeout = 30s\nmax_wal_size = 64MB\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pgrac_storage; CREATE EXTENSION amcheck');

kill9_rounds($node, rounds => $ENV{PGRAC_KILL9_ROUNDS} // 6);

$node->stop;
my ($stdout, $stderr);
my $ok = IPC::Run::run([ 'pgrac_image', 'verify', '--device=' . $node->data_dir . '/pg_pgrac/device.img' ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'the image verifies after all the crashes') or diag($stdout . $stderr);

done_testing();
