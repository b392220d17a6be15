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
#include "store.h"
#include "recorder.h"

#define QCAP 65536
#define BATCH EP_CHUNK_MAX
#define STAGE 256 /* items the event loop gathers before taking the lock */

struct ep_recorder {
	const char *path;
	struct ep_store store;
	pthread_t writer;
	bool writer_running;
	pthread_mutex_t lock;
	pthread_cond_t nonempty, nonfull;
	struct ep_store_item *q;
	size_t head, count;
	struct ep_store_item staged[STAGE]; /* event loop side, no lock */
	size_t nstaged;
	uint64_t seq, committed;
	bool closing, failed, failure_told;
	const volatile sig_atomic_t *skip_rows; /* set while closing: leave rows behind */
	char error[256];
};

/* Stops the recording; the first reason is the one told. */
static void stop(struct ep_recorder *r, const char *why)
{
	pthread_mutex_lock(&r->lock);
	if (!r->failed)
		snprintf(r->error, sizeof(r->error), "%s", why);
	r->failed = true;
	pthread_cond_broadcast(&r->nonfull);
	pthread_mutex_unlock(&r->lock);
}

/* Writer thread: SQLite said no. */
static void fail(struct ep_recorder *r, const char *what)
{
	char why[256];

	snprintf(why, sizeof(why), "%s: %s", what, ep_store_error(&r->store));
	stop(r, why);
}

/* Hands the staged items to the writer under one lock. */
void ep_recorder_flush(struct ep_recorder *r)
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
		if (r->staged[i].type != EP_ITEM_EVENT)
			free(r->staged[i].ctl.data);
	r->nstaged = 0;
}

static void enqueue(struct ep_recorder *r, struct ep_store_item *it)
{
	it->seq = ++r->seq;
	r->staged[r->nstaged++] = *it;
	if (r->nstaged == STAGE || it->type != EP_ITEM_EVENT)
		ep_recorder_flush(r);
}

void ep_recorder_input(void *ctx, const struct ep_record *rec, const struct ep_alloc_info *info)
{
	struct ep_store_item it = { .type = EP_ITEM_EVENT };

	it.ev.rec = *rec;
	it.ev.info = *info;
	enqueue(ctx, &it);
}

/* A row that cannot be queued would make the replay diverge: stop instead. */
static void out_of_memory(struct ep_recorder *r)
{
	stop(r, "out of memory");
}

void ep_recorder_control(void *ctx, int type, uint64_t mono, uint32_t netns,
			 const void *data, size_t len)
{
	struct ep_store_item it = { .type = type };

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
	struct ep_store_item it = { .type = EP_ITEM_META };

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

static void write_batch(struct ep_recorder *r, struct ep_store_item *b, size_t n)
{
	if (!r->failed) {
		if (ep_store_batch(&r->store, b, n)) {
			fail(r, "writing failed");
		} else {
			pthread_mutex_lock(&r->lock);
			r->committed += n;
			pthread_mutex_unlock(&r->lock);
		}
	}
	for (size_t i = 0; i < n; i++)
		if (b[i].type != EP_ITEM_EVENT)
			free(b[i].ctl.data);
}

/* Readable rows, one short step at a time while the queue is empty. */
static void materialize(struct ep_recorder *r)
{
	if (ep_store_materialize(&r->store)) {
		fail(r, "writing the events table failed");
	}
}

/* After a churn the writer could not follow with readable rows: catch up
 * before closing, unless asked not to (replay reads the chunks either way). */
static void finish_rows(struct ep_recorder *r)
{
	uint64_t left = r->store.chunked - r->store.materialized;

	if (r->failed)
		return;
	if (left > 100000)
		fprintf(stderr, "eptrace: filling the events table of %s: %" PRIu64 " records to go "
				"(interrupt again to leave them in event_chunks only; report reads "
				"those)\n", r->path, left);
	while (!r->failed && ep_store_behind(&r->store) &&
	       !(r->skip_rows && *r->skip_rows))
		materialize(r);
	if (!r->failed && ep_store_meta(&r->store, "events_complete",
					ep_store_behind(&r->store) ? "0" : "1")) {
		fail(r, "writing failed");
	}
}

static void *writer(void *arg)
{
	struct ep_recorder *r = arg;
	struct ep_store_item *batch = malloc(BATCH * sizeof(*batch));
	size_t n;

	if (!batch) {
		out_of_memory(r);
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&r->lock);
		while (!r->count && !r->closing) {
			if (!r->failed && ep_store_behind(&r->store)) {
				pthread_mutex_unlock(&r->lock);
				materialize(r);
				pthread_mutex_lock(&r->lock);
				continue;
			}
			pthread_cond_wait(&r->nonempty, &r->lock);
		}
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
	finish_rows(r);
	return NULL;
}

static void free_recorder(struct ep_recorder *r)
{
	for (size_t i = 0; i < r->count; i++) {
		struct ep_store_item *it = &r->q[(r->head + i) % QCAP];

		if (it->type != EP_ITEM_EVENT)
			free(it->ctl.data);
	}
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->nonempty);
	pthread_cond_destroy(&r->nonfull);
	free(r->q);
	free(r);
}

struct ep_recorder *ep_recorder_open(const char *path, int64_t mono_to_unix)
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
	if (ep_store_open(&r->store, path, mono_to_unix)) {
		free_recorder(r);
		return NULL;
	}
	if (pthread_create(&r->writer, NULL, writer, r)) {
		fprintf(stderr, "eptrace: cannot start the recording thread\n");
		ep_store_close(&r->store, path);
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
	return r;
}

void ep_recorder_start(struct ep_recorder *r, const struct ep_start *s, int64_t mono_to_unix)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, mono_to_unix);
	meta(r, "mono_to_unix_ns", buf);
	snprintf(buf, sizeof(buf), "%" PRIu64, s->ts_ns);
	meta(r, "start_ts_ns", buf);
	snprintf(buf, sizeof(buf), "%u", s->pid);
	meta(r, "start_pid", buf);
	meta(r, "timewait_tracking", s->timewait_tracking ? "1" : "0");
	meta(r, "backend", s->backend);
}

bool ep_recorder_failed(struct ep_recorder *r)
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

int ep_recorder_close(struct ep_recorder *r, const struct ep_summary *sum,
		      const volatile sig_atomic_t *skip_rows)
{
	bool failed;

	if (!r)
		return 0;
	if (sum)
		summary_meta(r, sum);
	ep_recorder_flush(r);
	pthread_mutex_lock(&r->lock);
	r->skip_rows = skip_rows;
	r->closing = true;
	pthread_cond_broadcast(&r->nonempty);
	pthread_mutex_unlock(&r->lock);
	if (r->writer_running)
		pthread_join(r->writer, NULL);
	failed = ep_recorder_failed(r);
	ep_store_close(&r->store, r->path);
	free_recorder(r);
	return failed ? -1 : 0;
}
