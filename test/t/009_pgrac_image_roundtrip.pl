# pgrac_image import, export and grow with real clusters: a cluster moves
# from md into an image file (import) and back (export) with its data,
# tablespace, unlogged table and a two-segment fork intact; every refusal
# (cluster not shut down cleanly, device not empty or owned by another
# cluster, a file in the way) leaves device and data directory as they
# were; an interrupted import is recognised and redone by the server; a
# running server's device is refused to every command; a grown image
# serves a server at its new size.
use strict;
use warnings FATAL => 'all';
use Digest::MD5;
use File::Find;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;

my $dir = PostgreSQL::Test::Utils::tempdir;

# Every regular file under a data directory (tablespaces included), with
# its size and checksum: equal fingerprints, unchanged directory.
sub fingerprint
{
	my ($pgdata) = @_;
	my @lines;
	find(
		{
			wanted => sub {
				push @lines, "$File::Find::name " . (-s $_) . ' ' . file_md5($_) if -f $_;
			},
			follow => 1
		},
		$pgdata);
	return join("\n", sort @lines);
}

# Main, visibility-map and init forks (not free-space maps) in the
# relation directories of a data directory, and free-space maps.
sub relation_files
{
	my ($pgdata, $pattern) = @_;
	my @files;
	find(
		{
			wanted => sub {
				push @files, $File::Find::name
				  if -f $_ && /$pattern/
				  && $File::Find::dir =~ m{/(global|base/\d+|PG_[^/]+/\d+)$};
			},
			follow => 1
		},
		"$pgdata/global", "$pgdata/base", "$pgdata/pg_tblspc");
	return sort @files;
}
my $forks = qr/^\d+(_vm|_init)?(\.\d+)?$/;
my $fsms = qr/^\d+_fsm(\.\d+)?$/;

# ---------------------------------------------------------------------
# A cluster on md, with a tablespace, an unlogged table, pgbench data
# ---------------------------------------------------------------------
my $node = pgrac_node('roundtrip', settings => "pgrac.storage_backend = 'md'\nautovacuum = off\n");
my $pgdata = $node->data_dir;
my $tsdir = PostgreSQL::Test::Utils::tempdir;
$node->start;
$node->safe_psql('postgres', "CREATE TABLESPACE ts LOCATION '$tsdir'");
command_ok([ 'pgbench', '-i', '-s', '2', '-q', '-h', $node->host, '-p', $node->port, 'postgres' ],
	'pgbench -i -s 2 on md');
$node->safe_psql('postgres', q{
	CREATE EXTENSION pgrac_storage;
	CREATE EXTENSION amcheck;
	CREATE TABLE spaced (id int PRIMARY KEY, v text) TABLESPACE ts;
	INSERT INTO spaced SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
	CREATE INDEX spaced_v ON spaced (v) TABLESPACE ts;
	CREATE UNLOGGED TABLE ul (a int PRIMARY KEY, b text);
	INSERT INTO ul SELECT g, repeat('u', 50) FROM generate_series(1, 5000) g;
	VACUUM ANALYZE;
});
my $dboid = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");

my $checks = q{
	SELECT md5(string_agg(t::text, ',' ORDER BY aid)) FROM pgbench_accounts t;
	SELECT count(*), sum(bbalance), sum(tbalance) FROM pgbench_branches JOIN pgbench_tellers USING (bid);
	SELECT count(*) FROM pgbench_history;
	SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM spaced t;
	SELECT count(*), md5(string_agg(b, ',' ORDER BY a)) FROM ul;
};
my $amcheck = q{SELECT count(bt_index_check(c.oid, true)::text) FROM pg_class c JOIN pg_am am ON am.oid = c.relam
	WHERE am.amname = 'btree' AND c.relkind = 'i' AND c.relpersistence <> 't'};
my $before = $node->safe_psql('postgres', $checks);
my $nbtrees = $node->safe_psql('postgres', $amcheck);
cmp_ok($nbtrees, '>', 100, 'amcheck checks every B-tree on md');
$node->stop;

