# A full block device can always be freed (issue 12).  On the embedded
# image at its maximum size, ordinary growth stops with SQLSTATE 53100
# while the emergency reserve (docs/block-device.md, "A full device") is
# still free, and each way out works on the full device:
#   (a) DELETE, then VACUUM of a table that never had a visibility map
#       (VACUUM maps the map's first extent before it can truncate);
#   (b) TRUNCATE of a table with indexes (each new index needs an extent
#       for its metapage, the TOAST index too);
#   (c) DROP TABLE (needs no extent);
# after each, CHECKPOINT makes the space usable again.  A crash on the full
# device restarts although an unlogged table has more indexes than the
# reserve holds (their reset keeps the main forks' extents); the reserve is
# the same after the restart; VACUUM FULL does not get it; a statement
# that needs more than the reserve fails cleanly with a 53100 that names
# it, after which DROP works with no extent free; the layout verifies.
# Before the reserve, (a), (b) and the restart failed with 53100.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgracTest;

# 160 MB holds initdb's ~1000 forks (one 128 kB extent at least each) and
# leaves about 30 MB to fill.  No autovacuum and no timed checkpoint: the
# test decides when space is freed.
my $node = pgrac_node('full',
	settings => "pgrac.storage_backend = 'block_device'\n"
	  . "pgrac.image_max_size = '160MB'\n"
	  . "autovacuum = off\n"
	  . "checkpoint_timeout = '1h'\n"
	  . "max_wal_size = '1GB'\n");
$node->start;
my $img = $node->data_dir . '/pg_pgrac/device.img';

sub sql { return $node->safe_psql('postgres', $_[0]); }

# run a statement; its stderr, with SQLSTATEs (VERBOSITY verbose)
sub try_sql
{
	my ($ret, $out, $err) =
	  $node->psql('postgres', "\\set VERBOSITY verbose\n$_[0]");
	return ($ret, $err);
}

sub free_extents { return sql('SELECT extents_free FROM pgrac_block_device'); }

sql('CREATE EXTENSION pgrac_storage');
sql(q{
	CREATE TABLE vac (g int, pad text);
	INSERT INTO vac SELECT g, repeat('v', 500) FROM generate_series(1, 6000) g;
	CREATE TABLE trunc (g int PRIMARY KEY, pad text);
	CREATE INDEX trunc_pad ON trunc (pad);
	INSERT INTO trunc SELECT g, repeat('t', 500) || g FROM generate_series(1, 6000) g;
	CREATE TABLE dropme (g int, pad text);
	INSERT INTO dropme SELECT g, repeat('d', 500) FROM generate_series(1, 6000) g;
	CREATE TABLE fill (g int, pad text);
	-- a megabyte per transaction until the device is full; the INSERT
	-- extends the table a page at a time, so it stops at the last extent
	-- ordinary growth may take
	CREATE PROCEDURE fill_device() LANGUAGE plpgsql AS $$
	BEGIN
		LOOP
			INSERT INTO fill SELECT g, repeat('x', 500) FROM generate_series(1, 2000) g;
			COMMIT;
		END LOOP;
	END $$;
});
# an unlogged table with more indexes than the reserve has extents
sql('CREATE UNLOGGED TABLE ul (g int)');
sql(join('', map { "CREATE INDEX ul_$_ ON ul (g);\n" } 1 .. 24));
sql('INSERT INTO ul SELECT generate_series(1, 100)');

# The reserve, derived from the size as docs/block-device.md says: 16
# extents, and one per 32672 (what one visibility-map extent covers).
my ($size, $extent) = split /\|/, sql('SELECT max_size_bytes, extent_bytes FROM pgrac_block_device');
my $nextents = $size / $extent;
my $reserve = 16 + int(($nextents + 32671) / 32672);
note "image: $nextents extents of $extent bytes, reserve $reserve";

my $full_re = qr/ERROR:  53100: block device ".*" is full: 1 more extents of 128 kB needed, $reserve free of which $reserve are held in reserve/;
my $hint_re = qr{HINT:  Free space with DROP TABLE, TRUNCATE, or DELETE followed by VACUUM, then run CHECKPOINT; or move the cluster to a larger image: its maximum is fixed when it is created, so stop the server, pgrac_image export, remove pg_pgrac/device.img, raise pgrac.image_max_size and start again.};

sub fill_up
{
	my ($what) = @_;
	my ($ret, $err) = try_sql('CALL fill_device()');
	like($err, $full_re, "$what: filling the device stops with 53100 at the reserve");
	is(free_extents(), $reserve, "$what: the reserve is all that is left free");
	return $err;
}

