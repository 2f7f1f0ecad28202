# Refusals at startup and in the API, for the extension and for the core
# patchset's registration functions: loading outside shared_preload_libraries,
# the report with the checker off, two libraries both setting the default
# storage manager, storage managers with missing callbacks or duplicate names,
# and registration after startup.  (The patch series' own module,
# src/test/modules/test_smgr, tests the API without the extension; this
# script tests it beside pgrac_storage.)
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;

my $api_lib = test_module_path('smgr_api_test');

# --- not preloaded ---
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
my ($ret, $out, $err) = $plain->psql('postgres', 'CREATE EXTENSION pgrac_storage');
isnt($ret, 0, 'CREATE EXTENSION fails without shared_preload_libraries');
like($err, qr/pgrac_storage must be loaded via shared_preload_libraries/,
	'... saying it must be preloaded');
like($err, qr/HINT:  Add pgrac_storage to shared_preload_libraries/, '... with a hint');

# late registration through the patchset API is refused as well
$plain->safe_psql('postgres', qq{
	CREATE FUNCTION register_late() RETURNS void
	AS '$api_lib', 'smgr_api_test_register_late' LANGUAGE C});
($ret, $out, $err) = $plain->psql('postgres', 'SELECT register_late()');
like($err, qr/storage managers can only be registered while loading shared_preload_libraries/,
	'smgr_register() outside shared_preload_libraries is an error');
$plain->stop;

# --- preloaded, checker off: md alone, and the report refuses ---
my $off = pgrac_node('off');
$off->start;
$off->safe_psql('postgres', 'CREATE EXTENSION pgrac_storage');
is($off->safe_psql('postgres', q{SELECT string_agg(layer, ',' ORDER BY level) FROM pgrac.pgrac_storage_layers()}),
	'md', 'with the checker off the stack is md alone');
($ret, $out, $err) = $off->psql('postgres', 'SELECT * FROM pgrac.pgrac_fsync_report()');
like($err, qr/ERROR:  the pgrac fsync checker is not enabled/,
	'pgrac_fsync_report() refuses when the checker is off (no misleading empty report)');
like($err, qr/HINT:  Set pgrac.fsync_checker = on/, '... and says how to enable it');
($ret, $out, $err) = $off->psql('postgres', 'SELECT * FROM pgrac.pgrac_fsync_checker_stats()',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  55000/, 'the refusal has SQLSTATE 55000');

# enabling it with ALTER SYSTEM and a restart
$off->safe_psql('postgres', 'ALTER SYSTEM SET pgrac.fsync_checker = on');
$off->restart;
is($off->safe_psql('postgres', q{SELECT string_agg(layer, ',' ORDER BY level) FROM pgrac.pgrac_storage_layers()}),
	'md,fsync_checker', 'ALTER SYSTEM SET pgrac.fsync_checker = on and a restart add the layer');
is($off->safe_psql('postgres', 'SELECT count(*) FROM pgrac.pgrac_fsync_report()'), '0',
	'the report works once enabled');
$off->stop;

# --- misbehaving libraries make the postmaster refuse to start ---
my %cases = (
	second_default => qr/cannot make storage manager "test_md" the default.*\n.*DETAIL:  The default storage manager is already "pgrac"/,
	missing_callback => qr/storage manager "test_md" does not provide callback smgr_readv/,
	duplicate_name => qr/storage manager "md" is already registered/,
);
for my $mode (sort keys %cases)
{
	my $node = pgrac_node("bad_$mode");
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'pgrac_storage, $api_lib'\n"
		  . "smgr_api_test.mode = '$mode'\n");
	my $started = $node->start(fail_ok => 1);
	ok(!$started, "$mode: the server refuses to start");
	like(slurp_file($node->logfile), $cases{$mode}, "$mode: the log says why");
}

# the same second library alone is fine: the API is usable on its own
my $alone = PostgreSQL::Test::Cluster->new('alone');
$alone->init;
$alone->append_conf('postgresql.conf',
	"shared_preload_libraries = '$api_lib'\nsmgr_api_test.mode = 'second_default'\n");
$alone->start;
$alone->safe_psql('postgres',
	'CREATE TABLE t AS SELECT generate_series(1, 1000) a; CREATE INDEX ON t (a); CHECKPOINT');
is($alone->safe_psql('postgres', 'SELECT count(*) FROM t'), '1000',
	'another library alone can register and set the default storage manager');
$alone->stop;

done_testing();
