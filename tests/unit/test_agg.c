/* Aggregation on synthetic event streams: intervals, TIME_WAIT reuse,
 * occupancy arithmetic, collisions, top-N series, diagnostics. */
#include <errno.h>
#include <stdlib.h>
#include "agg/agg.h"
#include "check.h"

#define S 1000000000ULL
#define NS_A 4026532000u

static struct ep_collision last_coll;
static struct ep_occupancy last_occ;
static int ncoll, nwarn;
static struct ep_warning last_warn;

static void on_coll(void *ctx, const struct ep_collision *c)
{
	last_coll = *c;
	if (c->occ)
		last_occ = *c->occ;
	ncoll++;
}

static void on_warn(void *ctx, const struct ep_warning *w)
{
	last_warn = *w;
	nwarn++;
}

static struct ep_record rec(int kind, uint64_t ts, uint64_t cookie, uint16_t port)
{
	struct ep_record r = { .kind = kind, .ts_ns = ts, .cookie = cookie, .lport = port,
			       .proto = EP_TCP, .family = 4, .via = EP_VIA_CONNECT,
			       .netns = NS_A, .pid = 7, .tid = 7,
			       .latency_ns = EP_LATENCY_NONE, .comm = "client" };
	return r;
}

static void with_remote(struct ep_record *r, uint8_t last_octet, uint16_t rport)
{
	r->flags |= EP_F_RADDR;
	r->raddr[0] = 10;
	r->raddr[3] = last_octet;
	r->rport = rport;
	r->laddr[0] = 127;
	r->laddr[3] = 1;
}

static struct ep_alloc_info feed(struct ep_agg *a, struct ep_record *r)
{
	struct ep_alloc_info info;
	struct ep_event ev;

	ep_decode(r, 0, &ev);
	if (r->kind == EP_RELEASE && r->assign_ns)
		ev.held_ns = r->ts_ns - r->assign_ns;
	ep_agg_event(a, &ev, &info);
	return info;
}

static void init(struct ep_agg *a, int by, int top)
{
	struct ep_agg_opts o = { .by = by, .top_n = top, .threshold = 0.8 };
	struct ep_sink sink = { on_coll, on_warn, NULL };

	CHECK(ep_agg_init(a, &o, &sink) == 0);
	ncoll = nwarn = 0;
}

static const struct ep_series *find_series(struct ep_series *v, size_t n, int metric,
					   const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].metric == metric && (!key || !strcmp(v[i].key, key)))
			return &v[i];
	return NULL;
}

static void port_reuse_and_hold(void)
{
	struct ep_agg a;
	struct ep_record r;
	struct ep_alloc_info i;
	struct ep_series *sv;
	const struct ep_series *s;
	size_t n;

	init(&a, EP_BY_NONE, 10);
	r = rec(EP_ALLOC, 1 * S, 1, 40000);
	r.latency_ns = 20000;
	i = feed(&a, &r);
	CHECK(i.reuse_ns == EP_NONE && i.reassign_ns == EP_NONE && i.tuple_reuse_ns == EP_NONE);
	r = rec(EP_RELEASE, 3 * S, 1, 40000);
	r.assign_ns = 1 * S;
	feed(&a, &r);
	r = rec(EP_ALLOC, 10 * S, 2, 40000);
	r.latency_ns = 40000;
	i = feed(&a, &r);
	CHECK(i.reuse_ns == 7 * S);
	CHECK(i.reassign_ns == 9 * S);
	/* a second holder on a shared port: not free before, so no reuse */
	r = rec(EP_ALLOC, 11 * S, 3, 40000);
	i = feed(&a, &r);
	CHECK(i.reuse_ns == EP_NONE && i.reassign_ns == 1 * S);
	/* a release of a socket never seen assigned changes nothing */
	r = rec(EP_RELEASE, 12 * S, 99, 40000);
	feed(&a, &r);
	CHECK(a.untracked_releases == 1);

	n = ep_agg_series(&a, &sv);
	s = find_series(sv, n, EP_M_LATENCY, NULL);
	CHECK(s && s->h->count == 2 && s->h->min == 20000 && s->h->max == 40000);
	s = find_series(sv, n, EP_M_HOLD, NULL);
	CHECK(s && s->h->count == 1 && s->h->min == 2 * S);
	s = find_series(sv, n, EP_M_REUSE, NULL);
	CHECK(s && s->h->count == 1 && ep_hist_percentile(s->h, 50) >= 7 * S - 7 * S / 64 &&
	      ep_hist_percentile(s->h, 50) <= 7 * S);
	s = find_series(sv, n, EP_M_REASSIGN, NULL);
	CHECK(s && s->h->count == 2);
	ep_agg_series_free(sv, n);
	ep_agg_free(&a);
}

