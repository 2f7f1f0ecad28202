# The checksum layer on md and on block_device: refused without
# wal_log_hints; enabled and then disabled under concurrent pgbench, with
# immediate restarts and checkpoints during the sweep, never "on" after an
# interrupted sweep; afterwards every page of every relation carries the
# checksum pageinspect computes, pgbench's balances still agree, and a byte
# flipped on storage is reported with its block and SQLSTATE XX001.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use PgracTest;

# a sweep slow enough to be caught in inprogress-on: 20 pages per 10 ms per
# worker (two workers here), some 2 s for the database below
my $slow = 'cost_delay => 10, cost_limit => 20';

sub state_of { my ($node) = @_; return $node->safe_psql('postgres', 'SELECT state FROM pgrac.pgrac_checksum_status'); }

sub wait_for_state
{
	my ($node, $want) = @_;
	$node->poll_query_until('postgres', "SELECT state = '$want' FROM pgrac.pgrac_checksum_status")
	  or die "the checksum state did not become $want: " . state_of($node);
}

sub start_pgbench
{
	my ($node) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'pgbench', '-n', '-T', '600', '-c', '2', '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$out, '2>', \$err);
	return $h;
}

sub stop_pgbench
{
	my ($h) = @_;
	$h->signal('TERM') if $h->pumpable;
	eval { $h->finish };
}

# pgbench's four balances agree when no transaction was lost or half-done
sub balances_agree
{
	my ($node, $what) = @_;
	my $sums = $node->safe_psql('postgres', q{
		SELECT (SELECT sum(abalance) FROM pgbench_accounts) || ',' ||
		       (SELECT sum(bbalance) FROM pgbench_branches) || ',' ||
		       (SELECT sum(tbalance) FROM pgbench_tellers) || ',' ||
		       (SELECT coalesce(sum(delta), 0) FROM pgbench_history)});
	my @s = split /,/, $sums;
	ok($s[0] == $s[1] && $s[1] == $s[2] && $s[2] == $s[3], "$what: pgbench's balances agree ($sums)");
}

# Every non-new page of every fork of every relation with storage, read
# from storage after a restart: the checksum on it against the one
# pageinspect's page_checksum() computes.  Returns "pages,bad".
# pageinspect copies a page from shared buffers, where the check's own
# catalog scans may just have set hint bits that no write has covered with
# a checksum yet; so the pages are read once (every read verified by the
# layer), the hint bits that pass set are written by a checkpoint, and the
# comparison is made on the second pass, after a restart.
sub check_every_page
{
	my ($node) = @_;
	$node->restart;
	every_page_query($node);
	$node->safe_psql('postgres', 'CHECKPOINT');
	$node->restart;
	return every_page_query($node);
}

sub every_page_query
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
		WITH forks AS (
			SELECT c.oid, f.fork, pg_relation_size(c.oid, f.fork) / 8192 AS blocks
			  FROM pg_class c, unnest(ARRAY['main', 'fsm', 'vm', 'init']) AS f(fork)
			 WHERE c.relkind IN ('r', 'i', 't', 'm', 'S') AND c.relpersistence <> 't'),
		pages AS (
			SELECT f.oid, f.fork, b, get_raw_page(f.oid::regclass::text, f.fork, b::int) AS page
			  FROM forks f, generate_series(0, f.blocks - 1) b
			 WHERE f.blocks > 0)
		SELECT count(*) || ',' ||
		       count(*) FILTER (WHERE page_checksum(page, b::int) <> (page_header(page)).checksum)
		  FROM pages WHERE (page_header(page)).upper <> 0});
}

# Flip one byte of block $blk of a table on storage (server stopped).
sub flip_byte
{
	my ($node, $backend, $file_or_image, $offset) = @_;
	open(my $fh, '+<', $file_or_image) or die "open $file_or_image: $!";
	binmode $fh;
	sysseek($fh, $offset, 0) or die;
	sysread($fh, my $byte, 1) == 1 or die;
	sysseek($fh, $offset, 0) or die;
	syswrite($fh, chr(ord($byte) ^ 0x40), 1) == 1 or die;
	close $fh;
}

