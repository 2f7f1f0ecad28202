# The workload and the checks shared by the backup tests (021, 022): a
# primary with pgbench TPC-B tables, a serial ledger, a table that never
# changes and tables that are dropped, re-created and checkpointed in a
# loop; what a restored copy of it must hold.
package PgracBackup;

use strict;
use warnings FATAL => 'all';
use Exporter 'import';
use File::Copy;
use File::Path qw(make_path);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracCrash;
use PgracTest;

our @EXPORT = qw(backup_workload_init backup_load_start backup_load_stop
  backup_check_restored copy_tree take_device_backup restore_data_directory
  pitr_batches flip_byte);

my $fixed_q = q{SELECT md5(string_agg(a || ':' || b, ',' ORDER BY a)) FROM fixed};

# On a started primary with pgrac_storage: the tables, the scripts; returns
# a handle for the other calls.
sub backup_workload_init
{
	my ($primary) = @_;
	$primary->safe_psql('postgres', q{
		CREATE EXTENSION IF NOT EXISTS amcheck;
		CREATE TABLE ledger (id bigserial PRIMARY KEY, at timestamptz DEFAULT now());
		CREATE TABLE fixed AS SELECT g AS a, md5(g::text) AS b FROM generate_series(1, 20000) g;
		CREATE INDEX ON fixed (b);
		CREATE FUNCTION churn_tables_not_whole() RETURNS int LANGUAGE plpgsql AS $$
		DECLARE
			r record;
			n bigint;
			bad int := 0;
		BEGIN
			FOR r IN SELECT relname FROM pg_class WHERE relname ~ '^churn_\d+$' AND relkind = 'r' LOOP
				EXECUTE format('SELECT count(*) FROM %I', r.relname) INTO n;
				IF n <> 3000 THEN
					bad := bad + 1;
				END IF;
			END LOOP;
			RETURN bad;
		END $$;
	});
	$primary->command_ok(
		[ 'pgbench', '-i', '-q', '-s', '5', '-p', $primary->port, '-h', $primary->host, 'postgres' ],
		'pgbench tables');
	my $scripts = PostgreSQL::Test::Utils::tempdir;
	append_to_file("$scripts/ledger.sql", "INSERT INTO ledger DEFAULT VALUES;\n");
	append_to_file("$scripts/churn.sql", q{\set t random(1, 12)
DROP TABLE IF EXISTS churn_:t;
CREATE TABLE churn_:t AS SELECT g AS a, repeat('x', 200) AS pad FROM generate_series(1, 3000) g;
CHECKPOINT;
});
	return { primary => $primary, scripts => $scripts,
		fixed => $primary->safe_psql('postgres', $fixed_q) };
}

# TPC-B (2 clients), the ledger (1) and the churn (1), until stopped
sub backup_load_start
{
	my ($w) = @_;
	my $p = $w->{primary};
	my @common = ('-n', '-T', '600', '-p', $p->port, '-h', $p->host, 'postgres');
	my @runs;
	for my $args ([ '-c', '2', '-b', 'tpcb-like' ], [ '-c', '1', '-f', "$w->{scripts}/ledger.sql" ],
		[ '-c', '1', '-f', "$w->{scripts}/churn.sql" ])
	{
		my ($out, $err) = ('', '');
		push @runs, IPC::Run::start([ 'pgbench', @$args, @common ], '>', \$out, '2>', \$err);
	}
	return \@runs;
}

sub backup_load_stop
{
	my ($runs) = @_;
	for my $h (@$runs)
	{
		$h->signal('INT');
		$h->finish;
	}
}

# What a restored copy must hold; $acked: ledger rows acknowledged before
# the backup began.
sub backup_check_restored
{
	my ($w, $node, $acked, $what) = @_;
	is($node->safe_psql('postgres', $fixed_q), $w->{fixed}, "$what: the table made before the backup is unchanged");
	is($node->safe_psql('postgres', q{
		SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(bbalance) FROM pgbench_branches)
		   AND (SELECT sum(bbalance) FROM pgbench_branches) = (SELECT sum(tbalance) FROM pgbench_tellers)
		   AND (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT coalesce(sum(delta), 0) FROM pgbench_history)}),
		't', "$what: TPC-B balances agree");
	# one client inserts the ledger, so its commits are in id order
	my ($n, $max) = split /\|/, $node->safe_psql('postgres', 'SELECT count(*), coalesce(max(id), 0) FROM ledger');
	my $upto = $w->{primary}->safe_psql('postgres', "SELECT count(*) FROM ledger WHERE id <= $max");
	ok($n == $upto && $n >= $acked,
		"$what: the ledger is a prefix of the primary's and holds the $acked rows acknowledged before the backup (has $n up to id $max; the primary $upto)");
	is($node->safe_psql('postgres', 'SELECT churn_tables_not_whole()'),
		'0', "$what: every churn table holds the rows it was created with");
	ok(amcheck_all($node) > 0, "$what: amcheck clean");
}

