#include <stdlib.h>
#include <string.h>
#include "pipeline.h"

static void on_collision(void *ctx, const struct ep_collision *c)
{
	struct ep_pipeline *p = ctx;

	ep_view_collision(&p->view, c);
}

static void on_warning(void *ctx, const struct ep_warning *w)
{
	struct ep_pipeline *p = ctx;

	ep_view_warning(&p->view, w);
}

int ep_pipe_init(struct ep_pipeline *p, const struct ep_opts *o, int64_t mono_to_unix)
{
	struct ep_agg_opts ao = { .by = o->by, .top_n = o->top_n, .threshold = o->threshold };
	struct ep_sink sink = { on_collision, on_warning, p };

	memset(p, 0, sizeof(*p));
	p->opts = o;
	p->mono_to_unix = mono_to_unix;
	ep_view_init(&p->view, o, mono_to_unix);
	if (o->interval_s > 0)
		p->report_every = (uint64_t)(o->interval_s * 1e9);
	else if (p->view.show_occupancy)
		p->report_every = 5000000000ULL;
	return ep_agg_init(&p->agg, &ao, &sink);
}

void ep_pipe_start(struct ep_pipeline *p, const struct ep_start *s)
{
	ep_view_start(&p->view, s);
}

void ep_pipe_ready(struct ep_pipeline *p)
{
	ep_view_ready(&p->view);
}

void ep_pipe_free(struct ep_pipeline *p)
{
	ep_agg_free(&p->agg);
}

int ep_pipe_add_consumer(struct ep_pipeline *p, const struct ep_consumer *c)
{
	if (p->nconsumers == EP_PIPE_CONSUMERS_MAX)
		return -1;
	p->consumers[p->nconsumers++] = *c;
	return 0;
}

void ep_pipe_set_enrich(struct ep_pipeline *p, const struct ep_enrich *e)
{
	p->enrich = *e;
}

void ep_pipe_received(struct ep_pipeline *p, bool bad)
{
	p->sum.received++;
	if (bad)
		p->sum.bad_records++;
}

void ep_pipe_set_duration(struct ep_pipeline *p, double seconds)
{
	p->sum.duration_s = seconds;
}

void ep_pipe_restore_totals(struct ep_pipeline *p, uint64_t received, uint64_t bad_records,
			    double duration_s)
{
	p->sum.received = received;
	p->sum.bad_records = bad_records;
	p->sum.duration_s = duration_s;
}

static bool same_owner(const struct ep_owner_memo *m, const struct ep_names *n,
		       const struct ep_record *rec)
{
	return m->valid && m->names_gen == n->gen && m->cgroup_id == rec->cgroup_id &&
	       m->pid == rec->pid && m->netns == rec->netns &&
	       !memcmp(m->comm, rec->comm, EP_COMM_LEN);
}

/* The owner's key, identity and namespace name. Remembered only once the
 * table knows them all: an owner it could not name yet is asked again. */
static void owner_names(struct ep_pipeline *p, const struct ep_record *rec, struct ep_event *ev)
{
	struct ep_owner_memo *m = &p->owner;
	struct ep_names *n = &p->agg.names;

	if (!same_owner(m, n, rec)) {
		if (p->enrich.learn)
			p->enrich.learn(p->enrich.ctx, rec);
		m->key = ep_names_key(n, rec->cgroup_id, rec->pid, rec->comm);
		m->ident = ep_names_cgroup(n, m->key);
		m->netns_name = ep_names_netns(n, rec->netns);
		m->valid = (!rec->cgroup_id || ep_names_knows_cgroup(n, m->key)) &&
			   (!rec->netns || ep_names_knows_netns(n, rec->netns));
		m->names_gen = n->gen;
		m->cgroup_id = rec->cgroup_id;
		m->pid = rec->pid;
		m->netns = rec->netns;
		memcpy(m->comm, rec->comm, EP_COMM_LEN);
		m->seq++;
	}
	ev->owner_seq = m->seq;
	ev->owner_key = m->key;
	ev->ident = m->ident;
	ev->netns_name = m->netns_name;
}

