# The block_device base backend on the embedded image: first start imports
# the cluster, data survives clean restarts and crashes, unlogged tables
# reset, space is reused, the storage-manager bypasses are handled, and
# the device refuses to serve the wrong cluster, corrupt metadata or more
# data than fits (SQLSTATE 53100).
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Copy;
use PgracTest;

my $bin = $ENV{PGRAC_BINDIR} // '';
my $pgrac_image = -x "$bin/pgrac_image" ? "$bin/pgrac_image" : 'pgrac_image';

sub bd_node
{
	my ($name, %params) = @_;
	my $extra = delete $params{settings} // '';
	return pgrac_node($name, %params,
		settings => "pgrac.storage_backend = 'block_device'\n$extra");
}

sub image_verify
{
	my ($node) = @_;
	my ($stdout, $stderr);
	my $ok = IPC::Run::run([ $pgrac_image, 'verify', '--device=' . $node->data_dir . '/pg_pgrac/device.img' ],
		'>', \$stdout, '2>', \$stderr);
	return ($ok, $stdout . $stderr);
}

# --- first start: the cluster moves into the image ---
my $node = bd_node('bd');
$node->start;
my $log = slurp_file($node->logfile);
like($log, qr/formatted embedded image ".*pg_pgrac\/device.img"/, 'first start formats the embedded image');
like($log, qr/imported (\d+) relation forks \(\d+ blocks\) into block device/, '... and imports the cluster');
my $dbdir = $node->data_dir . '/base/' . $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my @left = grep { !/_fsm$/ && /^\d+(_\w+)?$/ } map { s{.*/}{}r } glob("$dbdir/*");
is(scalar(@left), 0, 'no relation files but free-space maps are left in PGDATA');

# a crash before any checkpoint: the import alone must be durable
my $ncat = $node->safe_psql('postgres', 'SELECT count(*) FROM pg_class');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_class'), $ncat,
	'a crash right after the import loses nothing');

$node->safe_psql('postgres', 'CREATE EXTENSION pgrac_storage');
is($node->safe_psql('postgres', q{SELECT string_agg(layer, ',' ORDER BY level) FROM pgrac.pgrac_storage_layers()}),
	'block_device', 'the base backend is block_device');
like($node->safe_psql('postgres', q{SELECT backend, embedded, extent_bytes, io_method FROM pgrac.pgrac_block_device}),
	qr/^block_device\|t\|131072\|sync$/, 'status view');

# --- metadata records carry the bytes that changed, whole pages only
# for a page's first change after a checkpoint: a bulk load that maps a
# new extent every 16 blocks must not log 8 kB pages for each ---
$node->safe_psql('postgres', 'CREATE EXTENSION pg_walinspect');
my $wal_start = $node->safe_psql('postgres', 'CHECKPOINT; SELECT pg_current_wal_insert_lsn()');
$node->safe_psql('postgres', q{CREATE TABLE walsize AS SELECT g, repeat('x', 200) AS v FROM generate_series(1, 100000) g});
my $wal_end = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
my ($nrec, $full_sized) = split /\|/, $node->safe_psql('postgres',
	qq{SELECT count(*), count(*) FILTER (WHERE record_length >= 8192) FROM pg_get_wal_records_info('$wal_start', '$wal_end') WHERE resource_manager = 'pgrac'});
cmp_ok($nrec, '>', 20, "a bulk load logs metadata changes ($nrec records)");
cmp_ok($full_sized, '<', $nrec / 10, "... of which at most one in ten carries a whole page ($full_sized)");
$node->safe_psql('postgres', 'DROP TABLE walsize; DROP EXTENSION pg_walinspect');

# a change that touches pages but leaves their bytes as they were (a
# truncation back to the EOF the directory already records: grown by one
# block within its extent after a checkpoint, then truncated by VACUUM)
# still logs a record, and the server stays up
$node->safe_psql('postgres', q{
	CREATE TABLE same_eof (a int, b text) WITH (autovacuum_enabled = off);
	INSERT INTO same_eof SELECT g, repeat('s', 500) FROM generate_series(1, 140) g;
	CHECKPOINT;
	INSERT INTO same_eof SELECT g, repeat('t', 500) FROM generate_series(141, 160) g;
	DELETE FROM same_eof WHERE a > 140;
});
my $blocks_before = $node->safe_psql('postgres', q{SELECT pg_relation_size('same_eof') / 8192});
$node->safe_psql('postgres', 'VACUUM same_eof');
cmp_ok($node->safe_psql('postgres', q{SELECT pg_relation_size('same_eof') / 8192}), '<', $blocks_before,
	'VACUUM truncates a fork back to the EOF its directory entry already has');
