# The refusals an operator meets first (issue 12): a start on a device that
# does not hold the cluster's data, on md after the data moved, with an
# invalid or unknown pgrac.* setting, after pg_checksums, pg_rewind or
# under pg_upgrade; and the warnings that must not be silent (a damaged
# superblock copy).  Each refusal must change nothing: no image created,
# no device claimed.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Copy;
use PgracTest;

my $bd = "pgrac.storage_backend = 'block_device'\n";

# start must fail; returns the log written by that attempt
sub refused_start
{
	my ($node, $what) = @_;
	my $before = -s $node->logfile // 0;
	my $ok = $node->start(fail_ok => 1);
	ok(!$ok, "$what: the server refuses to start");
	if ($ok)
	{
		# it should not have: stop it, so that the next case starts clean
		$node->stop;
	}
	else
	{
		$node->_update_pid(0);
	}
	my $log = slurp_file($node->logfile);
	return substr($log, $before);
}

# rewrite the pgrac.* lines of postgresql.conf
sub set_pgrac_conf
{
	my ($node, $lines) = @_;
	my $conf = $node->data_dir . '/postgresql.conf';
	my $text = slurp_file($conf);
	$text =~ s/^pgrac\..*\n//mg;
	open(my $fh, '>', $conf) or die;
	print $fh $text . $lines;
	close $fh;
}

my $tmp = PostgreSQL::Test::Utils::tempdir;

# --- invalid and unknown settings stop startup (item 3) ---
my $node = pgrac_node('op', allows_streaming => 1, settings => "wal_log_hints = on\n");
my $data = $node->data_dir;
my $img = "$data/pg_pgrac/device.img";

set_pgrac_conf($node, "pgrac.storage_backend = 'block-device'\n");
my $log = refused_start($node, 'a misspelt backend value');
like($log, qr/FATAL:  invalid value for parameter "pgrac.storage_backend": "block-device"/, '... FATAL naming the setting');
like($log, qr/HINT:  Available values: md, block_device/, '... with the values it takes');
like($log, qr/CONTEXT:  setting "pgrac.storage_backend" in file ".*postgresql.conf" line \d+/, '... and the file and line');

set_pgrac_conf($node, "pgrac.storage_bakend = 'block_device'\n");
$log = refused_start($node, 'an unknown pgrac.* name');
like($log, qr/FATAL:  unrecognized configuration parameter "pgrac.storage_bakend"/, '... FATAL naming it');

