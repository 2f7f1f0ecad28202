# Distributed transactions across three local servers: a coordinator with
# pgrac.twophase = on (the test build, whose pgrac.twophase_test_stop_at
# kills the committing backend at a step of the protocol) and two
# participants reached through postgres_fdw servers.
#
# - use: commit, rollback, a participant's error, savepoints, queries, the
#   refusals (off, a participant without max_prepared_transactions, a
#   statement that ends the remote transaction, PREPARE TRANSACTION);
# - a crash of the coordinator at every step: afterwards each transfer is
#   all-committed or all-rolled-back on both participants and here, and
#   nothing stays prepared once the resolver ran;
# - a participant down while the coordinator restarts: the resolver backs
#   off, the view shows it, and finishes it when it is back;
# - the money-transfer invariant under concurrent clients with random
#   crashes of coordinator backends;
# - a corrupted segment: renamed .broken, the undecided transaction is not
#   rolled back, the view says it needs an operator;
# - a log that cannot be opened refuses distributed transactions only;
# - a second coordinator on the same directory fails at once, naming the
#   first.
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

my $accounts = 10;
my $start_balance = 1000;

sub participant
{
	my ($name, $mpt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', "max_prepared_transactions = $mpt\n");
	$node->start;
	$node->safe_psql('postgres', qq{
		CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
		INSERT INTO accounts SELECT g, $start_balance FROM generate_series(1, $accounts) g;
	});
	return $node;
}

my $p1 = participant('p1', 20);
my $p2 = participant('p2', 20);
my $p3 = participant('p3', 0);

my $c = pgrac_node('coordinator',
	settings => "shared_preload_libraries = '$lib'\nlog_min_messages = info\n"
	  . "pgrac.twophase_resolver_interval = '1s'\nrestart_after_crash = on\n"
	  . "pgrac.twophase_segment_size = '4MB'\n");
$c->start;

# The SQL functions of the test build itself: CREATE EXTENSION would bind
# them to the installed library.
my $user = $c->safe_psql('postgres', 'SELECT current_user');
my $servers = '';
for my $p ([ 's1', $p1 ], [ 's2', $p2 ], [ 's3', $p3 ])
{
	my ($s, $n) = @$p;
	$servers .= "CREATE SERVER $s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '"
	  . $n->host . "', port '" . $n->port . "', dbname 'postgres');\n"
	  . "CREATE USER MAPPING FOR CURRENT_USER SERVER $s OPTIONS (user '$user');\n";
}
$c->safe_psql('postgres', qq{
	CREATE EXTENSION postgres_fdw;
	$servers
	CREATE SCHEMA t;
	CREATE FUNCTION t.exec(name, text) RETURNS bigint AS '$lib', 'pgrac_remote_exec' LANGUAGE C STRICT;
	CREATE FUNCTION t.query(name, text) RETURNS SETOF record AS '$lib', 'pgrac_remote_query' LANGUAGE C STRICT;
	CREATE FUNCTION t.in_doubt(OUT global_id text, OUT database name, OUT decision text,
		OUT local_xid xid8, OUT outcome text, OUT participants text[], OUT participant_states text[],
		OUT owner_pid int, OUT since timestamptz, OUT decided_at timestamptz,
		OUT next_attempt timestamptz, OUT last_error text)
		RETURNS SETOF record AS '$lib', 'pgrac_twophase_in_doubt' LANGUAGE C STRICT;
	CREATE FUNCTION t.log_status(OUT available boolean, OUT unavailable_reason text, OUT segments int,
		OUT current_segment_start bigint, OUT inserted_position bigint, OUT flushed_position bigint,
		OUT appends bigint, OUT batches bigint, OUT rotations bigint, OUT corrupt_segments int,
		OUT corrupt_before bigint, OUT live_transactions int)
		RETURNS record AS '$lib', 'pgrac_twophase_log_status' LANGUAGE C STRICT;
	CREATE FUNCTION t.resolve(text, text) RETURNS text AS '$lib', 'pgrac_twophase_resolve' LANGUAGE C STRICT;
	CREATE TABLE ledger (step text, amount int);
});

my ($ret, $out, $err);

# ---- off ----
($ret, $out, $err) = $c->psql('postgres', "SELECT t.exec('s1', 'SELECT 1')");
like($err, qr/distributed transactions are off/, 'with pgrac.twophase off, pgrac_remote_exec() refuses');
like($err, qr/HINT:  Set pgrac.twophase = on/, '... naming the setting');
ok(!-d $c->data_dir . '/pg_pgrac/twophase', '... and there is no log directory');

$c->append_conf('postgresql.conf', "pgrac.twophase = on\n");
$c->restart;
ok(-f $c->data_dir . '/pg_pgrac/twophase/lock', 'on: the log directory has its lock file');
like(slurp_file($c->data_dir . '/pg_pgrac/twophase/lock'), qr/postmaster PID \d+, started at/,
	'... naming the postmaster');

sub balance
{
	my ($node, $id) = @_;
	return $node->safe_psql('postgres', "SELECT balance FROM accounts WHERE id = $id");
}

sub total
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT sum(balance) FROM accounts');
}

