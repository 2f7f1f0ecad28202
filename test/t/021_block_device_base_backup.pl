# Base backups of a block_device cluster on the embedded image
# (docs/backup.md): the image is copied as a file while the server writes
# it, and a restore must bring its metadata to the backup's end before it
# loads it.
#
# 1. Stock pg_basebackup under load (pgbench TPC-B, a serial ledger, and a
#    client that drops, re-creates and checkpoints tables in a loop) with
#    the copy slowed so that checkpoints fall inside it; each backup
#    restored and recovered: TPC-B balances agree, the ledger is a prefix
#    of what was committed and holds everything acknowledged before the
#    backup began, the table made before the rounds is unchanged, amcheck
#    is clean, and pgrac_image verify is clean once the restored server
#    stopped.  The rounds say how many had a checkpoint inside the copy
#    and how many restores rewrote copied metadata pages.
# 2. A copy torn on purpose through pg_backup_start()/pg_backup_stop():
#    the first half of every page of the image read, then tables created,
#    grown and dropped and a checkpoint, then the second halves.
#    pgrac_image verify finds the copied image damaged (what the loader
#    refused before the restore brought it up to date); the restore
#    starts, and everything checks out.
# 3. The same torn copy without its WAL: the start says the WAL is not
#    there, naming the missing segment, loads the copy as it is (as every
#    start did before: the copied checkpoint journal applied, the pages
#    verified), and does not open: its torn pages are refused, or, where
#    the journal repaired them, core refuses for the missing WAL.
use strict;
use warnings FATAL => 'all';
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;
use PgracCrash;
use PgracBackup;

my $rounds = $ENV{PGRAC_BACKUP_ROUNDS} // 3;

my $primary = pgrac_node('primary', allows_streaming => 1,
	settings => "pgrac.storage_backend = 'block_device'\n"
	  . "wal_keep_size = '1GB'\nmax_wal_size = '1GB'\n");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION pgrac_storage');
my $w = backup_workload_init($primary);

sub verify_image
{
	my ($node, $what) = @_;
	my ($rc, $out, $err) = run_pgrac_image('verify', '--device=' . $node->data_dir . '/pg_pgrac/device.img');
	is($rc, 0, "$what: pgrac_image verify clean after the restored server stopped") or diag($out . $err);
}

# the backup's own pg_control: did a checkpoint complete after the backup's?
sub checkpoint_inside
{
	my ($dir) = @_;
	my $label = slurp_file("$dir/backup_label");
	my ($ckpt) = $label =~ /^CHECKPOINT LOCATION: (\S+)/m;
	my ($out) = run_command([ 'pg_controldata', $dir ]);
	my ($latest) = $out =~ /^Latest checkpoint location:\s+(\S+)/m;
	my $num = sub { my ($h, $l) = split m{/}, shift; return hex($h) * 2**32 + hex($l) };
	return $num->($latest) > $num->($ckpt) ? 1 : 0;
}

# ---- 1. pg_basebackup under load ----
my ($inside, $rewrote) = (0, 0);
for my $round (1 .. $rounds)
{
	my $load = backup_load_start($w);
	sleep 1;
	my $acked = $primary->safe_psql('postgres', 'SELECT count(*) FROM ledger');
	# slowed: about 10 s for the image, so that checkpoints land in it
	my $size = -s $primary->data_dir . '/pg_pgrac/device.img';
	my $rate = int($size / 10 / 1024) + 32;
	$primary->backup("bb$round", backup_options => [ "--max-rate=${rate}k" ]);
	backup_load_stop($load);
	my $bdir = $primary->backup_dir . "/bb$round";
	$inside += checkpoint_inside($bdir);

	my $node = PostgreSQL::Test::Cluster->new("restored$round");
	$node->init_from_backup($primary, "bb$round");
	$node->start;
	my $log = slurp_file($node->logfile);
	like($log, qr/metadata copied by a base backup brought to the backup's end/,
		"round $round: the restore brought the copied metadata to the backup's end");
	$rewrote++ if $log =~ /rewrote [1-9]\d* metadata pages/;
	backup_check_restored($w, $node, $acked, "round $round");
	$node->stop;
	verify_image($node, "round $round");
	$node->clean_node;
}
note("pg_basebackup rounds: $inside of $rounds had a checkpoint complete inside the copy; $rewrote of $rounds restores rewrote copied metadata pages");
ok($inside >= 1, "a checkpoint completed inside the copy in $inside of $rounds rounds");

# ---- 2. a copy torn on purpose ----
my $acked = $primary->safe_psql('postgres', 'SELECT count(*) FROM ledger');
my $bg = $primary->background_psql('postgres');
$bg->query_safe(q{SELECT pg_backup_start('torn', true)});
my $pgdata = $primary->data_dir;
my $torn = $primary->backup_dir . '/torn';
copy_tree($pgdata, $torn, sub {
	my ($path, $name) = @_;
	return 1 if $name eq 'postmaster.pid' || $name eq 'postmaster.opts';
	return 1 if $path =~ m{/pg_wal/} || $name eq 'device.img';
	return 0;
});
make_path("$torn/pg_wal/archive_status");