static void tuple_and_timewait(void)
{
	struct ep_agg a;
	struct ep_record r;
	struct ep_alloc_info i;

	init(&a, EP_BY_NONE, 10);
	r = rec(EP_ALLOC, 1 * S, 1, 40001);
	with_remote(&r, 1, 80);
	feed(&a, &r);
	r.kind = EP_TW_START;
	r.ts_ns = 2 * S;
	feed(&a, &r);
	/* tcp_tw_reuse: the same 4-tuple while its TIME_WAIT socket lives */
	r = rec(EP_ALLOC, 5 * S, 2, 40001);
	with_remote(&r, 1, 80);
	i = feed(&a, &r);
	CHECK(i.timewait_reuse);
	CHECK(i.tuple_reuse_ns == 3 * S);
	CHECK(i.reuse_ns == EP_NONE); /* the port never went free */
	/* the old TIME_WAIT socket's end must not end the new connection */
	r = rec(EP_RELEASE, 5 * S, 1, 40001);
	with_remote(&r, 1, 80);
	r.flags |= EP_F_TIMEWAIT;
	r.tw_start_ns = 2 * S;
	r.assign_ns = 1 * S;
	feed(&a, &r);
	r = rec(EP_RELEASE, 6 * S, 2, 40001);
	with_remote(&r, 1, 80);
	r.assign_ns = 5 * S;
	feed(&a, &r);
	r = rec(EP_ALLOC, 8 * S, 3, 40001);
	with_remote(&r, 1, 80);
	i = feed(&a, &r);
	CHECK(!i.timewait_reuse);
	CHECK(i.tuple_reuse_ns == 2 * S);
	CHECK(i.reuse_ns == 2 * S);
	/* another destination: a different tuple */
	r = rec(EP_ALLOC, 9 * S, 4, 40001);
	with_remote(&r, 2, 80);
	i = feed(&a, &r);
	CHECK(i.tuple_reuse_ns == EP_NONE && !i.timewait_reuse);
	ep_agg_free(&a);
}

