# The checksum layer's transitions between processes and servers:
#
# - the race the online-checksums thread describes, with the test build's
#   pause (pgrac.checksum_test_pause_*): a read that sampled "on" is held
#   while the state is turned off and another session has the page written
#   without a checksum; when the disable skips inprogress-off (a test-build
#   switch) the held read fails verification, with inprogress-off it does
#   not;
# - a crash while a disable waits in inprogress-off ends in off; an enable
#   in inprogress-off cancels the disable (back to on); CREATE DATABASE
#   ... STRATEGY FILE_COPY is refused during inprogress-on, which a disable
#   aborts;
# - on md and on block_device, a streaming standby follows each state and
#   verifies pages on its own.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use PgracTest;

my $module = "$ENV{PGRAC_TEST_MODULES}/powerloss";
my $lib = "$module/pgrac_storage.so";
BAIL_OUT("the test build is missing in $module: run through test/run-tests.sh") unless -f $lib;

# ---- the race, on the test build ----

my $node = pgrac_node('race',
	settings => "shared_preload_libraries = '$lib'\npgrac.checksum_layer = on\nwal_log_hints = on\n"
	  . "log_min_messages = log\nautovacuum = off\n");
$node->start;

# The SQL functions of the test build itself: CREATE EXTENSION would bind
# them to the installed library.
$node->safe_psql('postgres', qq{
	CREATE EXTENSION pg_prewarm;
	CREATE SCHEMA t;
	CREATE FUNCTION t.enable(int DEFAULT 0, int DEFAULT 100) RETURNS text
		AS '$lib', 'pgrac_enable_checksums' LANGUAGE C STRICT;
	CREATE FUNCTION t.disable() RETURNS text AS '$lib', 'pgrac_disable_checksums' LANGUAGE C STRICT;
	CREATE FUNCTION t.status(OUT state text, OUT since timestamptz, OUT failures bigint,
		OUT last_failure_at timestamptz, OUT last_failure text, OUT cost_delay int, OUT cost_limit int,
		OUT launcher_pid int, OUT last_error text, OUT layer_in_stack boolean) RETURNS record
		AS '$lib', 'pgrac_checksum_state' LANGUAGE C STRICT;
	CREATE TABLE r (a int, b text);
	INSERT INTO r SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
});

sub state_is { my ($want) = @_; return "SELECT state = '$want' FROM t.status()"; }

sub enable_fully
{
	$node->safe_psql('postgres', 'SELECT t.enable()');
	$node->poll_query_until('postgres', state_is('on')) or die 'checksums did not reach on';
	$node->safe_psql('postgres', 'CHECKPOINT');
}

sub psql_start
{
	my ($sql, $out, $err) = @_;
	return IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', $out, '2>', $err);
}

my $relfilenode = $node->safe_psql('postgres', q{SELECT relfilenode FROM pg_class WHERE relname = 'r'});

# A pg_prewarm() read of r held for $ms after it sampled "on" at block 0,
# returned once the server log says it is held.
sub hold_reader
{
	my ($ms, $out, $err) = @_;
	my $off = -s $node->logfile;
	my $reader = psql_start(
		"SET pgrac.checksum_test_pause_relfilenode = $relfilenode; SET pgrac.checksum_test_pause_ms = $ms;"
		  . " SELECT pg_prewarm('r', 'read')", $out, $err);
	$node->wait_for_log(qr/read paused after sampling state "on"/, $off);
	return $reader;
}

