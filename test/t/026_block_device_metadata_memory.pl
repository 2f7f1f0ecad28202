# The shared memory a device's metadata costs the server, at the default
# extent size (docs/block-device.md, "Metadata memory and the default extent
# size"): what a server on the device allocates beyond the same server on
# md (pg_shmem_allocations), on a sparse image file of 8 TB formatted by
# pgrac_image with its defaults, against the budget of 32 MiB per TiB; the
# same device at the old fixed default of 128 kB, which costs several
# times that (so the check can fail); and the embedded image, whose
# default of 64 GB keeps 128 kB extents while a 2 TB one gets larger.
# Costs about 15 s: formats and starts only, the files stay sparse.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;

my $MiB = 1024 * 1024;
my $dir = PostgreSQL::Test::Utils::tempdir();

sub shmem_total
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT sum(allocated_size) FROM pg_shmem_allocations');
}

# the pgrac block device's own allocations (the cache and its hash tables)
sub shmem_metadata
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT coalesce(sum(allocated_size), 0) FROM pg_shmem_allocations WHERE name LIKE 'pgrac block device%'});
}

my $md = pgrac_node('md_ref');
$md->start;
my $base = shmem_total($md);
$md->stop;

my $n = 0;
# A server on a device formatted with @format; returns (cost beyond md,
# metadata allocations, the format's stdout).
sub on_device
{
	my (@format) = @_;
	my $img = "$dir/dev" . ++$n . '.img';
	my ($rc, $out, $err) = run_pgrac_image('format', "--device=$img", @format);
	is($rc, 0, "format @format") or diag($err);
	my $node = pgrac_node("dev$n",
		settings => "pgrac.storage_backend = 'block_device'\npgrac.device = '$img'\n");
	$node->start;
	my @r = (shmem_total($node) - $base, shmem_metadata($node), $out);
	$node->stop;
	return @r;
}

# 8 TB sparse, pgrac_image's defaults
my ($cost, $meta, $out) = on_device('--size=8TB', '--max-size=8TB');
like($out, qr/extents of 2048 kB/, '8 TB: 2 MB extents by default');
my ($estimate) = $out =~ /needs at most (\d+) MB of shared memory/;
ok(defined $estimate && $out !~ /over the default's budget/, '... reported within the budget');
cmp_ok($cost, '<=', 8 * 32 * $MiB, sprintf('8 TB: %.1f MiB, at most 32 MiB per TiB', $cost / $MiB));
cmp_ok($cost, '<=', $estimate * $MiB, "... within the $estimate MB pgrac_image reported");
cmp_ok($meta, '>', 0, sprintf('... of which the metadata cache %.1f MiB', $meta / $MiB));

# the same device at the old fixed default
my ($cost128, $meta128, $out128) = on_device('--size=8TB', '--max-size=8TB', '--extent-size=128kB');
like($out128, qr/over the default's budget/, '8 TB at 128 kB: pgrac_image says it is over the budget');
cmp_ok($cost128, '>', 4 * 8 * 32 * $MiB,
	sprintf('... and it costs %.1f MiB, over four times the budget', $cost128 / $MiB));
my ($estimate128) = $out128 =~ /needs at most (\d+) MB/;
cmp_ok($cost128, '<=', $estimate128 * $MiB, "... within the $estimate128 MB pgrac_image reported");

# the embedded image: the default, and a 2 TB maximum
for my $case ([ '', 131072, 48 * $MiB ], [ "pgrac.image_max_size = '2TB'\n", 2 * $MiB, 64 * $MiB ])
{
	my ($settings, $extent, $budget) = @$case;
	my $node = pgrac_node('embedded' . ++$n,
		settings => "pgrac.storage_backend = 'block_device'\n$settings");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION pgrac_storage');
	my $max = $node->safe_psql('postgres', 'SELECT max_size_bytes FROM pgrac.pgrac_block_device');
	is($node->safe_psql('postgres', 'SELECT extent_bytes FROM pgrac.pgrac_block_device'),
		$extent, sprintf('embedded image of %d GB: extents of %d kB', $max / 1024 / $MiB, $extent / 1024));
	my $c = shmem_total($node) - $base;
	cmp_ok($c, '<=', $budget, sprintf('... costs %.1f MiB, within %d MiB', $c / $MiB, $budget / $MiB));
	$node->restart;
	unlike(slurp_file($node->logfile), qr/WARNING:  pgrac.image_extent_size/,
		'... no warning at the next start: the setting still means the image\'s size');
	$node->stop;
}

done_testing();
