/* Per-namespace state: port pages, range and occupancy, snapshots,
 * selection diagnostics, exhaustion and range-conflict reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "agg_internal.h"
#include "sizes.h"

#define EXHAUSTED_EVERY_NS 1000000000ULL

struct ep_ns *ep_ns_lookup(struct ep_agg *a, uint32_t netns, bool create)
{
	struct ep_ns **grown, *ns;
	uint32_t *idx;

	idx = ep_hash_get(&a->nsidx, &netns);
	if (idx) {
		if (create)
			a->ns[*idx]->gone = false;
		return a->last_ns = a->ns[*idx];
	}
	if (!create || a->nns >= a->o.max_netns)
		return NULL;
	ns = calloc(1, sizeof(*ns));
	grown = realloc(a->ns, (a->nns + 1) * sizeof(*grown));
	idx = ns && grown ? ep_hash_put(&a->nsidx, &netns, NULL) : NULL;
	if (!idx) {
		free(ns);
		if (grown)
			a->ns = grown;
		return NULL;
	}
	a->ns = grown;
	ns->netns = netns;
	ns->prev_report_ns = a->now;
	ns->warn_at = ns->rearm_below = UINT32_MAX; /* no range yet */
	*idx = (uint32_t)a->nns;
	a->ns[a->nns++] = ns;
	return ns;
}

#define CHUNK_BYTES ((size_t)EP_CHUNK_PAGES * EP_PAGE * sizeof(struct ep_port))

struct ep_port *ep_ns_port_page(struct ep_ns *ns, int proto, uint16_t port, bool create)
{
	int pi = proto_idx(proto);
	unsigned pg = port >> EP_PAGE_BITS;
	struct ep_port **chunk = &ns->chunks[pi][pg / EP_CHUNK_PAGES];

