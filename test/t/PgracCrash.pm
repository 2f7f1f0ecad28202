# kill -9 of the postmaster at random points of a write-heavy workload on
# the block device, shared by the tests that run it on an image file (007)
# and on a loop device with direct I/O (008).
#
# The workload: pgbench inserts into a table whose rows record which client
# committed which of its transactions, plus DDL that creates, fills,
# truncates and drops tables, so metadata changes all the time.  After each
# restart every commit pgbench saw acknowledged (its per-transaction log,
# written after the commit returned) must be in the table.  At the end
# amcheck checks every B-tree with its heap.
package PgracCrash;

use strict;
use warnings FATAL => 'all';
use Exporter 'import';
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use Fcntl qw(:flock);

our @EXPORT = qw(kill9_rounds amcheck_all);

# After kill -9 of the postmaster its children notice and exit on their
# own (a checkpointer may finish its checkpoint first): start as soon as
# the old processes are gone and have released the device.
sub wait_pid_gone
{
	my ($pid) = @_;
	for (1 .. 240)
	{
		return unless kill(0, $pid);
		usleep(250_000);
	}
}

sub start_after_crash
{
	my ($node, $pid) = @_;
	wait_pid_gone($pid);
	for (1 .. 120)
	{
		return if $node->start(fail_ok => 1);
		# a failed start leaves the old pid behind in the node object
		$node->{_pid} = undef;
		usleep(250_000);
	}
	BAIL_OUT('the server did not start after kill -9');
}

# Wait until no process holds the device open (every process of a killed
# server inherited its descriptor and the server's flock with it).
sub wait_device_released
{
	my ($device) = @_;
	for (1 .. 600)
	{
		open(my $fh, '<', $device) or die "could not open $device: $!";
		if (flock($fh, LOCK_EX | LOCK_NB))
		{
			close $fh;
			return;
		}
		close $fh;
		usleep(100_000);
	}
	BAIL_OUT("processes of the killed server still hold $device after 60 s");
}

# amcheck with heapallindexed on every permanent B-tree; returns how many
sub amcheck_all
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
		SELECT count(bt_index_check(c.oid, true)::text) FROM pg_class c JOIN pg_am am ON am.oid = c.relam
		WHERE am.amname = 'btree' AND c.relkind = 'i' AND c.relpersistence = 'p'});
}

# Run the rounds on a started node that has pgrac_storage and amcheck
# created; leaves the node running.  Options:
#   rounds, clients
#   extra_ddl     more statements for the DDL script
#   checkpoints   also run CHECKPOINT in about 1% of the transactions, so
#                 that cut points land inside checkpoints too
#   cut_at        sub ($round): returns when the round's cut is due
#                 (default: after a random 0.3 to 2.8 s of the workload)
#   after_crash   sub ($round): called once every process of the killed
#                 server is gone and the device is released (device =>
#                 its path), before the restart
#   after_round   sub ($round): called after the round's commits checked out
sub kill9_rounds
{
	my ($node, %opt) = @_;
	my $rounds = $opt{rounds} // 20;
	my $clients = $opt{clients} // 4;
	my $extra_ddl = $opt{extra_ddl} // '';

	$node->safe_psql('postgres',
		'CREATE TABLE acked (client int, n int, pad text, PRIMARY KEY (client, n))');
	my $dir = PostgreSQL::Test::Utils::tempdir;
	# per client: n counts its transactions (pgbench variables persist per client)
	PostgreSQL::Test::Utils::append_to_file("$dir/insert.sql", q{
\set n :n + 1
INSERT INTO acked VALUES (:client_id, :n, repeat('x', 200));
});
	PostgreSQL::Test::Utils::append_to_file("$dir/ddl.sql", q{
CREATE TABLE IF NOT EXISTS scratch_:client_id (a int);
INSERT INTO scratch_:client_id SELECT generate_series(1, 2000);
TRUNCATE scratch_:client_id;
INSERT INTO scratch_:client_id SELECT generate_series(1, 500);
DROP TABLE scratch_:client_id;
} . $extra_ddl);
	PostgreSQL::Test::Utils::append_to_file("$dir/checkpoint.sql", "CHECKPOINT;\n");

	my $lost = 0;
	for my $round (1 .. $rounds)
	{
		# pgbench's variable n starts where this client's acknowledged rows end
		my $start = $node->safe_psql('postgres', 'SELECT coalesce(max(n), 0) FROM acked');
		my $prefix = "$dir/log$round";
		my ($out, $err) = ('', '');
		my @scripts = $opt{checkpoints}
		  ? ('-f', "$dir/insert.sql\@90", '-f', "$dir/ddl.sql\@10", '-f', "$dir/checkpoint.sql\@1")
		  : ('-f', "$dir/insert.sql\@9", '-f', "$dir/ddl.sql\@1");
		my $h = IPC::Run::start(
			[ 'pgbench', '-n', '-c', $clients, '-j', 2, '-T', 30, '-D', "n=$start",
			  @scripts, '-l', "--log-prefix=$prefix",
			  '-h', $node->host, '-p', $node->port, 'postgres' ],
			'>', \$out, '2>', \$err);
		if ($opt{cut_at})
		{
			$opt{cut_at}->($round);
		}
		else
		{
			usleep(300_000 + int(rand(2_500_000)));
		}
		my $pid = $node->{_pid};
		$node->kill9;
		$h->finish;

		# what pgbench saw committed: the number of transactions per client,
		# by script (0 = insert); n of the k-th insert is start + k
		my %count;
		for my $f (glob("$prefix*"))
		{
			for my $line (split /\n/, slurp_file($f))
			{
				my ($client, undef, undef, $script) = split / /, $line;
				$count{$client}++ if defined $script && $script == 0;
			}
		}
		if ($opt{after_crash})
		{
			# the postmaster (a stale pid file must name nobody), then
			# every child holding the device
			wait_pid_gone($pid);
			wait_device_released($opt{device});
			$opt{after_crash}->($round);
			$node->start;
		}
		else
		{
			start_after_crash($node, $pid);
		}
		my $missing = 0;
		for my $client (keys %count)
		{
			my $top = $start + $count{$client};
			my $have = $node->safe_psql('postgres',
				"SELECT count(*) FROM acked WHERE client = $client AND n > $start AND n <= $top");
			$missing += $count{$client} - $have;
		}
		$lost += $missing;
		ok($missing == 0, "round $round: all acknowledged commits present ("
			  . join(',', map { "$_:$count{$_}" } sort keys %count) . ")");
		$opt{after_round}->($round) if $opt{after_round};
	}
	is($lost, 0, 'no acknowledged commit lost in any round');

	my $checked = amcheck_all($node);
	cmp_ok($checked, '>', 100, "amcheck checked $checked B-tree indexes with their heaps: no corruption");
}

1;
