#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agg/decode.h"
#include "store.h"

#define MAT_STEP 1024 /* readable rows per transaction: the queue waits this long */

/* event_chunks is what the writer can keep up with at any churn (one row per
 * batch); events, the table people query, is filled from it behind. */
static const char SCHEMA[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value);"
	"CREATE TABLE event_chunks(first_seq INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL,"
	" count INTEGER NOT NULL, data BLOB NOT NULL);"
	"CREATE TABLE events("
	" seq INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, event TEXT NOT NULL,"
	" fixed INTEGER NOT NULL, proto TEXT NOT NULL, family INTEGER NOT NULL,"
	" laddr TEXT, lport INTEGER, raddr TEXT, rport INTEGER, via TEXT,"
	" latency_ns INTEGER, reuse_ns INTEGER, reassign_ns INTEGER, tuple_reuse_ns INTEGER,"
	" timewait_reuse INTEGER, held_ns INTEGER, timewait_ns INTEGER, reason TEXT, errno TEXT,"
	" pid INTEGER, tid INTEGER, comm TEXT, netns INTEGER, cgroup_id INTEGER, cookie INTEGER,"
	" prestart INTEGER);"
	"CREATE TABLE controls(seq INTEGER PRIMARY KEY, type TEXT NOT NULL,"
	" mono_ns INTEGER NOT NULL, netns INTEGER, data BLOB);";

static const char INSERT_CHUNK[] = "INSERT INTO event_chunks VALUES(?,?,?,?)";
static const char INSERT_EVENT[] =
	"INSERT INTO events VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
static const char INSERT_CONTROL[] = "INSERT INTO controls VALUES(?,?,?,?,?)";
static const char INSERT_META[] = "INSERT OR REPLACE INTO meta VALUES(?,?)";
static const char NEXT_CHUNK[] =
	"SELECT first_seq, data FROM event_chunks WHERE first_seq > ? ORDER BY first_seq LIMIT 1";

static int prepare(struct ep_store *s)
{
	return sqlite3_prepare_v2(s->db, INSERT_CHUNK, -1, &s->ins_chunk, NULL) ||
	       sqlite3_prepare_v2(s->db, INSERT_EVENT, -1, &s->ins_event, NULL) ||
	       sqlite3_prepare_v2(s->db, INSERT_CONTROL, -1, &s->ins_control, NULL) ||
	       sqlite3_prepare_v2(s->db, INSERT_META, -1, &s->ins_meta, NULL) ||
	       sqlite3_prepare_v2(s->db, NEXT_CHUNK, -1, &s->next_chunk, NULL);
}

static void finalize(struct ep_store *s)
{
	sqlite3_finalize(s->ins_chunk);
	sqlite3_finalize(s->ins_event);
	sqlite3_finalize(s->ins_control);
	sqlite3_finalize(s->ins_meta);
	sqlite3_finalize(s->next_chunk);
	sqlite3_close(s->db);
	free(s->chunk);
	free(s->mat);
	s->db = NULL;
	s->chunk = s->mat = NULL;
}

int ep_store_open(struct ep_store *s, const char *path, int64_t mono_to_unix)
{
	memset(s, 0, sizeof(*s));
	s->mono_to_unix = mono_to_unix;
	s->chunk = malloc(EP_CHUNK_MAX * sizeof(*s->chunk));
	s->mat = malloc(EP_CHUNK_MAX * sizeof(*s->mat));
	if (!s->chunk || !s->mat) {
		fprintf(stderr, "eptrace: out of memory\n");
		finalize(s);
		return -1;
	}
	/* One thread at a time uses the connection (main before and after the
	 * writer runs): SQLite's own locking per call would be pure cost. */
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) ||
	    sqlite3_busy_timeout(s->db, 5000) || sqlite3_exec(s->db, SCHEMA, NULL, NULL, NULL) ||
	    prepare(s)) {
		fprintf(stderr, "eptrace: cannot set up %s: %s\n", path, sqlite3_errmsg(s->db));
		finalize(s);
		return -1;
	}
	return 0;
}