# a fork of two segments (1 GB and 3 blocks), sparse, with data in both:
# not in the catalog, so the server leaves it alone, but it travels too
my $seg = "$pgdata/base/$dboid/999999";
{
	open(my $fh, '>', $seg) or die;
	binmode $fh;
	seek($fh, 5 * 8192, 0);
	print $fh 'A' x 8192;
	seek($fh, (131072 - 1) * 8192, 0);
	print $fh 'B' x 8192;
	close $fh;
	open($fh, '>', "$seg.1") or die;
	binmode $fh;
	print $fh ('C' x 8192) . ("\0" x 8192) . ('D' x 8192);
	close $fh;
}
my %seg_md5 = ($seg => file_md5($seg), "$seg.1" => file_md5("$seg.1"));
is(-s $seg, 1024 * 1024 * 1024, 'a relation file of a whole segment is in place');

my @fork_files = relation_files($pgdata, $forks);
my @fsm_files = relation_files($pgdata, $fsms);
cmp_ok(scalar(@fork_files), '>', 500, 'the cluster has relation files');
ok((grep { m{/pg_tblspc/} } @fork_files), '... some of them in the tablespace');
ok((grep { /_init$/ } @fork_files), '... and an init fork');

# ---------------------------------------------------------------------
# import
# ---------------------------------------------------------------------
my $img = "$dir/roundtrip.img";
my ($rc, $out, $err) = run_pgrac_image('format', "--device=$img", '--size=1536MB', '--max-size=2GB', '--extent-size=128kB');
is($rc, 0, 'format an image for the cluster') or diag($err);
($rc, $out, $err) = run_pgrac_image('import', "--device=$img", "--pgdata=$pgdata");
is($rc, 0, 'pgrac_image import succeeds') or diag($err);
my $nforks = scalar(@fork_files) - 1;	# the two segments are one fork
like($out, qr/imported $nforks relation forks \(\d+ blocks, \d+ MB\) of the cluster in ".*" into ".*roundtrip.img", which now belongs to it \(system identifier \d+\)/,
	'... and says what it did');
my @left = relation_files($pgdata, $forks);
is(scalar(@left), 0, 'no main, visibility-map or init fork files are left in PGDATA');
is_deeply([ relation_files($pgdata, $fsms) ], \@fsm_files, '... while the free-space maps stay');
($rc, $out, $err) = run_pgrac_image('verify', "--device=$img");
is($rc, 0, 'the imported image verifies');
like($out, qr/: $nforks forks, \d+ of 12288 extents free, 0 problems/, '... holding every fork');
($rc, $out, $err) = run_pgrac_image('ls', "--device=$img");
like($out, qr/^1663\s+$dboid\s+999999\s+main\s+live\s+131075\s/m, 'the two-segment fork has all its blocks');

# ---------------------------------------------------------------------
# a damaged copy of the image: verify names every damaged page, the fork
# whose extent map is one of them, and a server refusing the copy points
# at verify
# ---------------------------------------------------------------------
# Import wrote the directory from page 3 (after the one allocation-map
# page) and the extent maps after it, the first one for the first fork,
# in directory order (ls order), with more extents than its entry holds.
my ($map_fork, $map_extents, $index) = (undef, 0, 0);
for my $line (split /\n/, $out)
{
	next unless $line =~ /^(\d+)\s+(\d+)\s+(\d+)\s+(\w+)\s+\w+\s+\d+\s+(\S+)$/;
	my ($key, $ranges) = ("$1/$2/$3/" . { main => 0, vm => 2, init => 3 }->{$4}, $5);
	my $n = 0;
	$n += /^(\d+)-(\d+)$/ ? $2 - $1 + 1 : 1 for split /,/, $ranges;
	if ($n > 8) { ($map_fork, $map_extents) = ($key, $n); last; }
	$index++;
}
my $map_page = 3 + int(($nforks + 126) / 127);
my $damaged = "$dir/damaged.img";
{
	# the metadata (the first 16 MB) is all verify and the server read
	open(my $from, '<', $img) or die;
	open(my $to, '>', $damaged) or die;
	binmode $from;
	binmode $to;
	read($from, my $head, 16 * 1024 * 1024) == 16 * 1024 * 1024 or die;
	print $to $head;
	close $from;
	close $to;
	truncate($damaged, -s $img) or die;
	open(my $fh, '+<', $damaged) or die;
	binmode $fh;
	seek($fh, 2 * 8192 + 4000, 0);
	print $fh "\xff";    # the allocation map torn
	seek($fh, $map_page * 8192, 0);
	print $fh "XXXX";    # the first extent map: no longer a metadata page
	close $fh;
}
($rc, $out, $err) = run_pgrac_image('verify', "--device=$damaged");
is($rc, 1, 'verify of an image with two damaged metadata pages exits 1');
like($out, qr/^problem: allocation map page at page address 2: checksum mismatch \(torn or corrupted write\)$/m,
	'... naming the allocation map page');