# the image: first halves, then changes and a checkpoint, then second halves
my $img = "$pgdata/pg_pgrac/device.img";
open(my $in, '<:raw', $img) or die "open $img: $!";
open(my $out, '+>:raw', "$torn/pg_pgrac/device.img") or die "create copy: $!";
my $pages = int((-s $img) / 8192);
my $buf;
for my $p (0 .. $pages - 1)
{
	sysseek($in, $p * 8192, 0);
	sysread($in, $buf, 4096) == 4096 or die "read: $!";
	sysseek($out, $p * 8192, 0);
	syswrite($out, $buf) == 4096 or die "write: $!";
}
$primary->safe_psql('postgres', q{
	CREATE TABLE torn_new AS SELECT g AS a, repeat('y', 300) AS pad FROM generate_series(1, 40000) g;
	DROP TABLE IF EXISTS churn_1, churn_2, churn_3;
	INSERT INTO ledger SELECT FROM generate_series(1, 500);
	CHECKPOINT;
});
for my $p (0 .. $pages - 1)
{
	sysseek($in, $p * 8192 + 4096, 0);
	sysread($in, $buf, 4096) == 4096 or die "read: $!";
	sysseek($out, $p * 8192 + 4096, 0);
	syswrite($out, $buf) == 4096 or die "write: $!";
}
close $in;
close $out;
my $stop = $bg->query_safe(q{SELECT labelfile FROM pg_backup_stop(false)});
$bg->quit;
PostgreSQL::Test::Utils::append_to_file("$torn/backup_label", $stop . "\n");
$primary->safe_psql('postgres', 'SELECT pg_switch_wal()');
copy_tree("$pgdata/pg_wal", "$torn/pg_wal", sub { return $_[1] !~ /^[0-9A-F]{24}$/ });
my $torn_nowal = $primary->backup_dir . '/torn_nowal';
copy_tree($torn, $torn_nowal, sub { return $_[0] =~ m{/pg_wal/[0-9A-F]{24}$} });

my ($rc, $vout, $verr) = run_pgrac_image('verify', "--device=$torn/pg_pgrac/device.img");
isnt($rc, 0, 'the torn copy of the image does not verify as copied');
like($vout . $verr, qr/checksum mismatch/, '... its pages torn (checksum mismatch)');

# first a start that stops before the backup's end (a recovery target
# before it), so that the next one finds the backup's start only in
# pg_control, as after a crash during recovery
my ($torn_start) = $stop =~ /^START WAL LOCATION: (\S+)/m;
my $node = PostgreSQL::Test::Cluster->new('restored_torn');
$node->init_from_backup($primary, 'torn');
$node->append_conf('postgresql.conf', "recovery_target_lsn = '$torn_start'\nrestore_command = 'false'\n");
PostgreSQL::Test::Utils::append_to_file($node->data_dir . '/recovery.signal', '');
ok(!$node->start(fail_ok => 1), 'the torn copy with a recovery target before the backup\'s end stops');
my $first_log = slurp_file($node->logfile);
like($first_log, qr/rewrote [1-9]\d* metadata pages/, '... after its metadata was rewritten from the WAL');
like($first_log, qr/FATAL:  requested recovery stop point is before consistent recovery point/, '... at the target, as core does');
ok(!-e $node->data_dir . '/backup_label', '... having renamed backup_label');
# as an operator would: the target taken back, recovery.signal kept (a
# start without it after backup_label is gone is crash recovery, which
# cannot finish a backup's recovery)
$node->append_conf('postgresql.conf', "recovery_target_lsn = ''\n");
$node->start;
like(slurp_file($node->logfile), qr/block-device records from \S+ \(pg_control\) rewrote/,
	'the torn copy started again: the backup\'s start found in pg_control, the WAL replayed over the metadata again');
# a crash right after: the next start is an ordinary crash recovery
$node->stop('immediate');
$node->start;
backup_check_restored($w, $node, $acked + 500, 'the torn copy');
is($node->safe_psql('postgres', 'SELECT count(*) FROM torn_new'), '40000', 'the torn copy: the table created during the copy');
$node->stop;
verify_image($node, 'the torn copy');
$node->clean_node;

# ---- 3. without its WAL ----
$node = PostgreSQL::Test::Cluster->new('restored_nowal');
$node->init_from_backup($primary, 'torn_nowal');
ok(!$node->start(fail_ok => 1), 'the torn copy without its WAL does not start');
my $nowal_log = slurp_file($node->logfile);
like($nowal_log, qr/WARNING:  cannot bring the block-device metadata copied by a base backup to the backup's end.*\n.*WAL segment ".*pg_wal\/[0-9A-F]{24}" is missing/,
	'... it says the WAL is not there, naming the missing segment');
# loaded as copied, with the copied checkpoint journal applied as at any
# start: refused for pages the journal does not repair, or else by core
# for the missing WAL
like($nowal_log, qr/FATAL:  (block device .* has corrupt metadata: .* checksum mismatch|could not locate required checkpoint record)/,
	'... and refused, for its torn pages or by core for the missing WAL');

$primary->stop;
done_testing();
