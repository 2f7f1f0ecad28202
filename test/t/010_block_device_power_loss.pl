# Simulated power loss on the block device (docs/power-loss.md): a test
# build of pgrac_storage logs every device write since the last flush; at
# each of PGRAC_POWERLOSS_ROUNDS (default 12; make soak runs 200) cut
# points of a write-heavy workload (PgracCrash.pm, plus VACUUM FULL and
# CHECKPOINTs) the postmaster is killed, and once every process is gone
# pgrac_powerloss drops, tears and keeps those writes at random.
# Checkpoints wait a little between their in-place metadata writes and
# their flush (the checkpoint journal must complete a cut there).  Rounds
# come in fours, so that a short run hits every class of cut point the
# long one does:
#   1  a random moment, buffered writes
#   2  a random moment, with write-behind (a cut also loses what is still
#      queued for the writer process)
#   3  aimed at a checkpoint's metadata window (pgrac.powerloss_cut_in_window:
#      the checkpoint kills the postmaster there itself), buffered writes
#   4  aimed at that window, with write-behind
# After each restart: every acknowledged commit is there, amcheck finds
# nothing, and after a clean stop pgrac_image verify accepts the layout.
# At the end: writes were dropped and torn, and cuts landed in the window
# both with and without write-behind.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;
use PgracCrash;
use Time::HiRes qw(usleep);

my $rounds = $ENV{PGRAC_POWERLOSS_ROUNDS} // 12;
my $module = "$ENV{PGRAC_TEST_MODULES}/powerloss";
my $tool = "$module/pgrac_powerloss";
BAIL_OUT("the power-loss build is missing in $module: run through test/run-tests.sh")
  unless -f "$module/pgrac_storage.so" && -x $tool;

my $dir = PostgreSQL::Test::Utils::tempdir;
my $img = "$dir/device.img";
my $log = "$dir/powerloss.log";
command_ok([ 'pgrac_image', 'format', "--device=$img", '--size=2GB', '--max-size=2GB', '--extent-size=128kB' ],
	'a fixed-size image (growth is not simulated)');

my $node = pgrac_node('powerloss',
	settings => "shared_preload_libraries = '$module/pgrac_storage.so'\n"
	  . "pgrac.storage_backend = 'block_device'\npgrac.device = '$img'\n"
	  . "checkpoint_timeout = 30s\nmax_wal_size = 32MB\n"
	  # a wait between a checkpoint's metadata writes and its flush, so that
	  # cuts land there too (docs/power-loss.md, "Blind spot")
	  . "pgrac.powerloss_checkpoint_pause = 50ms\n");
# import and setup without the log: only the rounds are simulated
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck');
$node->stop;
$node->append_conf('postgresql.conf', "pgrac.powerloss_log = '$log'\n");
$node->start;
is($node->safe_psql('postgres', 'SHOW pgrac.powerloss_log'), $log, 'the test build logs device writes');

my ($volatile, $dropped, $torn) = (0, 0, 0);
my ($wb_rounds, $wb_writer) = (0, 0);
# cuts between a checkpoint's metadata writes and its flush, by whether the
# round ran with write-behind; $round_window: in the round just cut
my %window_cuts = (buffered => 0, write_behind => 0);
my ($windows_so_far, $round_window, $aimed) = (0, 0, 0);
my $window_cut_line = qr/powerloss: cut between a checkpoint's metadata writes and its flush/;

# rounds 3 and 4 of every four aim at the window
sub aimed_round { my ($round) = @_; return ($round - 1) % 4 >= 2; }

# The aimed cut: set while the node is stopped or crashed (a clean stop's
# checkpoint must not cut, nor the checkpoint that ends crash recovery).
sub set_cut_in_window
{
	my ($on) = @_;
	$node->append_conf('postgresql.conf', 'pgrac.powerloss_cut_in_window = ' . ($on ? 'on' : 'off') . "\n");
}