const char *ep_store_error(const struct ep_store *s)
{
	return sqlite3_errmsg(s->db);
}

static void bind_interval(sqlite3_stmt *st, int col, uint64_t v)
{
	if (v == EP_NONE)
		sqlite3_bind_null(st, col);
	else
		sqlite3_bind_int64(st, col, (int64_t)v);
}

/* The readable row: columns mean what the JSON fields of the same name mean. */
static int write_event(struct ep_store *s, const struct ep_chunk_entry *e)
{
	const struct ep_record *rec = &e->rec;
	sqlite3_stmt *st = s->ins_event;
	struct ep_event ev;
	struct ep_addrs a;
	bool alloc = rec->kind == EP_ALLOC, rel = rec->kind == EP_RELEASE;
	int c = 1;

	if (ep_decode(rec, s->mono_to_unix, &ev))
		return SQLITE_OK;
	ep_event_addrs(&ev, &a);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_int64(st, c++, (int64_t)e->seq);
	sqlite3_bind_int64(st, c++, (int64_t)ev.ts_unix_ns);
	sqlite3_bind_text(st, c++, ep_kind_name(rec->kind), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, c++, (rec->flags & EP_F_FIXED) != 0);
	sqlite3_bind_text(st, c++, ep_proto_name(rec->proto), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, c++, rec->family);
	sqlite3_bind_text(st, c++, a.laddr, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, c++, rec->lport);
	if (ev.has_remote) {
		sqlite3_bind_text(st, c++, a.raddr, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, c++, rec->rport);
	} else {
		c += 2;
	}
	sqlite3_bind_text(st, c++, ep_via_name(rec->via), -1, SQLITE_STATIC);
	if (ev.has_latency)
		sqlite3_bind_int64(st, c, (int64_t)rec->latency_ns);
	c++;
	if (alloc) {
		bind_interval(st, c, e->reuse_ns);
		bind_interval(st, c + 1, e->reassign_ns);
		bind_interval(st, c + 2, e->tuple_reuse_ns);
		sqlite3_bind_int(st, c + 3, e->timewait_reuse);
	}
	c += 4;
	if (rel) {
		if (ev.has_held)
			sqlite3_bind_int64(st, c, (int64_t)ev.held_ns);
		if (rec->flags & EP_F_TIMEWAIT)
			sqlite3_bind_int64(st, c + 1, (int64_t)ev.timewait_ns);
		sqlite3_bind_text(st, c + 2, ep_reason_name(rec->reason), -1, SQLITE_STATIC);
	}
	c += 3;
	if (rec->kind == EP_FAIL)
		sqlite3_bind_text(st, c, ep_errno_name(rec->err), -1, SQLITE_STATIC);
	c++;
	sqlite3_bind_int64(st, c++, rec->pid);
	sqlite3_bind_int64(st, c++, rec->tid);
	sqlite3_bind_text(st, c++, rec->comm, (int)strnlen(rec->comm, EP_COMM_LEN), SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, c++, rec->netns);
	sqlite3_bind_int64(st, c++, (int64_t)rec->cgroup_id);
	sqlite3_bind_int64(st, c++, (int64_t)rec->cookie);
	if (rel)
		sqlite3_bind_int(st, c, (rec->flags & EP_F_PRESTART) != 0);
	return sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
}

int ep_store_meta(struct ep_store *s, const char *key, const char *value)
{
	sqlite3_stmt *st = s->ins_meta;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

static int write_control(struct ep_store *s, const struct ep_store_item *it)
{
	sqlite3_stmt *st = s->ins_control;

	if (it->type == EP_ITEM_META) {
		const char *key = it->ctl.data;

		return ep_store_meta(s, key, key + strlen(key) + 1) ? SQLITE_ERROR : SQLITE_OK;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_int64(st, 1, (int64_t)it->seq);
	sqlite3_bind_text(st, 2, ep_control_name(it->type), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)it->ctl.mono);
	sqlite3_bind_int64(st, 4, it->ctl.netns);
	if (it->ctl.len)
		sqlite3_bind_blob(st, 5, it->ctl.data, (int)it->ctl.len, SQLITE_STATIC);
	return sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
}

static int write_chunk(struct ep_store *s, size_t n)
{
	sqlite3_stmt *st = s->ins_chunk;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, (int64_t)s->chunk[0].seq);
	sqlite3_bind_int64(st, 2, (int64_t)s->chunk[n - 1].seq);
	sqlite3_bind_int64(st, 3, (int64_t)n);
	sqlite3_bind_blob(st, 4, s->chunk, (int)(n * sizeof(*s->chunk)), SQLITE_STATIC);
	return sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
}

