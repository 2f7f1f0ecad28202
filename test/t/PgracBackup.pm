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

our @EXPORT = qw(backup_workload_init backup_load_start backup_load_stop
  backup_check_restored copy_tree);

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