my $dir_page = 3 + int($index / 127);
my $slot = $index % 127;
like($out, qr/^problem: extent map page at page address $map_page: not a pgrac_storage metadata page \(bad magic number\)\n  in the extent map of fork \Q$map_fork\E \(directory page $dir_page, entry $slot\), reached from its directory page $dir_page: @{[ $map_extents - 8 ]} of its $map_extents extents are not checked, nor is its EOF$/m,
	'... and the extent map page, with the fork it belongs to');
like($out, qr/: $nforks forks, free extents unknown, 2 problems \(2 in metadata pages, 0 in the layout\)$/m,
	'... with every fork read and both problems counted');
note($out);
$node->append_conf('postgresql.conf', "pgrac.storage_backend = 'block_device'\npgrac.device = '$damaged'\n");
ok(!$node->start(fail_ok => 1), 'the server refuses the damaged image');
like(slurp_file($node->logfile),
	qr/FATAL:  block device ".*damaged.img" has corrupt metadata: allocation map page at page address 2: checksum mismatch \(torn or corrupted write\)\n.*HINT:  "pgrac_image verify --device=\Q$damaged\E" lists every damaged metadata page and layout problem it can reach; restore the device from a backup\./,
	'... naming the first problem and pointing at verify for all of them');

# ---------------------------------------------------------------------
# the cluster on the block device
# ---------------------------------------------------------------------
$node->append_conf('postgresql.conf', "pgrac.storage_backend = 'block_device'\npgrac.device = '$img'\n");
$node->start;
unlike(slurp_file($node->logfile), qr/imported \d+ relation forks/, 'the server finds the device owned, no import of its own');
is($node->safe_psql('postgres', q{SELECT backend || ' ' || device FROM pgrac.pgrac_block_device}),
	"block_device $img", 'the server runs on the image');
is($node->safe_psql('postgres', $checks), $before, 'the data is the same on the block device');
is($node->safe_psql('postgres', $amcheck), $nbtrees, 'amcheck finds every B-tree intact on the block device');