is($node->safe_psql('postgres', 'SELECT count(*) FROM same_eof'), '140', '... and the server is still up, the rows there');
$node->safe_psql('postgres', 'DROP TABLE same_eof');

# --- ordinary work, then a clean restart ---
$node->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 100000) g;
	CREATE INDEX t_v ON t (v);
	UPDATE t SET v = v || 'x' WHERE id % 10 = 0;
	DELETE FROM t WHERE id % 7 = 0;
	VACUUM t;
	CHECKPOINT;
});
my $sum = $node->safe_psql('postgres', 'SELECT count(*), sum(id), md5(string_agg(v, \',\' ORDER BY id)) FROM t');
cmp_ok($node->safe_psql('postgres', q{SELECT count(*) FROM pgrac.pgrac_relation_extents('t')}), '>', 1,
	'a relation lists its extents');

# pg_stat_io: the checkpoint's device flush is the fsync of relation data
# (md counts one per file; here no relation file is dirty, only the device)
my $fsyncs_sql = q{SELECT sum(fsyncs) FROM pg_stat_io
	WHERE backend_type = 'checkpointer' AND object = 'relation' AND context = 'normal'};
my $fsyncs0 = $node->safe_psql('postgres', $fsyncs_sql);
$node->safe_psql('postgres', 'UPDATE t SET v = v WHERE id = 1; CHECKPOINT; CHECKPOINT;');
cmp_ok($node->safe_psql('postgres', $fsyncs_sql), '>', $fsyncs0,
	'a checkpoint counts its device flush in pg_stat_io as an fsync');
$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*), sum(id), md5(string_agg(v, \',\' ORDER BY id)) FROM t'),
	$sum, 'data survives a clean restart');
$node->stop;
my ($ok, $out) = image_verify($node);
ok($ok, 'pgrac_image verify accepts the image after a clean shutdown') or diag($out);
$node->start;

# --- crash: committed work survives, uncommitted does not, unlogged resets ---
$node->safe_psql('postgres', q{
	CREATE EXTENSION amcheck;
	CREATE UNLOGGED TABLE ul (a int);
	INSERT INTO ul SELECT generate_series(1, 5000);
	CREATE TABLE c (a int);
	CHECKPOINT;
	INSERT INTO c SELECT generate_series(1, 20000);
	CREATE TABLE dropped AS SELECT generate_series(1, 10000) AS a;
	DROP TABLE dropped;
	TRUNCATE t;
	INSERT INTO t SELECT g, 'after truncate' FROM generate_series(1, 3000) g;
	CREATE TABLE t2 AS SELECT g AS a FROM generate_series(1, 30000) g;
	INSERT INTO ul SELECT generate_series(1, 100);
});
my $bg = $node->background_psql('postgres');
$bg->query_safe('BEGIN');
$bg->query_safe('INSERT INTO c SELECT generate_series(1, 777)');
$node->stop('immediate');
$bg->quit;
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*) FROM c'), '20000', 'committed rows survive a crash, uncommitted are gone');
is($node->safe_psql('postgres', q{SELECT count(*), min(v), max(v) FROM t}), '3000|after truncate|after truncate',
	'a truncated and refilled table survives a crash');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t2'), '30000', 'a table created after the checkpoint survives');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ul'), '0', 'an unlogged table is empty after a crash');
like(slurp_file($node->logfile), qr/reset \d+ unlogged relation\(s\) on the block device/, '... reset from its init fork');
$node->safe_psql('postgres', 'INSERT INTO ul VALUES (1)');
my $amcheck = q{SELECT count(bt_index_check(c.oid, true)::text) FROM pg_class c JOIN pg_am am ON am.oid = c.relam
	WHERE am.amname = 'btree' AND c.relpersistence = 'p' AND c.relkind = 'i'};
