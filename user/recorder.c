#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <sqlite3.h>
#include "decode.h"
#include "recorder.h"

#define QCAP 65536
#define BATCH 8192
#define STAGE 256 /* items the event loop gathers before taking the lock */
#define ITEM_EVENT 0
#define ITEM_META -1 /* data: "key\0value" */

static const char SCHEMA[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value);"
	"CREATE TABLE events("
	" seq INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, event TEXT NOT NULL,"
	" fixed INTEGER NOT NULL, proto TEXT NOT NULL, family INTEGER NOT NULL,"
	" laddr TEXT, lport INTEGER, raddr TEXT, rport INTEGER, via TEXT,"
	" latency_ns INTEGER, reuse_ns INTEGER, reassign_ns INTEGER, tuple_reuse_ns INTEGER,"
	" timewait_reuse INTEGER, held_ns INTEGER, timewait_ns INTEGER, reason TEXT, errno TEXT,"
	" pid INTEGER, tid INTEGER, comm TEXT, netns INTEGER, cgroup_id INTEGER, cookie INTEGER,"
	" raw BLOB NOT NULL);"
	"CREATE TABLE controls(seq INTEGER PRIMARY KEY, type TEXT NOT NULL,"
	" mono_ns INTEGER NOT NULL, netns INTEGER, data BLOB);";

static const char INSERT_EVENT[] =
	"INSERT INTO events VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
static const char INSERT_CONTROL[] = "INSERT INTO controls VALUES(?,?,?,?,?)";
static const char INSERT_META[] = "INSERT OR REPLACE INTO meta VALUES(?,?)";

struct item {
	int type; /* ITEM_EVENT, ITEM_META or enum ep_control */
	uint64_t seq;
	union {
		struct {
			struct ep_record rec;
			struct ep_alloc_info info;
		} ev;
		struct {
			uint64_t mono;
			uint32_t netns;
			void *data;
			size_t len;
		} ctl;
	};
};

struct ep_recorder {
	const char *path;
	sqlite3 *db;
	sqlite3_stmt *ins_event, *ins_control, *ins_meta;
	int64_t mono_to_unix;
	pthread_t writer;
	bool writer_running;
	pthread_mutex_t lock;
	pthread_cond_t nonempty, nonfull;
	struct item *q;
	size_t head, count;
	struct item staged[STAGE]; /* event loop side, no lock */
	size_t nstaged;
	uint64_t seq, committed;
	bool closing, failed, failure_told;
	char error[256];
};

static void fail(struct ep_recorder *r, const char *what)
{
	if (!r->failed)
		snprintf(r->error, sizeof(r->error), "%s: %s", what, sqlite3_errmsg(r->db));
	r->failed = true;
}

/* Hands the staged items to the writer under one lock. */
void ep_rec_flush(struct ep_recorder *r)
{
	size_t i = 0;

	if (!r || !r->nstaged)
		return;
	pthread_mutex_lock(&r->lock);
	while (i < r->nstaged) {
		/* Backpressure: the kernel counts what the ring buffer cannot take. */
		while (r->count == QCAP && !r->failed)
			pthread_cond_wait(&r->nonfull, &r->lock);
		if (r->failed)
			break;
		for (; i < r->nstaged && r->count < QCAP; i++) {
			r->q[(r->head + r->count) % QCAP] = r->staged[i];
			r->count++;
		}
		pthread_cond_signal(&r->nonempty);
	}
	pthread_mutex_unlock(&r->lock);
	for (; i < r->nstaged; i++)
		if (r->staged[i].type != ITEM_EVENT)
			free(r->staged[i].ctl.data);
	r->nstaged = 0;
}

static void enqueue(struct ep_recorder *r, struct item *it)
{
	it->seq = ++r->seq;
	r->staged[r->nstaged++] = *it;
	if (r->nstaged == STAGE || it->type != ITEM_EVENT)
		ep_rec_flush(r);
}

static void on_event(void *ctx, const struct ep_record *rec, const struct ep_alloc_info *info)
{
	struct item it = { .type = ITEM_EVENT };

	it.ev.rec = *rec;
	it.ev.info = *info;
	enqueue(ctx, &it);
}

/* A row that cannot be queued would make the replay diverge: stop instead. */
static void out_of_memory(struct ep_recorder *r)
{
	pthread_mutex_lock(&r->lock);
	if (!r->failed)
		snprintf(r->error, sizeof(r->error), "out of memory");
	r->failed = true;
	pthread_cond_broadcast(&r->nonfull);
	pthread_mutex_unlock(&r->lock);
}

static void on_control(void *ctx, int type, uint64_t mono, uint32_t netns, const void *data,
		       size_t len)
{
	struct item it = { .type = type };

	it.ctl.mono = mono;
	it.ctl.netns = netns;
	it.ctl.len = len;
	if (len) {
		it.ctl.data = malloc(len);
		if (!it.ctl.data) {
			out_of_memory(ctx);
			return;
		}
		memcpy(it.ctl.data, data, len);
	}
	enqueue(ctx, &it);
}