static void occupancy(void)
{
	static uint8_t reserved[8192];
	struct ep_agg a;
	struct ep_record r;
	struct ep_occupancy o;

	init(&a, EP_BY_NONE, 10);
	reserved[105 >> 3] |= 1 << (105 & 7);
	ep_agg_set_range(&a, NS_A, 100, 115, reserved);
	for (int p = 0; p < 3; p++) {
		r = rec(EP_ALLOC, (1 + p) * S, 10 + p, 100 + p);
		feed(&a, &r);
	}
	r = rec(EP_ALLOC, 4 * S, 20, 5000); /* outside the range */
	feed(&a, &r);
	r = rec(EP_ALLOC, 4 * S, 21, 105); /* reserved: no capacity used */
	r.via = EP_VIA_BIND;
	feed(&a, &r);
	r = rec(EP_TW_START, 5 * S, 10, 100);
	feed(&a, &r);
	CHECK(ep_agg_netns_count(&a) == 1);
	ep_agg_occupancy(&a, 0, &o);
	CHECK(o.range_known && o.lo == 100 && o.hi == 115 && o.reserved_in_range == 1);
	CHECK(o.tcp.capacity == 15 && o.tcp.in_use == 3 && o.tcp.timewait == 1);
	CHECK(o.tcp.fraction > 0.199 && o.tcp.fraction < 0.201);
	CHECK(o.udp.in_use == 0);
	CHECK(o.tcp.ntop == 1 && o.tcp.top[0].pid == 7 && o.tcp.top[0].ports == 3); /* of the range */
	CHECK(!o.tcp.top[0].untracked && o.udp.ntop == 0);
	CHECK(o.tcp.allocs == 5);
	/* release of the TIME_WAIT one */
	r = rec(EP_RELEASE, 6 * S, 10, 100);
	r.flags |= EP_F_TIMEWAIT;
	feed(&a, &r);
	ep_agg_occupancy(&a, 0, &o);
	CHECK(o.tcp.in_use == 2 && o.tcp.timewait == 0);
	/* untracked sockets from a snapshot count until the next snapshot */
	ep_agg_snapshot_begin(&a, NS_A);
	ep_names_set_cgroup(&a.names, 0x42, "/system.slice/old.service", 0);
	ep_agg_snapshot_add(&a, NS_A, EP_TCP, 110, false, 555, 99, "old", 0x42);
	ep_agg_snapshot_add(&a, NS_A, EP_TCP, 111, true, 556, 0, NULL, 0);
	ep_agg_snapshot_add(&a, NS_A, EP_TCP, 101, false, 11, 7, "client", 0); /* tracked */
	ep_agg_snapshot_end(&a, NS_A);
	ep_agg_occupancy(&a, 0, &o);
	CHECK(o.tcp.in_use == 4 && o.tcp.timewait == 1);
	{
		struct ep_holder h;
		bool named = false;

		/* a holder from before the trace is named by its process's cgroup */
		CHECK(ep_agg_holder(&a, NS_A, EP_TCP, 110, &h) && h.untracked && h.pid == 99 &&
		      h.ident && !strcmp(h.ident->unit, "old.service"));
		for (int i = 0; i < o.tcp.ntop; i++)
			named |= o.tcp.top[i].pid == 99 && o.tcp.top[i].ident &&
				 !strcmp(o.tcp.top[i].ident->unit, "old.service");
		CHECK(named);
		/* its name stays while it holds the port */
		CHECK(ep_names_pins(&a.names, 0x42) == 1);
	}
	/* the kernel followed the one from before the trace to its release */
	r = rec(EP_RELEASE, 6 * S + 1, 555, 110);
	r.flags |= EP_F_PRESTART;
	r.assign_ns = 0;
	feed(&a, &r);
	ep_agg_occupancy(&a, 0, &o);
	CHECK(o.tcp.in_use == 3 && a.untracked_releases == 0);
	CHECK(ep_names_pins(&a.names, 0x42) == 0);
	feed(&a, &r); /* a second one for the same port finds nothing to release */
	CHECK(a.untracked_releases == 1);
	/* ports far apart (pages of other mappings) keep their owners; the
	 * next snapshot forgets them and gives their names back */
	ep_agg_snapshot_begin(&a, NS_A);
	ep_agg_snapshot_add(&a, NS_A, EP_UDP, 65535, false, 557, 98, "far", 0x42);
	ep_agg_snapshot_add(&a, NS_A, EP_UDP, 0, false, 558, 97, "near", 0);
	ep_agg_snapshot_end(&a, NS_A);
	{
		struct ep_holder h;

		CHECK(ep_agg_holder(&a, NS_A, EP_UDP, 65535, &h) && h.pid == 98 &&
		      !strcmp(h.comm, "far") && ep_names_pins(&a.names, 0x42) == 1);
		CHECK(ep_agg_holder(&a, NS_A, EP_UDP, 0, &h) && h.pid == 97 && !h.ident);
		CHECK(!ep_agg_holder(&a, NS_A, EP_UDP, 32768, &h));
	}
	ep_agg_snapshot_begin(&a, NS_A);
	ep_agg_snapshot_end(&a, NS_A);
	CHECK(ep_names_pins(&a.names, 0x42) == 0);
	{
		struct ep_holder h;

		CHECK(!ep_agg_holder(&a, NS_A, EP_UDP, 65535, &h) && !h.pid);
	}
	ep_agg_occupancy(&a, 0, &o);
	CHECK(o.tcp.in_use == 2 && o.tcp.timewait == 0);
	/* threshold 80% of 15 = 12 ports: one warning, re-armed below 75% */
	CHECK(nwarn == 0);
	for (int p = 0; p < 10; p++) {
		r = rec(EP_ALLOC, 7 * S, 30 + p, 106 + p);
		feed(&a, &r);
	}
	CHECK(nwarn == 1 && last_warn.in_use == 12 && last_warn.capacity == 15);
	/* a namespace that is gone is flagged until an event shows it again */
	ep_agg_netns_gone(&a, NS_A);
	ep_agg_occupancy(&a, 0, &o);
	CHECK(o.gone);
	r = rec(EP_ALLOC, 8 * S, 60, 114);
	feed(&a, &r);
	ep_agg_occupancy(&a, 0, &o);
	CHECK(!o.gone);
	ep_agg_free(&a);
}

/* The warning comes at the first count whose fraction reaches the
 * threshold, and again after a fall below threshold - 0.05, for any range
 * size and threshold (the counts are precomputed, the fraction is not). */