# A backup of the primary's data directory and its named device $dev into
# $bdir/pgdata and $bdir/device, between pg_backup_start() and
# pg_backup_stop() (pgrac_backup_start() and pgrac_backup_stop() when
# $wrappers is true), with pgrac_image backup (more arguments in @extra:
# --incremental-from and --pgdata) and finish-backup.  Returns the
# pgrac_image backup output and the start and stop LSNs.
sub take_device_backup
{
	my ($primary, $dev, $bdir, $wrappers, @extra) = @_;
	my $pgdata = $primary->data_dir;
	my $bg = $primary->background_psql('postgres');
	my $incremental = (grep { /^--incremental-from=/ } @extra) ? 'true' : 'false';
	my $start = $bg->query_safe($wrappers
		? "SELECT pgrac.pgrac_backup_start('device backup', true, $incremental)"
		: q{SELECT pg_backup_start('device backup', true)});
	my $tli = $primary->safe_psql('postgres', 'SELECT timeline_id FROM pg_control_checkpoint()');
	copy_tree($pgdata, "$bdir/pgdata", sub {
		my ($path, $name) = @_;
		return 1 if $name eq 'postmaster.pid' || $name eq 'postmaster.opts';
		return $path =~ m{/pg_wal/};
	});
	make_path("$bdir/pgdata/pg_wal/archive_status");
	my ($rc, $out, $err) = run_pgrac_image('backup', "--device=$dev", "--target=$bdir/device",
		"--start-lsn=$start", "--timeline=$tli", @extra);
	is($rc, 0, "pgrac_image backup into $bdir") or diag($err);
	my $stop = $bg->query_safe($wrappers
		? q{SELECT lsn || '|' || labelfile FROM pgrac.pgrac_backup_stop(false)}
		: q{SELECT lsn || '|' || labelfile FROM pg_backup_stop(false)});
	$bg->quit;
	my ($stop_lsn, $label) = split /\|/, $stop, 2;
	append_to_file("$bdir/pgdata/backup_label", $label . "\n");
	my ($rc2, $out2, $err2) = run_pgrac_image('finish-backup', "--target=$bdir/device",
		"--stop-lsn=$stop_lsn");
	is($rc2, 0, "finish-backup of $bdir") or diag($err2);
	return ($out, $start, $stop_lsn);
}

# A new node from a backup's data directory copy on device $dev, with the
# primary's WAL; $settings go into its configuration.
sub restore_data_directory
{
	my ($name, $bdir, $primary, $dev, $settings) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	PostgreSQL::Test::Utils::system_or_bail('cp', '-a', "$bdir/pgdata", $node->data_dir);
	chmod 0700, $node->data_dir;
	copy_tree($primary->data_dir . '/pg_wal', $node->data_dir . '/pg_wal',
		sub { return $_[1] !~ /^[0-9A-F]{24}$/ });
	$node->append_conf('postgresql.conf',
		"port = " . $node->port . "\npgrac.device = '$dev'\n" . ($settings // ''));
	return $node;
}

# The writes point-in-time recovery is tested against, into table pitr:
# rows $from to 1000 (batch A), a restore point 'after_a' made with
# $restore_point_function, rows to 2000 (batch B, one transaction), an LSN
# and a time, then rows to 3000 and a table after_targets (batch C), the
# WAL switched.  Returns the restore point's LSN, the LSN, the time and
# batch B's transaction ID.
sub pitr_batches
{
	my ($primary, $from, $restore_point_function) = @_;
	$primary->safe_psql('postgres', "INSERT INTO pitr SELECT generate_series($from, 1000)");
	my $rp = $primary->safe_psql('postgres', "SELECT $restore_point_function('after_a')");
	my $xid = $primary->safe_psql('postgres',
		'BEGIN; INSERT INTO pitr SELECT generate_series(1001, 2000); SELECT pg_current_xact_id(); COMMIT');
	my $lsn = $primary->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	sleep 1;
	my $time = $primary->safe_psql('postgres', 'SELECT now()');
	sleep 1;
	$primary->safe_psql('postgres', q{
		INSERT INTO pitr SELECT generate_series(2001, 3000);
		CREATE TABLE after_targets AS SELECT generate_series(1, 50000) AS a;
	});
	$primary->safe_psql('postgres', 'SELECT pg_switch_wal()');
	return ($rp, $lsn, $time, $xid);
}

# Flip one bit of the byte at $offset of $file; returns the file's old
# contents, to put back.
sub flip_byte
{
	my ($file, $offset) = @_;
	my $saved = slurp_file($file);
	open(my $fh, '+<:raw', $file) or die "open $file: $!";
	sysseek($fh, $offset, 0);
	sysread($fh, my $byte, 1);
	sysseek($fh, $offset, 0);
	syswrite($fh, chr(ord($byte) ^ 0x10));
	close $fh;
	return $saved;
}

# Copy a directory tree; $skip->($path, $name) leaves an entry out.
sub copy_tree
{
	my ($from, $to, $skip) = @_;
	make_path($to);
	opendir(my $dh, $from) or die "opendir $from: $!";
	for my $e (grep { $_ ne '.' && $_ ne '..' } readdir $dh)
	{
		next if $skip->("$from/$e", $e);
		if (-d "$from/$e") { copy_tree("$from/$e", "$to/$e", $skip) }
		else { copy("$from/$e", "$to/$e") or die "copy $from/$e: $!" }
	}
	closedir $dh;
}

1;
