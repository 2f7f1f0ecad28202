# The fsync checker reports every class of missing-fsync bug injected through
# the test-only fsync_inject library, naming relation, fork, segment and the
# WAL position of the first unsynced write, once, in the report and the log;
# and it reports nothing for the same write when it is synced.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;

my $node = pgrac_node('inject', allows_streaming => 1,
	settings => "pgrac.fsync_checker = on\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pgrac_storage');
load_fsync_inject($node);

my $dboid = $node->safe_psql('postgres',
	"SELECT oid FROM pg_database WHERE datname = 'postgres'");

# The finding for a relation, as "fork|segno|reason", or '' if none.
sub finding_for
{
	my ($rel) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT string_agg(fork || '|' || segno || '|' || reason, ';')
		  FROM pgrac.pgrac_fsync_report()
		 WHERE relfilenode = pg_relation_filenode('$rel')
		   AND dboid = $dboid AND spcoid = 1663});
}

sub findings_count
{
	return $node->safe_psql('postgres', 'SELECT count(*) FROM pgrac.pgrac_fsync_report()');
}

# --- control: the same write, synced, is fine ---
$node->safe_psql('postgres', q{
	BEGIN;
	CREATE TABLE ok1 (x int);
	SELECT fsync_inject_synced_write('ok1', 0);
	COMMIT;
	CHECKPOINT;});
is(findings_count(), '0', 'an unbuffered write followed by an immediate sync is not reported');

# --- class 1: an unbuffered write never synced (segment 1 of the main fork) ---
my $before = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
my ($ret, $stdout, $stderr) = $node->psql('postgres', q{
	BEGIN;
	CREATE TABLE bug1 (x int);
	SELECT fsync_inject_unsynced_write('bug1', 'main', 131072 + 5, true);
	COMMIT;});
is($ret, 0, 'commit succeeds (the checker reports, it does not interfere)');
like($stderr, qr/WARNING:  fsync checker: data in "base\/$dboid\/\d+\.1" would not survive/,
	'the committing client sees a WARNING naming the segment file');
is(finding_for('bug1'), 'main|1|unbuffered write not synced at commit',
	'unsynced write: relation, fork main, segment 1, reason');
my $lsn_ok = $node->safe_psql('postgres', qq{
	SELECT first_unsynced_lsn > '$before' AND first_unsynced_lsn <= pg_current_wal_insert_lsn()
	  FROM pgrac.pgrac_fsync_report() WHERE relfilenode = pg_relation_filenode('bug1')});
is($lsn_ok, 't', 'first_unsynced_lsn lies between the LSNs before and after the write');

# the same bug in segment 0 of a table that already existed, under an
# explicit transaction
$node->safe_psql('postgres', 'CREATE TABLE bug1b (x int)');
$node->psql('postgres', q{SELECT fsync_inject_unsynced_write('bug1b', 'main', 0, true)});
is(finding_for('bug1b'), 'main|0|unbuffered write not synced at commit',
	'unsynced write to an existing relation: segment 0');

# --- class 2: a sync registered too late ---
$node->safe_psql('postgres', 'CREATE TABLE bug2 (x int)');
my $redo_before = $node->safe_psql('postgres', 'SELECT redo_lsn FROM pg_control_checkpoint()');
($ret, $stdout, $stderr) = $node->psql('postgres', q{SELECT fsync_inject_late_registration('bug2')});
is($ret, 0, 'late registration runs');
like($stderr, qr/sync registered after a checkpoint had passed the write/,
	'late registration: WARNING with the reason');
is(finding_for('bug2'), 'main|0|sync registered after a checkpoint had passed the write',
	'late registration: relation, fork, segment, reason');
my $redo_ok = $node->safe_psql('postgres', qq{
	SELECT checkpoint_redo > '$redo_before' AND checkpoint_redo = (SELECT redo_lsn FROM pg_control_checkpoint())
	  FROM pgrac.pgrac_fsync_report() WHERE relfilenode = pg_relation_filenode('bug2')});
is($redo_ok, 't', 'checkpoint_redo is the redo pointer of the checkpoint that passed the write');

# --- class 3: an init fork copied without sync ---
$node->safe_psql('postgres', q{
	CREATE UNLOGGED TABLE src3 (x int); CREATE INDEX src3_i ON src3 (x);
	CREATE UNLOGGED TABLE dst3 (x int); CREATE INDEX dst3_i ON dst3 (x);});
