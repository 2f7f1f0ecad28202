# Helpers shared by pgrac_storage's TAP tests.
package PgracTest;

use strict;
use warnings FATAL => 'all';
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Digest::MD5;
use IPC::Run;
use Time::HiRes ();

our @EXPORT = qw(pgrac_node test_module_path load_fsync_inject
  checker_warnings run_pgrac_image file_md5 wait_accepting);

# Path of a test-only library built by the test suite (never installed).
sub test_module_path
{
	my ($name) = @_;
	my $path = "$ENV{PGRAC_TEST_MODULES}/$name/$name.so";
	die "test module $path is not built" unless -f $path;
	return $path;
}

# A new node with pgrac_storage preloaded; extra settings appended.
sub pgrac_node
{
	my ($name, %params) = @_;
	my $settings = delete $params{settings} // '';
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%params);
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'pgrac_storage'\n"
		  . "log_min_messages = warning\n"
		  . $settings);
	return $node;
}

# Create the fsync_inject functions in a database.
sub load_fsync_inject
{
	my ($node, $db) = @_;
	my $lib = test_module_path('fsync_inject');
	my $sql = slurp_file("$ENV{PGRAC_ROOT}/test/modules/fsync_inject/fsync_inject.sql");
	$sql =~ s/\@LIB\@/$lib/g;
	$node->safe_psql($db // 'postgres', $sql);
}

# The fsync checker's WARNINGs in a node's server log.
sub checker_warnings
{
	my ($node) = @_;
	my @lines = grep { /WARNING:  fsync checker:/ }
	  split /\n/, slurp_file($node->logfile);
	return @lines;
}

# Run pgrac_image; return (exit code, stdout, stderr).
sub run_pgrac_image
{
	my ($stdout, $stderr);
	IPC::Run::run([ 'pgrac_image', @_ ], '>', \$stdout, '2>', \$stderr);
	return ($? >> 8, $stdout, $stderr);
}

# The MD5 of a file's contents, to show a refusal changed nothing.
sub file_md5
{
	my ($file) = @_;
	open(my $fh, '<', $file) or die "open $file: $!";
	binmode $fh;
	return Digest::MD5->new->addfile($fh)->hexdigest;
}

# Wait until a server that crashed (and restarts by itself) accepts
# connections again; false after the default timeout.  Not
# poll_query_until: it writes its query to psql's standard input, and a
# psql that has already given up on a server still down makes that write
# fail with EPIPE, which IPC::Run reports by dying ("ack Broken pipe").
# pg_isready reads nothing.
sub wait_accepting
{
	my ($node) = @_;
	my $cmd = [ $node->installed_command('pg_isready'), '-q',
		'-h', $node->host, '-p', $node->port, '-d', 'postgres' ];
	my ($in, $out, $err) = ('', '', '');
	for (1 .. 10 * $PostgreSQL::Test::Utils::timeout_default)
	{
		return 1 if IPC::Run::run($cmd, '<', \$in, '>', \$out, '2>', \$err);
		Time::HiRes::usleep(100_000);
	}
	return 0;
}

1;