# One round: a reader of block 0 of r paused after it sampled "on"; a
# disable (skipping inprogress-off or not) that waits for the reader; block
# 0 changed and written by the checkpointer in the state the disable
# published; then the reader reads and verifies.
sub race_round
{
	my ($skip) = @_;
	my ($rout, $rerr, $dout, $derr) = ('', '', '', '');
	my $reader = hold_reader(6000, \$rout, \$rerr);
	my $disabler = psql_start(
		"SET pgrac.checksum_test_skip_inprogress_off = " . ($skip ? 'on' : 'off') . "; SELECT t.disable()",
		\$dout, \$derr);
	my $published = $skip ? 'off' : 'inprogress-off';
	$node->poll_query_until('postgres', state_is($published))
	  or die "the disable did not publish $published";
	$node->safe_psql('postgres', q{UPDATE r SET b = 'changed' WHERE a = 1; CHECKPOINT});
	$reader->finish;
	$disabler->finish;
	chomp($rout, $dout);
	return ($rout, $rerr, $dout, $derr);
}

enable_fully();
my ($rout, $rerr, $dout, $derr) = race_round(1);
like($rerr, qr/invalid page in block 0 of relation/,
	'without inprogress-off, a read that sampled "on" fails on a page written in "off"');
is($dout, 'off', 'the unsafe disable went from on to off');

enable_fully();
($rout, $rerr, $dout, $derr) = race_round(0);
is($rerr, '', 'with inprogress-off, the same read passes');
cmp_ok($rout, '>', 0, "... and reads the relation ($rout blocks)");
is($dout, 'off', 'the disable ended in off');
like(slurp_file($node->logfile), qr/state changed from "on" to "inprogress-off"/,
	'... through inprogress-off');

# a crash while the disable waits in inprogress-off: off after restart
enable_fully();
{
	my ($o1, $e1, $o2, $e2) = ('', '', '', '');
	my $reader = hold_reader(4000, \$o1, \$e1);
	my $disabler = psql_start('SELECT t.disable()', \$o2, \$e2);
	$node->poll_query_until('postgres', state_is('inprogress-off')) or die 'no inprogress-off';
	$node->stop('immediate');
	eval { $reader->finish };
	eval { $disabler->finish };
	$node->start;
	ok($node->poll_query_until('postgres', state_is('off')), 'a crash during inprogress-off ends in off');
}