static void to_entry(struct ep_chunk_entry *e, const struct ep_store_item *it)
{
	e->seq = it->seq;
	e->reuse_ns = it->ev.info.reuse_ns;
	e->reassign_ns = it->ev.info.reassign_ns;
	e->tuple_reuse_ns = it->ev.info.tuple_reuse_ns;
	e->timewait_reuse = it->ev.info.timewait_reuse;
	memset(e->pad, 0, sizeof(e->pad));
	e->rec = it->ev.rec;
}

static int in_transaction(struct ep_store *s, bool ok)
{
	if (ok)
		ok = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
	if (!ok)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return ok ? 0 : -1;
}

int ep_store_batch(struct ep_store *s, const struct ep_store_item *items, size_t n)
{
	bool ok = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
	size_t nev = 0, written = 0;

	for (size_t i = 0; ok && i < n; i++) {
		if (items[i].type != EP_ITEM_EVENT) {
			ok = write_control(s, &items[i]) == SQLITE_OK;
			continue;
		}
		to_entry(&s->chunk[nev++], &items[i]);
		if (nev == EP_CHUNK_MAX) {
			ok = write_chunk(s, nev) == SQLITE_OK;
			written += nev;
			nev = 0;
		}
	}
	if (ok && nev) {
		ok = write_chunk(s, nev) == SQLITE_OK;
		written += nev;
	}
	if (in_transaction(s, ok))
		return -1;
	s->chunked += written;
	return 0;
}

bool ep_store_behind(const struct ep_store *s)
{
	return s->materialized < s->chunked;
}

static int load_chunk(struct ep_store *s)
{
	sqlite3_stmt *st = s->next_chunk;
	int bytes;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, s->mat_after);
	if (sqlite3_step(st) != SQLITE_ROW)
		return -1;
	bytes = sqlite3_column_bytes(st, 1);
	if (bytes <= 0 || bytes % (int)sizeof(*s->mat) ||
	    bytes > (int)(EP_CHUNK_MAX * sizeof(*s->mat)))
		return -1;
	s->mat_after = sqlite3_column_int64(st, 0);
	memcpy(s->mat, sqlite3_column_blob(st, 1), (size_t)bytes);
	s->mat_n = (size_t)bytes / sizeof(*s->mat);
	s->mat_i = 0;
	sqlite3_reset(st);
	return 0;
}

int ep_store_materialize(struct ep_store *s)
{
	size_t end;
	bool ok;

	if (s->mat_i == s->mat_n && load_chunk(s))
		return -1;
	end = s->mat_i + MAT_STEP < s->mat_n ? s->mat_i + MAT_STEP : s->mat_n;
	ok = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
	for (size_t i = s->mat_i; ok && i < end; i++)
		ok = write_event(s, &s->mat[i]) == SQLITE_OK;
	if (in_transaction(s, ok))
		return -1;
	s->materialized += end - s->mat_i;
	s->mat_i = end;
	return 0;
}

void ep_store_close(struct ep_store *s, const char *path)
{
	/* Leave one self-contained file behind; a reader holding the file open
	 * may prevent that, and then the WAL file is part of the recording. */
	if (sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) ||
	    sqlite3_exec(s->db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL))
		fprintf(stderr, "eptrace: %s stays in WAL mode (%s): keep %s-wal with it\n", path,
			sqlite3_errmsg(s->db), path);
	finalize(s);
}
