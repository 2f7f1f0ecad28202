# The read path's locks and map-page index (docs/block-device.md, "Locks of
# the metadata"): forks of several extent-map pages (64 kB extents, forks
# grown with one smgrzeroextend() by test/modules/zeroextend), read at every
# position while other backends extend, truncate across map pages, drop
# and recreate forks in other partitions and checkpoint; a streaming
# standby replaying all of it under hot-standby reads of the same blocks;
# then a restart (the index read again from the chains) and a crash
# (recovery replays with the index dropped and reads it again at its end).
# Every reader fails loudly on a wrong mapping: "could not access blocks",
# a block whose row does not say where it lives, or a layout the startup
# verification refuses.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use PgracTest;

my $zeroextend = test_module_path('zeroextend');
my $primary = pgrac_node('primary', allows_streaming => 1,
	settings => "pgrac.storage_backend = 'block_device'\n"
	  . "pgrac.image_extent_size = '64kB'\n"
	  . "shared_buffers = 1MB\n"
	  . "max_connections = 30\n");
$primary->start;
$primary->safe_psql('postgres', qq{
	CREATE EXTENSION pgrac_storage;
	CREATE EXTENSION amcheck;
	CREATE FUNCTION zeroextend(regclass, bigint) RETURNS bigint
		AS '$zeroextend' LANGUAGE C STRICT;
	-- each row says which block it was written to
	CREATE TABLE big (blk int, pad text) WITH (autovacuum_enabled = off);
});

# Rows at the start (inline extents), in the middle (map page 1) and at the
# end (map page 2) of a fork of 5000+ extents: 8 inline, 2036 per map page.
# An insert into a relation with no free-space map goes to its last block,
# here a zero page left by zeroextend().
sub put_row_at_end
{
	my ($node, $table) = @_;
	$node->safe_psql('postgres', qq{
		INSERT INTO $table SELECT pg_relation_size('$table') / 8192 - 1, 'row'});
}
$primary->safe_psql('postgres', q{INSERT INTO big VALUES (0, 'row')});
$primary->safe_psql('postgres', q{SELECT zeroextend('big', 20000)});
put_row_at_end($primary, 'big');
$primary->safe_psql('postgres', q{SELECT zeroextend('big', 40000)});
put_row_at_end($primary, 'big');

# the rows marked 'row' must come back from the block they were written to
sub rows_ok
{
	my ($node, $what, $table) = @_;
	$table //= 'big';
	my ($right, $all) = split /\|/, $node->safe_psql('postgres', qq{
		SELECT count(*) FILTER (WHERE (ctid::text::point)[0]::int = blk), count(*)
		FROM $table WHERE pad = 'row'});
	ok($all > 0 && $right == $all,
		"$what: every row of $table read back from the block it was written to ($right of $all)");
}

# a fresh table of several map pages with a row at its end (after the
# concurrent phase, big has a free-space map and its inserts go anywhere)
sub fresh_end_table
{
	my ($node, $table, $nblocks) = @_;
	$node->safe_psql('postgres', qq{
		CREATE TABLE $table (blk int, pad text) WITH (autovacuum_enabled = off);
		SELECT zeroextend('$table', $nblocks);});
	put_row_at_end($node, $table);
	rows_ok($node, "new table", $table);
}

my $extents = q{SELECT count(*), md5(string_agg(extent::text, ',' ORDER BY extent_index))
	FROM pgrac.pgrac_relation_extents('big')};
my ($nextents) = split /\|/, $primary->safe_psql('postgres', $extents);
cmp_ok($nextents, '>', 8 + 2 * 2036, "big spans three extent-map pages ($nextents extents)");
rows_ok($primary, 'primary');
is($primary->safe_psql('postgres', q{SELECT string_agg(blk::text, ',' ORDER BY blk) FROM big}),
	'0,19999,39999', 'rows in the inline extents and in map pages 1 and 2');

# a standby from a base backup, before the concurrent phase
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;

# ---- concurrent phase: reads of every position against metadata churn ----
my $dir = $primary->basedir;
my %scripts = (
	# random blocks of big, through the one-lock read path
	'read.sql' => q{\set b random(0, 39999)
SELECT count(*) FROM big WHERE ctid = ('(' || :b || ',1)')::tid;
},
	# big grows at its end while it is read
	'grow.sql' => q{INSERT INTO big SELECT pg_relation_size('big') / 8192 - 1, 'grow';
},
	# forks of their own (other partitions), grown over two map pages,
	# truncated across them by VACUUM, recreated by TRUNCATE, dropped
	'churn.sql' => q{CREATE TABLE IF NOT EXISTS churn_:client_id (a int) WITH (autovacuum_enabled = off);
INSERT INTO churn_:client_id SELECT generate_series(1, 2000);
SELECT zeroextend('churn_:client_id', 3000 + :client_id * 1000);
INSERT INTO churn_:client_id SELECT 1;
DELETE FROM churn_:client_id WHERE a = 1;
VACUUM churn_:client_id;
TRUNCATE churn_:client_id;
SELECT zeroextend('churn_:client_id', 17000);
DROP TABLE churn_:client_id;
},
	'checkpoint.sql' => q{CHECKPOINT;
\sleep 100 ms
},);
while (my ($name, $text) = each %scripts)
{
	open my $fh, '>', "$dir/$name" or die $!;
	print $fh $text;
	close $fh;
}

