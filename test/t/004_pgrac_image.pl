# pgrac_image on image files: format, verify, ls, grow, their refusals and
# exit codes (0 ok, 1 problems found, 2 usage, 3 device unreadable, not
# ours, in use or refused), a refused format leaving no file behind and an
# existing one unchanged, verify reporting every damaged metadata page,
# recovery from a damaged superblock copy, and the device lock (shared for
# readers, exclusive for writers).  Import and export, which need
# clusters, are in 009.
use strict;
use warnings FATAL => 'all';
use Digest::MD5;
use Fcntl qw(:flock);
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;

my $dir = PostgreSQL::Test::Utils::tempdir;
my $img = "$dir/device.img";

sub peek
{
	my ($file, $offset, $length) = @_;
	open(my $fh, '<', $file) or die "open $file: $!";
	binmode $fh;
	seek($fh, $offset, 0);
	read($fh, my $bytes, $length);
	close $fh;
	return $bytes;
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

my ($rc, $out, $err) = run_pgrac_image('--help');
is($rc, 0, '--help exits 0');
like($out, qr/Usage:.*format --device=PATH.*grow   --device=PATH.*import --device=PATH --pgdata=DIR.*export --device=PATH --target=DIR/s,
	'--help shows usage of every command');
($rc, $out, $err) = run_pgrac_image('format', '--help');
is($rc, 0, 'format --help exits 0');

# usage errors: exit 2 with a message and a pointer to --help
for my $case (
	[ [], qr/no command given/ ],
	[ ['bogus'], qr/unknown command "bogus"/ ],
	[ ['verify'], qr/no device specified/ ],
	[ [ 'verify', "--device=$img", '--size=1MB' ], qr/option --size does not apply to verify/ ],
	[ [ 'grow', "--device=$img", '--max-size=1GB' ], qr/option --max-size does not apply to grow/ ],
	[ [ 'export', "--device=$img", '--pgdata=/x' ], qr/option --pgdata does not apply to export/ ],
	[ [ 'import', "--device=$img", '--target=/x' ], qr/option --target does not apply to import/ ],
	[ [ 'import', "--device=$img" ], qr/no data directory specified \(--pgdata\)/ ],
	[ [ 'export', "--device=$img" ], qr/no target directory specified \(--target\)/ ],
	[ [ 'format', "--device=$img", '--size=12XB' ], qr/invalid unit "XB"/ ],
	[ [ 'format', "--device=$img", '--extent-size=100kB' ], qr/power of two/ ],
	[ [ 'format', "--device=$img", '--size=2GB', '--max-size=1GB' ], qr/exceeds --max-size/ ],
	[ [ 'ls', "--device=$img", 'extra' ], qr/too many command-line arguments/ ])
{
	($rc, $out, $err) = run_pgrac_image(@{ $case->[0] });
	is($rc, 2, "usage error exits 2: @{$case->[0]}");
	like($err, $case->[1], "... and says so: @{$case->[0]}");
}
ok(!-e $img, 'no usage error created the device file');

# A format refused for its parameters creates no file: every size is
# checked, and the geometry computed, before the file is created.
my $new = "$dir/new.img";
for my $case (
	[ [ '--size=0' ], 2,
	  qr/error: --size \(0 bytes\) is too small: the metadata fills 113 extents of 128 kB, so an image needs at least 114 extents \(14592 kB\)\n.*detail: The metadata is sized for --max-size \(64 GB\): 1794 pages of directory and extent maps.*\n.*hint: Give a --size of at least 14592 kB, or a smaller --max-size, --metadata-pages or --extent-size\./,
	  'size 0 (at the default extent size and maximum, the server\'s)' ],
	[ [ '--size=8MB', '--extent-size=256kB', '--max-size=1TB' ], 2,
	  qr/--size \(8 MB\) is too small: the metadata fills 227 extents of 256 kB, so an image needs at least 228 extents \(57 MB\)/,
	  'a size too small for the metadata its maximum size needs' ],
	[ [ '--size=1MB', '--max-size=1MB', '--extent-size=1MB' ], 2,
	  qr/--max-size \(1 MB\) is too small: the metadata fills 9 extents of 1 MB, so an image needs at least 10 extents \(10 MB\).*hint: Give a --max-size \(and a --size\) of at least 10 MB/s,
	  'a maximum size too small for its own metadata' ],
	[ [ '--extent-size=100kB' ], 2, qr/--extent-size \(100 kB\) must be a power of two from 64kB to 1GB/,
	  'an extent size not a power of two' ],
	[ [ '--extent-size=2GB' ], 2, qr/--extent-size \(2 GB\) must be a power of two from 64kB to 1GB/,
	  'an extent size too large' ],
	[ [ '--size=2GB', '--max-size=1GB' ], 2, qr/--size \(2 GB\) exceeds --max-size \(1 GB\)/,
	  'a size above the maximum' ],
	[ [ '--max-size=5000TB', '--extent-size=64kB' ], 2,
	  qr/--max-size \(5000 TB\) would need more than 4294967295 extents of 64 kB: give a larger --extent-size/,
	  'more extents than a device can have' ],
	[ [ '--metadata-pages=0' ], 2, qr/--metadata-pages must be a number of pages from 1 to 524288/,
	  'no metadata pages' ])
{
	($rc, $out, $err) = run_pgrac_image('format', "--device=$new", @{ $case->[0] });
	is($rc, $case->[1], "format refuses $case->[3] with exit $case->[1]");
	like($err, $case->[2], '... saying which option and what it allows');
	ok(!-e $new, '... and creates no file');
}
($rc, $out, $err) = run_pgrac_image('format', "--device=$dir/nowhere/new.img");
is($rc, 3, 'format into a missing directory exits 3');
like($err, qr/could not create image file ".*nowhere\/new.img": No such file or directory/, '... saying why');
SKIP:
{
	skip 'root may write into any directory', 3 if $> == 0;
	mkdir "$dir/readonly" or die;
	chmod 0555, "$dir/readonly" or die;
	($rc, $out, $err) = run_pgrac_image('format', "--device=$dir/readonly/new.img");
	is($rc, 3, 'format into a directory it may not write exits 3');
	like($err, qr/could not create image file ".*readonly\/new.img": Permission denied/, '... saying why');
	ok(!-e "$dir/readonly/new.img", '... and creates no file');
}

# A format the file system refuses halfway (here a file size limit, as a
# quota or a full disk would) removes the file it created.
sub pgrac_image_limited
{
	my ($kb, @args) = @_;
	my ($stdout, $stderr);
	IPC::Run::run([ 'sh', '-c', "ulimit -f $kb && exec pgrac_image \"\$@\"", 'sh', @args ],
		'>', \$stdout, '2>', \$stderr);
	# killed by a signal (SIGXFSZ) is not an exit status
	return (($? & 127) ? 128 + ($? & 127) : $? >> 8, $stdout, $stderr);
}
($rc, $out, $err) = pgrac_image_limited(1024, 'format', "--device=$new", '--size=64MB');
is($rc, 3, 'a format beyond the file size limit exits 3');
like($err, qr/could not resize image file ".*new.img" to 64 MB: File too large/, '... saying why');
ok(!-e $new, '... and leaves no file behind');

# device errors: exit 3
($rc, $out, $err) = run_pgrac_image('verify', "--device=$dir/missing.img");
is($rc, 3, 'a missing device exits 3');
like($err, qr/could not open device .*missing.img.*No such file/, '... naming the device');

# format, verify, ls
($rc, $out, $err) = run_pgrac_image('format', "--device=$img", '--size=16MB', '--max-size=4GB', '--metadata-pages=64', '--extent-size=1MB');
is($rc, 0, 'format succeeds');
like($out, qr/16 extents of 1024 kB \(16 MB\), metadata sized for 4096 extents/, 'format reports the geometry');
is(-s $img, 16 * 1024 * 1024, 'the image file has the requested size');
($rc, $out, $err) = run_pgrac_image('verify', "--device=$img");
is($rc, 0, 'a fresh image verifies');
like($out, qr/0 forks, 15 of 16 extents free, 0 problems/, 'verify summary');
($rc, $out, $err) = run_pgrac_image('ls', "--device=$img");
is($rc, 0, 'ls succeeds');
like($out, qr/\(0 forks; 15 of 16 extents free; extent size 1024 kB; size 16 MB, may grow to 4096 MB\)/, 'ls summary');

# without options, the geometry of the server's embedded image
# (pgrac.image_extent_size 128kB, pgrac.image_max_size 64GB)
($rc, $out, $err) = run_pgrac_image('format', "--device=$dir/defaults.img");
is($rc, 0, 'format with no options succeeds');
like($out, qr/512 extents of 128 kB \(64 MB\), metadata sized for 524288 extents/,
	'... with the server\'s default extent size and maximum size');
unlink "$dir/defaults.img";

# formatting never destroys by accident
my $md5 = file_md5($img);
($rc, $out, $err) = run_pgrac_image('format', "--device=$img");
is($rc, 3, 'formatting over a layout is refused');
like($err, qr/already holds a pgrac_storage layout; use --force/, '... with the way out');
is(file_md5($img), $md5, '... and the image is unchanged');
my $other = "$dir/other";
open(my $fh, '>', $other) or die;
print $fh "precious data\n";
close $fh;
($rc, $out, $err) = run_pgrac_image('format', "--device=$other");
is($rc, 3, 'formatting a non-empty file is refused');
like($err, qr/is not empty \(its first 16 kB are not zero\); use --force/, '... with the way out');
is(slurp_file($other), "precious data\n", '... and the file is untouched');
for my $case (
	[ [ '--size=8MB', '--extent-size=256kB' ], qr/--size \(8 MB\) is too small/, 'a size too small' ],
	[ [ '--size=0' ], qr/--size \(0 bytes\) is too small/, 'size 0' ],
	[ [ '--extent-size=100kB' ], qr/--extent-size \(100 kB\) must be a power of two/, 'a bad extent size' ])
{
	($rc, $out, $err) = run_pgrac_image('format', "--device=$img", @{ $case->[0] }, '--force');
	is($rc, 2, "format --force over a layout refuses $case->[2] with exit 2");
	like($err, $case->[1], '... saying why');
	is(file_md5($img), $md5, '... and the image is unchanged');
}
($rc, $out, $err) = pgrac_image_limited(8192, 'format', "--device=$img", '--size=64MB', '--force');
is($rc, 3, 'format --force beyond the file size limit exits 3');
like($err, qr/could not resize image file ".*device.img" to 64 MB: File too large/, '... saying why');
is(file_md5($img), $md5, '... and the image is unchanged');
($rc, $out, $err) = run_pgrac_image('verify', "--device=$img");
is($rc, 0, '... and the layout it would have replaced is intact');
($rc, $out, $err) = run_pgrac_image('format', "--device=$img", '--size=8MB', '--extent-size=256kB', '--metadata-pages=64', '--force');
is($rc, 0, '--force formats over a layout');
like($out, qr/32 extents of 256 kB/, '... with the new geometry');

# a damaged superblock copy: the other serves, verify says so
poke($img, 100, "\xff\xff");
($rc, $out, $err) = run_pgrac_image('verify', "--device=$img");
is($rc, 0, 'one damaged superblock copy still verifies');
like($out, qr/superblock copy A is damaged \(checksum mismatch.*copy B \(generation 1\) is in use/,
	'... and verify reports which copy and why');
poke($img, 8192 + 100, "\xff\xff");
($rc, $out, $err) = run_pgrac_image('verify', "--device=$img");
is($rc, 3, 'both copies damaged: exit 3');
like($err, qr/no valid superblock: copy A \(page 0\): checksum mismatch.*copy B \(page 1\): checksum mismatch/,
	'... naming both pages');

# a damaged allocation map page is named by address
run_pgrac_image('format', "--device=$img", '--size=8MB', '--metadata-pages=64', '--force');
poke($img, 2 * 8192 + 4000, "\x01");
($rc, $out, $err) = run_pgrac_image('ls', "--device=$img");
is($rc, 3, 'a torn allocation map page is refused');
like($err, qr/allocation map page at page address 2: checksum mismatch/, '... by address');

# Two metadata pages damaged two ways: the directory root (page 3, after
# the one allocation map page of a 4 GB maximum) overwritten by the
# allocation map page (a misdirected write), then that page torn.
# verify names both, with what it could not check because of them.
run_pgrac_image('format', "--device=$img", '--size=16MB', '--max-size=4GB', '--metadata-pages=64', '--extent-size=1MB', '--force');
system('dd', "if=$img", "of=$img", 'bs=8192', 'skip=2', 'seek=3', 'count=1', 'conv=notrunc', 'status=none') == 0
  or die 'dd failed';
poke($img, 2 * 8192 + 4000, "\x01");
($rc, $out, $err) = run_pgrac_image('verify', "--device=$img");
is($rc, 1, 'verify of an image with two damaged metadata pages exits 1');
like($out, qr/^problem: allocation map page at page address 2: checksum mismatch \(torn or corrupted write\)\n  whether extents 1 \.\. 15 are free or allocated is not known/m,
	'... naming the torn allocation map page and what it leaves unknown');
like($out, qr/^problem: directory page at page address 3: page belongs to another address \(misdirected write\); the page there says it belongs at page address 2\n  it is the directory's first page: no fork is checked/m,
	'... and the misdirected directory page, and what that leaves out');
like($out, qr/: 0 forks read, free extents unknown, 2 problems \(2 in metadata pages, 0 in the layout\)$/m,
	'... and counts both');
is($err, '', '... as a report, not an error');
($rc, $out, $err) = run_pgrac_image('ls', "--device=$img");
is($rc, 3, 'ls still refuses the image');
like($err, qr/allocation map page at page address 2: checksum mismatch/, '... at its first damaged page');

# a device smaller than its superblock says
run_pgrac_image('format', "--device=$img", '--size=8MB', '--metadata-pages=64', '--force');
truncate($img, 4 * 1024 * 1024) or die;
($rc, $out, $err) = run_pgrac_image('verify', "--device=$img");
is($rc, 3, 'a truncated image is refused');
like($err, qr/the superblock describes 8388608 bytes but the device has 4194304/, '... with both sizes');

# --- grow ---
run_pgrac_image('format', "--device=$img", '--size=64MB', '--max-size=256MB', '--extent-size=1MB', '--force');
$md5 = file_md5($img);
for my $case (
	[ [ '--size=512MB' ], 3, qr/cannot grow ".*device.img": cannot grow the device to 512 extents \(512 MB\): its metadata was formatted for at most 256 extents \(256 MB\)/,
	  'beyond the formatted capacity' ],
	[ [ '--size=32MB' ], 3, qr/cannot shrink the device from 64 to 32 extents \(64 MB to 32 MB\)/, 'shrinking' ],
	[ [ '--size=100000kB' ], 2, qr/--size \(102400000 bytes\) is not a multiple of the extent size \(1024 kB\)/,
	  'a size in partial extents' ],
	[ [], 2, qr/--size is required to grow an image file/, 'no size for an image file' ])
{
	($rc, $out, $err) = run_pgrac_image('grow', "--device=$img", @{ $case->[0] });
	is($rc, $case->[1], "grow refuses $case->[3] with exit $case->[1]");
	like($err, $case->[2], '... saying why');
	is(file_md5($img), $md5, '... and the image is unchanged');
}
($rc, $out, $err) = run_pgrac_image('grow', "--device=$img", '--size=64MB');
is($rc, 0, 'growing to the current size succeeds');
like($out, qr/already has 64 extents \(64 MB\); nothing to do/, '... doing nothing');
is(file_md5($img), $md5, '... and the image is unchanged');

($rc, $out, $err) = run_pgrac_image('grow', "--device=$img", '--size=128MB');
is($rc, 0, 'grow succeeds');
like($out, qr/grew ".*device.img" from 64 to 128 extents \(64 MB to 128 MB\); it may grow to 256 extents \(256 MB\)/,
	'... and says so');
is(-s $img, 128 * 1024 * 1024, 'the image file has the new size');
($rc, $out, $err) = run_pgrac_image('verify', "--device=$img");
is($rc, 0, 'the grown image verifies');
like($out, qr/0 forks, 119 of 128 extents free, 0 problems/, '... with the new extents free');
($rc, $out, $err) = run_pgrac_image('ls', "--device=$img");
like($out, qr/size 128 MB, may grow to 256 MB/, 'ls shows the new size');

# the new superblock went to the other copy: torn, the old one serves
my $sb_b = peek($img, 8192, 8192);
poke($img, 8192 + 200, "\xff");
($rc, $out, $err) = run_pgrac_image('ls', "--device=$img");
like($out, qr/size 64 MB, may grow to 256 MB/, 'a grow whose superblock write tore leaves the old size');
($rc, $out, $err) = run_pgrac_image('verify', "--device=$img");
is($rc, 0, '... which verifies');
like($out, qr/superblock copy B is damaged.*copy A \(generation 2\) is in use/, '... from the old copy');
poke($img, 8192, $sb_b);

# an image already longer than its superblock says (a grow interrupted
# after extending the file): what lies beyond is zeroed, not handed out
truncate($img, 160 * 1024 * 1024) or die;
poke($img, 150 * 1024 * 1024, 'left over');
($rc, $out, $err) = run_pgrac_image('grow', "--device=$img", '--size=192MB');
is($rc, 0, 'grow over a file already extended succeeds');
is(peek($img, 150 * 1024 * 1024, 9), "\0" x 9, '... and the new extents read as zeroes');
is(-s $img, 192 * 1024 * 1024, '... and the file has the new size');
($rc, $out, $err) = run_pgrac_image('verify', "--device=$img");
like($out, qr/0 forks, 183 of 192 extents free, 0 problems/, '... which verifies');

# --- the device lock: shared for readers, exclusive for writers ---
open(my $lock, '<', $img) or die;
flock($lock, LOCK_EX) or die;
$md5 = file_md5($img);
for my $cmd ([ 'verify' ], [ 'ls' ], [ 'grow', '--size=256MB' ], [ 'format', '--force' ])
{
	($rc, $out, $err) = run_pgrac_image($cmd->[0], "--device=$img", @{$cmd}[ 1 .. $#$cmd ]);
	is($rc, 3, "$cmd->[0] is refused while another process holds the device exclusively");
	like($err, qr/device ".*device.img" is in use by another process \(a running server\?\)/, '... saying so');
}
is(file_md5($img), $md5, '... and the image is unchanged');
flock($lock, LOCK_UN) or die;
flock($lock, LOCK_SH) or die;
($rc, $out, $err) = run_pgrac_image('verify', "--device=$img");
is($rc, 0, 'verify runs beside another reader');
($rc, $out, $err) = run_pgrac_image('grow', "--device=$img", '--size=256MB');
is($rc, 3, 'grow is refused beside a reader');
like($err, qr/is in use by another process/, '... saying so');
is(file_md5($img), $md5, '... and the image is unchanged');
close($lock);
($rc, $out, $err) = run_pgrac_image('grow', "--device=$img", '--size=256MB');
is($rc, 0, 'grow succeeds once the device is free');

done_testing();