static void meta(struct ep_recorder *r, const char *key, const char *value)
{
	size_t kl = strlen(key) + 1, vl = strlen(value) + 1;
	struct item it = { .type = ITEM_META };

	it.ctl.data = malloc(kl + vl);
	if (!it.ctl.data) {
		out_of_memory(r);
		return;
	}
	memcpy(it.ctl.data, key, kl);
	memcpy((char *)it.ctl.data + kl, value, vl);
	it.ctl.len = kl + vl;
	enqueue(r, &it);
}

static void bind_interval(sqlite3_stmt *st, int col, uint64_t v)
{
	if (v == EP_NONE)
		sqlite3_bind_null(st, col);
	else
		sqlite3_bind_int64(st, col, (int64_t)v);
}

static int write_event(struct ep_recorder *r, const struct item *it)
{
	const struct ep_record *rec = &it->ev.rec;
	const struct ep_alloc_info *info = &it->ev.info;
	sqlite3_stmt *st = r->ins_event;
	struct ep_event ev;
	struct ep_addrs a;
	bool alloc = rec->kind == EP_ALLOC, rel = rec->kind == EP_RELEASE;
	int c = 1;

	if (ep_decode(rec, r->mono_to_unix, &ev))
		return SQLITE_OK;
	ep_event_addrs(&ev, &a);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_int64(st, c++, (int64_t)it->seq);
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
		bind_interval(st, c, info->reuse_ns);
		bind_interval(st, c + 1, info->reassign_ns);
		bind_interval(st, c + 2, info->tuple_reuse_ns);
		sqlite3_bind_int(st, c + 3, info->timewait_reuse);
	}
	c += 4;
	if (rel) {
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
	sqlite3_bind_blob(st, c++, rec, sizeof(*rec), SQLITE_TRANSIENT);
	return sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
}

static int write_control(struct ep_recorder *r, const struct item *it)
{
	sqlite3_stmt *st = it->type == ITEM_META ? r->ins_meta : r->ins_control;

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (it->type == ITEM_META) {
		const char *key = it->ctl.data;

		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, key + strlen(key) + 1, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_int64(st, 1, (int64_t)it->seq);
		sqlite3_bind_text(st, 2, ep_control_name(it->type), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (int64_t)it->ctl.mono);
		sqlite3_bind_int64(st, 4, it->ctl.netns);
		if (it->ctl.len)
			sqlite3_bind_blob(st, 5, it->ctl.data, (int)it->ctl.len, SQLITE_STATIC);
	}
	return sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
}

/* One transaction per batch: all of it is committed, or none. */
static void write_batch(struct ep_recorder *r, struct item *b, size_t n)
{
	bool ok = !r->failed && sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;

	for (size_t i = 0; ok && i < n; i++)
		ok = (b[i].type == ITEM_EVENT ? write_event(r, &b[i]) : write_control(r, &b[i])) ==
		     SQLITE_OK;
	if (ok)
		ok = sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
	if (!ok && !r->failed) {
		pthread_mutex_lock(&r->lock);
		fail(r, "writing failed");
		pthread_cond_broadcast(&r->nonfull);
		pthread_mutex_unlock(&r->lock);
		sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
	} else if (ok) {
		r->committed += n;
	}
	for (size_t i = 0; i < n; i++)
		if (b[i].type != ITEM_EVENT)
			free(b[i].ctl.data);
}

static void *writer(void *arg)
{
	struct ep_recorder *r = arg;
	struct item *batch = malloc(BATCH * sizeof(*batch));
	size_t n;

	if (!batch) {
		out_of_memory(r);
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&r->lock);
		while (!r->count && !r->closing)
			pthread_cond_wait(&r->nonempty, &r->lock);
		if (!r->count && r->closing) {
			pthread_mutex_unlock(&r->lock);
			break;
		}
		for (n = 0; n < BATCH && r->count; n++) {
			batch[n] = r->q[r->head];
			r->head = (r->head + 1) % QCAP;
			r->count--;
		}
		pthread_cond_broadcast(&r->nonfull);
		pthread_mutex_unlock(&r->lock);
		write_batch(r, batch, n);
	}
	free(batch);
	return NULL;
}

static int prepare(struct ep_recorder *r)
{
	return sqlite3_prepare_v2(r->db, INSERT_EVENT, -1, &r->ins_event, NULL) ||
	       sqlite3_prepare_v2(r->db, INSERT_CONTROL, -1, &r->ins_control, NULL) ||
	       sqlite3_prepare_v2(r->db, INSERT_META, -1, &r->ins_meta, NULL);
}

static void close_db(struct ep_recorder *r)
{
	sqlite3_finalize(r->ins_event);
	sqlite3_finalize(r->ins_control);
	sqlite3_finalize(r->ins_meta);
	sqlite3_close(r->db);
}

