#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include "pipeline.h"
#include "recording/layout.h"
#include "report.h"

struct replay {
	const struct ep_opts *o;
	const char *path;
	sqlite3 *db;
	struct ep_pipeline pipe;
	uint64_t last_mono, next_tick;
	bool final_seen;
	int schema; /* the file's EP_SCHEMA_VERSION */
};

/* A snapshot as today's entries: version 3 and older have no owner key. */
static int replay_snapshot(struct replay *r, uint64_t mono, uint32_t netns, const void *data,
			   size_t len)
{
	size_t size = r->schema < 4 ? EP_SNAP_ENTRY_V3 : sizeof(struct ep_snap_entry);
	size_t n = len / size;
	struct ep_snap_entry *v;

	if (len % size)
		return -1;
	if (size == sizeof(*v)) {
		ep_pipe_snapshot(&r->pipe, mono, netns, data, n);
		return 0;
	}
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -1;
	for (size_t i = 0; i < n; i++)
		memcpy(&v[i], (const char *)data + i * size, size);
	ep_pipe_snapshot(&r->pipe, mono, netns, v, n);
	free(v);
	return 0;
}

static int bad(const struct replay *r, const char *what)
{
	fprintf(stderr, "eptrace: %s: %s\n", r->path, what);
	return 1;
}

static int bad_sqlite(const struct replay *r, const char *doing)
{
	char msg[300];
	int code = sqlite3_errcode(r->db);

	if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB || code == SQLITE_IOERR)
		snprintf(msg, sizeof(msg), "truncated or corrupted (%s while %s)",
			 sqlite3_errmsg(r->db), doing);
	else
		snprintf(msg, sizeof(msg), "cannot be read (%s while %s)", sqlite3_errmsg(r->db),
			 doing);
	return bad(r, msg);
}

/* Before SQLite: a clear word for a file that is missing or not a database. */
static int check_file(const struct replay *r)
{
	static const char magic[16] = "SQLite format 3";
	char head[16];
	struct stat st;
	FILE *f;

	if (stat(r->path, &st))
		return bad(r, errno == ENOENT ? "no such file" : strerror(errno));
	if (!S_ISREG(st.st_mode))
		return bad(r, "not a regular file");
	f = fopen(r->path, "rb");
	if (!f)
		return bad(r, strerror(errno));
	if (fread(head, 1, sizeof(head), f) != sizeof(head) || memcmp(head, magic, sizeof(magic))) {
		fclose(f);
		return bad(r, st.st_size ? "not an SQLite database" : "empty file, not a recording");
	}
	fclose(f);
	return 0;
}

static int meta_get(struct replay *r, const char *key, char *out, size_t len)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(r->db, "SELECT value FROM meta WHERE key=?", -1, &st, NULL))
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_NULL)
		rc = SQLITE_DONE; /* a NULL value is no value */
	if (rc == SQLITE_ROW)
		snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

/* meta, event_chunks and controls must be tables, not views. */
static bool plain_tables(struct replay *r)
{
	sqlite3_stmt *st;
	int n = 0;

	if (sqlite3_prepare_v2(r->db, "SELECT count(*) FROM sqlite_schema WHERE type='table' AND "
				      "name IN ('meta','event_chunks','controls')", -1, &st, NULL))
		return false;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n == 3;
}