static void thresholds(void)
{
	static const double thr[] = { 0.8, 0.5, 0.9, 0.95, 1.0 / 3, 0.7, 1.0, 0.06, 0.01 };
	static const unsigned caps[] = { 1, 3, 7, 10, 15, 100, 999 };

	for (size_t t = 0; t < sizeof(thr) / sizeof(thr[0]); t++) {
		for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
			struct ep_agg_opts o = { .threshold = thr[t] };
			struct ep_sink sink = { on_coll, on_warn, NULL };
			unsigned cap = caps[c], want = 0, got = 0, rearmed = 0;
			struct ep_agg a;
			struct ep_record r;

			while ((double)want / cap < thr[t])
				want++;
			CHECK(ep_agg_init(&a, &o, &sink) == 0);
			nwarn = 0;
			ep_agg_set_range(&a, NS_A, 1000, (uint16_t)(1000 + cap - 1), NULL);
			for (int round = 0; round < 2; round++) {
				for (unsigned n = 1; n <= cap; n++) {
					r = rec(EP_ALLOC, (round * 2 + 1) * S, n, (uint16_t)(999 + n));
					feed(&a, &r);
					if (nwarn > (int)got) {
						CHECK(n == want && last_warn.in_use == want);
						got = nwarn;
					}
				}
				for (unsigned n = cap; n >= 1; n--) {
					r = rec(EP_RELEASE, (round * 2 + 2) * S, n, (uint16_t)(999 + n));
					feed(&a, &r);
				}
				rearmed += (double)0 / cap < thr[t] - 0.05;
			}
			CHECK(nwarn == 1 + (rearmed > 0) && got == (unsigned)nwarn);
			ep_agg_free(&a);
		}
	}
}

static void collisions(void)
{
	static uint8_t reserved[8192];
	struct ep_agg a;
	struct ep_record r;

	init(&a, EP_BY_NONE, 10);
	reserved[200 >> 3] |= 1 << (200 & 7);
	reserved[105 >> 3] |= 1 << (105 & 7);
	ep_agg_set_range(&a, NS_A, 100, 115, reserved);
	/* fixed binds: inside the range, reserved outside it, reserved inside, outside */
	r = rec(EP_ALLOC, 1 * S, 1, 110);
	r.flags = EP_F_FIXED;
	r.via = EP_VIA_BIND;
	r.pid = 42;
	memcpy(r.comm, "srv", 4);
	feed(&a, &r);
	CHECK(ncoll == 1 && last_coll.type == EP_COLL_RANGE_CONFLICT && !last_coll.reserved);
	r.cookie = 2;
	r.lport = 200;
	feed(&a, &r);
	CHECK(ncoll == 2 && last_coll.type == EP_COLL_RANGE_CONFLICT && last_coll.reserved);
	r.cookie = 3;
	r.lport = 105;
	feed(&a, &r);
	r.cookie = 4;
	r.lport = 300;
	feed(&a, &r);
	CHECK(ncoll == 2);
	/* a fixed holder is a holder but no assignment */
	{
		struct ep_occupancy o;

		ep_agg_occupancy(&a, 0, &o);
		CHECK(o.tcp.in_use == 1 && o.tcp.allocs == 0);
	}
	/* bind to a held port: the holder is named */
	r = rec(EP_FAIL, 3 * S, 9, 300);
	r.err = EADDRINUSE;
	r.via = EP_VIA_BIND;
	r.pid = 43;
	feed(&a, &r);
	CHECK(ncoll == 3 && last_coll.type == EP_COLL_BIND_IN_USE && last_coll.holder_known);
	CHECK(last_coll.holder.pid == 42 && !strcmp(last_coll.holder.comm, "srv"));
	CHECK(last_coll.holder.since_ns == 1 * S && last_coll.holder.fixed);
	/* after the holder lets go, nobody */
	r = rec(EP_RELEASE, 4 * S, 4, 300);
	r.flags = EP_F_FIXED;
	feed(&a, &r);
	r = rec(EP_FAIL, 5 * S, 9, 300);
	r.err = EADDRINUSE;
	feed(&a, &r);
	CHECK(ncoll == 4 && !last_coll.holder_known);
	/* exhaustion: occupancy and holders, one report per second */
	r = rec(EP_ALLOC, 6 * S, 50, 101);
	feed(&a, &r);
	r = rec(EP_FAIL, 7 * S, 51, 0);
	r.err = EADDRNOTAVAIL;
	feed(&a, &r);
	CHECK(ncoll == 5 && last_coll.type == EP_COLL_EXHAUSTED && last_coll.suppressed == 0);
	CHECK(last_occ.tcp.in_use == 2 && last_occ.tcp.capacity == 15);
	feed(&a, &r);
	r.ts_ns += S / 2;
	feed(&a, &r);
	CHECK(ncoll == 5);
	r.ts_ns = 8 * S + 1;
	feed(&a, &r);
	CHECK(ncoll == 6 && last_coll.suppressed == 2);
	ep_agg_free(&a);
}