static void free_recorder(struct ep_recorder *r)
{
	for (size_t i = 0; i < r->count; i++) {
		struct item *it = &r->q[(r->head + i) % QCAP];

		if (it->type != ITEM_EVENT)
			free(it->ctl.data);
	}
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->nonempty);
	pthread_cond_destroy(&r->nonfull);
	free(r->q);
	free(r);
}

struct ep_recorder *ep_rec_open(const char *path, struct ep_pipeline *pipe)
{
	struct ep_recorder *r = calloc(1, sizeof(*r));
	char buf[128];
	struct utsname u;
	int fd;

	if (!r || !(r->q = calloc(QCAP, sizeof(*r->q)))) {
		fprintf(stderr, "eptrace: out of memory\n");
		free(r);
		return NULL;
	}
	r->path = path;
	r->mono_to_unix = pipe->mono_to_unix;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->nonempty, NULL);
	pthread_cond_init(&r->nonfull, NULL);
	/* Statistics on SQLite's allocator take a global lock on every malloc. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	/* Never overwrite: a recording is evidence. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
	if (fd < 0) {
		fprintf(stderr, "eptrace: cannot create %s: %s\n", path, strerror(errno));
		free_recorder(r);
		return NULL;
	}
	close(fd);
	/* One thread at a time uses the connection (main before and after the
	 * writer runs): SQLite's own locking per call would be pure cost. */
	if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) ||
	    sqlite3_busy_timeout(r->db, 5000) ||
	    sqlite3_exec(r->db, SCHEMA, NULL, NULL, NULL) || prepare(r)) {
		fprintf(stderr, "eptrace: cannot set up %s: %s\n", path, sqlite3_errmsg(r->db));
		close_db(r);
		free_recorder(r);
		return NULL;
	}
	if (pthread_create(&r->writer, NULL, writer, r)) {
		fprintf(stderr, "eptrace: cannot start the recording thread\n");
		close_db(r);
		free_recorder(r);
		return NULL;
	}
	r->writer_running = true;
	snprintf(buf, sizeof(buf), "%d", EP_SCHEMA_VERSION);
	meta(r, "schema_version", buf);
	meta(r, "eptrace_version", "0.1");
	meta(r, "closed", "0");
	if (!uname(&u)) {
		meta(r, "hostname", u.nodename);
		meta(r, "kernel", u.release);
	}
	pipe->journal = (struct ep_journal){ on_event, on_control, r };
	return r;
}

void ep_rec_start(struct ep_recorder *r, const struct ep_start *s, int64_t mono_to_unix)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, mono_to_unix);
	meta(r, "mono_to_unix_ns", buf);
	snprintf(buf, sizeof(buf), "%" PRIu64, s->ts_ns);
	meta(r, "start_ts_ns", buf);
	snprintf(buf, sizeof(buf), "%u", s->pid);
	meta(r, "start_pid", buf);
	meta(r, "timewait_tracking", s->timewait_tracking ? "1" : "0");
}

bool ep_rec_failed(struct ep_recorder *r)
{
	bool failed;

	pthread_mutex_lock(&r->lock);
	failed = r->failed;
	if (failed && !r->failure_told) {
		fprintf(stderr, "eptrace: recording to %s stopped: %s; the %" PRIu64
				" rows committed before it are kept\n",
			r->path, r->error, r->committed);
		r->failure_told = true;
	}
	pthread_mutex_unlock(&r->lock);
	return failed;
}

static void summary_meta(struct ep_recorder *r, const struct ep_summary *s)
{
	static const char *keys[] = { "sum_received", "sum_bad_records" };
	uint64_t vals[] = { s->received, s->bad_records };
	char buf[32];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(buf, sizeof(buf), "%" PRIu64, vals[i]);
		meta(r, keys[i], buf);
	}
	snprintf(buf, sizeof(buf), "%.3f", s->duration_s);
	meta(r, "sum_duration_s", buf);
	meta(r, "closed", "1");
}

int ep_rec_close(struct ep_recorder *r, const struct ep_summary *sum)
{
	bool failed;

	if (!r)
		return 0;
	if (sum)
		summary_meta(r, sum);
	ep_rec_flush(r);
	pthread_mutex_lock(&r->lock);
	r->closing = true;
	pthread_cond_broadcast(&r->nonempty);
	pthread_mutex_unlock(&r->lock);
	if (r->writer_running)
		pthread_join(r->writer, NULL);
	failed = ep_rec_failed(r);
	/* Leave one self-contained file behind; a reader holding the file open
	 * may prevent that, and then the WAL file is part of the recording. */
	if (sqlite3_wal_checkpoint_v2(r->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) ||
	    sqlite3_exec(r->db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL))
		fprintf(stderr, "eptrace: %s stays in WAL mode (%s): keep %s-wal with it\n", r->path,
			sqlite3_errmsg(r->db), r->path);
	close_db(r);
	free_recorder(r);
	return failed ? -1 : 0;
}
