# Incremental backups of a named block device (docs/backup.md,
# "Incremental backups"): on a loop device that its server uses, a full
# backup under load, writes, an incremental under load, more writes, a
# second incremental (started and stopped with pgrac_backup_start() and
# pgrac_backup_stop()); the chain verified and restored onto another loop
# device (then onto image files) with the last backup's data directory,
# and recovered to its end, to a restore point (made with
# pgrac_create_restore_point()), to an LSN, to a time and to a
# transaction ID, each holding
# what was committed before its target.  What must be refused is refused
# by name: a flipped byte in an extent, a chain out of order or with a
# link missing, an incremental alone, a parent on another timeline (a
# promoted copy), summaries that do not reach back to the parent's start.
# About 35 s.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;
use PgracCrash;
use PgracBackup;

my $dev = $ENV{PGRAC_TEST_LOOP_DEVICE_2};
my $restore_dev = $ENV{PGRAC_TEST_LOOP_DEVICE_3};
BAIL_OUT('PGRAC_TEST_LOOP_DEVICE_2 and _3 are not set: run this test through test/run-tests.sh, which attaches the loop devices')
  unless defined $dev && -b $dev && defined $restore_dev && -b $restore_dev;

my $dir = PostgreSQL::Test::Utils::tempdir;
my ($rc, $out, $err) = run_pgrac_image('format', "--device=$dev", '--force');
is($rc, 0, 'the loop device formatted') or diag($err);

my $primary = pgrac_node('primary', allows_streaming => 1,
	settings => "pgrac.storage_backend = 'block_device'\npgrac.device = '$dev'\n"
	  . "pgrac.direct_io = on\nsummarize_wal = on\n"
	  . "wal_keep_size = '1GB'\nmax_wal_size = '1GB'\n");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION pgrac_storage');
my $w = backup_workload_init($primary);
$primary->safe_psql('postgres', q{
	CREATE TABLE pitr (id int PRIMARY KEY);
	CREATE TABLE big AS SELECT g AS id, repeat('y', 300) AS pad FROM generate_series(1, 200000) g;
});
my $pgdata = $primary->data_dir;
my $bd = $primary->backup_dir;

# ---- full, then two incrementals, under load ----
my $load = backup_load_start($w);
sleep 1;
my ($full_out) = take_device_backup($primary, $dev, "$bd/full", 0);
my ($full_copied) = $full_out =~ /copied (\d+) of \d+ extents/;

# 5 % of the big table changes, and the load goes on
$primary->safe_psql('postgres', q{UPDATE big SET pad = repeat('z', 300) WHERE id % 20 = 0});
my ($i1_out) = take_device_backup($primary, $dev, "$bd/incr1", 0,
	"--incremental-from=$bd/full/device", "--pgdata=$pgdata");
my ($i1_copied, $i1_allocated, $i1_unchanged) =
  $i1_out =~ /copied (\d+) of (\d+) allocated extents .*?, (\d+) unchanged since the parent/;
ok(defined $i1_copied && $i1_unchanged > 0 && $i1_copied < $i1_allocated,
	"the first incremental copied $i1_copied of $i1_allocated allocated extents, took $i1_unchanged from the full backup (which copied $full_copied)")
  or diag($i1_out);
note($i1_out);

$primary->safe_psql('postgres', 'INSERT INTO pitr SELECT generate_series(1, 500)');
my $acked = $primary->safe_psql('postgres', 'SELECT count(*) FROM ledger');
# the second with pgrac_backup_start() and pgrac_backup_stop(), which keep
# a history
my ($i2_out, $i2_start, $i2_stop) = take_device_backup($primary, $dev, "$bd/incr2", 1,
	"--incremental-from=$bd/incr1/device", "--pgdata=$pgdata");
like($i2_out, qr/unchanged since the parent/, 'a second incremental, of the first');
like($primary->safe_psql('postgres', q{SELECT label || ',' || kind || ',' || result || ',' || start_lsn || ',' || stop_lsn
	|| ',' || (device_bytes > 100000000) FROM pgrac.pgrac_backup_history ORDER BY id DESC LIMIT 1}),
	qr/^device backup,incremental,completed,$i2_start,$i2_stop,true$/,
	'pgrac_backup_history: the second incremental, completed, with its LSNs and the device\'s allocated bytes');