/* Record -> decode -> (live: learn the namespace) -> aggregate -> output. */
void ep_pipe_event(struct ep_pipeline *p, const struct ep_record *rec)
{
	struct ep_alloc_info info;
	struct ep_event ev;

	/* --ports: a failed search has no port and always counts. */
	if (p->opts->port_lo && rec->lport &&
	    (rec->lport < p->opts->port_lo || rec->lport > p->opts->port_hi))
		return;
	if (ep_decode(rec, p->mono_to_unix, &ev)) {
		p->sum.bad_records++;
		return;
	}
	if (p->enrich.before)
		p->enrich.before(p->enrich.ctx, rec);
	owner_names(p, rec, &ev);
	if ((p->opts->unit && !ep_identity_under(ev.ident, p->opts->unit)) ||
	    (p->opts->container && !ep_identity_container_is(ev.ident, p->opts->container))) {
		/* Judged by the cgroup's own path, not a process's (hybrid hosts) */
		if (p->enrich.exclude && ev.ident && ev.owner_key == rec->cgroup_id)
			p->enrich.exclude(p->enrich.ctx, rec->cgroup_id);
		return;
	}
	ep_agg_event(&p->agg, &ev, &info);
	for (int i = 0; i < p->nconsumers; i++)
		if (p->consumers[i].input)
			p->consumers[i].input(p->consumers[i].ctx, rec, &info);
	for (int i = 0; i < p->nconsumers; i++)
		if (p->consumers[i].event)
			p->consumers[i].event(p->consumers[i].ctx, &ev, &info);
	if (rec->kind == EP_TW_START || (rec->flags & EP_F_FIXED))
		return; /* inputs of the aggregate, not assignments */
	p->sum.events++;
	if (rec->kind == EP_ALLOC)
		p->sum.allocs++;
	else if (rec->kind == EP_RELEASE)
		p->sum.releases++;
	else
		p->sum.fails++;
	ep_view_event(&p->view, &ev, &info);
}

static bool wants_control(const struct ep_pipeline *p)
{
	for (int i = 0; i < p->nconsumers; i++)
		if (p->consumers[i].control)
			return true;
	return false;
}

static void to_consumers(struct ep_pipeline *p, int type, uint64_t mono, uint32_t netns,
		    const void *data, size_t len)
{
	for (int i = 0; i < p->nconsumers; i++)
		if (p->consumers[i].control)
			p->consumers[i].control(p->consumers[i].ctx, type, mono, netns, data, len);
}

void ep_pipe_range(struct ep_pipeline *p, uint64_t mono, uint32_t netns, uint16_t lo,
		   uint16_t hi, const uint8_t *reserved)
{
	if (wants_control(p)) {
		struct ep_range_data d = { .lo = lo, .hi = hi, .has_reserved = reserved != NULL };

		if (reserved)
			memcpy(d.reserved, reserved, sizeof(d.reserved));
		to_consumers(p, EP_CTL_RANGE, mono, netns, &d,
			reserved ? sizeof(d) : offsetof(struct ep_range_data, reserved));
	}
	ep_agg_advance(&p->agg, mono);
	ep_agg_set_range(&p->agg, netns, lo, hi, reserved);
}

void ep_pipe_snapshot(struct ep_pipeline *p, uint64_t mono, uint32_t netns,
		      const struct ep_snap_entry *v, size_t n)
{
	to_consumers(p, EP_CTL_SNAPSHOT, mono, netns, v, n * sizeof(*v));
	ep_agg_advance(&p->agg, mono);
	ep_agg_snapshot_begin(&p->agg, netns);
	for (size_t i = 0; i < n; i++)
		ep_agg_snapshot_add(&p->agg, netns, v[i].proto, v[i].port, v[i].timewait,
				    v[i].cookie, v[i].pid, v[i].comm, v[i].owner_key);
	ep_agg_snapshot_end(&p->agg, netns);
}

void ep_pipe_gone(struct ep_pipeline *p, uint64_t mono, uint32_t netns)
{
	to_consumers(p, EP_CTL_GONE, mono, netns, NULL, 0);
	ep_agg_advance(&p->agg, mono);
	ep_agg_netns_gone(&p->agg, netns);
}