	if (!ns->pages[pi][pg]) {
		if (!create)
			return NULL;
		if (!*chunk) {
			void *m = mmap(NULL, CHUNK_BYTES, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (m == MAP_FAILED)
				return NULL;
			*chunk = m;
		}
		ns->pages[pi][pg] = *chunk + (size_t)(pg % EP_CHUNK_PAGES) * EP_PAGE;
	}
	return &ns->pages[pi][pg][port & (EP_PAGE - 1)];
}

const struct ep_port_owner *ep_ns_snap_owner(const struct ep_ns *ns, int proto, uint16_t port)
{
	const struct ep_port_owner *page = ns->owners[proto_idx(proto)][port >> EP_PAGE_BITS];

	return page ? &page[port & (EP_PAGE - 1)] : NULL;
}

static uint32_t capacity(const struct ep_ns *ns)
{
	return ns->range_known ? (uint32_t)(ns->hi - ns->lo + 1) - ns->reserved_in_range : 0;
}

void ep_ns_check_threshold(struct ep_agg *a, struct ep_ns *ns, int proto)
{
	struct ep_ns_proto *p = &ns->p[proto_idx(proto)];
	uint32_t cap = capacity(ns);
	double f = cap ? (double)p->in_use / cap : 0;

	if (!p->warned && cap && f >= a->o.threshold) {
		struct ep_warning w = { .netns = ns->netns,
					.netns_name = ep_names_netns(&a->names, ns->netns),
					.proto = proto, .fraction = f,
					.threshold = a->o.threshold, .in_use = p->in_use,
					.capacity = cap, .ts_ns = a->now };

		p->warned = true;
		if (a->sink.warning)
			a->sink.warning(a->sink.ctx, &w);
	} else if (p->warned && f < a->o.threshold - 0.05) {
		p->warned = false; /* re-armed once well below */
	}
}

/* The in_use counts at which check_threshold may act: below warn_at it
 * cannot warn, from rearm_below on it cannot re-arm. Found with its own
 * arithmetic, so that the counts agree with it exactly. */
static uint32_t first_at_or_above(uint32_t cap, double f)
{
	uint32_t n = f <= 0 ? 0 : f >= 1 ? cap : (uint32_t)(f * cap);

	while (n > 0 && (double)(n - 1) / cap >= f)
		n--;
	while (n <= cap && (double)n / cap < f)
		n++;
	return n <= cap ? n : UINT32_MAX;
}

static void set_threshold_counts(struct ep_agg *a, struct ep_ns *ns)
{
	uint32_t cap = capacity(ns);

	ns->warn_at = cap ? first_at_or_above(cap, a->o.threshold) : UINT32_MAX;
	ns->rearm_below = cap ? first_at_or_above(cap, a->o.threshold - 0.05) : UINT32_MAX;
}

static void recount(struct ep_agg *a, struct ep_ns *ns)
{
	for (int pi = 0; pi < EP_NPROTO; pi++) {
		ns->p[pi].in_use = ns->p[pi].tw = 0;
		for (unsigned pg = 0; pg < EP_NPAGES; pg++) {
			if (!ns->pages[pi][pg])
				continue;
			for (unsigned i = 0; i < EP_PAGE; i++) {
				int st = ep_port_state(ns, (uint16_t)(pg * EP_PAGE + i),
						       &ns->pages[pi][pg][i]);

				ns->p[pi].in_use += (st & ST_USED) != 0;
				ns->p[pi].tw += (st & ST_TW) != 0;
			}
		}
		ep_ns_check_threshold(a, ns, ep_proto_of_index(pi));
	}
}

void ep_agg_set_range(struct ep_agg *a, uint32_t netns, uint16_t lo, uint16_t hi,
		      const uint8_t *res)
{
	struct ep_ns *ns = lo <= hi ? ep_ns_get(a, netns, true) : NULL;

	if (!ns)
		return;
	if (ns->range_known && ns->lo == lo && ns->hi == hi &&
	    (!res == !ns->reserved) && (!res || !memcmp(res, ns->reserved, EP_PORT_BITMAP_BYTES)))
		return;
	ns->range_known = true;
	ns->lo = lo;
	ns->hi = hi;
	free(ns->reserved);
	ns->reserved = NULL;
	ns->reserved_in_range = 0;
	if (res) {
		ns->reserved = malloc(EP_PORT_BITMAP_BYTES);
		if (ns->reserved)
			memcpy(ns->reserved, res, EP_PORT_BITMAP_BYTES);
		for (uint32_t port = lo; port <= hi; port++)
			ns->reserved_in_range += ep_port_reserved(ns, (uint16_t)port);
	}
	set_threshold_counts(a, ns);
	recount(a, ns);
}

bool ep_agg_has_range(const struct ep_agg *a, uint32_t netns)
{
	const uint32_t *idx = ep_hash_get(&a->nsidx, &netns);

	return idx && a->ns[*idx]->range_known;
}

/* A port's snapshot owner (pid 0: none): its name is pinned while it
 * holds the port. */
static void snap_owner_set(struct ep_agg *a, struct ep_ns *ns, int pi, uint16_t port,
			   uint32_t pid, const char *comm, uint64_t key)
{
	struct ep_port_owner **page = &ns->owners[pi][port >> EP_PAGE_BITS], *o;

	if (!*page) {
		if (!pid && !key)
			return;
		*page = calloc(EP_PAGE, sizeof(**page));
		if (!*page) {
			a->dropped++;
			return;
		}
	}
	o = &(*page)[port & (EP_PAGE - 1)];
	if (o->key)
		ep_names_pin(&a->names, o->key, -1);
	if (key)
		ep_names_pin(&a->names, key, 1);
	o->pid = pid;
	o->key = key;
	memset(o->comm, 0, EP_COMM_LEN);
	strncpy(o->comm, comm ? comm : "", EP_COMM_LEN - 1);
}

static void snap_reset(struct ep_agg *a, struct ep_ns *ns)
{
	for (int pi = 0; pi < EP_NPROTO; pi++)
		for (unsigned pg = 0; pg < EP_NPAGES; pg++) {
			struct ep_port_owner *owners = ns->owners[pi][pg];

			for (unsigned i = 0; ns->pages[pi][pg] && i < EP_PAGE; i++)
				ns->pages[pi][pg][i].snap = ns->pages[pi][pg][i].snap_tw = 0;
			for (unsigned i = 0; owners && i < EP_PAGE; i++)
				if (owners[i].key)
					ep_names_pin(&a->names, owners[i].key, -1);
			free(owners);
			ns->owners[pi][pg] = NULL;
		}
}

void ep_agg_snapshot_begin(struct ep_agg *a, uint32_t netns)
{
	struct ep_ns *ns = ep_ns_get(a, netns, true);

	if (ns)
		snap_reset(a, ns);
}

void ep_agg_snapshot_add(struct ep_agg *a, uint32_t netns, int proto, uint16_t port,
			 bool timewait, uint64_t cookie, uint32_t pid, const char *comm,
			 uint64_t owner_key)
{
	struct ep_ns *ns;
	struct ep_port *e;

	if (cookie && ep_hash_get(&a->by_cookie, &cookie))
		return; /* the trace holds it already */
	ns = ep_ns_get(a, netns, true);
	e = ns ? ep_ns_port(ns, proto, port, true) : NULL;
	if (!e) {
		a->dropped++;
		return;
	}
	e->snap++;
	if (timewait)
		e->snap_tw++;
	if (pid) {
		const struct ep_port_owner *o = ep_ns_snap_owner(ns, proto, port);

		if (!o || !o->pid)
			snap_owner_set(a, ns, proto_idx(proto), port, pid, comm, owner_key);
	}
}

/* The release of a socket the last snapshot counted (it was there before
 * the trace): it stops counting now rather than at the next snapshot. */
bool ep_ns_snapshot_release(struct ep_agg *a, const struct ep_record *r)
{
	struct ep_ns *ns = ep_ns_get(a, r->netns, false);
	struct ep_port *e = ns ? ep_ns_port(ns, r->proto, r->lport, false) : NULL;
	int before;

	if (!e || !e->snap)
		return false;
	before = ep_port_state(ns, r->lport, e);
	e->snap--;
	if (!e->snap)
		snap_owner_set(a, ns, proto_idx(r->proto), r->lport, 0, NULL, 0);
	if (!e->snap && !e->holders && !(r->flags & EP_F_FIXED))
		e->last_release_ns = r->ts_ns;
	ep_port_changed(a, ns, r->proto, r->lport, before, e);
	return true;
}

void ep_agg_snapshot_end(struct ep_agg *a, uint32_t netns)
{
	struct ep_ns *ns = ep_ns_get(a, netns, false);

	if (ns)
		recount(a, ns);
}

/* Parity, position in the range and the step between consecutive
 * assignments towards one destination. */
void ep_ns_diagnose(struct ep_agg *a, struct ep_ns *ns, const struct ep_event *ev,
		    struct ep_port *e)
{
	const struct ep_record *r = ev->rec;
	struct ep_ns_proto *p = &ns->p[proto_idx(r->proto)];
	struct { uint32_t netns; uint16_t rport; uint8_t proto, pad; uint8_t raddr[16]; } k;
	struct { uint16_t port; uint16_t pad; int32_t step; } *d;
	bool created;