note($i2_out);
backup_load_stop($load);

# after the chain: batch A, a restore point, batch B, an LSN and a time, batch C
my ($rp_lsn, $lsn_b, $time_b, $xid_b) = pitr_batches($primary, 501, 'pgrac.pgrac_create_restore_point');
is($primary->safe_psql('postgres', q{SELECT name || ',' || lsn FROM pgrac.pgrac_restore_points}),
	"after_a,$rp_lsn", 'pgrac_restore_points lists the restore point, which recovery stops at below');
my @chain = map { "--target=$bd/$_/device" } qw(full incr1 incr2);

# ---- the chain checked ----
($rc, $out, $err) = run_pgrac_image('verify-backup', @chain);
is($rc, 0, 'verify-backup accepts the chain') or diag($err);
like($out, qr/a chain of 3 backups on timeline 1: each is the child of the one before/, '... and says what it checked');
($rc, $out, $err) = run_pgrac_image('verify-backup', "--target=$bd/incr2/device");
is($rc, 0, 'verify-backup of an incremental alone checks its own files');
like($out, qr/an incremental backup .* give the whole chain to check its links/s, '... and says the links are not checked');

sub new_device
{
	my ($name) = @_;
	my $path = "$dir/$name.img";
	open(my $fh, '>', $path) or die;
	truncate($fh, 1024 * 1024 * 1024) or die;
	close $fh;
	return $path;
}

my $spare = new_device('spare');
my $before = file_md5($spare);
for my $bad (
	[ [ "--target=$bd/incr2/device" ], qr/is incremental: give its whole chain, the full backup first/,
		'an incremental alone' ],
	[ [ "--target=$bd/full/device", "--target=$bd/incr2/device" ], qr/incr2\/device" is not the child of ".*full\/device"/,
		'a chain with a link missing' ],
	[ [ "--target=$bd/incr1/device", "--target=$bd/full/device" ], qr/incr1\/device" is incremental .*: a chain begins with a full backup/,
		'a chain out of order' ],
	[ [ "--target=$bd/full/device", "--target=$bd/incr1/device", "--target=$bd/full/device" ],
		qr/is a full backup: only incremental backups follow the first of a chain/, 'a full backup inside a chain' ])
{
	my ($targets, $message, $what) = @$bad;
	($rc, $out, $err) = run_pgrac_image('restore', @$targets, "--device=$spare");
	is($rc, 3, "restore refuses $what");
	like($err, $message, '... by name');
}
is(file_md5($spare), $before, '... leaving the device unchanged');

# a flipped byte in an extent of the last incremental
my $ext = "$bd/incr2/device/extents.0000";
my $saved = flip_byte($ext, 131072 * 3 + 100);
($rc, $out, $err) = run_pgrac_image('verify-backup', @chain);
is($rc, 3, 'verify-backup of the chain catches a flipped byte in the last incremental');
like($err, qr/incr2\/device": extent \d+ \(in "extents.0000" at offset 393216\) does not match its CRC-32C/,
	'... naming the backup, the extent and where it is');
($rc, $out, $err) = run_pgrac_image('restore', @chain, "--device=$spare");
is($rc, 3, 'restore refuses the chain');
is(file_md5($spare), $before, '... leaving the device unchanged');
open(my $fh, '>:raw', $ext) or die;
print $fh $saved;
close $fh;