# In an aimed round: return once the postmaster is gone, killed by a
# checkpoint in its metadata window, or after 20 s without that (the test
# then cuts at once: a random cut).
sub wait_cut_in_window
{
	my $pid = $node->{_pid};
	for (1 .. 2000)
	{
		return 1 unless kill(0, $pid);
		usleep(10_000);
	}
	note('no checkpoint reached its metadata window within 20 s; cut at once');
	return 0;
}
# is this node's writer process there?  (its title, in /proc)
sub writer_running
{
	for my $f (glob '/proc/[0-9]*/cmdline')
	{
		open(my $fh, '<', $f) or next;
		local $/;
		my $cmd = <$fh> // '';
		return 1 if $cmd =~ /powerloss: pgrac write-behind/;
	}
	return 0;
}

sub set_write_behind
{
	my ($on) = @_;
	$node->append_conf('postgresql.conf', 'pgrac.write_behind = ' . ($on ? '1MB' : '0') . "\n");
}
kill9_rounds($node,
	rounds => $rounds,
	checkpoints => 1,
	extra_ddl => q{CREATE TABLE IF NOT EXISTS vf_:client_id (a int PRIMARY KEY, b text);
INSERT INTO vf_:client_id SELECT g, repeat('v', 100) FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING;
DELETE FROM vf_:client_id WHERE a % 2 = 0;
VACUUM FULL vf_:client_id;
DROP TABLE vf_:client_id;
},
	device => $img,
	cut_at => sub {
		my ($round) = @_;
		if (aimed_round($round))
		{
			$aimed += wait_cut_in_window();
		}
		else
		{
			usleep(300_000 + int(rand(2_500_000)));
		}
	},
	after_crash => sub {
		my ($round) = @_;
		set_cut_in_window(0);
		my $windows = () = slurp_file($node->logfile) =~ /$window_cut_line/g;
		$round_window = $windows - $windows_so_far;
		$windows_so_far = $windows;
		my $seed = int(rand(1 << 30));
		my ($out, $err) = run_command([ $tool, "--log=$log", "--device=$img", "--seed=$seed" ]);
		note("round $round: $out$err");
		$out =~ /(\d+) volatile writes .*: (\d+) kept, (\d+) torn, (\d+) dropped/
		  or BAIL_OUT("pgrac_powerloss failed: $out$err");
		$volatile += $1;
		$torn += $3;
		$dropped += $4;
	},
	after_round => sub {
		my ($round) = @_;
		my $checked = amcheck_all($node);
		if ($node->safe_psql('postgres', 'SHOW pgrac.write_behind') ne '0')
		{
			# (the test build cannot create the extension for its statistics)
			$wb_rounds++;
			$wb_writer++ if writer_running();
			$window_cuts{write_behind} += $round_window;
		}
		else
		{
			$window_cuts{buffered} += $round_window;
		}
		$node->stop;
		set_write_behind($round % 2 == 1);
		set_cut_in_window(aimed_round($round + 1));
		my ($out, $err) = run_command([ 'pgrac_image', 'verify', "--device=$img" ]);
		ok($out =~ / 0 problems/ && $checked > 100,
			"round $round: amcheck checked $checked B-trees, the layout verifies")
		  or diag($out . $err);
		$node->start;
	});
cmp_ok($dropped, '>', 0, "the power cuts dropped $dropped of $volatile volatile writes");
cmp_ok($torn, '>', 0, "the power cuts tore $torn of $volatile volatile writes");
# rounds cut inside a checkpoint's metadata window; each started again
# because the checkpoint journal completed the writes (bd_journal_file.c)
my $completed = () = slurp_file($node->logfile) =~ /completed the metadata writes of an interrupted checkpoint/g;
note("$windows_so_far cuts inside a checkpoint's metadata window ($aimed aimed rounds cut there by the checkpoint); "
	  . "$completed starts completed a checkpoint from its journal");
if ($rounds >= 4)
{
	cmp_ok($window_cuts{buffered}, '>', 0,
		"$window_cuts{buffered} cuts without write-behind landed between a checkpoint's metadata writes and its flush");
	cmp_ok($window_cuts{write_behind}, '>', 0,
		"$window_cuts{write_behind} cuts with write-behind landed between a checkpoint's metadata writes and its flush");
}
is($wb_writer, $wb_rounds, "$wb_rounds rounds ran with write-behind, its writer process running")
  if $rounds > 1;
$node->stop;

done_testing();
