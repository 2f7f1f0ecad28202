# pgrac_backup_start(), pgrac_backup_stop(), pgrac_create_restore_point()
# and the views pgrac_backup_history and pgrac_restore_points
# (docs/backup.md, "Backup history and restore points"), on md and on the
# block-device backend: what they return is core's, what they record is
# read back, across a restart; a stop without a start, a second start,
# a session that goes away and a crash during a backup are each handled
# by name; privileges; a damaged history file is refused, not guessed at.
# About 15 s.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;

for my $backend ('md', 'block_device')
{
	my $node = pgrac_node("history_$backend", allows_streaming => 1,
		settings => "pgrac.storage_backend = '$backend'\n");
	$node->start;
	$node->safe_psql('postgres', q{
		CREATE EXTENSION pgrac_storage;
		CREATE ROLE regress_monitor LOGIN IN ROLE pg_monitor;
		CREATE ROLE regress_nobody LOGIN;
		CREATE TABLE t AS SELECT generate_series(1, 10000) AS a;
	});

	# a backup through the wrappers: core's label, recorded
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	my $start = $bg->query_safe(q{SELECT pgrac.pgrac_backup_start('nightly	"one"', true)});
	like($start, qr{^[0-9A-F]+/[0-9A-F]+$}, "$backend: pgrac_backup_start() returns the start LSN");
	is($node->safe_psql('postgres', q{SELECT label || '|' || kind || '|' || result || '|' || start_lsn || '|'
		|| (stop_lsn IS NULL) || '|' || timeline FROM pgrac.pgrac_backup_history}),
		qq{nightly\t"one"|full|in-progress|$start|true|1}, "$backend: the history shows it in progress");
	$bg->query(q{SELECT pgrac.pgrac_backup_start('again')});
	like($bg->{stderr}, qr/a backup started with pgrac_backup_start\(\) is already running in this session/,
		"$backend: a second start in the session is refused");
	$bg->{stderr} = '';
	$node->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1, 1000)');
	my ($ret, $out, $err);
	my $stop = $bg->query_safe(q{SELECT lsn || '|' || labelfile || '|' || (spcmapfile = '') FROM pgrac.pgrac_backup_stop(false)});
	my ($stop_lsn, $labelfile, $nospc) = split /\|/, $stop;
	like($labelfile, qr/^START WAL LOCATION: \Q$start\E .*\nLABEL: nightly\t"one"\n/s,
		"$backend: pgrac_backup_stop() returns core's backup label");
	is($nospc, 'true', "$backend: ... and core's tablespace map, empty without tablespaces");
	my $expect_bytes = $backend eq 'md' ? 'true' : 'false';
	is($node->safe_psql('postgres', q{SELECT result || '|' || stop_lsn || '|' || (duration >= '0'::interval)
		|| '|' || (device_bytes IS NULL) FROM pgrac.pgrac_backup_history}),
		"completed|$stop_lsn|true|$expect_bytes",
		"$backend: completed, with its stop LSN and duration; the device's size " .
		  ($backend eq 'md' ? 'is unknown on md' : 'is recorded'));
	if ($backend eq 'md')
	{
		# with a tablespace, its line in the map
		my $ts = $node->basedir . '/ts';
		mkdir $ts;
		$node->safe_psql('postgres', "CREATE TABLESPACE regress_ts LOCATION '$ts'");
		my $oid = $node->safe_psql('postgres', "SELECT oid FROM pg_tablespace WHERE spcname = 'regress_ts'");
		$bg->query_safe(q{SELECT pgrac.pgrac_backup_start('with a tablespace')});
		like($bg->query_safe(q{SELECT spcmapfile FROM pgrac.pgrac_backup_stop(false)}), qr/^$oid \Q$ts\E$/m,
			"$backend: the tablespace map names the tablespace, as core's does");
		$node->safe_psql('postgres', 'DROP TABLESPACE regress_ts');
	}
	($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM pgrac.pgrac_backup_stop()');
	like($err, qr/ERROR:  no backup started with pgrac_backup_start\(\) is running in this session/,
		"$backend: a stop without a start is refused");
	# started with ours, stopped with core's: ours knows it ended
	$bg->query_safe(q{SELECT pgrac.pgrac_backup_start('stopped by core')});
	$bg->query_safe(q{SELECT lsn FROM pg_backup_stop(false)});
	$bg->query_safe(q{SELECT pgrac.pgrac_backup_start('after core stopped one')});
	$bg->query_safe(q{SELECT lsn FROM pgrac.pgrac_backup_stop(false)});
	is($node->safe_psql('postgres', q{SELECT string_agg(result, ',' ORDER BY id) FROM pgrac.pgrac_backup_history
		WHERE label IN ('stopped by core', 'after core stopped one')}),
		'aborted,completed', "$backend: a backup core's pg_backup_stop() ended is not in progress, and the session may start another");
	($ret, $out, $err) = $node->psql('postgres', q{SELECT pgrac.pgrac_backup_start(repeat('x', 1025))});
	like($err, qr/backup label too long/, "$backend: a label too long is refused");

	# a session that goes away during its backup; the incremental kind
	$bg->query_safe(q{SELECT pgrac.pgrac_backup_start('abandoned', false, true)});
	$bg->quit;
	$node->poll_query_until('postgres',
		q{SELECT result = 'aborted' FROM pgrac.pgrac_backup_history WHERE label = 'abandoned'})
	  or die 'the abandoned backup is not aborted';
	is($node->safe_psql('postgres', q{SELECT kind || '|' || result || '|' || (stop_lsn IS NULL) FROM pgrac.pgrac_backup_history WHERE label = 'abandoned'}),
		'incremental|aborted|true', "$backend: a backup whose session ended without a stop is aborted");

	# restore points
	my $rp = $node->safe_psql('postgres', q{SELECT pgrac.pgrac_create_restore_point('before upgrade')});
	is($node->safe_psql('postgres', q{SELECT id || '|' || name || '|' || lsn || '|' || timeline || '|' || (created_at <= now())
		FROM pgrac.pgrac_restore_points}),
		"1|before upgrade|$rp|1|true", "$backend: pgrac_restore_points lists the restore point");

	# a crash during a backup
	$bg = $node->background_psql('postgres');
	$bg->query_safe(q{SELECT pgrac.pgrac_backup_start('crashed')});
	$node->stop('immediate');
	eval { $bg->quit };
	$node->start;
	is($node->safe_psql('postgres', q{SELECT string_agg(label || ':' || result, ',' ORDER BY id) FROM pgrac.pgrac_backup_history}),
		qq{nightly\t"one":completed,} . ($backend eq 'md' ? 'with a tablespace:completed,' : '')
		  . 'stopped by core:aborted,after core stopped one:completed,abandoned:aborted,crashed:aborted',
		"$backend: after a crash the history is kept and the backup it cut short is aborted");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM pgrac.pgrac_restore_points'), '1',
		"$backend: ... and so are the restore points");

	# privileges
	is($node->safe_psql('postgres', 'SELECT count(*) FROM pgrac.pgrac_backup_history',
		extra_params => [ '-U', 'regress_monitor' ]), $backend eq 'md' ? '6' : '5',
		"$backend: pg_monitor reads the backup history");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM pgrac.pgrac_restore_points',
		extra_params => [ '-U', 'regress_monitor' ]), '1', "$backend: ... and the restore points");
	($ret, $out, $err) = $node->psql('postgres', q{SELECT pgrac.pgrac_backup_start('x')},
		extra_params => [ '-U', 'regress_monitor' ]);
	like($err, qr/permission denied for function pgrac_backup_start/, "$backend: pg_monitor may not start a backup");
	($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM pgrac.pgrac_backup_history',
		extra_params => [ '-U', 'regress_nobody' ]);
	like($err, qr/permission denied for view pgrac_backup_history/, "$backend: others may not read the history");
	$node->safe_psql('postgres', q{GRANT EXECUTE ON FUNCTION pgrac.pgrac_backup_start(text, boolean, boolean) TO regress_nobody});
	($ret, $out, $err) = $node->psql('postgres', q{SELECT pgrac.pgrac_backup_start('x')},
		extra_params => [ '-U', 'regress_nobody' ]);
	like($err, qr/permission denied for function pg_backup_start/,
		"$backend: granted ours but not core's, a role still cannot start a backup (core's is called with its privileges)");

	# a damaged history file
	my $file = $node->data_dir . '/pg_pgrac/backup_history';
	my $text = slurp_file($file);
	(my $bad = $text) =~ s/abandoned/abandonex/;
	open(my $fh, '>', $file) or die;
	print $fh $bad;
	close $fh;
	($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM pgrac.pgrac_backup_history');
	my $line = $backend eq 'md' ? 5 : 4;
	like($err, qr/ERROR:  backup history file "pg_pgrac\/backup_history" is corrupt at line $line: checksum mismatch\nHINT:  Move the file away/,
		"$backend: a damaged history file is refused, naming the line");
	($ret, $out, $err) = $node->psql('postgres', q{SELECT pgrac.pgrac_create_restore_point('x')});
	like($err, qr/is corrupt at line $line/, "$backend: ... also when adding to it, before the restore point is made");
	unlink $file;
	is($node->safe_psql('postgres', 'SELECT count(*) FROM pgrac.pgrac_backup_history'), '0',
		"$backend: moved away, a new history starts");
	$node->stop;
}

done_testing();