static void top_n_series(void)
{
	struct ep_agg a;
	struct ep_record r;
	struct ep_series *sv;
	const struct ep_series *s;
	size_t n;
	const char *comms[] = { "a", "a", "a", "b", "c", "c" };

	init(&a, EP_BY_COMM, 2);
	for (int i = 0; i < 6; i++) {
		r = rec(EP_ALLOC, (1 + i) * S, 100 + i, 30000 + i);
		r.latency_ns = 1000 * (i + 1);
		memset(r.comm, 0, sizeof(r.comm));
		strcpy(r.comm, comms[i]);
		feed(&a, &r);
	}
	n = ep_agg_series(&a, &sv);
	s = find_series(sv, n, EP_M_LATENCY, "a");
	CHECK(s && s->h->count == 3);
	s = find_series(sv, n, EP_M_LATENCY, "c");
	CHECK(s && s->h->count == 2);
	CHECK(find_series(sv, n, EP_M_LATENCY, "b") == NULL);
	s = find_series(sv, n, EP_M_LATENCY, "other");
	CHECK(s && s->h->count == 1 && s->h->max == 4000);
	ep_agg_series_free(sv, n);
	ep_agg_free(&a);
}

/* Names: a holder pins its cgroup's name, fixed binds alike, until its
 * release; --by unit keys are told apart on every byte. */
static void names_and_units(void)
{
	const char *units[] = { "/a/nginx-worker-pool-production-1.service",
				"/a/nginx-worker-pool-production-2.service" };
	struct ep_alloc_info info;
	struct ep_series *sv;
	struct ep_event ev;
	struct ep_record r;
	struct ep_agg a;
	size_t n;

	init(&a, EP_BY_UNIT, 10);
	for (int i = 0; i < 6; i++) {
		uint64_t id = 500 + (i % 2);

		ep_names_set_cgroup(&a.names, id, units[i % 2], 0);
		r = rec(EP_ALLOC, (1 + i) * S, 200 + i, 31000 + i);
		r.latency_ns = 1000;
		r.cgroup_id = id;
		if (i == 5)
			r.flags |= EP_F_FIXED;
		ep_decode(&r, 0, &ev);
		ev.owner_key = id;
		ev.ident = ep_names_cgroup(&a.names, id);
		ep_agg_event(&a, &ev, &info);
	}
	CHECK(ep_names_pins(&a.names, 500) == 3 && ep_names_pins(&a.names, 501) == 3);
	n = ep_agg_series(&a, &sv);
	CHECK(find_series(sv, n, EP_M_LATENCY, "nginx-worker-pool-production-1.service") &&
	      find_series(sv, n, EP_M_LATENCY, "nginx-worker-pool-production-1.service")->h->count == 3);
	CHECK(find_series(sv, n, EP_M_LATENCY, "nginx-worker-pool-production-2.service") &&
	      find_series(sv, n, EP_M_LATENCY, "nginx-worker-pool-production-2.service")->h->count == 2);
	ep_agg_series_free(sv, n);
	for (int i = 0; i < 6; i++) {
		r = rec(EP_RELEASE, (10 + i) * S, 200 + i, 31000 + i);
		r.cgroup_id = 500 + (i % 2);
		if (i == 5)
			r.flags |= EP_F_FIXED;
		feed(&a, &r);
	}
	CHECK(ep_names_pins(&a.names, 500) == 0 && ep_names_pins(&a.names, 501) == 0);
	ep_agg_free(&a);
}