# A disable cancelled between its two steps leaves inprogress-off; an
# enable then cancels the disable (back to on, no sweep needed)
enable_fully();
{
	my ($o1, $e1, $o2, $e2) = ('', '', '', '');
	my $reader = hold_reader(3000, \$o1, \$e1);
	my $disabler = psql_start('SELECT t.disable()', \$o2, \$e2);
	$node->poll_query_until('postgres', state_is('inprogress-off')) or die 'no inprogress-off';
	$node->safe_psql('postgres',
		q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT t.disable()'});
	$disabler->finish;
	like($e2, qr/canceling statement due to user request/, 'a disable cancelled while it waits for a held read');
	is($node->safe_psql('postgres', 'SELECT state FROM t.status()'), 'inprogress-off', '... leaves inprogress-off');
	is($node->safe_psql('postgres', 'SELECT t.enable()'), 'on', 'an enable then cancels the disable: on');
	$reader->finish;
	is($e1, '', '... and the held read passed');
	is($node->safe_psql('postgres', 'SELECT failures FROM t.status()'), '0', '... with no failure counted');
}

# FILE_COPY is refused while a sweep runs; a disable aborts the sweep
$node->safe_psql('postgres', 'SELECT t.disable()');
$node->safe_psql('postgres', 'CREATE TABLE filler AS SELECT g FROM generate_series(1, 200000) g');
is($node->safe_psql('postgres', 'SELECT t.enable(100, 1)'), 'inprogress-on', 'a slow sweep');
my ($ret, $out, $err) = $node->psql('postgres', q{\set VERBOSITY verbose
CREATE DATABASE copied STRATEGY FILE_COPY});
like($err, qr/55000: CREATE DATABASE \.\.\. STRATEGY FILE_COPY is not allowed while the pgrac checksum state is "inprogress-on"/,
	'CREATE DATABASE ... STRATEGY FILE_COPY is refused during inprogress-on');
like($err, qr/HINT:  Use STRATEGY WAL_LOG/, '... with a hint');
($ret, $out, $err) = $node->psql('postgres', 'CREATE DATABASE copied STRATEGY WAL_LOG');
is($ret, 0, 'CREATE DATABASE ... STRATEGY WAL_LOG works during the sweep');
is($node->safe_psql('postgres', 'SELECT t.disable()'), 'off', 'a disable during inprogress-on aborts to off');
like(slurp_file($node->logfile), qr/from "inprogress-on" to "off"/, '... directly');
$node->stop;

# ---- a streaming standby follows and verifies, on both backends ----

for my $backend ('md', 'block_device')
{
	my $primary = pgrac_node("primary_$backend", allows_streaming => 1,
		settings => "pgrac.storage_backend = '$backend'\npgrac.checksum_layer = on\nwal_log_hints = on\n"
		  . "log_min_messages = log\n");
	$primary->start;
	$primary->safe_psql('postgres', q{
		CREATE EXTENSION pgrac_storage;
		CREATE TABLE victim AS SELECT g AS a, repeat(md5(g::text), 4) AS b FROM generate_series(1, 5000) g});
	$primary->backup('bk');
	my $standby = PostgreSQL::Test::Cluster->new("standby_$backend");
	$standby->init_from_backup($primary, 'bk', has_streaming => 1);
	$standby->start;

	my $st = sub { return $standby->safe_psql('postgres', 'SELECT state FROM pgrac.pgrac_checksum_status'); };
	is($st->(), 'off', "$backend standby: off");
	$primary->safe_psql('postgres', 'SELECT pgrac.pgrac_enable_checksums()');
	$primary->poll_query_until('postgres', q{SELECT state = 'on' FROM pgrac.pgrac_checksum_status})
	  or die 'the primary did not reach on';
	$primary->wait_for_replay_catchup($standby);
	is($st->(), 'on', "$backend standby: on, following the primary");
	my $log = slurp_file($standby->logfile);
	ok(index($log, '"off" to "inprogress-on" (redo') >= 0 && index($log, '"inprogress-on" to "on" (redo') >= 0,
		"$backend standby: it replayed both steps");

	# a byte flipped in the standby's own copy is caught by the standby
	my $blk = 3;
	my $relpath = $standby->safe_psql('postgres', q{SELECT pg_relation_filepath('victim')});
	my ($target, $offset);
	if ($backend eq 'md')
	{
		($target, $offset) = ($standby->data_dir . "/$relpath", $blk * 8192 + 6000);
	}
	else
	{
		my $dev_off = $standby->safe_psql('postgres',
			q{SELECT device_offset FROM pgrac.pgrac_relation_extents('victim') WHERE extent_index = 0});
		($target, $offset) = ($standby->data_dir . '/pg_pgrac/device.img', $dev_off + $blk * 8192 + 6000);
	}
	$standby->stop;
	open(my $fh, '+<', $target) or die "open $target: $!";
	binmode $fh;
	sysseek($fh, $offset, 0);
	sysread($fh, my $byte, 1);
	sysseek($fh, $offset, 0);
	syswrite($fh, chr(ord($byte) ^ 0x01), 1);
	close $fh;
	$standby->start;
	($ret, $out, $err) = $standby->psql('postgres', 'SELECT count(*) FROM victim');
	like($err, qr/invalid page in block $blk of relation \Q$relpath\E/,
		"$backend standby: verifies on its own, naming block $blk");
	is($primary->safe_psql('postgres', 'SELECT count(*) FROM victim'), '5000',
		"$backend: the primary's copy is intact");

	$primary->safe_psql('postgres', 'SELECT pgrac.pgrac_disable_checksums()');
	$primary->wait_for_replay_catchup($standby);
	is($st->(), 'off', "$backend standby: off again");
	$log = slurp_file($standby->logfile);
	ok(index($log, '"on" to "inprogress-off" (redo') >= 0 && index($log, '"inprogress-off" to "off" (redo') >= 0,
		"$backend standby: through inprogress-off");
	$standby->stop;
	$primary->stop;
}

done_testing();