struct dead_set {
	const uint64_t *v;
	size_t n;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool not_dead(uint64_t cookie, void *ctx)
{
	const struct dead_set *d = ctx;

	return !bsearch(&cookie, d->v, d->n, sizeof(cookie), cmp_u64);
}

void ep_pipe_reconcile(struct ep_pipeline *p, uint64_t mono, const uint64_t *dead, size_t n)
{
	uint64_t *sorted = malloc((n ? n : 1) * sizeof(*sorted));
	struct dead_set d = { sorted, n };

	if (!sorted)
		return;
	if (n)
		memcpy(sorted, dead, n * sizeof(*dead));
	qsort(sorted, n, sizeof(*sorted), cmp_u64);
	to_consumers(p, EP_CTL_RECONCILE, mono, 0, sorted, n * sizeof(*sorted));
	ep_agg_reconcile(&p->agg, not_dead, &d);
	free(sorted);
}

void ep_pipe_reconcile_live(struct ep_pipeline *p, uint64_t mono,
			    bool (*alive)(uint64_t cookie, void *ctx), void *ctx)
{
	uint64_t *dead = malloc((p->agg.by_cookie.count + 1) * sizeof(*dead));
	const uint64_t *cookie;
	size_t pos = 0, n = 0;

	if (!dead)
		return;
	while ((cookie = ep_hash_next(&p->agg.by_cookie, &pos, NULL)))
		if (!alive(*cookie, ctx))
			dead[n++] = *cookie;
	ep_pipe_reconcile(p, mono, dead, n);
	free(dead);
}

void ep_pipe_stats(struct ep_pipeline *p, uint64_t mono, const uint64_t st[EP_STAT_MAX])
{
	to_consumers(p, EP_CTL_STATS, mono, 0, st, EP_STAT_MAX * sizeof(uint64_t));
	p->sum.lost = st[EP_STAT_LOST];
	p->sum.socks_full = st[EP_STAT_SOCKS_FULL];
	p->sum.inflight_full = st[EP_STAT_INFLIGHT_FULL];
	p->sum.hook_misses = st[EP_STAT_HOOK_MISSES];
	p->sum.submitted = st[EP_STAT_EVENTS];
	if (p->sum.hook_misses > p->misses_reported) {
		ep_view_hook_misses(&p->view, p->sum.hook_misses,
				    p->sum.hook_misses - p->misses_reported);
		p->misses_reported = p->sum.hook_misses;
	}
	if (p->sum.lost <= p->lost_reported)
		return;
	ep_view_lost(&p->view, p->sum.lost, p->sum.lost - p->lost_reported);
	p->lost_reported = p->sum.lost;
}

void ep_pipe_tick(struct ep_pipeline *p, uint64_t mono, bool final)
{
	uint64_t now_unix = ep_mono_to_unix(mono, p->mono_to_unix);
	uint8_t f = final;

	to_consumers(p, EP_CTL_TICK, mono, 0, &f, 1);
	ep_agg_advance(&p->agg, mono); /* rates up to now, not the last event */
	ep_view_report(&p->view, &p->agg, now_unix, final);
}

void ep_pipe_summary(struct ep_pipeline *p)
{
	p->sum.agg_dropped = p->agg.dropped;
	p->sum.untracked_releases = p->agg.untracked_releases;
	p->sum.reconciled = p->agg.reconciled;
	ep_view_summary(&p->view, &p->sum);
}

void ep_pipe_cgroup(struct ep_pipeline *p, uint64_t mono, uint64_t id, const char *path,
		    int flags)
{
	size_t n = path ? strnlen(path, EP_CGROUP_PATH_MAX) : 0;

	if (n >= EP_CGROUP_PATH_MAX)
		path = NULL, n = 0; /* refused: a name cut short would name another */
	if (wants_control(p)) {
		uint8_t d[EP_CGROUP_CTL_HEAD + EP_CGROUP_PATH_MAX];

		memcpy(d, &id, sizeof(id));
		d[sizeof(id)] = (uint8_t)flags;
		if (n)
			memcpy(d + EP_CGROUP_CTL_HEAD, path, n);
		to_consumers(p, EP_CTL_CGROUP, mono, 0, d, EP_CGROUP_CTL_HEAD + n);
	}
	ep_names_set_cgroup(&p->agg.names, id, n ? path : NULL, flags);
}

void ep_pipe_netns_name(struct ep_pipeline *p, uint64_t mono, uint32_t netns, const char *name)
{
	to_consumers(p, EP_CTL_NETNS_NAME, mono, netns, name, name ? strlen(name) : 0);
	ep_names_set_netns(&p->agg.names, netns, name);
}