for my $backend ('md', 'block_device')
{
	my $node = pgrac_node("cks_$backend",
		settings => "pgrac.storage_backend = '$backend'\npgrac.checksum_layer = on\npgrac.checksum_sweep_workers = 2\n"
		  . "autovacuum_naptime = 1s\nmax_wal_size = 256MB\nlog_min_messages = log\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION pgrac_storage; CREATE EXTENSION pageinspect');

	is($node->safe_psql('postgres', q{SELECT string_agg(layer, ',' ORDER BY level) FROM pgrac.pgrac_storage_layers()}),
		"$backend,checksum", "$backend: the checksum layer is on top of the stack");
	is(state_of($node), 'off', "$backend: checksums start off");

	# refused, naming the setting, while wal_log_hints is off
	my ($ret, $out, $err) = $node->psql('postgres', 'SELECT pgrac.pgrac_enable_checksums()');
	like($err, qr/wal_log_hints is off.*\n.*\n.*ALTER SYSTEM SET wal_log_hints = on/s,
		"$backend: enabling is refused while wal_log_hints is off, naming the setting");
	is(state_of($node), 'off', "$backend: the refusal changed nothing");
	$node->append_conf('postgresql.conf', "wal_log_hints = on\n");
	$node->restart;

	command_ok([ 'pgbench', '-i', '-s', '3', '-q', '-h', $node->host, '-p', $node->port, 'postgres' ],
		"$backend: pgbench -i");
	$node->safe_psql('postgres', q{
		CREATE UNLOGGED TABLE ul AS SELECT g AS a FROM generate_series(1, 20000) g;
		CREATE INDEX ON ul (a);
		CREATE MATERIALIZED VIEW mv AS SELECT a % 100 AS k, count(*) FROM ul GROUP BY 1;
		CREATE SEQUENCE seq; SELECT nextval('seq');
		VACUUM});

	# enable under load, slowly, and crash twice while it sweeps
	my $bench = start_pgbench($node);
	is($node->safe_psql('postgres', "SELECT pgrac.pgrac_enable_checksums($slow)"), 'inprogress-on',
		"$backend: enabling starts in inprogress-on");
	my $interrupted = 0;
	for my $round (1 .. 2)
	{
		# both database workers (pgrac.checksum_sweep_workers = 2 here) at work
		ok($node->poll_query_until('postgres',
				q{SELECT count(DISTINCT worker_pid) = 2 FROM pgrac.pgrac_checksum_progress WHERE phase = 'sweeping' AND relations_done > 0}),
			"$backend: two workers share the sweep (round $round)");
		$node->safe_psql('postgres', 'CHECKPOINT');
		stop_pgbench($bench);
		$node->stop('immediate');
		$node->start;
		$interrupted++ if state_of($node) eq 'inprogress-on';
		$bench = start_pgbench($node);
	}
	is($interrupted, 2, "$backend: after each crash during the sweep the state is inprogress-on again, never on");

	# then let it finish at full speed
	$node->safe_psql('postgres', 'SELECT pgrac.pgrac_enable_checksums(0, 100)');
	wait_for_state($node, 'on');
	sleep 2;	# pgbench runs on in state on
	stop_pgbench($bench);
	is($node->safe_psql('postgres', 'SELECT failures FROM pgrac.pgrac_checksum_status'), '0',
		"$backend: no verification failure during or after the sweep");
	balances_agree($node, "$backend after enable");

	$node->append_conf('postgresql.conf', "autovacuum = off\n");
	my ($pages, $bad) = split /,/, check_every_page($node);
	cmp_ok($pages, '>', 500, "$backend: pages checked after enable ($pages)");
	is($bad, '0', "$backend: every page carries the checksum pageinspect computes");

	# a byte flipped in a data block is caught, with its block and SQLSTATE
	$node->safe_psql('postgres', 'CREATE TABLE victim AS SELECT g AS a, repeat(md5(g::text), 4) AS b FROM generate_series(1, 5000) g; CHECKPOINT');
	my $blk = 7;
	my ($target, $offset);
	if ($backend eq 'md')
	{
		$target = $node->data_dir . '/' . $node->safe_psql('postgres', q{SELECT pg_relation_filepath('victim')});
		$offset = $blk * 8192 + 5000;
	}
	else
	{
		$target = $node->data_dir . '/pg_pgrac/device.img';
		my ($dev_off, $blocks) = split /\|/, $node->safe_psql('postgres',
			qq{SELECT device_offset, blocks FROM pgrac.pgrac_relation_extents('victim') WHERE extent_index = 0});
		die "block $blk is not in the first extent" if $blk >= $blocks;
		$offset = $dev_off + $blk * 8192 + 5000;
	}
	my $relpath = $node->safe_psql('postgres', q{SELECT pg_relation_filepath('victim')});
	$node->stop;
	flip_byte($node, $backend, $target, $offset);
	$node->start;
	($ret, $out, $err) = $node->psql('postgres', '\set VERBOSITY verbose' . "\n" . 'SELECT count(*) FROM victim');
	like($err, qr/ERROR:  XX001: invalid page in block $blk of relation \Q$relpath\E/,
		"$backend: the flipped byte is reported as block $blk of $relpath with SQLSTATE XX001");
	like($node->safe_psql('postgres', 'SELECT failures || \' \' || last_failure FROM pgrac.pgrac_checksum_status'),
		qr/^1 block $blk of relation \Q$relpath\E \(main fork\)/, "$backend: the failure is counted and named");
	($ret, $out, $err) = $node->psql('postgres', 'SET ignore_checksum_failure = on; SELECT count(*) FROM victim');
	is($out, '5000', "$backend: ignore_checksum_failure lets the page through");
	like($err, qr/WARNING:  page verification failed/, "$backend: ... with core's WARNING");
	$node->stop;
	flip_byte($node, $backend, $target, $offset);
	$node->start;

	# disable under load
	$bench = start_pgbench($node);
	sleep 1;
	is($node->safe_psql('postgres', 'SELECT pgrac.pgrac_disable_checksums()'), 'off',
		"$backend: disabling ends in off");
	sleep 1;
	stop_pgbench($bench);
	is($node->safe_psql('postgres', 'SELECT failures FROM pgrac.pgrac_checksum_status'), '0',
		"$backend: no verification failure while disabling");
	my $log = slurp_file($node->logfile);
	my $first = index($log, 'state changed from "on" to "inprogress-off"');
	my $second = index($log, 'state changed from "inprogress-off" to "off"');
	ok($first >= 0 && $second > $first, "$backend: disabling went through inprogress-off");
	balances_agree($node, "$backend after disable");

	# the state survives a restart, through the state file
	$node->restart;
	is(state_of($node), 'off', "$backend: off after a restart");
	$node->stop;
}

done_testing();