cmp_ok($node->safe_psql('postgres', $amcheck), '>', 100, 'amcheck finds every B-tree intact (heap included)');
$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*) FROM ul'), '1', 'an unlogged table keeps its rows across a clean restart');

# --- space is reused after drop, once checkpoints have freed it ---
my $free0 = $node->safe_psql('postgres', 'SELECT extents_free FROM pgrac.pgrac_block_device');
$node->safe_psql('postgres', 'CREATE TABLE big AS SELECT g, repeat(\'x\', 500) AS pad FROM generate_series(1, 20000) g');
my $free1 = $node->safe_psql('postgres', 'SELECT extents_free FROM pgrac.pgrac_block_device');
cmp_ok($free1, '<', $free0, 'a new table takes extents');
$node->safe_psql('postgres', 'DROP TABLE big; CHECKPOINT; CHECKPOINT;');
my $free2 = $node->safe_psql('postgres', 'SELECT extents_free FROM pgrac.pgrac_block_device');
cmp_ok($free2, '>=', $free0, 'dropping it gives them back after a checkpoint');

# --- bypasses of the storage manager ---
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'CREATE DATABASE fc STRATEGY FILE_COPY');
like($stderr, qr/CREATE DATABASE with STRATEGY FILE_COPY is not supported on the block device/,
	'CREATE DATABASE ... FILE_COPY is refused');
$node->safe_psql('postgres', 'CREATE DATABASE wl');
$node->safe_psql('wl', 'CREATE TABLE x AS SELECT generate_series(1, 1000) a');
is($node->safe_psql('wl', 'SELECT count(*) FROM x'), '1000', 'CREATE DATABASE (WAL_LOG) works');
my $tsdir = PostgreSQL::Test::Utils::tempdir;
$node->safe_psql('postgres', "CREATE TABLESPACE ts LOCATION '$tsdir'");
($ret, $stdout, $stderr) = $node->psql('postgres', 'ALTER DATABASE wl SET TABLESPACE ts');
like($stderr, qr/ALTER DATABASE \.\.\. SET TABLESPACE is not supported on the block device/,
	'ALTER DATABASE SET TABLESPACE is refused');
$node->safe_psql('wl', 'CREATE TABLE y (a int) TABLESPACE ts; INSERT INTO y VALUES (1)');
($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP TABLESPACE ts');
like($stderr, qr/tablespace "ts" is not empty/, 'DROP TABLESPACE sees relations of other databases on the device');
$node->safe_psql('wl', 'ALTER TABLE y SET TABLESPACE pg_default');
is($node->safe_psql('wl', 'SELECT * FROM y'), '1', 'ALTER TABLE SET TABLESPACE moves a relation');
my $forks_before = $node->safe_psql('postgres', 'SELECT forks FROM pgrac.pgrac_block_device');
$node->safe_psql('postgres', 'DROP DATABASE wl');
$node->safe_psql('postgres', 'DROP TABLESPACE ts; CHECKPOINT; CHECKPOINT');
cmp_ok($node->safe_psql('postgres', 'SELECT forks FROM pgrac.pgrac_block_device'), '<', $forks_before - 100,
	'DROP DATABASE frees the database\'s forks');

# --- a relfilenumber held only by the device is not handed out again ---
# VACUUM FULL gives "rw" a relfilenumber from the OID counter; winding the
# counter back to it makes the next CREATE TABLE draw it as its OID, which
# pg_class does not have: only the device knows the number is taken.
$node->safe_psql('postgres', 'CREATE TABLE rw AS SELECT generate_series(1, 1000) AS a; VACUUM FULL rw');
my $taken = $node->safe_psql('postgres', q{SELECT relfilenode FROM pg_class WHERE relname = 'rw'});
$node->stop;
command_ok([ 'pg_resetwal', '-o', $taken, $node->data_dir ], 'pg_resetwal winds the OID counter back');
$node->start;
$node->safe_psql('postgres', 'CREATE TABLE fresh (b int)');
isnt($node->safe_psql('postgres', q{SELECT relfilenode FROM pg_class WHERE relname = 'fresh'}), $taken,
	'a new relation skips a relfilenumber that only the device holds');
is($node->safe_psql('postgres', 'SELECT count(*) FROM rw'), '1000', '... and the relation holding it is intact');

# --- wal_level = minimal: data written without WAL survives a crash ---
$node->append_conf('postgresql.conf', "wal_level = minimal\nmax_wal_senders = 0\n");
$node->restart;
$node->safe_psql('postgres', q{
	BEGIN;
	CREATE TABLE nowal (a int);
	INSERT INTO nowal SELECT generate_series(1, 50000);
	COMMIT;
});
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*), sum(a) FROM nowal'), '50000|1250025000',
	'a table filled without WAL (wal_level = minimal) survives a crash');