sub prepared
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts');
}

# ---- use ----
is($c->safe_psql('postgres', q{
	BEGIN;
	SELECT t.exec('s1', 'UPDATE accounts SET balance = balance - 5 WHERE id = 1');
	SELECT t.exec('s2', 'UPDATE accounts SET balance = balance + 5 WHERE id = 1');
	INSERT INTO ledger VALUES ('use', 5);
	COMMIT;}), "1\n1", 'pgrac_remote_exec() returns the row count');
is(balance($p1, 1) . ',' . balance($p2, 1), '995,1005', 'a commit reaches both participants');
is(prepared($p1) . prepared($p2), '00', '... and leaves nothing prepared');
is($c->safe_psql('postgres', 'SELECT count(*) FROM t.in_doubt()'), '0', '... nor live in the log');
like($c->safe_psql('postgres', 'SELECT appends || \',\' || live_transactions FROM t.log_status()'),
	qr/^3,0$/, '... after Begin, Committing and End');

$c->safe_psql('postgres', q{
	BEGIN;
	SELECT t.exec('s1', 'UPDATE accounts SET balance = 0 WHERE id = 2');
	SELECT t.exec('s2', 'UPDATE accounts SET balance = 0 WHERE id = 2');
	ROLLBACK;});
is(balance($p1, 2) . ',' . balance($p2, 2), "$start_balance,$start_balance", 'a rollback reaches both');

($ret, $out, $err) = $c->psql('postgres', q{
	BEGIN;
	SELECT t.exec('s1', 'UPDATE accounts SET balance = 0 WHERE id = 3');
	SELECT t.exec('s2', 'UPDATE accounts SET balance = 1 / 0 WHERE id = 3');
	COMMIT;});
like($err, qr/division by zero/, "a participant's error is raised as its own");
like($err, qr/statement on participant "s2"/, '... naming the participant');
is(balance($p1, 3), $start_balance, '... and the other participant is rolled back');

is($c->safe_psql('postgres', q{
	BEGIN;
	SELECT t.exec('s1', 'UPDATE accounts SET balance = balance + 1 WHERE id = 4');
	SAVEPOINT a;
	SELECT t.exec('s1', 'UPDATE accounts SET balance = balance + 100 WHERE id = 4');
	SELECT t.exec('s2', 'UPDATE accounts SET balance = balance + 100 WHERE id = 4');
	ROLLBACK TO a;
	COMMIT;
	SELECT 'done';}), "1\n1\n1\ndone", 'a rolled-back savepoint');
is(balance($p1, 4) . ',' . balance($p2, 4), ($start_balance + 1) . ",$start_balance",
	'... undoes only what came after it, on every participant');

is($c->safe_psql('postgres',
	q{SELECT string_agg(id || ':' || balance, ' ' ORDER BY id) FROM t.query('s2', 'SELECT id, balance FROM accounts WHERE id <= 2') AS r(id int, balance int)}),
	"1:1005 2:$start_balance", 'pgrac_remote_query() returns rows typed by the column list');

($ret, $out, $err) = $c->psql('postgres', "BEGIN; SELECT t.exec('s3', 'SELECT 1'); COMMIT;");
like($err, qr/foreign server "s3" cannot take part in a distributed transaction/,
	'a participant without max_prepared_transactions is refused at the first statement');
like($err, qr/max_prepared_transactions is 0/, '... saying why');