set_pgrac_conf($node, $bd . "pgrac.image_extent_size = '100kB'\n");
$log = refused_start($node, 'an invalid image geometry at first start');
like($log, qr/FATAL:  invalid value for parameter "pgrac.image_extent_size": "?100.*\n.*power of two/, '... FATAL with the reason');
ok(!-e $img, '... and no image was created with the defaults');

set_pgrac_conf($node, $bd . "pgrac.read_ahead = 8\n");
$log = refused_start($node, 'an out-of-range value of a user setting');
like($log, qr/FATAL:  invalid value for parameter "pgrac.read_ahead"/, '... FATAL too');

# --- the data moves onto the embedded image ---
set_pgrac_conf($node, $bd);
$node->start;
$node->safe_psql('postgres', q{
	CREATE TABLE keep (id int PRIMARY KEY, v text);
	INSERT INTO keep SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
	CREATE ROLE op_nobody LOGIN;
});
my $binding = -e "$data/pg_pgrac/device_binding" ? slurp_file("$data/pg_pgrac/device_binding") : '';
like($binding, qr/^pgrac_storage device binding 1\nsystem_identifier=\d+\ndevice_uuid=[0-9a-f-]{36}\n/, 'the import wrote a device binding');
my ($uuid) = $binding =~ /device_uuid=(\S+)/;
$uuid //= 'no binding';

# pgrac.device is hidden from roles that cannot see data_directory
my ($ret, $out, $err) = $node->psql('postgres', 'SHOW pgrac.device', extra_params => [ '-U', 'op_nobody' ]);
like($err, qr/permission denied to examine "pgrac.device"|must be superuser or have privileges of pg_read_all_settings/, 'SHOW pgrac.device is refused to an ordinary role');
$node->stop;

# --- the embedded image is missing (item 1) ---
move($img, "$tmp/saved.img") or die;
$log = refused_start($node, 'the embedded image removed');
like($log, qr/FATAL:  the embedded image ".*device.img" holding this cluster's relation data is missing/, '... saying the image is missing');
like($log, qr/device $uuid/, '... naming the device UUID it expected');
ok(!-e $img, '... and no new image was created');

# --- a freshly formatted device (item 1) ---
my ($rc, $o, $e) = run_pgrac_image('format', "--device=$tmp/fresh.img", '--size=64MB', '--max-size=64MB', '--extent-size=128kB');
is($rc, 0, 'a fresh image is formatted') or diag $e;
my $fresh_md5 = file_md5("$tmp/fresh.img");
set_pgrac_conf($node, $bd . "pgrac.device = '$tmp/fresh.img'\n");
$log = refused_start($node, 'pgrac.device pointed at a fresh device');
like($log, qr/FATAL:  block device ".*fresh.img" does not hold this cluster's relation data/, '... saying it is not the device');
like($log, qr/data is on device $uuid/, '... naming the device it expected');
is(file_md5("$tmp/fresh.img"), $fresh_md5, '... and the fresh device is unchanged (not claimed)');

# without the binding, an import of a data directory with no relation files
move("$data/pg_pgrac/device_binding", "$tmp/binding");
$log = refused_start($node, 'a fresh device and no binding');
like($log, qr/FATAL:  cannot import the cluster into block device ".*fresh.img": the data directory holds no relation files/, '... refusing an empty import');
is(file_md5("$tmp/fresh.img"), $fresh_md5, '... and the fresh device is unchanged');

# the right device without a binding (a cluster an older release imported)
move("$tmp/saved.img", $img) or die;
set_pgrac_conf($node, $bd);
$node->start;
like(slurp_file($node->logfile), qr/wrote device binding pg_pgrac\/device_binding for block device/, 'the owned device gets its binding written again');
is($node->safe_psql('postgres', 'SELECT count(*) FROM keep'), '20000', '... and serves the data');
$node->stop;
is(-e "$data/pg_pgrac/device_binding" ? slurp_file("$data/pg_pgrac/device_binding") : '', $binding, '... the same binding as the import wrote');

# --- back to md after the data moved (item 2) ---
set_pgrac_conf($node, "pgrac.storage_backend = 'md'\n");
$log = refused_start($node, 'pgrac.storage_backend = md after the import');
like($log, qr/FATAL:  pgrac.storage_backend is "md", but this cluster's relation data is on block device $uuid/, '... naming the device');
like($log, qr/pgrac_image export/, '... and pgrac_image export as the way back');
set_pgrac_conf($node, $bd);

# --- pg_checksums --enable on the stopped cluster (item 5) ---
command_ok([ 'pg_checksums', '--enable', '-D', $data ], 'pg_checksums --enable runs (it cannot see the device)');
$log = refused_start($node, 'checksums enabled offline');
like($log, qr/FATAL:  data checksums are enabled in pg_control, but the relation data on block device ".*device.img" was written without them/, '... saying why');
like($log, qr/pg_checksums --disable/, '... and how to get back');
command_ok([ 'pg_checksums', '--disable', '-D', $data ], 'pg_checksums --disable');
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*) FROM keep'), '20000', 'after --disable the cluster serves its data');
$node->stop;

# --- pg_upgrade --check (item 5) ---
my $new = PostgreSQL::Test::Cluster->new('op_new');
$new->init;
$new->append_conf('postgresql.conf', "shared_preload_libraries = 'pgrac_storage'\n");
my $bindir = $node->config_data('--bindir');
my $updir = "$tmp/upgrade";
mkdir $updir;
my ($up_out, $up_err) = ('', '');
my $up_ok = IPC::Run::run([ 'pg_upgrade', '--no-sync', '--check', '-d', $data, '-D', $new->data_dir,
		'-b', $bindir, '-B', $bindir, '-s', $node->host, '-p', $node->port, '-P', $new->port ],
	'>', \$up_out, '2>', \$up_err, init => sub { chdir $updir });
ok(!$up_ok, 'pg_upgrade --check fails on a cluster whose data is on the device');
my $uplogs = join('', map { slurp_file($_) } glob("$new->{_basedir}/pgdata/pg_upgrade_output.d/*/log/pg_upgrade_server.log"),
	glob($new->data_dir . "/pg_upgrade_output.d/*/log/pg_upgrade_server.log"));
like($uplogs, qr/FATAL:  pg_upgrade cannot upgrade a cluster whose relation data is on block device $uuid/, '... the old server refuses binary-upgrade mode, saying why');

# --- a damaged superblock copy is reported ---
{
	open(my $fh, '+<', $img) or die;
	binmode $fh;
	my %gen;
	for my $page (0, 1)
	{
		seek($fh, $page * 8192 + 32, 0);
		read($fh, my $raw, 8);
		$gen{$page} = unpack('Q<', $raw);
	}
	my $older = $gen{0} < $gen{1} ? 0 : 1;
	seek($fh, $older * 8192 + 200, 0);
	print $fh 'damage';
	close $fh;
	$node->start;
	my $copy = $older == 0 ? 'A' : 'B';
	like(slurp_file($node->logfile), qr/WARNING:  superblock copy $copy \(page $older\) of block device ".*device.img" is damaged: checksum mismatch/,
		'a damaged superblock copy is logged, naming the copy');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM keep'), '20000', '... and the server runs on the other copy');
}

# --- a truncated image and two damaged superblocks: no hint to format it ---
$node->stop;
copy($img, "$tmp/whole.img") or die;
truncate($img, 8192) or die;
$log = refused_start($node, 'a truncated embedded image');
like($log, qr/FATAL:  could not read the superblocks of block device ".*device.img": it is 8192 bytes long/, '... saying how long it is');
like($log, qr/HINT:  This cluster's relation data is on device $uuid: if this is that device, do not format it, restore it from a backup/, '... and not to format it');
unlike($log, qr/prepared with pgrac_image format/, '... never suggesting a format');
copy("$tmp/whole.img", $img) or die;
{
	open(my $fh, '+<', $img) or die;
	binmode $fh;
	for my $page (0, 1)
	{
		seek($fh, $page * 8192 + 200, 0);
		print $fh 'damage';
	}
	close $fh;
}
$log = refused_start($node, 'both superblock copies damaged');
like($log, qr/FATAL:  block device ".*device.img" has no valid superblock/, '... saying so');
like($log, qr/do not format it, restore it from a backup/, '... and not to format it');
copy("$tmp/whole.img", $img) or die;

# --- a creation-time setting changed later is not ignored without a word ---
set_pgrac_conf($node, $bd . "pgrac.image_max_size = '128GB'\n");
$node->start;
like(slurp_file($node->logfile), qr/WARNING:  pgrac.image_max_size is 131072 MB, but the embedded image ".*device.img" was created to grow to at most 65536 MB/,
	'raising pgrac.image_max_size after the image exists is reported');
$node->stop;
set_pgrac_conf($node, $bd);
$node->start;

# --- pg_rewind (item 5) ---
$node->safe_psql('postgres', 'CHECKPOINT');
my $standby = PostgreSQL::Test::Cluster->new('op_standby');
$node->backup('rewind_base');
$standby->init_from_backup($node, 'rewind_base', has_streaming => 1);
$node->append_conf('postgresql.conf', "wal_keep_size = '64MB'\n");
$node->restart;
$standby->start;
$node->wait_for_catchup($standby, 'replay');
$standby->promote;
$standby->safe_psql('postgres', 'INSERT INTO keep VALUES (-1, \'new timeline\'); CHECKPOINT');
$node->safe_psql('postgres', 'INSERT INTO keep VALUES (-2, \'diverged\')');
$node->stop;
$standby->stop;
command_ok([ 'pg_rewind', '--no-sync', '--target-pgdata', $data, '--source-pgdata', $standby->data_dir ],
	'pg_rewind runs (it cannot see the device)');
$log = refused_start($node, 'a rewound data directory');
like($log, qr/FATAL:  this data directory was rewound by pg_rewind, which cannot rewind relation data on block device $uuid/, '... saying why');

done_testing();