# a megabyte more: 8 new extents
sub insert_mb
{
	return try_sql("INSERT INTO fill SELECT g, repeat('y', 500) FROM generate_series(1, 2000) g");
}

sub more_fits
{
	my ($what) = @_;
	cmp_ok(free_extents(), '>', $reserve + 8, "$what: CHECKPOINT made the freed extents free");
	my ($ret, $err) = insert_mb();
	is($ret, 0, "$what: a megabyte more fits again") or diag($err);
}

my $err = fill_up('first fill');
like($err, $hint_re, 'the hint names the ways out');
like($err, qr/DETAIL:  The last $reserve extents are an emergency reserve that only VACUUM, TRUNCATE and crash recovery may use/,
	'the detail explains the reserve');
my ($ret, $err2) = insert_mb();
like($err2, qr/ERROR:  53100: block device ".*" is full/, 'another insert fails too');

# (a) DELETE, then VACUUM of a table without a visibility map
is(sql(q{SELECT pg_relation_size('vac', 'vm')}), '0', 'vac has no visibility map');
($ret, $err) = try_sql('DELETE FROM vac');
is($ret, 0, 'DELETE works on the full device') or diag($err);
($ret, $err) = try_sql('VACUUM vac');
is($ret, 0, 'VACUUM of a table without a visibility map works on the full device') or diag($err);
is(sql(q{SELECT pg_relation_size('vac')}), '0', '... and truncates the emptied table');
is(sql(q{SELECT pg_relation_size('vac', 'vm')}), '0', '... and its visibility map');
sql('CHECKPOINT');
more_fits('after VACUUM');
fill_up('second fill');

# (b) TRUNCATE of a table with indexes (two, and its TOAST table's)
($ret, $err) = try_sql('TRUNCATE trunc');
is($ret, 0, 'TRUNCATE of a table with indexes works on the full device') or diag($err);
sql('CHECKPOINT');
more_fits('after TRUNCATE');
($ret, $err) = try_sql(q{INSERT INTO trunc VALUES (1, 'after truncate')});
is($ret, 0, 'the truncated table takes rows again') or diag($err);
fill_up('third fill');

# a crash on the full device: recovery resets the unlogged table; the
# reserve is the same after the restart
$node->stop('immediate');
ok($node->start(fail_ok => 1), 'the server restarts after a crash on the full device')
  or do
{
	diag(join("\n", grep { /FATAL|ERROR/ } split /\n/, slurp_file($node->logfile)));
	done_testing();
	exit;
};
is(sql('SELECT count(*) FROM ul'), '0', 'the unlogged table was reset');
($ret, $err) = try_sql('INSERT INTO ul VALUES (1)');
is($ret, 0, '... and takes rows again') or diag($err);
fill_up('after the restart');

# the reserve is not for statements that need free space to work
($ret, $err) = try_sql('VACUUM FULL trunc');
like($err, $full_re, 'VACUUM FULL, which rewrites the table, does not get the reserve');

# more than the reserve: TRUNCATE of ul needs an extent per index and per
# init fork; it fails cleanly, naming the reserve
($ret, $err) = try_sql('TRUNCATE ul');
like($err, qr/ERROR:  53100: block device ".*" is full, its emergency reserve included: 1 more extents of 128 kB needed, 0 free/,
	'a statement needing more than the reserve fails with 53100 naming it');
like($err, qr/HINT:  DROP TABLE and DROP INDEX need no free extent/, '... and a hint');
is(sql('SELECT count(*) FROM ul'), '1', 'the server serves on');
is(free_extents(), '0', 'no extent is free');

# (c) DROP TABLE, with no extent free; the extents of the dropped tables
# and of the forks the failed TRUNCATE created are free once a checkpoint
# has zeroed them
($ret, $err) = try_sql('DROP TABLE dropme, ul');
is($ret, 0, 'DROP TABLE works with no extent free') or diag($err);
($ret, $err) = insert_mb();
like($err, qr/The next checkpoint frees (\d\d+) more extents, of relations dropped, truncated or vacuumed since the last one\./,
	'before the checkpoint, the error says what it will free');
sql('CHECKPOINT');
more_fits('after DROP');

$node->stop;
my ($rc, $out, $verr) = run_pgrac_image('verify', "--device=$img");
is($rc, 0, 'pgrac_image verify accepts the layout') or diag($out . $verr);

done_testing();