($ret, $out, $err) = $c->psql('postgres', "BEGIN; SELECT t.exec('s1', 'COMMIT'); COMMIT;");
like($err, qr/the statement ended the transaction on participant "s1"/,
	'a statement that ends the remote transaction is refused');

($ret, $out, $err) = $c->psql('postgres',
	"BEGIN; SELECT t.exec('s1', 'SELECT 1'); PREPARE TRANSACTION 'x';");
like($err, qr/cannot PREPARE a transaction that ran statements on participants/,
	'PREPARE TRANSACTION of a distributed transaction is refused');
is(prepared($p1), '0', '... and nothing is left prepared');

# a session keeps its participant connections between transactions
{
	my $txn = "BEGIN; SELECT t.exec('s1', 'UPDATE accounts SET balance = balance WHERE id = 9'); COMMIT;";
	my $backend = q{SELECT pid FROM pg_stat_activity WHERE application_name = 'pgrac_storage 2PC'};
	my $s = $c->background_psql('postgres');
	$s->query_safe($txn);
	my $pid1 = $p1->safe_psql('postgres', $backend);
	$s->query_safe($txn);
	is($p1->safe_psql('postgres', $backend), $pid1,
		'a session keeps its connection to a participant between transactions');
	$p1->restart;
	$s->query_safe($txn);
	my $pid2 = $p1->safe_psql('postgres', $backend);
	ok($pid2 ne '' && $pid2 ne $pid1, '... and connects again when the participant restarted');
	$c->safe_psql('postgres', "ALTER USER MAPPING FOR CURRENT_USER SERVER s1 OPTIONS (SET user '$user')");
	$s->query_safe($txn);
	my $pid3 = $p1->safe_psql('postgres', $backend);
	ok($pid3 ne '' && $pid3 ne $pid2, '... and when the user mapping changed');
	$s->quit;
}

# ---- a crash of the coordinator at every step ----

# a transfer of $amount from p1's account 5 to p2's account 5, with a
# ledger row here; the committing backend is killed at $step
sub transfer_killed_at
{
	my ($step, $amount) = @_;
	my ($r, $o, $e) = $c->psql('postgres', qq{
		BEGIN;
		SELECT t.exec('s1', 'UPDATE accounts SET balance = balance - $amount WHERE id = 5');
		SELECT t.exec('s2', 'UPDATE accounts SET balance = balance + $amount WHERE id = 5');
		INSERT INTO ledger VALUES ('$step', $amount);
		SET LOCAL pgrac.twophase_test_stop_at = '$step';
		COMMIT;});
	return $e;
}

sub wait_resolved
{
	my ($what) = @_;
	$c->poll_query_until('postgres', 'SELECT count(*) = 0 FROM t.in_doubt()')
	  or diag("$what: still live: " . $c->safe_psql('postgres', 'SELECT * FROM t.in_doubt()'));
	return prepared($p1) . prepared($p2);
}

my %expect = (
	after_begin => 'rolled back',
	after_prepare_1 => 'rolled back',
	after_committing => 'rolled back',    # the local commit never happened
	after_local_commit => 'committed',
	after_commit_prepared_1 => 'committed',
	before_end => 'committed');
my $amount = 1;
for my $step (qw(after_begin after_prepare_1 after_committing after_local_commit after_commit_prepared_1 before_end))
{
	my $before = balance($p1, 5) . ',' . balance($p2, 5);
	my $e = transfer_killed_at($step, $amount);
	like($e, qr/server closed the connection unexpectedly|terminating connection/,
		"$step: the coordinator's backend died");
	wait_accepting($c) or die 'the coordinator did not come back';
	is(wait_resolved($step), '00', "$step: nothing stays prepared after the resolver ran");
	my $local = $c->safe_psql('postgres', "SELECT count(*) FROM ledger WHERE step = '$step'");
	my ($b1, $b2) = (balance($p1, 5), balance($p2, 5));
	my ($o1, $o2) = split /,/, $before;
	my $got =
	    ($local == 1 && $b1 == $o1 - $amount && $b2 == $o2 + $amount) ? 'committed'
	  : ($local == 0 && $b1 == $o1 && $b2 == $o2) ? 'rolled back'
	  : "mixed (local $local, p1 $o1 -> $b1, p2 $o2 -> $b2)";
	is($got, $expect{$step}, "$step: all $expect{$step}, here and on both participants");
	$amount++;
}
like(slurp_file($c->logfile), qr/distributed transaction pgrac_\d+_\d+_\d+ committed on every participant/,
	'the resolver logs what it finished');

