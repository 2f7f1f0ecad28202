# pg_upgrade of an md cluster with the extension installed, old and new
# cluster on the same binaries.  pg_upgrade restores each database's schema
# with pg_dump --binary-upgrade, object by object, so every object of the
# extension must be one that a restore may create: nothing in pg_catalog.
# One database has a fresh install, one an install of 1.0 (whose objects
# were in pg_catalog) updated to the default version; after the upgrade the
# extension must be in schema pgrac in both, its functions must work, and
# its privileges must be the same as before.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Find;
use PgracTest;

my $settings = "pgrac.fsync_checker = on\n";

my $old = pgrac_node('old', settings => $settings);
$old->start;
$old->safe_psql('postgres', q{
	CREATE DATABASE fresh;
	CREATE DATABASE updated;
	CREATE ROLE regress_monitor LOGIN IN ROLE pg_monitor;
	CREATE ROLE regress_nobody LOGIN;});
$old->safe_psql('fresh', q{
	CREATE EXTENSION pgrac_storage;
	CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g;});
$old->safe_psql('updated', q{
	CREATE EXTENSION pgrac_storage VERSION '1.0';
	ALTER EXTENSION pgrac_storage UPDATE;});
$old->stop;

my $new = pgrac_node('new', settings => $settings);

# pg_upgrade writes its scripts and logs to the current directory
chdir ${PostgreSQL::Test::Utils::tmp_check};

my @upgrade = (
	'pg_upgrade', '--no-sync',
	'-d', $old->data_dir, '-D', $new->data_dir,
	'-b', $old->config_data('--bindir'), '-B', $new->config_data('--bindir'),
	'-s', $new->host, '-p', $old->port, '-P', $new->port);

# On failure pg_upgrade keeps its logs under the new data directory: show
# the errors of the restore (with their DETAIL and HINT) and stop.
sub upgrade_failed
{
	my $dir = $new->data_dir . '/pg_upgrade_output.d';
	my @logs;
	find(sub { push @logs, $File::Find::name if /^pg_upgrade_dump_.*\.log$/ }, $dir)
	  if -d $dir;
	for my $log (@logs)
	{
		my $in_error = 0;
		for (split /\n/, slurp_file($log))
		{
			$in_error = /ERROR:/ ? 1 : $in_error && /^(DETAIL|HINT):/;
			diag($_) if $in_error;
		}
	}
	done_testing();
	exit;
}

ok(run_log([ @upgrade, '--check' ]), 'pg_upgrade --check') or upgrade_failed();
ok(run_log(\@upgrade), 'pg_upgrade') or upgrade_failed();

$new->start;
for my $db ('fresh', 'updated')
{
	is( $new->safe_psql(
			$db, q{SELECT extversion, extnamespace::regnamespace FROM pg_extension
				WHERE extname = 'pgrac_storage'}),
		'1.4|pgrac',
		"$db: the upgraded cluster has the extension, version 1.4, in schema pgrac");
	is( $new->safe_psql(
			$db, q{SELECT count(*) FROM pg_depend d
				JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
				WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
				AND p.pronamespace = 'pgrac'::regnamespace}),
		'24', "$db: its twenty-four functions are in schema pgrac");
	is( $new->safe_psql(
			$db, q{SELECT string_agg(layer, ',' ORDER BY level) FROM pgrac.pgrac_storage_layers()},
			extra_params => [ '-U', 'regress_monitor' ]),
		'md,fsync_checker',
		"$db: a pg_monitor member reads pgrac.pgrac_storage_layers()");
	is( $new->safe_psql(
			$db, q{SELECT count(*) FROM pgrac.pgrac_fsync_report()},
			extra_params => [ '-U', 'regress_monitor' ]),
		'0', "$db: ... and pgrac.pgrac_fsync_report()");
	my ($ret, $out, $err) = $new->psql($db, 'SELECT * FROM pgrac.pgrac_block_device',
		extra_params => [ '-U', 'regress_monitor' ]);
	like($err, qr/the block-device backend is not in use/,
		"$db: ... and the view pgrac.pgrac_block_device (which refuses on md)");
	($ret, $out, $err) = $new->psql($db, 'SELECT * FROM pgrac.pgrac_read_ahead_stats()',
		extra_params => [ '-U', 'regress_nobody' ]);
	like($err, qr/the block-device backend is not in use/,
		"$db: anyone may call pgrac.pgrac_read_ahead_stats() (which refuses on md)");
	($ret, $out, $err) = $new->psql($db, 'SELECT * FROM pgrac.pgrac_fsync_report()',
		extra_params => [ '-U', 'regress_nobody' ]);
	like($err, qr/permission denied for function pgrac_fsync_report/,
		"$db: other functions are still not granted to PUBLIC");
	($ret, $out, $err) = $new->psql($db, 'SELECT * FROM pgrac.pgrac_block_device',
		extra_params => [ '-U', 'regress_nobody' ]);
	like($err, qr/permission denied for view pgrac_block_device/, "$db: ... nor the view");
}
is($new->safe_psql('fresh', 'SELECT count(*) FROM t'), '1000', 'table data came across');
$new->stop;

done_testing();
