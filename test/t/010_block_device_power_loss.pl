# Simulated power loss on the block device (docs/power-loss.md): a test
# build of pgrac_storage logs every device write since the last flush; at
# each of PGRAC_POWERLOSS_ROUNDS (default 200) random cut points of a
# write-heavy workload (PgracCrash.pm, plus VACUUM FULL and CHECKPOINTs, so
# that cuts land inside checkpoints' metadata writes too) the postmaster is
# killed, and once every process is gone pgrac_powerloss drops, tears and
# keeps those writes at random.  After each restart: every acknowledged
# commit is there, amcheck finds nothing, and after a clean stop
# pgrac_image verify accepts the layout.
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
	  . "checkpoint_timeout = 30s\nmax_wal_size = 32MB\n");
# import and setup without the log: only the rounds are simulated
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck');
$node->stop;
$node->append_conf('postgresql.conf', "pgrac.powerloss_log = '$log'\n");
$node->start;
is($node->safe_psql('postgres', 'SHOW pgrac.powerloss_log'), $log, 'the test build logs device writes');

my ($volatile, $dropped, $torn) = (0, 0, 0);
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
		$node->stop;
		my ($out, $err) = run_command([ 'pgrac_image', 'verify', "--device=$img" ]);
		ok($out =~ / 0 problems/ && $checked > 100,
			"round $round: amcheck checked $checked B-trees, the layout verifies")
		  or diag($out . $err);
		$node->start;
	});
cmp_ok($dropped, '>', 0, "the power cuts dropped $dropped and tore $torn of $volatile volatile writes");
$node->stop;

done_testing();
