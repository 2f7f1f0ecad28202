# pgrac_image on image files: format, verify, ls, their refusals and exit
# codes (0 ok, 1 problems found, 2 usage, 3 device unreadable or not ours),
# and recovery from a damaged superblock copy.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Utils;
use Test::More;

my $dir = PostgreSQL::Test::Utils::tempdir;
my $img = "$dir/device.img";

# Run pgrac_image; return (exit code, stdout, stderr).
sub image
{
	my ($stdout, $stderr);
	IPC::Run::run([ 'pgrac_image', @_ ], '>', \$stdout, '2>', \$stderr);
	return ($? >> 8, $stdout, $stderr);
}

sub poke
{
	my ($file, $offset, $bytes) = @_;
	open(my $fh, '+<', $file) or die "open $file: $!";
	binmode $fh;
	seek($fh, $offset, 0);
	print $fh $bytes;
	close $fh;
}

my ($rc, $out, $err) = image('--help');
is($rc, 0, '--help exits 0');
like($out, qr/Usage:.*format --device=PATH/s, '--help shows usage');
($rc, $out, $err) = image('format', '--help');
is($rc, 0, 'format --help exits 0');

# usage errors: exit 2 with a message and a pointer to --help
for my $case (
	[ [], qr/no command given/ ],
	[ ['bogus'], qr/unknown command "bogus"/ ],
	[ ['verify'], qr/no device specified/ ],
	[ [ 'verify', "--device=$img", '--size=1MB' ], qr/apply to format only/ ],
	[ [ 'format', "--device=$img", '--size=12XB' ], qr/invalid unit "XB"/ ],
	[ [ 'format', "--device=$img", '--extent-size=100kB' ], qr/power of two/ ],
	[ [ 'format', "--device=$img", '--size=2GB', '--max-size=1GB' ], qr/exceeds --max-size/ ],
	[ [ 'ls', "--device=$img", 'extra' ], qr/too many command-line arguments/ ])
{
	($rc, $out, $err) = image(@{ $case->[0] });
	is($rc, 2, "usage error exits 2: @{$case->[0]}");
	like($err, $case->[1], "... and says so: @{$case->[0]}");
}

# device errors: exit 3
($rc, $out, $err) = image('verify', "--device=$dir/missing.img");
is($rc, 3, 'a missing device exits 3');
like($err, qr/could not open device .*missing.img.*No such file/, '... naming the device');

# format, verify, ls
($rc, $out, $err) = image('format', "--device=$img", '--size=16MB', '--max-size=4GB', '--metadata-pages=64');
is($rc, 0, 'format succeeds');
like($out, qr/16 extents of 1024 kB \(16 MB\), metadata sized for 4096 extents/, 'format reports the geometry');
is(-s $img, 16 * 1024 * 1024, 'the image file has the requested size');
($rc, $out, $err) = image('verify', "--device=$img");
is($rc, 0, 'a fresh image verifies');
like($out, qr/0 forks, 15 of 16 extents free, 0 problems/, 'verify summary');
($rc, $out, $err) = image('ls', "--device=$img");
is($rc, 0, 'ls succeeds');
like($out, qr/\(0 forks; 15 of 16 extents free; extent size 1024 kB\)/, 'ls summary');

# formatting never destroys by accident
($rc, $out, $err) = image('format', "--device=$img");
is($rc, 3, 'formatting over a layout is refused');
like($err, qr/already holds a pgrac_storage layout; use --force/, '... with the way out');
my $other = "$dir/other";
open(my $fh, '>', $other) or die;
print $fh "precious data\n";
close $fh;
($rc, $out, $err) = image('format', "--device=$other");
is($rc, 3, 'formatting a non-empty file is refused');
is(slurp_file($other), "precious data\n", '... and the file is untouched');
($rc, $out, $err) = image('format', "--device=$img", '--size=8MB', '--extent-size=256kB', '--force');
is($rc, 3, 'an image too small for the metadata its maximum size needs is refused');
like($err, qr/invalid geometry: capacity is inconsistent \(current extents, maximum extents, metadata area\)/,
	'... saying why');
($rc, $out, $err) = image('verify', "--device=$img");
is($rc, 0, '... and the layout it would have replaced is intact');
($rc, $out, $err) = image('format', "--device=$img", '--size=8MB', '--extent-size=256kB', '--metadata-pages=64', '--force');
is($rc, 0, '--force formats over a layout');
like($out, qr/32 extents of 256 kB/, '... with the new geometry');

# a damaged superblock copy: the other serves, verify says so
poke($img, 100, "\xff\xff");
($rc, $out, $err) = image('verify', "--device=$img");
is($rc, 0, 'one damaged superblock copy still verifies');
like($out, qr/superblock copy A is damaged \(checksum mismatch.*copy B \(generation 1\) is in use/,
	'... and verify reports which copy and why');
poke($img, 8192 + 100, "\xff\xff");
($rc, $out, $err) = image('verify', "--device=$img");
is($rc, 3, 'both copies damaged: exit 3');
like($err, qr/no valid superblock: copy A \(page 0\): checksum mismatch.*copy B \(page 1\): checksum mismatch/,
	'... naming both pages');

# a damaged allocation map page is named by address
image('format', "--device=$img", '--size=8MB', '--metadata-pages=64', '--force');
poke($img, 2 * 8192 + 4000, "\x01");
($rc, $out, $err) = image('ls', "--device=$img");
is($rc, 3, 'a torn allocation map page is refused');
like($err, qr/allocation map page at page address 2: checksum mismatch/, '... by address');

# a device smaller than its superblock says
image('format', "--device=$img", '--size=8MB', '--metadata-pages=64', '--force');
truncate($img, 4 * 1024 * 1024) or die;
($rc, $out, $err) = image('verify', "--device=$img");
is($rc, 3, 'a truncated image is refused');
like($err, qr/the superblock describes 8388608 bytes but the device has 4194304/, '... with both sizes');

done_testing();