# --- a running server's device is refused to every command ---
$node->safe_psql('postgres', 'CHECKPOINT');
my $md5 = file_md5($img);
for my $cmd (
	[ 'format', '--force' ], [ 'grow', '--size=2GB' ], [ 'import', "--pgdata=$dir" ],
	[ 'verify' ], [ 'ls' ], [ 'export', "--target=$dir/nowhere" ])
{
	($rc, $out, $err) = run_pgrac_image($cmd->[0], "--device=$img", @{$cmd}[ 1 .. $#$cmd ]);
	is($rc, 3, "$cmd->[0] is refused while the server runs");
	like($err, qr/device ".*roundtrip.img" is in use by another process \(a running server\?\)/, '... saying so');
}
is(file_md5($img), $md5, '... and the image is untouched');
is(-s $img, 1536 * 1024 * 1024, '... and keeps its size');
ok(!-e "$dir/nowhere", '... and export wrote nothing');

# more work on the block device
command_ok([ 'pgbench', '-n', '-t', '300', '-c', '2', '-h', $node->host, '-p', $node->port, 'postgres' ],
	'pgbench runs on the block device');
$node->safe_psql('postgres', q{
	INSERT INTO spaced SELECT g, md5(g::text) FROM generate_series(20001, 30000) g;
	INSERT INTO ul SELECT g, repeat('v', 50) FROM generate_series(5001, 6000) g;
	CREATE TABLE fresh (id int PRIMARY KEY, pad text);
	INSERT INTO fresh SELECT g, repeat('f', 200) FROM generate_series(1, 30000) g;
	CREATE TABLE gone AS SELECT generate_series(1, 10000) AS a;
	DROP TABLE gone;
	VACUUM ANALYZE;
});
$checks .= q{SELECT count(*), md5(string_agg(pad, ',' ORDER BY id)) FROM fresh;};
my $after = $node->safe_psql('postgres', $checks);
isnt($after, $before, 'the new work changed the data');
$nbtrees = $node->safe_psql('postgres', $amcheck);
$node->stop;
($rc, $out, $err) = run_pgrac_image('verify', "--device=$img");
is($rc, 0, 'the image verifies after the server stopped') or diag($out);

# ---------------------------------------------------------------------
# export refusals: nothing written, nothing changed
# ---------------------------------------------------------------------
$md5 = file_md5($img);
my $scratch = "$dir/scratch";
mkdir "$scratch" or die;
mkdir "$scratch/base" or die;
mkdir "$scratch/base/$dboid" or die;
my $relfile = "base/$dboid/999999";
open(my $fh, '>', "$scratch/$relfile") or die;
print $fh "mine\n";
close $fh;
($rc, $out, $err) = run_pgrac_image('export', "--device=$img", "--target=$scratch");
is($rc, 3, 'export refuses to overwrite a file');
like($err, qr/file ".*scratch\/base\/$dboid\/999999" already exists; export does not overwrite files/, '... naming it');
is(fingerprint($scratch), "$scratch/$relfile 5 " . Digest::MD5::md5_hex("mine\n"), '... and writes nothing at all');
is(file_md5($img), $md5, '... and the image is untouched');

# ---------------------------------------------------------------------
# a second cluster: import refusals
# ---------------------------------------------------------------------
my $other = pgrac_node('other', settings => "pgrac.storage_backend = 'md'\n");
my $opgdata = $other->data_dir;
my $empty = "$dir/empty.img";
run_pgrac_image('format', "--device=$empty", '--size=256MB', '--extent-size=128kB');
my $empty_md5 = file_md5($empty);

$other->start;
$other->safe_psql('postgres', 'CREATE TABLE mine AS SELECT generate_series(1, 1000) AS a');
($rc, $out, $err) = run_pgrac_image('import', "--device=$empty", "--pgdata=$opgdata");
is($rc, 3, 'import refuses a running cluster');
like($err, qr/cannot import the cluster in ".*": it was not shut down cleanly \(its state is "in production"\)/,
	'... saying so');
is(file_md5($empty), $empty_md5, '... and the device is untouched');
$other->stop('immediate');
my $ofp = fingerprint($opgdata);
($rc, $out, $err) = run_pgrac_image('import', "--device=$empty", "--pgdata=$opgdata");
is($rc, 3, 'import refuses a cluster that crashed');
like($err, qr/it was not shut down cleanly \(its state is "in production"\).*hint: Start it with pgrac.storage_backend = 'md', shut it down cleanly/s,
	'... saying how to fix it');
is(file_md5($empty), $empty_md5, '... and the device is untouched');
is(fingerprint($opgdata), $ofp, '... and so is the data directory');
$other->start;
$other->stop;
$ofp = fingerprint($opgdata);

# export into another cluster's data directory
($rc, $out, $err) = run_pgrac_image('export', "--device=$img", "--target=$opgdata");
is($rc, 3, 'export refuses the data directory of another cluster');
like($err, qr/device ".*roundtrip.img" belongs to the cluster with system identifier \d+, not to the one in/, '... saying so');
is(fingerprint($opgdata), $ofp, '... and writes nothing');

# a device owned by a cluster
($rc, $out, $err) = run_pgrac_image('import', "--device=$img", "--pgdata=$opgdata");
is($rc, 3, 'import refuses a device that belongs to a cluster');
like($err, qr/device ".*roundtrip.img" belongs to another cluster \(system identifier \d+; the cluster in ".*" has \d+\).*hint:.*format --force/s,
	'... naming the way to start over');
is(file_md5($img), $md5, '... and the device is untouched');
is(fingerprint($opgdata), $ofp, '... and so is the data directory');

# An import interrupted after the layout was written (here: by a file it
# cannot read) leaves forks on a device without an owner.
sub interrupted_import
{
	my ($device) = @_;
	my ($victim) = grep { m{/base/\d+/\d+$} } relation_files($opgdata, $forks);
	chmod 0000, $victim or die;
	my @result = run_pgrac_image('import', "--device=$device", "--pgdata=$opgdata");
	chmod 0600, $victim or die;
	return @result;
}
($rc, $out, $err) = interrupted_import($empty);
is($rc, 3, 'an import that fails halfway exits 3');
like($err, qr/could not open file ".*": Permission denied.*detail: ".*empty.img" now holds an import that did not finish; the cluster's files are untouched.*hint: "pgrac_image format --force --device=.*empty.img" starts the device over/s,
	'... saying what state it leaves');
is(fingerprint($opgdata), $ofp, '... and the data directory is untouched');
($rc, $out, $err) = run_pgrac_image('ls', "--device=$empty");
like($out, qr/\([1-9]\d* forks;/, 'the device lists the forks of the unfinished import');
my $unfinished_md5 = file_md5($empty);
($rc, $out, $err) = run_pgrac_image('import', "--device=$empty", "--pgdata=$opgdata");
is($rc, 3, 'import refuses a device holding forks');
like($err, qr/device ".*empty.img" holds \d+ relation forks but no owner: an import that did not finish.*hint: "pgrac_image format --force --device=/s,
	'... naming the way to start over');
is(file_md5($empty), $unfinished_md5, '... and the device is untouched');
is(fingerprint($opgdata), $ofp, '... and so is the data directory');
($rc, $out, $err) = run_pgrac_image('export', "--device=$empty", "--target=$dir/from_unfinished");
is($rc, 3, 'export refuses an unfinished import');
like($err, qr/holds \d+ relation forks but no owner: an import that did not finish, whose data may be incomplete/, '... saying so');
ok(!-e "$dir/from_unfinished", '... and writes nothing');

# the server treats the unfinished import as what it is and imports itself
$other->append_conf('postgresql.conf', "pgrac.storage_backend = 'block_device'\npgrac.device = '$empty'\n");
$other->start;
like(slurp_file($other->logfile), qr/holds an import that did not finish; starting it over.*imported \d+ relation forks/s,
	'the server starts an unfinished import over');
is($other->safe_psql('postgres', 'SELECT count(*), sum(a) FROM mine'), '1000|500500', '... and the data is there');
$other->stop;

# back to md by export (a device the server imported into), ...
($rc, $out, $err) = run_pgrac_image('export', "--device=$empty", "--target=$opgdata");
is($rc, 0, 'export the device the server imported into') or diag($err);
$other->append_conf('postgresql.conf', "pgrac.storage_backend = 'md'\n");
$other->start;
is($other->safe_psql('postgres', 'SELECT count(*), sum(a) FROM mine'), '1000|500500', '... and the data is back on md');
$other->stop;

# ... then the way a user takes: format --force, and the import goes through
my $empty2 = "$dir/empty2.img";
run_pgrac_image('format', "--device=$empty2", '--size=256MB', '--extent-size=128kB');
($rc, $out, $err) = interrupted_import($empty2);
is($rc, 3, 'another import fails halfway');
($rc, $out, $err) = run_pgrac_image('format', "--device=$empty2", '--size=256MB', '--extent-size=128kB', '--force');
is($rc, 0, 'format --force starts the device over');
($rc, $out, $err) = run_pgrac_image('import', "--device=$empty2", "--pgdata=$opgdata");
is($rc, 0, '... and the import then goes through') or diag($err);
$other->append_conf('postgresql.conf', "pgrac.storage_backend = 'block_device'\npgrac.device = '$empty2'\n");
$other->start;
is($other->safe_psql('postgres', 'SELECT count(*), sum(a) FROM mine'), '1000|500500', '... and the cluster runs on it');
$other->stop;

# ---------------------------------------------------------------------
# export, back to md
# ---------------------------------------------------------------------
($rc, $out, $err) = run_pgrac_image('export', "--device=$img", "--target=$pgdata");
is($rc, 0, 'pgrac_image export into the data directory succeeds') or diag($err);
like($out, qr/exported \d+ relation forks \((\d+) files, \d+ blocks, \d+ MB\) from ".*roundtrip.img" into/,
	'... and says what it did');
my ($nfiles) = $out =~ /\((\d+) files/;
my @exported = relation_files($pgdata, $forks);
is(scalar(@exported), $nfiles, 'PGDATA has the relation files export wrote');
my %exported = map { $_ => 1 } @exported;
is_deeply([ grep { !$exported{$_} } @fork_files ], [], '... every file imported among them');
is(file_md5($seg), $seg_md5{$seg}, 'the first segment of the two-segment fork is back bit for bit');
is(file_md5("$seg.1"), $seg_md5{"$seg.1"}, '... and so is the second');
is(-s $seg, 1024 * 1024 * 1024, '... the first exactly one segment long');
is(sprintf('%o', (stat "$pgdata/base/$dboid/999999")[2] & 07777), '600', 'exported files have the data directory\'s permissions');
($rc, $out, $err) = run_pgrac_image('export', "--device=$img", "--target=$pgdata");
is($rc, 3, 'a second export refuses the files of the first');

$node->append_conf('postgresql.conf', "pgrac.storage_backend = 'md'\n");
$node->start;
is($node->safe_psql('postgres', 'SHOW pgrac.storage_backend'), 'md', 'the cluster runs on md again');
is($node->safe_psql('postgres', $checks), $after, 'the data is the same on md, the work done on the block device included');
is($node->safe_psql('postgres', $amcheck), $nbtrees, 'amcheck finds every B-tree intact on md');
$node->safe_psql('postgres', q{UPDATE spaced SET v = 'x' WHERE id % 100 = 0; VACUUM spaced; CHECKPOINT;});
is($node->safe_psql('postgres', q{SELECT count(*) FROM spaced WHERE v = 'x'}), '300', 'the exported files are writable');
$node->stop;

# the exported device still names the cluster as owner, but holds the data
# as it was at the export: a start on it is refused, the device unchanged
like(slurp_file("$pgdata/pg_pgrac/device_binding"), qr/^relation_data=pgdata$/m, 'the export marked the device binding exported');
my $stale_md5 = file_md5($img);
$node->append_conf('postgresql.conf', "pgrac.storage_backend = 'block_device'\npgrac.device = '$img'\n");
my $stale_log = -s $node->logfile;
ok(!$node->start(fail_ok => 1), 'the server refuses the device the data was exported from');
$node->_update_pid(0);
like(substr(slurp_file($node->logfile), $stale_log), qr/FATAL:  block device ".*roundtrip.img" is stale: this cluster's relation data was exported from it into the data directory/,
	'... saying it is stale');
is(file_md5($img), $stale_md5, '... and leaves it unchanged');
$node->append_conf('postgresql.conf', "pgrac.storage_backend = 'md'\n");

# ---------------------------------------------------------------------
# grow: a grown image serves a server at its new size
# ---------------------------------------------------------------------
my $gimg = "$dir/grow.img";
($rc, $out, $err) = run_pgrac_image('format', "--device=$gimg", '--size=64MB', '--max-size=256MB', '--extent-size=64kB');
is($rc, 0, 'format a 64 MB image that may grow to 256 MB');
($rc, $out, $err) = run_pgrac_image('grow', "--device=$gimg", '--size=128MB');
is($rc, 0, 'grow it to 128 MB');
my $grower = pgrac_node('grower',
	settings => "pgrac.storage_backend = 'block_device'\npgrac.device = '$gimg'\n");
$grower->start;
$grower->safe_psql('postgres', 'CREATE EXTENSION pgrac_storage');
is($grower->safe_psql('postgres', 'SELECT size_bytes, max_size_bytes FROM pgrac.pgrac_block_device'),
	(128 * 1024 * 1024) . '|' . (256 * 1024 * 1024), 'the server sees the grown size');
$grower->safe_psql('postgres', q{CREATE TABLE filler AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 60000) g});
cmp_ok($grower->safe_psql('postgres', q{SELECT max(extent) FROM pgrac.pgrac_relation_extents('filler')}), '>=', 1024,
	'... and puts data in the extents the grow added');
is($grower->safe_psql('postgres', 'SELECT size_bytes FROM pgrac.pgrac_block_device'), 128 * 1024 * 1024,
	'... without growing the image itself');
unlike(slurp_file($grower->logfile), qr/grew image file/, '... as its log confirms');
$grower->stop;
($rc, $out, $err) = run_pgrac_image('verify', "--device=$gimg");
is($rc, 0, 'the grown image verifies after use') or diag($out);

done_testing();
