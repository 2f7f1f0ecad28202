# A streaming standby of a block_device primary, made with stock
# pg_basebackup (which copies the embedded image like any file in PGDATA):
# it follows the primary through creates, extensions, truncations, drops
# and checkpoints, and once promoted serves the same data and takes writes.
# The primary uses buffered I/O, the standby direct I/O on its copy.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;

my $primary = pgrac_node('primary', allows_streaming => 1,
	settings => "pgrac.storage_backend = 'block_device'\n");
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION pgrac_storage;
	CREATE TABLE before_backup AS SELECT g AS a, md5(g::text) AS b FROM generate_series(1, 50000) g;
	CREATE INDEX ON before_backup (b);
});

# writes keep going while the backup copies the image
my $bg = $primary->background_psql('postgres');
$bg->query_safe('CREATE TABLE during_backup (a int)');
$bg->query_safe('INSERT INTO during_backup SELECT generate_series(1, 20000)');
$primary->backup('bk');
$bg->query_safe('INSERT INTO during_backup SELECT generate_series(20001, 40000)');
$bg->quit;

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->append_conf('postgresql.conf', "pgrac.direct_io = on\n");
$standby->start;

$primary->safe_psql('postgres', q{
	CREATE TABLE after_backup AS SELECT g AS a FROM generate_series(1, 100000) g;
	CREATE UNLOGGED TABLE ul AS SELECT generate_series(1, 100) AS a;
	TRUNCATE before_backup;
	INSERT INTO before_backup SELECT g, 'again' FROM generate_series(1, 1000) g;
	CREATE TABLE gone AS SELECT generate_series(1, 30000) AS a;
	DROP TABLE gone;
	CHECKPOINT;
	VACUUM;
	CHECKPOINT;
});
$primary->wait_for_replay_catchup($standby);

my $q = q{SELECT (SELECT count(*) FROM before_backup) || ',' || (SELECT count(DISTINCT b) FROM before_backup)
	|| ',' || (SELECT count(*) FROM during_backup) || ',' || (SELECT sum(a) FROM after_backup)};
my $expect = $primary->safe_psql('postgres', $q);
is($expect, '1000,1,40000,5000050000', 'primary has what it was given');
is($standby->safe_psql('postgres', $q), $expect, 'the standby follows the primary');
is($standby->safe_psql('postgres', q{SELECT backend, embedded, direct_io FROM pgrac.pgrac_block_device}), 'block_device|t|t',
	'the standby runs on its own copy of the image, with direct I/O');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pgrac.pgrac_relation_extents('after_backup')}),
	$primary->safe_psql('postgres', q{SELECT count(*) FROM pgrac.pgrac_relation_extents('after_backup')}),
	'its extent map matches the primary\'s');

# restartpoints, then a restart of the standby mid-stream
$standby->safe_psql('postgres', 'CHECKPOINT');
$standby->restart;
$primary->safe_psql('postgres', 'INSERT INTO after_backup SELECT generate_series(1, 10)');
$primary->wait_for_replay_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT count(*) FROM after_backup'), '100010',
	'the standby keeps following after a restart');

$standby->promote;
is($standby->safe_psql('postgres', $q . q{ || ',' || (SELECT count(*) FROM ul)}),
	'1000,1,40000,5000050055,0', 'the promoted standby serves the same data (unlogged table empty)');
$standby->safe_psql('postgres', q{
	CREATE TABLE on_new_primary AS SELECT generate_series(1, 5000) AS a;
	INSERT INTO ul VALUES (1);
	CHECKPOINT;
});
is($standby->safe_psql('postgres', 'SELECT count(*) FROM on_new_primary'), '5000', 'and takes writes');
$standby->restart;
is($standby->safe_psql('postgres', 'SELECT count(*) FROM on_new_primary'), '5000', '... that survive a restart');
$standby->stop;
$primary->stop;

my ($stdout, $stderr);
my $ok = IPC::Run::run([ 'pgrac_image', 'verify', '--device=' . $standby->data_dir . '/pg_pgrac/device.img' ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'the promoted standby\'s image verifies') or diag($stdout . $stderr);

done_testing();