static void diagnostics(void)
{
	struct ep_agg a;
	struct ep_record r;
	struct ep_occupancy o;
	uint16_t ports[] = { 101, 103, 105, 110 };

	init(&a, EP_BY_NONE, 10);
	ep_agg_set_range(&a, NS_A, 100, 119, NULL);
	for (int i = 0; i < 4; i++) {
		r = rec(EP_ALLOC, (1 + i) * S, 1 + i, ports[i]);
		with_remote(&r, 1, 443);
		feed(&a, &r);
	}
	r = rec(EP_ALLOC, 6 * S, 9, 118);
	r.via = EP_VIA_BIND;
	feed(&a, &r);
	ep_agg_occupancy(&a, 0, &o);
	CHECK(o.tcp.odd == 3 && o.tcp.even == 1 && o.tcp.bind_even == 1 && o.tcp.bind_odd == 0);
	CHECK(o.tcp.deciles[0] == 1 && o.tcp.deciles[1] == 1 && o.tcp.deciles[2] == 1 && o.tcp.deciles[5] == 1 &&
	      o.tcp.deciles[9] == 1);
	CHECK(o.tcp.distinct == 5);
	/* steps 2, 2, 5: three pairs, one repeating the step before */
	CHECK(o.tcp.pairs == 3 && o.tcp.repeat_delta == 1 && o.tcp.median_step == 2);
	ep_agg_free(&a);
}

static bool nothing_alive(uint64_t cookie, void *ctx)
{
	return false;
}

/* Streams that are not well-formed: lost records, reordering, dead namespaces. */
static void damaged_streams(void)
{
	struct ep_agg a;
	struct ep_record r;
	struct ep_alloc_info i;
	struct ep_occupancy o;

	init(&a, EP_BY_NONE, 10);
	ep_agg_set_range(&a, NS_A, 100, 115, NULL);
	/* a TIME_WAIT start later than the reuse that follows (CPU reordering) */
	r = rec(EP_ALLOC, 5 * S, 1, 100);
	with_remote(&r, 1, 80);
	feed(&a, &r);
	r.kind = EP_TW_START;
	r.ts_ns = 6 * S;
	feed(&a, &r);
	r = rec(EP_ALLOC, 6 * S - 1, 2, 100);
	with_remote(&r, 1, 80);
	i = feed(&a, &r);
	CHECK(i.timewait_reuse && i.tuple_reuse_ns == EP_NONE);
	/* the kernel could not track it: no holder to follow */
	r = rec(EP_ALLOC, 7 * S, 3, 101);
	r.flags |= EP_F_UNTRACKED;
	feed(&a, &r);
	ep_agg_occupancy(&a, 0, &o);
	CHECK(o.tcp.in_use == 1 && o.tcp.allocs == 3);
	/* releases lost: dropped at the second check that misses them */
	ep_agg_reconcile(&a, nothing_alive, NULL);
	ep_agg_occupancy(&a, 0, &o);
	CHECK(o.tcp.in_use == 1 && a.reconciled == 0);
	ep_agg_reconcile(&a, nothing_alive, NULL);
	ep_agg_occupancy(&a, 0, &o);
	CHECK(o.tcp.in_use == 0 && o.tcp.timewait == 0 && a.reconciled == 2);
	/* an exhaustion report, then a failure stamped a little earlier */
	r = rec(EP_FAIL, 10 * S, 9, 0);
	r.err = EADDRNOTAVAIL;
	feed(&a, &r);
	r.ts_ns = 10 * S - 1000;
	feed(&a, &r);
	CHECK(ncoll == 1 && last_coll.type == EP_COLL_EXHAUSTED);
	/* a namespace that is gone and holds nothing is forgotten */
	r = rec(EP_ALLOC, 11 * S, 20, 102);
	r.netns = NS_A + 1;
	feed(&a, &r);
	CHECK(ep_agg_netns_count(&a) == 2);
	ep_names_set_netns(&a.names, NS_A, "old");
	ep_names_set_netns(&a.names, NS_A + 1, "lb");
	ep_agg_netns_gone(&a, NS_A);
	/* its inode may number a new namespace: the name goes with it */
	CHECK(ep_agg_netns_count(&a) == 1 && !ep_names_knows_netns(&a.names, NS_A));
	ep_agg_netns_gone(&a, NS_A + 1); /* still holds cookie 20 */
	CHECK(ep_agg_netns_count(&a) == 1 && !ep_agg_occupancy(&a, 0, &o) && o.gone);
	CHECK_STR(ep_names_netns(&a.names, NS_A + 1), "lb");
	r.kind = EP_RELEASE;
	r.ts_ns = 12 * S;
	feed(&a, &r);
	CHECK(ep_agg_netns_count(&a) == 0 && !ep_names_knows_netns(&a.names, NS_A + 1));
	ep_agg_free(&a);
}

int main(void)
{
	port_reuse_and_hold();
	tuple_and_timewait();
	occupancy();
	thresholds();
	collisions();
	top_n_series();
	names_and_units();
	diagnostics();
	damaged_streams();
	return check_done("agg");
}
