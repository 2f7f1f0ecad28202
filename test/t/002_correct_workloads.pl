# Correct workloads must produce no finding: pgbench, CREATE DATABASE with
# both strategies, ALTER TABLE / ALTER DATABASE SET TABLESPACE, unlogged
# tables and indexes (also across a crash), index builds racing checkpoints
# (one large, and thousands of small ones against a stream of checkpoints),
# prepared transactions, and all of it again under wal_level = minimal,
# where relations created in a transaction skip WAL and are synced at commit.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;

# Statements every node runs; each must leave nothing to report.
my @workload = (
	# bulk writes of every kind of index and table rewrite
	q{CREATE TABLE big AS SELECT g AS id, md5(g::text) AS t FROM generate_series(1, 200000) g},
	q{CREATE INDEX big_btree ON big (id)},
	q{CREATE INDEX big_hash ON big USING hash (id)},
	q{CREATE INDEX big_brin ON big USING brin (id)},
	q{CREATE INDEX big_gin ON big USING gin (to_tsvector('simple', t))},
	q{CREATE INDEX big_gist ON big USING gist (box(point(id, id), point(id, id)))},
	q{CREATE INDEX big_spgist ON big USING spgist (t)},
	q{VACUUM FULL big},
	q{CLUSTER big USING big_btree},
	q{REINDEX TABLE big},
	q{CREATE INDEX CONCURRENTLY big_conc ON big (t)},
	q{ALTER TABLE big ADD COLUMN r float8 DEFAULT random()},
	q{CREATE MATERIALIZED VIEW mv AS SELECT id FROM big WHERE id % 7 = 0},
	q{REFRESH MATERIALIZED VIEW mv},
	# unlogged tables and indexes
	q{CREATE UNLOGGED TABLE ul AS SELECT g AS id FROM generate_series(1, 50000) g},
	q{CREATE INDEX ul_btree ON ul (id)},
	q{CREATE INDEX ul_hash ON ul USING hash (id)},
	q{CREATE INDEX ul_gist ON ul USING gist (box(point(id, id), point(id, id)))},
	q{INSERT INTO ul SELECT g FROM generate_series(1, 10000) g},
	q{VACUUM FULL ul},
	q{ALTER TABLE ul SET LOGGED},
	q{ALTER TABLE ul SET UNLOGGED},
	q{TRUNCATE ul},
	# tablespaces: copies between directories
	q{ALTER TABLE big SET TABLESPACE regress_ts},
	q{ALTER INDEX big_btree SET TABLESPACE regress_ts},
	q{ALTER TABLE ul SET TABLESPACE regress_ts},
	q{ALTER TABLE big SET TABLESPACE pg_default},
	# databases
	q{CREATE DATABASE db_wal STRATEGY wal_log},
	q{CREATE DATABASE db_file STRATEGY file_copy},
	q{CREATE DATABASE db_move},
	q{ALTER DATABASE db_move SET TABLESPACE regress_ts},
	q{DROP DATABASE db_file},
	# created and filled in one transaction
	q{BEGIN; CREATE TABLE newt (a int); INSERT INTO newt SELECT generate_series(1, 30000); CREATE INDEX ON newt (a); COMMIT},
	q{BEGIN; CREATE TABLE smallt (a int); INSERT INTO smallt VALUES (1); COMMIT},
	q{BEGIN; TRUNCATE newt; INSERT INTO newt SELECT generate_series(1, 1000); COMMIT},
	q{BEGIN; CREATE TABLE abortt AS SELECT generate_series(1, 30000) a; CREATE INDEX ON abortt (a); ROLLBACK},
	q{BEGIN; CREATE TABLE prept AS SELECT generate_series(1, 30000) a; CREATE INDEX ON prept (a); PREPARE TRANSACTION 'p1'},
	q{COMMIT PREPARED 'p1'},
	q{DROP TABLE newt, smallt, prept},
);

sub run_workload
{
	my ($node) = @_;
	my $ts = $node->basedir . '/ts';
	mkdir $ts;
	$node->safe_psql('postgres', "CREATE TABLESPACE regress_ts LOCATION '$ts'");
	for my $sql (@workload)
	{
		$node->safe_psql('postgres', $sql);
	}
	$node->safe_psql('postgres', 'CHECKPOINT');
}

sub expect_no_findings
{
	my ($node, $what) = @_;
	is($node->safe_psql('postgres', 'SELECT count(*) FROM pgrac.pgrac_fsync_report()'),
		'0', "$what: no findings");
	is($node->safe_psql('postgres',
		'SELECT open_obligations, untracked_writes FROM pgrac.pgrac_fsync_checker_stats()'),
		'0|0', "$what: no open obligations left, nothing untracked");
}

