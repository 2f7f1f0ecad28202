# Backups of a named block device with pgrac_image (docs/backup.md): the
# device's metadata and allocated extents copied while the server runs
# under load, between pg_backup_start() and pg_backup_stop(); the backup
# verified offline and restored onto another device with a copy of the
# data directory; the restored cluster holds what was committed, and
# damaged or incomplete backups and unsafe restores are refused by name,
# leaving the target device unchanged.  Then point-in-time recovery of
# that backup onto new devices: to a restore point (core's
# pg_create_restore_point(): a WAL record, which the device's metadata
# follows like everything else in WAL), to an LSN and to a time, each
# holding exactly what was committed before its target.
use strict;
use warnings FATAL => 'all';
use File::Copy;
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;
use PgracCrash;
use PgracBackup;

my $dir = PostgreSQL::Test::Utils::tempdir;
my $dev = "$dir/primary.img";
my ($rc, $out, $err) = run_pgrac_image('format', "--device=$dev", '--size=400MB', '--max-size=1GB');
is($rc, 0, 'a 400 MB image file formatted as the named device') or diag($err);

my $primary = pgrac_node('primary', allows_streaming => 1,
	settings => "pgrac.storage_backend = 'block_device'\npgrac.device = '$dev'\n"
	  . "wal_keep_size = '1GB'\nmax_wal_size = '1GB'\n");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION pgrac_storage');
my $w = backup_workload_init($primary);
$primary->safe_psql('postgres', 'CREATE TABLE pitr (id int PRIMARY KEY)');

# ---- the backup, under load ----
my $load = backup_load_start($w);
sleep 1;
my $acked = $primary->safe_psql('postgres', 'SELECT count(*) FROM ledger');
my $bg = $primary->background_psql('postgres');
my $start = $bg->query_safe(q{SELECT pg_backup_start('device backup', true)});
my $tli = $primary->safe_psql('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()');
my $bdir = $primary->backup_dir . '/devbackup';
my $pgdata = $primary->data_dir;
copy_tree($pgdata, "$bdir/pgdata", sub {
	my ($path, $name) = @_;
	return 1 if $name eq 'postmaster.pid' || $name eq 'postmaster.opts';
	return $path =~ m{/pg_wal/};
});
make_path("$bdir/pgdata/pg_wal/archive_status");
($rc, $out, $err) = run_pgrac_image('backup', "--device=$dev", "--target=$bdir/device",
	"--start-lsn=$start", "--timeline=$tli");
is($rc, 0, 'pgrac_image backup of the device in use by the running server') or diag($err);
my ($copied, $of) = $out =~ /copied (\d+) of (\d+) extents/;
ok(defined $copied && $copied > 0 && $copied < $of,
	"only the allocated extents were copied ($copied of $of), not the free space");
ok(!-e "$bdir/device/backup_manifest" && -e "$bdir/device/backup_manifest.partial",
	'the manifest is partial until finish-backup');
($rc, $out, $err) = run_pgrac_image('verify-backup', "--target=$bdir/device");
is($rc, 3, 'verify-backup refuses an unfinished backup');
like($err, qr/is not finished: it has backup_manifest.partial/, '... saying what to do');

my $stop = $bg->query_safe(q{SELECT lsn || '|' || labelfile FROM pg_backup_stop(false)});
$bg->quit;
backup_load_stop($load);
my ($stop_lsn, $label) = split /\|/, $stop, 2;
append_to_file("$bdir/pgdata/backup_label", $label . "\n");
$primary->safe_psql('postgres', 'SELECT pg_switch_wal()');
copy_tree("$pgdata/pg_wal", "$bdir/pgdata/pg_wal", sub { return $_[1] !~ /^[0-9A-F]{24}$/ });

($rc, $out, $err) = run_pgrac_image('finish-backup', "--target=$bdir/device", "--stop-lsn=0/1");
is($rc, 3, 'finish-backup refuses a stop LSN before the start');
($rc, $out, $err) = run_pgrac_image('finish-backup', "--target=$bdir/device", "--stop-lsn=$stop_lsn");
is($rc, 0, 'finish-backup writes the manifest') or diag($err);
($rc, $out, $err) = run_pgrac_image('verify-backup', "--target=$bdir/device");
is($rc, 0, 'verify-backup: the backup checks out') or diag($err);
like($out, qr/$start to $stop_lsn on timeline $tli; $copied extents of 128 kB and \d+ metadata pages, every CRC-32C matches/,
	'... with its LSNs, timeline and extents');
my $manifest = slurp_file("$bdir/device/backup_manifest");
like($manifest, qr/\Apgrac block device backup manifest\nversion 2\ndevice-uuid [0-9a-f-]{36}\nsystem-identifier \d+\n/,
	'the manifest names its format, version, device and cluster');

# ---- restore onto another device and a copy of the data directory ----
my $dev2 = "$dir/restored.img";
open(my $fh, '>', $dev2) or die;
truncate($fh, 400 * 1024 * 1024) or die;
close $fh;
($rc, $out, $err) = run_pgrac_image('restore', "--target=$bdir/device", "--device=$dev2");
is($rc, 0, 'restore onto a second device') or diag($err);

my $node = PostgreSQL::Test::Cluster->new('restored');
my $ndir = $node->data_dir;
PostgreSQL::Test::Utils::system_or_bail('cp', '-a', "$bdir/pgdata", $ndir);
chmod 0700, $ndir;
$node->append_conf('postgresql.conf', "port = " . $node->port . "\npgrac.device = '$dev2'\n");
$node->start;
like(slurp_file($node->logfile), qr/metadata copied by a base backup brought to the backup's end/,
	'the restored copy: its first start brought the copied metadata to the backup\'s end');
