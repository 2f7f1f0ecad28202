/*
 * Writes the fuzz targets' seed corpus into DIR/<target>/: the superblock
 * pair and metadata of a freshly formatted small device, WAL records of
 * the kinds the server writes (full images and byte patches), device
 * edits, the checksum state file and record, and 2PC log frames and segments.  Generated, so the seeds always match the current format.
 */
#include "fuzz_device.h"

#include "pgrac/bd_journal.h"

#include <errno.h>
#include <sys/stat.h>

#include "pgrac/bd_wal.h"
#include "pgrac/checksum_state.h"
#include "pgrac/twophase_log.h"
#include "pgrac/backup_history.h"
#include "pgrac/bd_manifest.h"

static void
put_seed(const char *dir, const char *target, const char *name,
		 const void *a, size_t alen, const void *b, size_t blen)
{
	char		path[1024];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, target);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
	{
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", dir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen) || fclose(f) != 0)
	{
		perror(path);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	BdFormatParams p = {.extent_pages = 8,.nextents = 64,.max_extents = 64,
	.metadata_pages = 13,.device_uuid = {7}};
	BdLoadedLayout l;
	char		error[512];
	uint8		flag;
	uint8	   *rec;
	uint8		before[BD_PAGE_SIZE];
	uint8		after[BD_PAGE_SIZE];
	BdWalBuilder b;
	BdWalKey	key = {.spcoid = 1663,.dboid = 5,.relnumber = 16384,.fork = 0,.arg = 3};
	BdDirEntry	e = {.spcoid = 1663,.dboid = 5,.relnumber = 16384,.fork = 0,
	.state = BD_ENTRY_LIVE,.nblocks = 3,.nextents = 1,.inline_extents = {5}};
	size_t		len;
	uint8		edits[] = {1, 3, 100, 0, 4, 0xde, 0xad, 0xbe, 0xef};

	if (argc != 2)
	{
		fprintf(stderr, "usage: fuzz_seeds DIR\n");
		return 2;
	}
	if (mkdir(argv[1], 0755) < 0 && errno != EEXIST)
	{
		perror(argv[1]);
		return 1;
	}
	fuzz_device_create(8 * 64);
	if (!bd_image_format(&fuzz_io, &p, error, sizeof(error)) ||
		!bd_image_load(&fuzz_io, &l, error, sizeof(error)))
	{
		fprintf(stderr, "fuzz_seeds: %s\n", error);
		return 1;
	}

	/* superblock: flag byte, then copies A and B */
	flag = 0;
	{
		uint8	   *pair = malloc(2 * BD_PAGE_SIZE);

		memcpy(pair, fuzz_device, 2 * BD_PAGE_SIZE);
		put_seed(argv[1], "superblock", "formatted", &flag, 1, pair, 2 * BD_PAGE_SIZE);
		flag = 1;
		put_seed(argv[1], "superblock", "formatted-reseal", &flag, 1, pair, 2 * BD_PAGE_SIZE);
		free(pair);
	}

	/* WAL: a directory page gaining an entry, as a patch and as an image */
	memcpy(before, fuzz_device + l.sb.directory_root * BD_PAGE_SIZE, BD_PAGE_SIZE);
	memcpy(after, before, BD_PAGE_SIZE);
	bd_dir_entry_encode(after, 0, &e);
	bd_page_seal(after);
	rec = malloc(bd_wal_max_size());
	bd_wal_begin(&b, rec, bd_wal_max_size(), BD_WAL_CREATE_FORK, &key);
	bd_wal_add_page(&b, l.sb.directory_root, before, after, false);
	len = bd_wal_finish(&b);
	put_seed(argv[1], "wal", "create-patch", rec, len, NULL, 0);
	bd_wal_begin(&b, rec, bd_wal_max_size(), BD_WAL_SET_EOF, &key);
	bd_wal_add_page(&b, l.sb.directory_root, before, after, true);
	len = bd_wal_finish(&b);
	put_seed(argv[1], "wal", "set-eof-image", rec, len, NULL, 0);
	bd_wal_begin(&b, rec, bd_wal_max_size(), BD_WAL_EXTEND, &key);
	bd_wal_add_page(&b, BD_FIRST_ALLOC_MAP_PAGE, fuzz_device + BD_FIRST_ALLOC_MAP_PAGE * BD_PAGE_SIZE,
					fuzz_device + BD_FIRST_ALLOC_MAP_PAGE * BD_PAGE_SIZE, true);
	bd_wal_add_page(&b, l.sb.directory_root, before, after, false);
	len = bd_wal_finish(&b);
	put_seed(argv[1], "wal", "extend-two-pages", rec, len, NULL, 0);

	/*
	 * journal: the allocation map, the first directory page and the
	 * superblock, as a checkpoint writes them; flag 0 and 3 (recompute)
	 */
	{
		uint8	   *j = calloc(4, BD_PAGE_SIZE);
		const uint8 *pages[3];

		memcpy(j + BD_PAGE_SIZE, fuzz_device + BD_FIRST_ALLOC_MAP_PAGE * BD_PAGE_SIZE, BD_PAGE_SIZE);
		memcpy(j + 2 * BD_PAGE_SIZE, after, BD_PAGE_SIZE);
		memcpy(j + 3 * BD_PAGE_SIZE,
			   fuzz_device + bd_superblock_address_for(l.sb.generation) * BD_PAGE_SIZE, BD_PAGE_SIZE);
		for (int i = 0; i < 3; i++)
			pages[i] = j + (size_t) (i + 1) * BD_PAGE_SIZE;
		bd_journal_encode(j, l.sb.device_uuid, l.sb.generation, pages, 3);
		flag = 0;
		put_seed(argv[1], "journal", "checkpoint", &flag, 1, j, 4 * BD_PAGE_SIZE);
		flag = 3;
		put_seed(argv[1], "journal", "checkpoint-recompute", &flag, 1, j, 4 * BD_PAGE_SIZE);
		free(j);
	}

	/* device edits: none, and one small edit with and without resealing */
	flag = 0;
	put_seed(argv[1], "image", "unedited", &flag, 1, NULL, 0);
	put_seed(argv[1], "image", "edit", edits, sizeof(edits), NULL, 0);
	edits[0] = 0;
	put_seed(argv[1], "image", "edit-torn", edits, sizeof(edits), NULL, 0);
	bd_image_release(&fuzz_io, &l);
	free(rec);
	/* checksum state: a file with an enable and a disable, and a record */
	{
		PgracChecksumFile cf;
		PgracChecksumTransition t = {.lsn = 100,.time = 5,.from = PGRAC_CHECKSUMS_OFF,
		.to = PGRAC_CHECKSUMS_INPROGRESS_ON};
		PgracChecksumWalRecord wr = {.from = PGRAC_CHECKSUMS_ON,.to = PGRAC_CHECKSUMS_INPROGRESS_OFF,
		.cost_delay = 2,.cost_limit = 200,.time = 7};
		uint8		cbuf[PGRAC_CHECKSUM_FILE_MAX_SIZE];
		uint8		kind = 0;
		size_t		clen;

		pgrac_checksum_file_init(&cf);
		pgrac_checksum_file_append(&cf, &t);
		t.lsn = 200;
		t.from = PGRAC_CHECKSUMS_INPROGRESS_ON;
		t.to = PGRAC_CHECKSUMS_ON;
		pgrac_checksum_file_append(&cf, &t);
		clen = pgrac_checksum_file_encode(&cf, cbuf);
		put_seed(argv[1], "checksum_state", "file", &kind, 1, cbuf, clen);
		kind = 1;
		pgrac_checksum_wal_encode(&wr, cbuf);
		put_seed(argv[1], "checksum_state", "record", &kind, 1, cbuf, PGRAC_CHECKSUM_WAL_SIZE);
	}

	/* the 2PC log: a frame, a segment, a directory of two segments */
	{
		static uint8 seg[8192];
		static uint8 dirbuf[16384];
		PgracTwophaseSegmentHeader h = {.version = PGRAC_2PC_FORMAT_VERSION,
			.system_identifier = UINT64CONST(7301234567890123456),.start = 0,
		.size_limit = PGRAC_2PC_SEGMENT_SIZE_MIN};
		PgracTwophaseRecord r = {.kind = PGRAC_2PC_CHECKPOINT};
		PgracTwophaseLive none;
		size_t		slen = PGRAC_2PC_SEGMENT_HEADER_SIZE;
		size_t		dlen;
		uint64		txn;
		uint8		k;

		pgrac_twophase_segment_header_encode(&h, seg);
		r.u.checkpoint.nlive = 0;
		r.u.checkpoint.live = &none;
		slen += pgrac_twophase_record_encode(&r, seg + slen);
		txn = slen - PGRAC_2PC_SEGMENT_HEADER_SIZE;
		memset(&r, 0, sizeof(r));
		r.kind = PGRAC_2PC_BEGIN;
		r.u.begin.txn = txn;
		r.u.begin.dboid = 5;
		pgrac_twophase_format_gid(r.u.begin.gid, sizeof(r.u.begin.gid),
								  UINT64CONST(7301234567890123456), 5, txn);
		r.u.begin.nparticipants = 2;
		for (int i = 0; i < 2; i++)
		{
			r.u.begin.participants[i].server_oid = 16384 + i;
			snprintf(r.u.begin.participants[i].server_name, 64, "shard_%d", i + 1);
		}
		{
			uint8		f[4096];
			size_t		flen = pgrac_twophase_record_encode(&r, f);
			uint8		posb[9] = {0};

			posb[0] = 0;
			pgrac_put64(posb + 1, txn);
			put_seed(argv[1], "twophase_log", "frame", posb, 9, f, flen);
			memcpy(seg + slen, f, flen);
			slen += flen;
		}
		memset(&r, 0, sizeof(r));
		r.kind = PGRAC_2PC_COMMITTING;
		r.u.committing.txn = txn;
		r.u.committing.local_xid = 1234;
		slen += pgrac_twophase_record_encode(&r, seg + slen);
		k = 1;
		put_seed(argv[1], "twophase_log", "segment", &k, 1, seg, slen);
		/* two segments: this one, and an empty next one */
		dirbuf[0] = 2;
		pgrac_put16(dirbuf + 1, (uint16) slen);
		memcpy(dirbuf + 3, seg, slen);
		dlen = 3 + slen;
		h.start = slen - PGRAC_2PC_SEGMENT_HEADER_SIZE;
		pgrac_put16(dirbuf + dlen, PGRAC_2PC_SEGMENT_HEADER_SIZE);
		pgrac_twophase_segment_header_encode(&h, dirbuf + dlen + 2);
		dlen += 2 + PGRAC_2PC_SEGMENT_HEADER_SIZE;
		put_seed(argv[1], "twophase_log", "directory", dirbuf, dlen, NULL, 0);
	}

	/* a backup manifest with a few extents, and one with none */
	{
		static BdManifestExtent items[] = {{65, 0x01234567}, {66, 0x89abcdef}, {4000, 0}};
		BdManifest	m;
		char text[	2048];
		size_t		len;

		memset(&m, 0, sizeof(m));
		for (int i = 0; i < 16; i++)
			m.device_uuid[i] = (uint8) (i * 17);
		m.system_identifier = UINT64CONST(7412345678901234567);
		m.extent_size = 131072;
		m.nextents = 4096;
		m.max_extents = 8192;
		m.start_lsn = UINT64CONST(0x810C418);
		m.stop_lsn = UINT64CONST(0x8EED6D8);
		m.timeline = 1;
		m.metadata_pages = 66;
		m.metadata_crc = 0x1a2b3c4d;
		m.items = items;
		m.nitems = lengthof(items);
		len = bd_manifest_encode(&m, text, sizeof(text));
		put_seed(argv[1], "manifest", "extents", text, len, NULL, 0);
		m.nitems = 0;
		len = bd_manifest_encode(&m, text, sizeof(text));
		put_seed(argv[1], "manifest", "empty", text, len, NULL, 0);
		/* an incremental backup: a parent, copied and unchanged extents */
		{
			static BdManifestRun runs[] = {{67, 100}, {4001, 3}};

			m.nitems = lengthof(items);
			m.incremental = true;
			m.parent_start_lsn = UINT64CONST(0x6000028);
			m.parent_stop_lsn = UINT64CONST(0x7000100);
			m.parent_manifest_crc = 0xdeadbeef;
			m.runs = runs;
			m.nruns = lengthof(runs);
			len = bd_manifest_encode(&m, text, sizeof(text));
			put_seed(argv[1], "manifest", "incremental", text, len, NULL, 0);
		}
	}
	/* backup history lines: a completed backup, one running, a restore point */
	{
		PgracHistoryEntry e;
		char		line[PGRAC_HISTORY_LINE_MAX];
		size_t		len;

		memset(&e, 0, sizeof(e));
		e.kind = PGRAC_HISTORY_BACKUP;
		e.id = 3;
		e.result = PGRAC_BACKUP_COMPLETED;
		e.start_lsn = UINT64CONST(0x810C418);
		e.stop_lsn = UINT64CONST(0x8EED6D8);
		e.timeline = 1;
		e.started_at = INT64CONST(849000000000000);
		e.stopped_at = INT64CONST(849000012345678);
		e.device_bytes = INT64CONST(1610612736);
		e.pid = 4242;
		e.postmaster_start = INT64CONST(848999000000000);
		strcpy(e.text, "nightly\twith \\ and\nmore");
		len = pgrac_history_encode(&e, line, sizeof(line));
		put_seed(argv[1], "backup_history", "completed", line, len - 1, NULL, 0);
		e.result = PGRAC_BACKUP_IN_PROGRESS;
		e.incremental = true;
		e.stop_lsn = 0;
		e.stopped_at = 0;
		e.device_bytes = -1;
		len = pgrac_history_encode(&e, line, sizeof(line));
		put_seed(argv[1], "backup_history", "running", line, len - 1, NULL, 0);
		memset(&e, 0, sizeof(e));
		e.kind = PGRAC_HISTORY_RESTORE_POINT;
		e.id = 1;
		e.start_lsn = UINT64CONST(0x3000028);
		e.timeline = 2;
		e.started_at = INT64CONST(849000000000001);
		strcpy(e.text, "before the migration");
		len = pgrac_history_encode(&e, line, sizeof(line));
		put_seed(argv[1], "backup_history", "restore-point", line, len - 1, NULL, 0);
	}
	return 0;
}