($ret, $stdout, $stderr) = $node->psql('postgres', q{
	BEGIN; SELECT fsync_inject_copy_init_fork('src3_i', 'dst3_i'); COMMIT;});
like($stderr, qr/data in "base\/$dboid\/\d+_init" would not survive/,
	'init fork copy: WARNING names the init fork file');
is(finding_for('dst3_i'), 'init|0|init fork not synced at commit',
	'init fork copy: relation, fork init, segment 0');
is(finding_for('src3_i'), '', 'the source of the copy is not blamed');

# --- an unsynced write whose transaction aborted: judged by the checkpoint ---
$node->safe_psql('postgres', 'CREATE TABLE bug4 (x int)');
$node->psql('postgres', q{
	BEGIN; SELECT fsync_inject_unsynced_write('bug4', 'main', 0, true); ROLLBACK;});
is(finding_for('bug4'), '', 'nothing reported before a checkpoint');
$node->safe_psql('postgres', 'CHECKPOINT');
is(finding_for('bug4'), 'main|0|unbuffered write not synced by checkpoint',
	'the checkpoint reports the orphaned unsynced write');

# --- unlogged data: only a clean shutdown must make it durable ---
$node->safe_psql('postgres', 'CREATE UNLOGGED TABLE bug5 (x int)');
my $bug5 = $node->safe_psql('postgres', q{SELECT pg_relation_filenode('bug5')});
$node->safe_psql('postgres', q{SELECT fsync_inject_unsynced_write('bug5', 'main', 0, false)});
$node->safe_psql('postgres', 'CHECKPOINT');
is(finding_for('bug5'), '', 'unsynced unlogged data is not reported by an online checkpoint');

# --- each finding once; nothing else reported ---
$node->safe_psql('postgres', 'CHECKPOINT');
is(findings_count(), '5', 'five findings after another checkpoint: each reported once');
my @warnings = checker_warnings($node);
is(scalar(@warnings), 5, 'five WARNINGs in the server log, one per finding');

# the shutdown checkpoint reports the unlogged table's data
$node->stop;
@warnings = checker_warnings($node);
is(scalar(grep { /base\/$dboid\/$bug5"/ } @warnings), 1,
	'shutdown checkpoint reports the never-synced unlogged data once');
like(slurp_file($node->logfile), qr/unbuffered write not synced by checkpoint/,
	'with the checkpoint reason');

# --- statistics and the bound on findings ---
my $small = pgrac_node('small', allows_streaming => 1,
	settings => "pgrac.fsync_checker = on\npgrac.fsync_checker_max_findings = 2\n");
$small->start;
$small->safe_psql('postgres', 'CREATE EXTENSION pgrac_storage');
load_fsync_inject($small);
for my $i (1 .. 4)
{
	$small->psql('postgres', qq{
		BEGIN; CREATE TABLE b$i (x int);
		SELECT fsync_inject_unsynced_write('b$i', 'main', 0, true); COMMIT;});
}
is($small->safe_psql('postgres',
	'SELECT findings, findings_dropped FROM pgrac.pgrac_fsync_checker_stats()'),
	'2|2', 'findings beyond pgrac.fsync_checker_max_findings are counted as dropped');
is(scalar(checker_warnings($small)), 4, 'dropped findings are still logged');

# many findings from one event (one commit) are each logged
my $many = join("\n", map {
	"CREATE TABLE m$_ (x int); SELECT fsync_inject_unsynced_write('m$_', 'main', 0, true);"
} 1 .. 20);
$small->psql('postgres', "BEGIN;\n$many\nCOMMIT;");
is(scalar(checker_warnings($small)), 24, 'twenty findings of one commit: twenty WARNINGs');
is($small->safe_psql('postgres', 'SELECT findings_dropped FROM pgrac.pgrac_fsync_checker_stats()'),
	'22', '... and counted as dropped beyond the bound');
$small->safe_psql('postgres', 'SELECT pgrac.pgrac_fsync_report_reset()');
is($small->safe_psql('postgres',
	'SELECT findings, findings_dropped FROM pgrac.pgrac_fsync_checker_stats()'),
	'0|0', 'reset clears the findings and the dropped counter');
$small->stop;

done_testing();