# ---- the chain restored and recovered: to its end, then to targets ----
my $round = 0;
for my $target ([ '', undef ],
	[ "recovery_target_name = 'after_a'", 1000 ],
	[ "recovery_target_lsn = '$lsn_b'", 2000 ],
	[ "recovery_target_time = '$time_b'", 2000 ],
	[ "recovery_target_xid = '$xid_b'", 2000 ])
{
	my ($setting, $rows) = @$target;
	$round++;
	# the first onto a loop device, the others onto image files
	my $devp = $round == 1 ? $restore_dev : new_device("chain$round");
	($rc, $out, $err) = run_pgrac_image('restore', @chain, "--device=$devp");
	is($rc, 0, "chain $round: restored") or diag($err);
	like($out, qr/restored a chain of 3 backups/, "chain $round: ... as a chain") if $round == 1;
	my $pn = restore_data_directory("chain$round", "$bd/incr2", $primary, $devp,
		$setting eq '' ? '' : "$setting\nrecovery_target_action = 'promote'\nrestore_command = 'false'\n");
	append_to_file($pn->data_dir . '/recovery.signal', '') if $setting ne '';
	$pn->start;
	$pn->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die "chain $round did not finish recovery";
	if (!defined $rows)
	{
		like(slurp_file($pn->logfile), qr/metadata copied by a base backup brought to the backup's end/,
			"chain $round: the first start brought the last backup's metadata to its end");
		backup_check_restored($w, $pn, $acked, 'the restored chain');
		is($pn->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE pad = repeat('z', 300)) || ',' || count(*) FROM big}),
			'10000,200000', "chain $round: the 5 % changed before the first incremental is there, and the rest");
		is($pn->safe_psql('postgres', 'SELECT count(*) FROM pitr'), '3000', "chain $round: recovered to the end of the WAL");
	}
	else
	{
		is($pn->safe_psql('postgres', 'SELECT count(*) || \',\' || coalesce(max(id), 0) FROM pitr'), "$rows,$rows",
			"chain $round ($setting): exactly the $rows rows committed before the target");
		is($pn->safe_psql('postgres', "SELECT to_regclass('after_targets') IS NULL"), 't',
			"chain $round: a table created after the target is not there");
	}
	$pn->safe_psql('postgres', 'CREATE TABLE after_restore AS SELECT generate_series(1, 20000) AS a; CHECKPOINT');
	is($pn->safe_psql('postgres', 'SELECT count(*) FROM after_restore'), '20000', "chain $round: takes writes");

	if ($round == 2)
	{
		# promoted at a target: a new timeline, and no incremental of the
		# old chain may follow it
		my $tli = $pn->safe_psql('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()');
		is($tli, '2', "chain $round: promoted onto timeline 2");
		my $bg = $pn->background_psql('postgres');
		my $start = $bg->query_safe(q{SELECT pg_backup_start('across', true)});
		($rc, $out, $err) = run_pgrac_image('backup', "--device=$devp", "--target=$bd/across",
			"--start-lsn=$start", "--timeline=$tli", "--incremental-from=$bd/incr2/device",
			'--pgdata=' . $pn->data_dir);
		is($rc, 3, 'an incremental across a timeline switch is refused');
		like($err, qr/is on timeline 1, this backup on 2: a chain of backups cannot cross a timeline switch; take a full backup/,
			'... saying why and what to do');
		$bg->query_safe('SELECT pg_backup_stop(false)');
		$bg->quit;
	}
	$pn->stop;
	($rc, $out, $err) = run_pgrac_image('verify', "--device=$devp");
	is($rc, 0, "chain $round: the device verifies") or diag($out . $err);
	$pn->clean_node;
	unlink $devp if $round > 1;
}

# ---- summaries that do not reach back to the parent's start ----
# a server without summarize_wal, an incremental of the full backup
$primary->safe_psql('postgres', 'ALTER SYSTEM SET summarize_wal = off');
$primary->reload;
my $bg = $primary->background_psql('postgres');
my $start = $bg->query_safe(q{SELECT pg_backup_start('no summaries', true)});
($rc, $out, $err) = run_pgrac_image('backup', "--device=$dev", "--target=$bd/nosum",
	"--start-lsn=$start", "--incremental-from=$bd/incr2/device", "--pgdata=$pgdata",
	'--wait-for-summaries=2');
is($rc, 3, 'an incremental without the WAL summaries it needs is refused');
like($err, qr/the WAL summaries in ".*pg_wal\/summaries" on timeline 1 cover .* but not .*is summarize_wal on/,
	'... naming the gap and the setting');
ok(!-e "$bd/nosum/metadata", '... before anything is written into the target');
$bg->query_safe('SELECT pg_backup_stop(false)');
$bg->quit;

($rc, $out, $err) = run_pgrac_image('backup', "--device=$dev", "--target=$bd/nopgdata",
	"--start-lsn=$start", "--incremental-from=$bd/incr2/device");
is($rc, 2, 'an incremental without --pgdata is a usage error');
like($err, qr/an incremental backup needs --pgdata/, '... saying what is missing');

$primary->stop;
done_testing();
