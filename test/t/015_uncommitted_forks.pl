# Forks of transactions that never committed (issue 12, item 4): a crash
# while a transaction that created relations is open must not leave their
# space allocated on the device for good.  After the restart, the first
# checkpoint reclaims them (on the standby too, which follows the
# primary's records), while relations whose creator is still running or
# prepared are kept and settle once it commits.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;
use PgracCrash;

my $node = pgrac_node('uf', allows_streaming => 1,
	settings => "pgrac.storage_backend = 'block_device'\nautovacuum = off\n"
	  . "max_logical_replication_workers = 0\n"
	  . "max_prepared_transactions = 5\nwal_keep_size = '256MB'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pgrac_storage');

# The checkpointer's pass while the creator is the only process in the proc
# array (no autovacuum or replication launcher, no walsender yet): the
# creator's transaction is running and must be seen so from the
# checkpointer, which is not in that array itself.
# (A later xid committed too, so that no shortcut answers "running"
# merely because the creator's xid is newer than every completed one.)
my $solo = $node->background_psql('postgres');
$solo->query_safe(q{
	BEGIN;
	CREATE TABLE solo AS SELECT g FROM generate_series(1, 20000) g;
});
$node->safe_psql('postgres', 'SELECT pg_current_xact_id()');
$solo->query_safe('CHECKPOINT');
is($solo->query_safe('SELECT count(*) FROM solo'), '20000',
	'a checkpoint while the creator is the only backend keeps its table');
$solo->query_safe('COMMIT');
$solo->quit;
unlike(slurp_file($node->logfile), qr/reclaimed/, '... and reclaims nothing');
$node->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('uf_standby');
$standby->init_from_backup($node, 'base', has_streaming => 1);
$standby->start;

sub used_extents
{
	my ($n) = @_;
	return $n->safe_psql('postgres', 'SELECT extents_used FROM pgrac.pgrac_block_device');
}

sub uncommitted
{
	return $node->safe_psql('postgres',
		q{SELECT string_agg(creator || ':' || forks, ',' ORDER BY relfilenode) FROM pgrac.pgrac_uncommitted_forks()});
}

$node->safe_psql('postgres', 'CHECKPOINT');
my $used_before = used_extents($node);

# a prepared transaction that created a table: kept across the crash
$node->safe_psql('postgres', q{
	BEGIN;
	CREATE TABLE prep AS SELECT g FROM generate_series(1, 10000) g;
	PREPARE TRANSACTION 'uf_prep';
});

# the victim: a table with TOAST (three relations), written, never committed
my $victim = $node->background_psql('postgres');
$victim->query_safe(q{
	BEGIN;
	CREATE TABLE big (id int, v text);
	ALTER TABLE big ALTER v SET STORAGE EXTERNAL;
	INSERT INTO big SELECT g, repeat(md5(g::text), 100) FROM generate_series(1, 12000) g;
});
$node->safe_psql('postgres', 'CHECKPOINT');
$node->wait_for_catchup($standby, 'replay');
my $used_during = used_extents($node);
cmp_ok($used_during - $used_before, '>', 200, 'the open transaction holds device space (' . ($used_during - $used_before) . ' extents)');
like(uncommitted(), qr/^(in progress:\d,?)+$/, 'its relations are listed as in progress');

# crash: kill -9 of the postmaster; its children notice and exit
my $pid = $node->{_pid};
my $img = $node->data_dir . '/pg_pgrac/device.img';
$node->kill9;
eval { $victim->quit };
PgracCrash::wait_pid_gone($pid);
PgracCrash::wait_device_released($img);
{
	my ($rc, $out, $err) = run_pgrac_image('verify', "--device=$img");
	is($rc, 0, 'pgrac_image verify after the crash: no problem') or diag "$out$err";
	like($out, qr/^device UUID [0-9a-f-]{36}, owned by the cluster with system identifier \d+$/m, '... naming the device and its owner');
	like($out, qr/note: relation \d+\/\d+\/\d+ was created by transaction \d+, not yet known to have committed/, '... and noting the relations of uncommitted creators');
	like($out, qr/; [3-9] relations of creators not known to have committed$/m, '... counted in the summary');
}
$node->{_pid} = undef;
$node->start;

my $list = uncommitted();
is(scalar(() = $list =~ /never committed/g), 3, 'after the crash: three relations whose creator never committed (table, TOAST table, TOAST index)')
  or diag $list;
like($list, qr/in progress/, '... and the prepared one is in progress');

# a creation in progress at the time of the reclaim
my $pending = $node->background_psql('postgres');
$pending->query_safe(q{
	BEGIN;
	CREATE TABLE pending AS SELECT g FROM generate_series(1, 5000) g;
});

my $r = $node->safe_psql('postgres', 'SELECT settled, reclaimed, waiting FROM pgrac.pgrac_reclaim_uncommitted_forks()');
like($r, qr/^\d+\|3\|2$/, 'a pass reclaims the three, waits for the prepared and the running creator');
like(slurp_file($node->logfile), qr/reclaimed \d forks \(\d+ kB\) of relation "base\/\d+\/\d+" on the block device: its creating transaction \d+ never committed/,
	'... and logs each reclaim');
is(scalar(() = uncommitted() =~ /in progress/g), 2, 'only the prepared and the running creations remain listed');

$node->safe_psql('postgres', 'CHECKPOINT');	# frees the tombstones' extents
$node->safe_psql('postgres', 'CHECKPOINT');
my $used_after = used_extents($node);
cmp_ok($used_after - $used_before, '<', 20, "the space came back ($used_during extents used during, $used_after after, $used_before before)");

# the kept ones commit and settle
$node->safe_psql('postgres', q{COMMIT PREPARED 'uf_prep'});
$pending->query_safe('COMMIT');
$pending->quit;
is($node->safe_psql('postgres', 'SELECT (SELECT count(*) FROM prep) || \',\' || (SELECT count(*) FROM pending)'),
	'10000,5000', 'the prepared and the running creations are intact');
$node->safe_psql('postgres', 'CHECKPOINT');
is(uncommitted(), '', 'a checkpoint settles their creators once committed');

# the standby followed, and its restartpoints write no buffer of the reclaimed
$node->safe_psql('postgres', 'CHECKPOINT');
$node->wait_for_catchup($standby, 'replay');
$standby->safe_psql('postgres', 'CHECKPOINT');
is(used_extents($standby), used_extents($node), 'the standby frees the same space');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM prep'), '10000', '... and serves the committed tables');
unlike(slurp_file($standby->logfile), qr/ERROR|PANIC/, '... without an error in its log');

$standby->stop;
$node->stop;
my ($rc, $out, $err) = run_pgrac_image('verify', '--device=' . $node->data_dir . '/pg_pgrac/device.img');
is($rc, 0, 'pgrac_image verify: the layout is consistent') or diag "$out$err";

done_testing();