# ---- a participant down while the coordinator restarts ----
{
	my $before2 = balance($p2, 6);
	my $before1 = balance($p1, 6);
	$c->psql('postgres', q{
		BEGIN;
		SELECT t.exec('s1', 'UPDATE accounts SET balance = balance - 50 WHERE id = 6');
		SELECT t.exec('s2', 'UPDATE accounts SET balance = balance + 50 WHERE id = 6');
		INSERT INTO ledger VALUES ('p2 down', 50);
		SET LOCAL pgrac.twophase_test_stop_at = 'after_local_commit';
		COMMIT;});
	$p2->stop('immediate');
	wait_accepting($c) or die 'the coordinator did not come back';
	$c->poll_query_until('postgres',
		q{SELECT participant_states = '{done,unknown}' AND last_error LIKE '%"s2"%' FROM t.in_doubt()})
	  or diag($c->safe_psql('postgres', 'SELECT * FROM t.in_doubt()'));
	my $row = $c->safe_psql('postgres',
		q{SELECT global_id || ' ' || outcome || ' ' || array_to_string(participant_states, ',') FROM t.in_doubt()});
	like($row, qr/^pgrac_\d+_\d+_\d+ commit done,unknown$/,
		'participant down: the resolver commits the other and shows this one pending');
	is(balance($p1, 6), $before1 - 50, '... the reachable participant is committed');
	my ($gid) = split / /, $row;
	# back, but not reachable by the resolver yet: its mapping names a role
	# that does not exist there, so that what it holds can be looked at
	$c->safe_psql('postgres', "ALTER USER MAPPING FOR CURRENT_USER SERVER s2 OPTIONS (SET user 'nobody_here')");
	$p2->start;
	$c->poll_query_until('postgres', q{SELECT last_error LIKE '%nobody_here%' FROM t.in_doubt()})
	  or diag($c->safe_psql('postgres', 'SELECT * FROM t.in_doubt()'));
	my $sysid = $c->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
	my $seen = $p2->safe_psql('postgres', 'SELECT gid FROM pg_prepared_xacts');
	like($seen, qr/^pgrac_${sysid}_\d+_\d+\.2$/,
		"... its prepared transaction is recognisable in pg_prepared_xacts ($seen)");
	is($seen, "$gid.2", '... by the exact global id');
	$c->safe_psql('postgres', "ALTER USER MAPPING FOR CURRENT_USER SERVER s2 OPTIONS (SET user '$user')");
	is(wait_resolved('p2 back'), '00', '... and the resolver finishes it once it is back');
	is(balance($p2, 6), $before2 + 50, '... committed there too');
}