$node->stop;
($ok, $out) = image_verify($node);
ok($ok, 'pgrac_image verify accepts the image after the crashes') or diag($out);

# --- the device of another cluster is refused ---
my $other = bd_node('other', settings => "pgrac.device = '" . $node->data_dir . "/pg_pgrac/device.img'\n");
$other->start(fail_ok => 1);
like(slurp_file($other->logfile), qr/block device ".*device.img" belongs to another cluster/,
	'a device belonging to another cluster is refused');

# --- corrupt metadata is refused, naming the page ---
my $img = $node->data_dir . '/pg_pgrac/device.img';
copy($img, "$img.good") or die;
open(my $fh, '+<', $img) or die;
binmode $fh;
seek($fh, 11 * 8192 + 100, 0);	# the directory root: page 11 of a 64 GB image
print $fh "garbage";
close $fh;
ok(!$node->start(fail_ok => 1), 'a torn directory page stops the server from starting');
like(slurp_file($node->logfile), qr/has corrupt metadata: directory page at page address 11: checksum mismatch/,
	'... saying which page');
move("$img.good", $img) or die;
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*) FROM c'), '20000', 'the restored image serves again');
$node->stop;

# --- a full device fails the statement with 53100 and keeps what it has ---
my $small = bd_node('small', settings => "pgrac.image_max_size = '200MB'\n");
$small->start;
$small->safe_psql('postgres', 'CREATE TABLE keep AS SELECT generate_series(1, 1000) a');
($ret, $stdout, $stderr) = $small->psql('postgres',
	q{\set VERBOSITY verbose
	  CREATE TABLE fill AS SELECT g, repeat('y', 1000) AS pad FROM generate_series(1, 200000) g});
like($stderr, qr/ERROR:  53100: block device ".*" is full/, 'filling the device fails with SQLSTATE 53100');
is($small->safe_psql('postgres', 'SELECT count(*) FROM keep'), '1000', 'data written before is intact');
$small->safe_psql('postgres', 'CHECKPOINT');
$small->restart;
is($small->safe_psql('postgres', 'SELECT count(*) FROM keep'), '1000', '... and after a restart');
$small->stop;

# --- import zeroes free extents: an interrupted import may have left data
# in extents no metadata names, and new extents must read as zeroes ---
my $dirty = PostgreSQL::Test::Utils::tempdir . '/dirty.img';
command_ok([ $pgrac_image, 'format', "--device=$dirty", '--size=512MB', '--extent-size=128kB' ],
	'an image formatted for a dirty import');
my $dirty_size = -s $dirty;
open($fh, '+<', $dirty) or die;
binmode $fh;
# stale bytes in the last 8 MB, far beyond what an empty cluster needs
seek($fh, $dirty_size - 8 * 1024 * 1024, 0);
print $fh ("\xAB" x (8 * 1024 * 1024));
close $fh;
my $importer = bd_node('importer', settings => "pgrac.device = '$dirty'\n");
$importer->start;
$importer->safe_psql('postgres', 'CREATE TABLE t AS SELECT generate_series(1, 1000) a');
$importer->stop;
open($fh, '<', $dirty) or die;
binmode $fh;
seek($fh, $dirty_size - 8 * 1024 * 1024, 0);
read($fh, my $tail, 8 * 1024 * 1024);
close $fh;
is(($tail =~ tr/\0//c), 0, 'the import zeroed the stale bytes in free extents');

done_testing();