for my $level ('replica', 'minimal')
{
	my $node = pgrac_node("work_$level",
		allows_streaming => ($level eq 'replica' ? 1 : 0),
		settings => "pgrac.fsync_checker = on\n"
		  . "max_prepared_transactions = 5\n"
		  . "wal_skip_threshold = '64kB'\n"
		  . "log_checkpoints = on\n");
	$node->start;
	is($node->safe_psql('postgres', 'SHOW wal_level'), $level, "wal_level is $level");
	$node->safe_psql('postgres', 'CREATE EXTENSION pgrac_storage');

	run_workload($node);
	expect_no_findings($node, "$level: DDL workload");
	# the checker did watch: bulk writes went through it
	ok($node->safe_psql('postgres', 'SELECT unbuffered_writes FROM pgrac.pgrac_fsync_checker_stats()') > 1000,
		"$level: the checker tracked the workload's unbuffered writes");

	# pgbench (initialization bulk-loads and builds indexes)
	$node->command_ok([ 'pgbench', '-i', '-s', '3', '-q', '-h', $node->host,
		'-p', $node->port, 'postgres' ], "$level: pgbench -i");
	$node->command_ok([ 'pgbench', '-c', '2', '-t', '300', '-n', '-h', $node->host,
		'-p', $node->port, 'postgres' ], "$level: pgbench run");

	# an index build racing checkpoints: bulk_write.c must notice the moved
	# redo pointer and sync by itself, which the checker must accept
	my $bg = $node->background_psql('postgres');
	$bg->query_until(qr/started/, q{
		\echo started
		CREATE INDEX big_race ON big (t, id);
	});
	$node->safe_psql('postgres', 'CHECKPOINT') for 1 .. 5;
	$bg->quit;
	$node->safe_psql('postgres', 'CHECKPOINT');
	expect_no_findings($node, "$level: pgbench and index build racing checkpoints");

	# Many small index builds (a table with a TOAST index) racing a stream
	# of checkpoints.  bulk_write.c compares the redo pointer and registers
	# its sync holding DELAY_CHKPT_START; a checkpoint that moves the redo
	# pointer in between waits for it and fsyncs the index.  A checker that
	# judged by the redo pointer alone reported about 80 such registrations
	# a minute here as late (docs/fsync-checker.md, rule 9).  Under
	# wal_level = replica only: under minimal these builds skip WAL and are
	# synced at commit, so there is no such window.  About 15 s.
	if ($level eq 'replica')
	{
		my $dir = $node->basedir;
		PostgreSQL::Test::Utils::append_to_file("$dir/ddl.sql",
			"CREATE TABLE race_:client_id (a text);\nDROP TABLE race_:client_id;\n");
		PostgreSQL::Test::Utils::append_to_file("$dir/ckpt.sql", "CHECKPOINT;\n");
		my @conn = ('-n', '-h', $node->host, '-p', $node->port, '-T', '15');
		my ($ddl_out, $ddl_err) = ('', '');
		my $ddl = IPC::Run::start([ 'pgbench', @conn, '-c', '4', '-f', "$dir/ddl.sql", 'postgres' ],
			'>', \$ddl_out, '2>', \$ddl_err);
		$node->command_ok([ 'pgbench', @conn, '-c', '1', '-f', "$dir/ckpt.sql", 'postgres' ],
			"$level: a stream of checkpoints");
		ok($ddl->finish, "$level: CREATE TABLE and DROP TABLE in 4 sessions meanwhile")
		  or diag($ddl_err);
		my ($done) = $ddl_out =~ /number of transactions actually processed: (\d+)/;
		ok(($done // 0) > 1000, "$level: over 1000 tables with a TOAST index built during them")
		  or diag($ddl_out);
		$node->safe_psql('postgres', 'CHECKPOINT');
		expect_no_findings($node, "$level: TOAST index builds racing checkpoints");
	}

	# unlogged tables across a crash are reset, and nothing is reported
	$node->safe_psql('postgres', q{
		CREATE UNLOGGED TABLE crash_ul AS SELECT generate_series(1, 10000) a;
		CREATE INDEX ON crash_ul (a);});
	$node->stop('immediate');
	$node->start;
	is($node->safe_psql('postgres', 'SELECT count(*) FROM crash_ul'), '0',
		"$level: unlogged table is empty after a crash");
	$node->safe_psql('postgres', 'INSERT INTO crash_ul SELECT generate_series(1, 100)');
	$node->restart;
	is($node->safe_psql('postgres', 'SELECT count(*) FROM crash_ul'), '100',
		"$level: unlogged table keeps its rows across a clean restart");
	$node->safe_psql('postgres', 'CHECKPOINT');
	expect_no_findings($node, "$level: after crash and restart");

	$node->stop;
	my @warnings = checker_warnings($node);
	is(scalar(@warnings), 0, "$level: no fsync checker WARNING in the whole server log")
	  or diag(join("\n", @warnings));
}

done_testing();