# ---- the money-transfer invariant under concurrent clients and crashes ----
{
	my $script = PostgreSQL::Test::Utils::tempdir() . '/transfer.sql';
	PostgreSQL::Test::Utils::append_to_file($script, q{
\set a random(1, 10)
\set b random(1, 10)
\set x random(1, 100)
BEGIN;
SELECT t.exec('s1', 'UPDATE accounts SET balance = balance - :x WHERE id = :a');
SELECT t.exec('s2', 'UPDATE accounts SET balance = balance + :x WHERE id = :b');
INSERT INTO ledger VALUES ('pgbench', :x);
COMMIT;
});
	my $t1 = total($p1) + total($p2);
	my $l0 = $c->safe_psql('postgres', 'SELECT coalesce(sum(amount), 0) FROM ledger');
	my $o1 = total($p1);
	for my $round (1 .. 4)
	{
		my ($po, $pe) = ('', '');
		my $h = IPC::Run::start(
			[ 'pgbench', '-n', '-T', '4', '-c', '4', '-f', $script, '-h', $c->host, '-p', $c->port, 'postgres' ],
			'>', \$po, '2>', \$pe);
		sleep(1 + $round % 2);
		if ($round == 3)
		{
			# a participant crashes mid-way
			$p1->stop('immediate');
			$p1->start;
		}
		else
		{
			my $pid = $c->safe_psql('postgres',
				q{SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' LIMIT 1});
			kill 'KILL', $pid if $pid;
		}
		eval { $h->finish };
		wait_accepting($c) or die 'the coordinator did not come back';
	}
	is(wait_resolved('pgbench'), '00', 'transfers with crashes: nothing stays prepared');
	my $l1 = $c->safe_psql('postgres', 'SELECT sum(amount) FROM ledger');
	my $n = $c->safe_psql('postgres', q{SELECT count(*) FROM ledger WHERE step = 'pgbench'});
	cmp_ok($n, '>', 50, "transfers with crashes: $n committed");
	is(total($p1) + total($p2), $t1, 'the total across the participants never changed');
	is($o1 - total($p1), $l1 - $l0, "... and what left p1 is exactly what the coordinator's ledger committed");
	my ($appends, $batches) = split /,/,
	  $c->safe_psql('postgres', q{SELECT appends || ',' || batches FROM t.log_status()});
	note("since the last restart: $appends appends in $batches batches");
}

# ---- rotation, removal, and a torn tail ----
{
	$c->safe_psql('postgres', q{
		CREATE FUNCTION t.append(int) RETURNS bigint AS '} . $lib . q{', 'pgrac_twophase_test_append' LANGUAGE C STRICT;
});
	# some 130 bytes a transaction: 40,000 fill more than a 4 MB segment;
	# four sessions at once, so that they share fdatasyncs
	my $before = $c->safe_psql('postgres', 'SELECT rotations FROM t.log_status()');
	my @h = map {
		IPC::Run::start([ 'psql', '-XAtq', '-d', $c->connstr('postgres'), '-c', 'SELECT t.append(10000)' ],
			'>', \my $o, '2>', \my $e)
	} 1 .. 4;
	$_->finish for @h;
	my ($rot, $segs, $live) = split /,/, $c->safe_psql('postgres',
		q{SELECT rotations || ',' || segments || ',' || live_transactions FROM t.log_status()});
	cmp_ok($rot, '>', $before, "a full segment starts the next one ($rot rotations)");
	my @files = glob($c->data_dir . '/pg_pgrac/twophase/*.seg');
	# the current one, and the one before while a transaction begun in it
	# was live at the switch
	cmp_ok(scalar(@files), '<=', 2, '... and the ones no live transaction needs are removed');
	ok(!-e $c->data_dir . '/pg_pgrac/twophase/0000000000000000.seg', '... the first one among them');
	my $max = 0;
	-s $_ > $max and $max = -s $_ for @files;
	cmp_ok($max, '<=', 4 * 1024 * 1024, '... no segment beyond the size limit');

	# a torn write at the end of the last segment: truncated, appending resumes
	$c->stop;
	my $seg = (sort glob($c->data_dir . '/pg_pgrac/twophase/*.seg'))[-1];
	my $size = -s $seg;
	open(my $fh, '>>', $seg) or die $!;
	binmode $fh;
	print $fh pack('V', 64) . "\x12\x34";    # a frame header cut short
	close $fh;
	$c->start;
	like(slurp_file($c->logfile), qr/1 torn tails truncated/, 'a torn tail is truncated at start');
	is(-s $seg, $size, '... back to the last complete record');
	is($c->safe_psql('postgres',
		"BEGIN; SELECT t.exec('s1', 'UPDATE accounts SET balance = balance WHERE id = 9'); COMMIT;"),
		'1', '... and distributed transactions go on');
}

# ---- a corrupted segment ----
{
	$c->append_conf('postgresql.conf', "restart_after_crash = off\n");
	$c->reload;
	# read before the crash: the postmaster removes its pid file as it goes
	my $pmpid = (split /\n/, slurp_file($c->data_dir . '/postmaster.pid'))[0];
	# T: prepared on p1 only when the coordinator dies; p1 down at restart
	$c->psql('postgres', q{
		BEGIN;
		SELECT t.exec('s1', 'UPDATE accounts SET balance = balance - 1 WHERE id = 7');
		SELECT t.exec('s2', 'UPDATE accounts SET balance = balance + 1 WHERE id = 7');
		SET LOCAL pgrac.twophase_test_stop_at = 'after_prepare_1';
		COMMIT;});
	# restart_after_crash = off: the postmaster goes away
	for (1 .. 600) { last unless kill 0, $pmpid; select(undef, undef, undef, 0.1); }
	ok(!kill(0, $pmpid), 'the coordinator is down');
	$c->_update_pid(0);
	$p1->stop('immediate');
	$c->start;
	$c->poll_query_until('postgres', q{SELECT last_error LIKE '%"s1"%' FROM t.in_doubt()})
	  or diag($c->safe_psql('postgres', 'SELECT * FROM t.in_doubt()'));
	my $gid = $c->safe_psql('postgres', 'SELECT global_id FROM t.in_doubt()');
	# two more transactions after T's Begin, on p2 only
	for (1 .. 2)
	{
		$c->safe_psql('postgres',
			"BEGIN; SELECT t.exec('s2', 'UPDATE accounts SET balance = balance WHERE id = 8'); COMMIT;");
	}
	$c->stop('immediate');
	my $dir = $c->data_dir . '/pg_pgrac/twophase';
	my $seg = (sort glob("$dir/*.seg"))[-1];
	my $data = slurp_file($seg);
	# the first Begin after T's: damage one byte of its global id
	my $at = index($data, 'pgrac_', index($data, $gid) + length($gid));
	ok($at > 0, 'a later Begin is in the segment');
	substr($data, $at + 2, 1) = 'X';
	open(my $fh, '+<', $seg) or die $!;
	binmode $fh;
	print $fh $data;
	close $fh;
	$p1->start;
	$c->start;
	ok(-f "$seg.broken", 'the damaged segment is renamed .broken and kept');
	like(slurp_file($c->logfile), qr/segments found corrupt/, '... and the server log says so');
	sleep 2;    # the resolver has had its chance
	is($c->safe_psql('postgres', "SELECT outcome FROM t.in_doubt() WHERE global_id = '$gid'"),
		'needs operator', 'the undecided transaction begun before the damage needs an operator');
	is(prepared($p1), '1', '... and is not rolled back automatically');
	($ret, $out, $err) = $c->psql('postgres', "SELECT t.resolve('$gid', 'commit')");
	like($err, qr/participant "s2" does not hold "\Q$gid\E\.2" prepared/,
		'an operator commit is refused when a participant never prepared');
	is($c->safe_psql('postgres', "SELECT t.resolve('$gid', 'rollback')"), 'rolled back',
		'an operator rollback finishes it');
	is(prepared($p1) . prepared($p2), '00', '... on every participant');
	$c->append_conf('postgresql.conf', "restart_after_crash = on\n");
	$c->reload;
}

# ---- a log that cannot be opened ----
{
	$c->stop;
	my $dir = $c->data_dir . '/pg_pgrac/twophase';
	my $seg = (sort glob("$dir/*.seg"))[-1];
	chmod 0000, $seg;
	$c->start;
	($ret, $out, $err) = $c->psql('postgres', "BEGIN; SELECT t.exec('s1', 'SELECT 1'); COMMIT;");
	like($err, qr/the 2PC coordinator log is unavailable: could not (open|read)/,
		'a log that cannot be opened refuses distributed transactions');
	is($c->safe_psql('postgres', 'SELECT count(*) FROM ledger WHERE amount > 0') > 0, 1,
		'... while the server serves everything else');
	$c->stop;
	chmod 0600, $seg;
	$c->start;
}

# ---- a second coordinator on the same directory ----
{
	my $c2 = pgrac_node('second', settings => "shared_preload_libraries = '$lib'\npgrac.twophase = on\n");
	my $d2 = $c2->data_dir . '/pg_pgrac';
	mkdir $d2;
	symlink($c->data_dir . '/pg_pgrac/twophase', "$d2/twophase") or die $!;
	my $ok = $c2->start(fail_ok => 1);
	ok(!$ok, 'a second coordinator on the same log directory does not start');
	my $pmpid = (split /\n/, slurp_file($c->data_dir . '/postmaster.pid'))[0];
	like(slurp_file($c2->logfile),
		qr/the 2PC coordinator log "pg_pgrac\/twophase" is in use by another server\n.*holder: postmaster PID $pmpid,/,
		'... naming the first');
}

done_testing();