static int open_checked(struct replay *r, int64_t *mono_to_unix)
{
	char buf[64], msg[128], *end;
	sqlite3_stmt *st;
	int rc;

	if (check_file(r))
		return 1;
	if (sqlite3_open_v2(r->path, &r->db, SQLITE_OPEN_READONLY, NULL))
		return bad_sqlite(r, "opening");
	/* The file is input, not code: no triggers, views or functions run. */
	sqlite3_db_config(r->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(r->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	if (sqlite3_prepare_v2(r->db, "PRAGMA quick_check", -1, &st, NULL))
		return bad_sqlite(r, "checking");
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return bad_sqlite(r, "checking");
	}
	if (strcmp((const char *)sqlite3_column_text(st, 0), "ok")) {
		snprintf(msg, sizeof(msg), "truncated or corrupted (integrity check: %.80s)",
			 (const char *)sqlite3_column_text(st, 0));
		for (char *c = msg; *c; c++)
			if (*c == '\n')
				*c = ' ';
		sqlite3_finalize(st);
		return bad(r, msg);
	}
	sqlite3_finalize(st);
	if (!plain_tables(r))
		return bad(r, "not an eptrace recording (no schema version)");
	rc = meta_get(r, "schema_version", buf, sizeof(buf));
	if (rc)
		return bad(r, "not an eptrace recording (no schema version)");
	if (atoi(buf) < EP_SCHEMA_OLDEST || atoi(buf) > EP_SCHEMA_VERSION) {
		snprintf(msg, sizeof(msg), "schema version %.20s; this eptrace reads versions %d to %d",
			 buf, EP_SCHEMA_OLDEST, EP_SCHEMA_VERSION);
		return bad(r, msg);
	}
	r->schema = atoi(buf);
	if (atoi(buf) < 3 && (r->o->unit || r->o->container))
		fprintf(stderr, "eptrace: %s was recorded before owners were named (schema %s): "
				"--unit and --container match nothing in it\n", r->o->file, buf);
	if (meta_get(r, "mono_to_unix_ns", buf, sizeof(buf)))
		return bad(r, "the recording stopped before it started (no start)");
	errno = 0;
	*mono_to_unix = strtoll(buf, &end, 10);
	if (errno || *end || end == buf)
		return bad(r, "corrupted meta value mono_to_unix_ns");
	if (meta_get(r, "closed", buf, sizeof(buf)) || strcmp(buf, "1"))
		fprintf(stderr, "eptrace: %s: the recording was not closed cleanly; reporting "
				"what it committed\n", r->path);
	return 0;
}

#define MAX_QUIET_TICKS 1000

/* --interval in a report: ticks on the events' own clock. A gap of more than
 * MAX_QUIET_TICKS intervals (or a clock jump in a damaged file) gives one. */
static void ticks_until(struct replay *r, uint64_t mono)
{
	uint64_t every = r->pipe.report_every;

	if (!r->o->interval_s || !every)
		return;
	if (!r->next_tick)
		r->next_tick = mono > UINT64_MAX - every ? UINT64_MAX : mono + every;
	if (mono >= r->next_tick && (mono - r->next_tick) / every > MAX_QUIET_TICKS)
		r->next_tick = mono;
	while (mono >= r->next_tick) {
		ep_pipe_tick(&r->pipe, r->next_tick, false);
		if (r->next_tick > UINT64_MAX - every) {
			r->next_tick = UINT64_MAX;
			break;
		}
		r->next_tick += every;
	}
}

static void replay_event(struct replay *r, const struct ep_record *rec)
{
	ticks_until(r, rec->ts_ns);
	if (rec->ts_ns > r->last_mono)
		r->last_mono = rec->ts_ns;
	if (ep_opts_want(r->o, rec))
		ep_pipe_event(&r->pipe, rec);
}

/* Events one at a time out of the event_chunks rows, checked. */
struct chunks {
	sqlite3_stmt *st;
	int rc;
	size_t i, n;
	uint64_t last_seq;
	struct ep_chunk_entry cur;
};

static int bad_chunk(struct replay *r, const struct chunks *c)
{
	char msg[80];

	snprintf(msg, sizeof(msg), "corrupted event chunk at seq %lld",
		 (long long)sqlite3_column_int64(c->st, 0));
	return bad(r, msg);
}

static int chunks_next(struct replay *r, struct chunks *c)
{
	const size_t sz = sizeof(struct ep_chunk_entry);

	while (c->rc == SQLITE_ROW && c->i == c->n) {
		c->rc = sqlite3_step(c->st);
		if (c->rc != SQLITE_ROW)
			return c->rc == SQLITE_DONE ? 0 : bad_sqlite(r, "reading the events");
		c->n = (size_t)sqlite3_column_bytes(c->st, 1) / sz;
		c->i = 0;
		if (sqlite3_column_type(c->st, 1) != SQLITE_BLOB || !c->n ||
		    (size_t)sqlite3_column_bytes(c->st, 1) % sz ||
		    sqlite3_column_int64(c->st, 2) != (sqlite3_int64)c->n)
			return bad_chunk(r, c);
	}
	if (c->rc != SQLITE_ROW)
		return 0;
	memcpy(&c->cur, (const char *)sqlite3_column_blob(c->st, 1) + c->i * sz, sz);
	if (c->cur.seq <= c->last_seq || c->cur.seq > INT64_MAX ||
	    (c->i == 0 && (int64_t)c->cur.seq != sqlite3_column_int64(c->st, 0)))
		return bad_chunk(r, c);
	c->last_seq = c->cur.seq;
	c->i++;
	return 0;
}

static bool chunks_have(const struct chunks *c)
{
	return c->rc == SQLITE_ROW;
}

static int replay_control(struct replay *r, sqlite3_stmt *st)
{
	int type = sqlite3_column_type(st, 1) == SQLITE_TEXT
			   ? ep_control_type((const char *)sqlite3_column_text(st, 1)) : -1;
	uint64_t mono = (uint64_t)sqlite3_column_int64(st, 2);
	uint32_t netns = (uint32_t)sqlite3_column_int64(st, 3);
	const void *data = sqlite3_column_blob(st, 4);
	size_t len = (size_t)sqlite3_column_bytes(st, 4);
	const size_t range_head = offsetof(struct ep_range_data, reserved);
	char msg[64];

	snprintf(msg, sizeof(msg), "corrupted control row at seq %lld",
		 (long long)sqlite3_column_int64(st, 0));
	if (sqlite3_column_type(st, 2) != SQLITE_INTEGER || sqlite3_column_int64(st, 2) < 0 ||
	    sqlite3_column_type(st, 3) != SQLITE_INTEGER ||
	    (len && sqlite3_column_type(st, 4) != SQLITE_BLOB))
		return bad(r, msg);
	if (type != EP_CTL_TICK)
		ticks_until(r, mono);
	switch (type) {
	case EP_CTL_RANGE: {
		const struct ep_range_data *d = data;

		if (len != range_head && len != sizeof(*d))
			return bad(r, msg);
		ep_pipe_range(&r->pipe, mono, netns, d->lo, d->hi,
			      len == sizeof(*d) && d->has_reserved ? d->reserved : NULL);
		break;
	}
	case EP_CTL_SNAPSHOT:
		if (replay_snapshot(r, mono, netns, data, len))
			return bad(r, msg);
		break;
	case EP_CTL_GONE:
		ep_pipe_gone(&r->pipe, mono, netns);
		break;
	case EP_CTL_RECONCILE:
		if (len % sizeof(uint64_t))
			return bad(r, msg);
		ep_pipe_reconcile(&r->pipe, mono, data, len / sizeof(uint64_t));
		break;
	case EP_CTL_STATS: {
		uint64_t s[EP_STAT_MAX];

		if (len != sizeof(s))
			return bad(r, msg);
		memcpy(s, data, sizeof(s));
		ep_pipe_stats(&r->pipe, mono, s);
		break;
	}
	case EP_CTL_CGROUP: {
		const size_t head = EP_CGROUP_CTL_HEAD;
		char path[EP_CGROUP_PATH_MAX];
		uint64_t id;
		uint8_t flags;

		if (len < head || len - head >= sizeof(path))
			return bad(r, msg);
		memcpy(&id, data, sizeof(id));
		flags = ((const uint8_t *)data)[sizeof(id)];
		memcpy(path, (const uint8_t *)data + head, len - head);
		path[len - head] = 0;
		if (strlen(path) != len - head || (flags & ~EP_NAMES_PER_PROCESS))
			return bad(r, msg); /* a NUL inside, or a flag no version wrote */
		ep_pipe_cgroup(&r->pipe, mono, id, len > head ? path : NULL, flags);
		break;
	}
	case EP_CTL_NETNS_NAME: {
		char name[256];

		if (len >= sizeof(name))
			return bad(r, msg);
		if (len)
			memcpy(name, data, len);
		name[len] = 0;
		if (strlen(name) != len)
			return bad(r, msg);
		ep_pipe_netns_name(&r->pipe, mono, netns, len ? name : NULL);
		break;
	}
	case EP_CTL_TICK:
		if (len != 1)
			return bad(r, msg);
		if (*(const uint8_t *)data) {
			r->final_seen = true;
			ticks_until(r, mono);
			ep_pipe_tick(&r->pipe, mono, true);
		} else if (!r->o->interval_s) {
			ep_pipe_tick(&r->pipe, mono, false);
		}
		break;
	default:
		return bad(r, msg);
	}
	if (mono > r->last_mono)
		r->last_mono = mono;
	return 0;
}

/* Events and controls, merged back into the order they were recorded in. */
static int replay_all(struct replay *r)
{
	struct chunks ev = { .rc = SQLITE_ROW };
	sqlite3_stmt *ctl = NULL;
	int rc_ctl, err = 0;

	if (sqlite3_prepare_v2(r->db,
			       "SELECT first_seq, data, count FROM event_chunks ORDER BY first_seq",
			       -1, &ev.st, NULL) ||
	    sqlite3_prepare_v2(r->db,
			       "SELECT seq, type, mono_ns, netns, data FROM controls ORDER BY seq",
			       -1, &ctl, NULL)) {
		err = bad_sqlite(r, "reading the tables");
		goto out;
	}
	err = chunks_next(r, &ev);
	rc_ctl = sqlite3_step(ctl);
	while (!err && (chunks_have(&ev) || rc_ctl == SQLITE_ROW)) {
		int64_t cseq = rc_ctl == SQLITE_ROW ? sqlite3_column_int64(ctl, 0) : 0;

		if (chunks_have(&ev) && rc_ctl == SQLITE_ROW && (int64_t)ev.cur.seq == cseq) {
			err = bad(r, "corrupted: an event and a control share a seq");
			break;
		}
		if (chunks_have(&ev) && (rc_ctl != SQLITE_ROW || (int64_t)ev.cur.seq < cseq)) {
			replay_event(r, &ev.cur.rec);
			err = chunks_next(r, &ev);
		} else {
			err = replay_control(r, ctl);
			rc_ctl = sqlite3_step(ctl);
		}
	}
	if (!err && rc_ctl != SQLITE_DONE)
		err = bad_sqlite(r, "reading the controls");
out:
	sqlite3_finalize(ev.st);
	sqlite3_finalize(ctl);
	return err;
}

static void recorded_summary(struct replay *r)
{
	uint64_t received = r->pipe.sum.received, bad = r->pipe.sum.bad_records;
	double duration = r->pipe.sum.duration_s;
	char buf[32];

	if (!meta_get(r, "sum_received", buf, sizeof(buf)))
		received = strtoull(buf, NULL, 10);
	if (!meta_get(r, "sum_bad_records", buf, sizeof(buf)))
		bad = strtoull(buf, NULL, 10);
	if (!meta_get(r, "sum_duration_s", buf, sizeof(buf)))
		duration = strtod(buf, NULL);
	ep_pipe_restore_totals(&r->pipe, received, bad, duration);
}

int ep_report(const struct ep_opts *o)
{
	struct replay r = { .o = o, .path = o->file };
	struct ep_start start = {};
	int64_t mono_to_unix = 0;
	char buf[32];
	int err;

	err = open_checked(&r, &mono_to_unix);
	if (err) {
		sqlite3_close(r.db);
		return err;
	}
	if (ep_pipe_init(&r.pipe, o, mono_to_unix)) {
		sqlite3_close(r.db);
		fprintf(stderr, "eptrace: out of memory\n");
		return 1;
	}
	if (!meta_get(&r, "start_ts_ns", buf, sizeof(buf)))
		start.ts_ns = strtoull(buf, NULL, 10);
	if (!meta_get(&r, "start_pid", buf, sizeof(buf)))
		start.pid = (uint32_t)strtoul(buf, NULL, 10);
	start.timewait_tracking = !meta_get(&r, "timewait_tracking", buf, sizeof(buf)) &&
				  !strcmp(buf, "1");
	/* recordings from before the trampoline backend were all made by the other */
	if (meta_get(&r, "backend", start.backend, sizeof(start.backend)))
		snprintf(start.backend, sizeof(start.backend), "tracepoint");
	ep_pipe_start(&r.pipe, &start);
	ep_pipe_ready(&r.pipe);
	err = replay_all(&r);
	if (!err) {
		if (!r.final_seen)
			ep_pipe_tick(&r.pipe, r.last_mono, true);
		recorded_summary(&r);
		ep_pipe_summary(&r.pipe);
	}
	ep_pipe_free(&r.pipe);
	sqlite3_close(r.db);
	return err;
}