backup_check_restored($w, $node, $acked, 'restored from the device backup');
$node->stop;
($rc, $out, $err) = run_pgrac_image('verify', "--device=$dev2");
is($rc, 0, 'the restored device verifies once the server stopped') or diag($out . $err);

# ---- point-in-time recovery onto restored devices ----
# after the backup: batch A, a restore point, batch B, a time, batch C
my (undef, $lsn_b, $time_b) = pitr_batches($primary, 1, 'pg_create_restore_point');

my $round = 0;
for my $target ([ "recovery_target_name = 'after_a'", 1000 ],
	[ "recovery_target_lsn = '$lsn_b'", 2000 ],
	[ "recovery_target_time = '$time_b'", 2000 ])
{
	my ($setting, $rows) = @$target;
	$round++;
	my $devp = "$dir/pitr$round.img";
	open($fh, '>', $devp) or die;
	truncate($fh, 400 * 1024 * 1024) or die;
	close $fh;
	($rc, $out, $err) = run_pgrac_image('restore', "--target=$bdir/device", "--device=$devp");
	is($rc, 0, "PITR $round: the device restored") or diag($err);
	my $pn = PostgreSQL::Test::Cluster->new("pitr$round");
	PostgreSQL::Test::Utils::system_or_bail('cp', '-a', "$bdir/pgdata", $pn->data_dir);
	chmod 0700, $pn->data_dir;
	copy_tree("$pgdata/pg_wal", $pn->data_dir . '/pg_wal', sub { return $_[1] !~ /^[0-9A-F]{24}$/ });
	append_to_file($pn->data_dir . '/recovery.signal', '');
	$pn->append_conf('postgresql.conf', "port = " . $pn->port . "
pgrac.device = '$devp'
"
		  . "$setting
recovery_target_action = 'promote'
restore_command = 'false'
");
	$pn->start;
	$pn->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die "PITR $round did not promote";
	is($pn->safe_psql('postgres', 'SELECT count(*) || \',\' || coalesce(max(id), 0) FROM pitr'), "$rows,$rows",
		"PITR $round ($setting): exactly the $rows rows committed before the target");
	is($pn->safe_psql('postgres', "SELECT to_regclass('after_targets') IS NULL"), 't',
		"PITR $round: a table created after the target is not there");
	$pn->safe_psql('postgres', 'CREATE TABLE after_pitr AS SELECT generate_series(1, 20000) AS a; CHECKPOINT');
	is($pn->safe_psql('postgres', 'SELECT count(*) FROM after_pitr'), '20000', "PITR $round: the recovered cluster takes writes");
	$pn->stop;
	($rc, $out, $err) = run_pgrac_image('verify', "--device=$devp");
	is($rc, 0, "PITR $round: the device verifies") or diag($out . $err);
	$pn->clean_node;
	unlink $devp;
}

# ---- refusals ----
my $before = file_md5($dev2);
($rc, $out, $err) = run_pgrac_image('restore', "--target=$bdir/device", "--device=$dev");
is($rc, 3, 'restore onto a device in use by a running server is refused');
like($err, qr/is in use by another process/, '... naming why');

my $small = "$dir/small.img";
open($fh, '>', $small) or die;
truncate($fh, 64 * 1024 * 1024) or die;
close $fh;
($rc, $out, $err) = run_pgrac_image('restore', "--target=$bdir/device", "--device=$small");
is($rc, 3, 'restore onto a smaller device is refused');
like($err, qr/has 67108864 bytes; the backup needs at least/, '... with both sizes');

# a flipped byte in a copied extent
my $ext = "$bdir/device/extents.0000";
my $saved = flip_byte($ext, 131072 * 2 + 4000);
($rc, $out, $err) = run_pgrac_image('verify-backup', "--target=$bdir/device");
is($rc, 3, 'verify-backup catches a flipped byte in an extent');
like($err, qr/extent \d+ \(in "extents.0000" at offset 262144\) does not match its CRC-32C/, '... naming the extent and where it is');
($rc, $out, $err) = run_pgrac_image('restore', "--target=$bdir/device", "--device=$dev2");
is($rc, 3, 'restore refuses that backup');
is(file_md5($dev2), $before, '... leaving the device unchanged');
open($fh, '>:raw', $ext) or die;
print $fh $saved;
close $fh;

# a missing extent file, a truncated manifest
rename($ext, "$ext.away") or die;
($rc, $out, $err) = run_pgrac_image('verify-backup', "--target=$bdir/device");
is($rc, 3, 'a missing extent file is refused');
like($err, qr/file "extents.0000" is missing/, '... by name');
rename("$ext.away", $ext) or die;
copy("$bdir/device/backup_manifest", "$dir/manifest.saved") or die;
truncate("$bdir/device/backup_manifest", length($manifest) - 30) or die;
($rc, $out, $err) = run_pgrac_image('restore', "--target=$bdir/device", "--device=$dev2");
is($rc, 3, 'a truncated manifest is refused');
like($err, qr/manifest ".*backup_manifest" is invalid: line \d+: the manifest ends before .* \(truncated\)/, '... saying so');
is(file_md5($dev2), $before, '... leaving the device unchanged');
copy("$dir/manifest.saved", "$bdir/device/backup_manifest") or die;
($rc, $out, $err) = run_pgrac_image('verify-backup', "--target=$bdir/device");
is($rc, 0, 'the repaired backup verifies again');

($rc, $out, $err) = run_pgrac_image('backup', "--device=$dev", "--target=$bdir/device", "--start-lsn=$start");
is($rc, 3, 'a backup into a directory that holds one is refused');

$primary->stop;
done_testing();