	p->allocs++;
	if (r->via == EP_VIA_CONNECT) {
		if (r->lport & 1) p->odd++; else p->even++;
	} else {
		if (r->lport & 1) p->bind_odd++; else p->bind_even++;
	}
	if (!e->last_assign_ns)
		p->distinct++;
	if (ep_port_in_range(ns, r->lport)) {
		unsigned span = ns->hi - ns->lo + 1;

		p->deciles[(unsigned)(r->lport - ns->lo) * 10 / span]++;
	}
	if (!(r->flags & EP_F_RADDR) || !r->rport)
		return;
	memset(&k, 0, sizeof(k));
	k.netns = r->netns;
	k.rport = r->rport;
	k.proto = r->proto;
	memcpy(k.raddr, r->raddr, 16);
	d = ep_hash_put(&a->dests, &k, &created);
	if (!d) {
		ep_hash_clear(&a->dests); /* it only feeds a statistic */
		d = ep_hash_put(&a->dests, &k, &created);
		if (!d)
			return;
	}
	if (!created) {
		int32_t step = (int32_t)r->lport - d->port;

		if (!p->steps && !(p->steps = malloc(sizeof(*p->steps))))
			return;
		if (!p->pairs)
			ep_hist_init(p->steps);
		p->pairs++;
		if (step == d->step)
			p->repeat_delta++;
		ep_hist_add(p->steps, (uint64_t)(step < 0 ? -(int64_t)step : step));
		d->step = step;
	}
	d->port = r->lport;
}

/* Top holders are counted per process, or per unit or container with
 * --by unit|container (pid 0 then). */
struct holder_key {
	uint32_t pid;
	char group[EP_BY_KEY_LEN];
};

struct holder_count {
	uint32_t ports;
	uint32_t last; /* port + 1 last counted, to count a port once per pid */
	bool tracked;
	uint64_t cgroup_id;
	char comm[EP_COMM_LEN];
};

static bool by_group(const struct ep_agg *a)
{
	return a->o.by == EP_BY_UNIT || a->o.by == EP_BY_CONTAINER;
}

static void holder_key_of(const struct ep_agg *a, uint32_t pid, uint64_t cgroup_id,
			  struct holder_key *k)
{
	memset(k, 0, sizeof(*k));
	if (by_group(a))
		ep_owner_key(a->o.by, cgroup_id ? ep_names_cgroup(&a->names, cgroup_id) : NULL,
			     "-", k->group);
	else
		k->pid = pid;
}

static void count_port(struct ep_agg *a, struct ep_hash *m, const struct ep_port *e,
		       const struct ep_port_owner *owner, uint16_t port)
{
	static const struct ep_port_owner no_one;
	struct holder_count *c;
	struct holder_key k;
	uint64_t ck = e->head;

	for (struct ep_sock *s; ck && (s = ep_hash_get(&a->by_cookie, &ck)); ck = s->next) {
		holder_key_of(a, s->pid, s->cgroup_id, &k);
		c = ep_hash_put(m, &k, NULL);
		if (c && c->last != port + 1u) {
			c->ports++;
			c->last = port + 1u;
			c->tracked = true;
			c->cgroup_id = s->cgroup_id;
			memcpy(c->comm, s->comm, EP_COMM_LEN);
		}
	}
	if (!e->snap)
		return;
	if (!owner)
		owner = &no_one;
	holder_key_of(a, owner->pid, owner->key, &k);
	c = ep_hash_put(m, &k, NULL);
	if (c && c->last != port + 1u) {
		c->ports++;
		c->last = port + 1u;
		if (!c->cgroup_id)
			c->cgroup_id = owner->key;
		if (owner->pid)
			memcpy(c->comm, owner->comm, EP_COMM_LEN);
		else
			snprintf(c->comm, EP_COMM_LEN, "(unknown)");
	}
}

/* Per namespace and protocol: who holds the most ports of the range (of all
 * ports if the range is unknown), tracked and snapshot alike. */
static int top_holders(struct ep_agg *a, struct ep_ns *ns, int pi, struct ep_holder *top, int max)
{
	const struct holder_key *k;
	struct holder_count *c;
	struct ep_hash m;
	size_t pos = 0;
	int n = 0;

	if (ep_hash_init(&m, sizeof(*k), sizeof(*c), 1 << 16))
		return 0;
	for (unsigned pg = 0; pg < EP_NPAGES; pg++) {
		for (unsigned i = 0; ns->pages[pi][pg] && i < EP_PAGE; i++) {
			uint16_t port = (uint16_t)(pg * EP_PAGE + i);

			if (!ns->range_known || (ep_port_in_range(ns, port) && !ep_port_reserved(ns, port)))
				count_port(a, &m, &ns->pages[pi][pg][i],
					   ns->owners[pi][pg] ? &ns->owners[pi][pg][i] : NULL, port);
		}
	}
	while ((k = ep_hash_next(&m, &pos, (void **)&c))) {
		int j = n < max ? n++ : max;

		if (j == max && c->ports <= top[max - 1].ports)
			continue;
		if (j == max)
			j = max - 1;
		while (j > 0 && top[j - 1].ports < c->ports) {
			top[j] = top[j - 1];
			j--;
		}
		memset(&top[j], 0, sizeof(top[j]));
		top[j].pid = k->pid;
		top[j].ident = c->cgroup_id ? ep_names_cgroup(&a->names, c->cgroup_id) : NULL;
		top[j].ports = c->ports;
		if (by_group(a))
			memcpy(top[j].group, k->group, EP_BY_KEY_LEN);
		else
			memcpy(top[j].comm, c->comm, EP_COMM_LEN);
		top[j].untracked = !c->tracked;
	}
	ep_hash_free(&m);
	return n;
}

static void fill_proto(const struct ep_ns *ns, const struct ep_ns_proto *p,
		       struct ep_proto_occ *o, double dt)
{
	o->in_use = p->in_use;
	o->timewait = p->tw;
	o->capacity = capacity(ns);
	o->fraction = o->capacity ? (double)p->in_use / o->capacity : 0;
	o->allocs = p->allocs;
	o->fails = p->fails;
	o->alloc_rate = dt > 0 ? (p->allocs - p->prev_allocs) / dt : 0;
	o->fail_rate = dt > 0 ? (p->fails - p->prev_fails) / dt : 0;
	o->even = p->even;
	o->odd = p->odd;
	o->bind_even = p->bind_even;
	o->bind_odd = p->bind_odd;
	memcpy(o->deciles, p->deciles, sizeof(o->deciles));
	o->distinct = p->distinct;
	o->pairs = p->pairs;
	o->repeat_delta = p->repeat_delta;
	o->median_step = p->steps && p->pairs ? ep_hist_percentile(p->steps, 50) : 0;
}

static void occupancy_of(struct ep_agg *a, struct ep_ns *ns, struct ep_occupancy *out,
			 bool advance, bool holders)
{
	double dt = ns->prev_report_ns && a->now > ns->prev_report_ns
			    ? (a->now - ns->prev_report_ns) / 1e9 : 0;

	memset(out, 0, sizeof(*out));
	out->netns = ns->netns;
	out->gone = ns->gone;
	out->range_known = ns->range_known;
	out->lo = ns->lo;
	out->hi = ns->hi;
	out->reserved_in_range = ns->reserved_in_range;
	for (int pi = 0; pi < EP_NPROTO; pi++) {
		struct ep_proto_occ *o = ep_occ_proto(out, pi);

		fill_proto(ns, &ns->p[pi], o, dt);
		if (holders)
			o->ntop = top_holders(a, ns, pi, o->top, EP_TOP_HOLDERS);
	}
	if (!advance)
		return;
	for (int pi = 0; pi < EP_NPROTO; pi++) {
		ns->p[pi].prev_allocs = ns->p[pi].allocs;
		ns->p[pi].prev_fails = ns->p[pi].fails;
	}
	ns->prev_report_ns = a->now;
}

static void ns_free(struct ep_ns *ns)
{
	for (int pi = 0; pi < EP_NPROTO; pi++) {
		for (unsigned c = 0; c < EP_NCHUNKS; c++)
			if (ns->chunks[pi][c])
				munmap(ns->chunks[pi][c], CHUNK_BYTES);
		for (unsigned pg = 0; pg < EP_NPAGES; pg++)
			free(ns->owners[pi][pg]);
		free(ns->p[pi].steps);
	}
	free(ns->reserved);
	free(ns);
}

/* Swap-remove: indexes of other namespaces stay valid through nsidx. */
static void ns_forget(struct ep_agg *a, struct ep_ns *ns)
{
	uint32_t *idx = ep_hash_get(&a->nsidx, &ns->netns), i;
	struct ep_ns *last = a->ns[a->nns - 1];

	if (!idx)
		return;
	i = *idx;
	ep_hash_del(&a->nsidx, &ns->netns);
	if (last != ns) {
		a->ns[i] = last;
		idx = ep_hash_get(&a->nsidx, &last->netns);
		if (idx)
			*idx = i;
	}
	a->nns--;
	if (a->last_ns == ns)
		a->last_ns = NULL;
	ep_names_forget_netns(&a->names, ns->netns);
	snap_reset(a, ns); /* gives back the names' pins */
	ns_free(ns);
}

void ep_agg_netns_gone(struct ep_agg *a, uint32_t netns)
{
	struct ep_ns *ns = ep_ns_get(a, netns, false);

	if (!ns) {
		ep_names_forget_netns(&a->names, netns);
		return;
	}
	ns->gone = true;
	if (!ns->tracked)
		ns_forget(a, ns);
}

void ep_ns_untrack(struct ep_agg *a, struct ep_ns *ns)
{
	if (ns->tracked)
		ns->tracked--;
	if (ns->gone && !ns->tracked)
		ns_forget(a, ns);
}

size_t ep_agg_netns_count(const struct ep_agg *a)
{
	return a->nns;
}

static bool occupancy_at(struct ep_agg *a, size_t i, struct ep_occupancy *out, bool advance,
			 bool holders)
{
	if (a->ns[i]->gone) {
		memset(out, 0, sizeof(*out));
		out->netns = a->ns[i]->netns;
		out->netns_name = ep_names_netns(&a->names, out->netns);
		out->gone = true;
		return false;
	}
	occupancy_of(a, a->ns[i], out, advance, holders);
	out->netns_name = ep_names_netns(&a->names, out->netns);
	return true;
}

bool ep_agg_occupancy(struct ep_agg *a, size_t i, struct ep_occupancy *out)
{
	return occupancy_at(a, i, out, true, true);
}

bool ep_agg_occupancy_peek(struct ep_agg *a, size_t i, struct ep_occupancy *out)
{
	return occupancy_at(a, i, out, false, false);
}

void ep_ns_exhausted(struct ep_agg *a, struct ep_ns *ns, const struct ep_event *ev)
{
	struct ep_ns_proto *p = &ns->p[proto_idx(ev->rec->proto)];
	struct ep_occupancy occ;
	struct ep_collision c = { .type = EP_COLL_EXHAUSTED, .ts_ns = ev->rec->ts_ns, .ev = ev,
				  .occ = &occ, .lo = ns->lo, .hi = ns->hi };

	/* A failure storm gives one report per second, with the count folded in.
	 * Records from different CPUs arrive slightly out of order: compare
	 * without subtracting, and only ever move the mark forward. */
	if (p->last_exhausted_ns && ev->rec->ts_ns < p->last_exhausted_ns + EXHAUSTED_EVERY_NS) {
		p->suppressed++;
		return;
	}
	c.suppressed = p->suppressed;
	p->suppressed = 0;
	p->last_exhausted_ns = ev->rec->ts_ns;
	occupancy_of(a, ns, &occ, false, true);
	if (a->sink.collision)
		a->sink.collision(a->sink.ctx, &c);
}

void ep_ns_range_conflict(struct ep_agg *a, struct ep_ns *ns, const struct ep_event *ev)
{
	uint16_t port = ev->rec->lport;
	struct ep_collision c = { .type = EP_COLL_RANGE_CONFLICT, .ts_ns = ev->rec->ts_ns,
				  .ev = ev, .lo = ns->lo, .hi = ns->hi };

	if (!ns->range_known)
		return;
	c.reserved = ep_port_reserved(ns, port);
	/* Inside the range unreserved, the port competes with assignments;
	 * reserved outside the range, the reservation does nothing for it. */
	if (ep_port_in_range(ns, port) == c.reserved)
		return;
	if (a->sink.collision)
		a->sink.collision(a->sink.ctx, &c);
}

void ep_ns_free_all(struct ep_agg *a)
{
	for (size_t n = 0; n < a->nns; n++)
		ns_free(a->ns[n]);
	free(a->ns);
	a->ns = NULL;
	a->nns = 0;
	a->last_ns = NULL;
}