# hot-standby readers of the same blocks while the standby replays
my ($sout, $serr) = ('', '');
my $standby_readers = IPC::Run::start(
	[ 'pgbench', '-n', '-h', $standby->host, '-p', $standby->port, '-c', '3', '-j', '1',
	  '-T', '20', '-f', "$dir/read.sql", 'postgres' ],
	'>', \$sout, '2>', \$serr);

my @pgbench = ('pgbench', '-n', '-h', $primary->host, '-p', $primary->port, '-c', '8', '-j', '2',
	'-T', '20', '-f', "$dir/read.sql\@10", '-f', "$dir/grow.sql\@3",
	'-f', "$dir/churn.sql\@3", '-f', "$dir/checkpoint.sql\@1", 'postgres');
my ($pout, $perr) = ('', '');
my $ok = IPC::Run::run(\@pgbench, '>', \$pout, '2>', \$perr);
ok($ok, 'primary: reads, extension, truncation, drop and checkpoints ran side by side without an error')
  or diag("$pout\n$perr");
like($pout, qr/number of failed transactions: 0 /, 'no transaction failed on the primary');
note("primary: $pout");

ok(IPC::Run::finish($standby_readers), 'hot-standby reads of the same blocks during replay did not fail')
  or diag("$sout\n$serr");
like($sout, qr/number of failed transactions: 0 /, 'no read failed on the standby');

# every mis-mapped block would have shown up as a row read from another block
rows_ok($primary, 'primary after the churn');
is($primary->safe_psql('postgres', q{SELECT count(*) FROM verify_heapam('big')}), '0',
	'amcheck finds nothing in big');

$primary->wait_for_replay_catchup($standby);
my $q = q{SELECT count(*), sum(blk), (SELECT count(*) FROM pg_class WHERE relname LIKE 'churn_%') FROM big};
my $expect = $primary->safe_psql('postgres', $q);
is($standby->safe_psql('postgres', $q), $expect, 'the standby has the same rows');
rows_ok($standby, 'standby');
is($standby->safe_psql('postgres', $extents), $primary->safe_psql('postgres', $extents),
	'the standby maps big to the same extents as the primary');

# ---- a restart reads the index again from the chains ----
my $before = $primary->safe_psql('postgres', $extents);
$primary->restart;
is($primary->safe_psql('postgres', $extents), $before,
	'after a restart (index rebuilt from the chains, layout verified) the same extents');
is($primary->safe_psql('postgres', $q), $expect, 'and the same rows');

# ---- a crash: recovery replays with the index dropped, rebuilds it at its end ----
$primary->safe_psql('postgres', q{
	CHECKPOINT;
	SELECT zeroextend('big', 45000);
	INSERT INTO big SELECT pg_relation_size('big') / 8192 - 1, 'after checkpoint';
	CREATE TABLE late (a int);
	SELECT zeroextend('late', 30000);
	INSERT INTO late SELECT pg_relation_size('late') / 8192 - 1;
	DELETE FROM late;
	VACUUM late;
	SELECT zeroextend('late', 20000);
	INSERT INTO late SELECT pg_relation_size('late') / 8192 - 1;
});
my $crash_expect = $primary->safe_psql('postgres',
	q{SELECT (SELECT count(*) FROM big), (SELECT string_agg(a::text || ':' || ctid::text, ',') FROM late)});
my $crash_extents = $primary->safe_psql('postgres', $extents);
$primary->stop('immediate');
$primary->start;
is($primary->safe_psql('postgres',
	q{SELECT (SELECT count(*) FROM big), (SELECT string_agg(a::text || ':' || ctid::text, ',') FROM late)}),
	$crash_expect, 'after a crash: the rows written since the checkpoint, where they were written');
is($primary->safe_psql('postgres', $extents), $crash_extents, 'and the same extents');
rows_ok($primary, 'primary after the crash');
# the index serves new map pages after recovery (appends to the rebuilt index)
fresh_end_table($primary, 'post', 30000);
$primary->restart;
rows_ok($primary, 'after one more restart', 'post');

$primary->wait_for_replay_catchup($standby);
rows_ok($standby, 'standby after the primary\'s crash');
rows_ok($standby, 'standby after the primary\'s crash', 'post');
is($standby->safe_psql('postgres', $extents), $primary->safe_psql('postgres', $extents),
	'the standby still maps big as the primary does');

# promoted: the standby's index takes new extensions
$standby->promote;
fresh_end_table($standby, 'promoted', 25000);
$standby->restart;
rows_ok($standby, 'promoted standby after a restart', 'promoted');
rows_ok($standby, 'promoted standby after a restart');

done_testing();
