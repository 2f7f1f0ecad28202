# Simulated power loss on the block device (docs/power-loss.md): a test
# build of pgrac_storage logs every device write since the last flush; at
# each of PGRAC_POWERLOSS_ROUNDS (default 200) random cut points of a
# write-heavy workload (PgracCrash.pm, plus VACUUM FULL and CHECKPOINTs, so
# that cuts land inside checkpoints' metadata writes too) the postmaster is
# killed, and once every process is gone pgrac_powerloss drops, tears and
# keeps those writes at random.  Checkpoints wait a little between their
# in-place metadata writes and their flush, so that many cuts land there
# (the checkpoint journal must then complete them).  After each restart: every acknowledged
# commit is there, amcheck finds nothing, and after a clean stop
# pgrac_image verify accepts the layout.  Every other round runs with
# write-behind (pgrac.write_behind), so that a cut also loses what is still
# queued for its writer process.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;
use PgracCrash;

my $rounds = $ENV{PGRAC_POWERLOSS_ROUNDS} // 200;
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
	after_crash => sub {
		my ($round) = @_;
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
		}
		$node->stop;
		set_write_behind($round % 2 == 1);
		my ($out, $err) = run_command([ 'pgrac_image', 'verify', "--device=$img" ]);
		ok($out =~ / 0 problems/ && $checked > 100,
			"round $round: amcheck checked $checked B-trees, the layout verifies")
		  or diag($out . $err);
		$node->start;
	});
cmp_ok($dropped, '>', 0, "the power cuts dropped $dropped and tore $torn of $volatile volatile writes");
# rounds cut inside a checkpoint's metadata window; each started again
# because the checkpoint journal completed the writes (bd_journal_file.c)
my $log_text = slurp_file($node->logfile);
my $window_cuts = () = $log_text =~ /powerloss: cut between a checkpoint's metadata writes and its flush/g;
my $completed = () = $log_text =~ /completed the metadata writes of an interrupted checkpoint/g;
note("$window_cuts cuts inside a checkpoint's metadata window; $completed starts completed a checkpoint from its journal");
cmp_ok($window_cuts, '>', 0, "$window_cuts of $rounds cuts landed between a checkpoint's metadata writes and its flush")
  if $rounds >= 20;
is($wb_writer, $wb_rounds, "$wb_rounds rounds ran with write-behind, its writer process running")
  if $rounds > 1;
$node->stop;

done_testing();
