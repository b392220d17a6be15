/* Ingest: tracked holders, reuse intervals and TCP 4-tuples. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "agg_internal.h"

struct tuple_key {
	uint32_t netns;
	uint16_t lport, rport;
	uint8_t laddr[16], raddr[16];
};

struct tuple_val {
	uint64_t holder;   /* cookie of the connection using it, 0: none */
	uint64_t end_ns;   /* when the previous connection ended */
	uint64_t tw_since; /* its holder entered TIME_WAIT at, 0: not in it */
};

const char *ep_metric_name(int metric)
{
	static const char *names[EP_M_MAX] = { "latency", "reuse", "reassign", "tuple_reuse",
					       "hold" };
	return metric >= 0 && metric < EP_M_MAX ? names[metric] : "unknown";
}

int ep_agg_init(struct ep_agg *a, const struct ep_agg_opts *o, const struct ep_sink *sink)
{
	memset(a, 0, sizeof(*a));
	a->o = *o;
	if (a->o.top_n <= 0)
		a->o.top_n = 10;
	if (!a->o.max_sockets)
		a->o.max_sockets = 1 << 18; /* the kernel's socket table */
	if (!a->o.max_tuples)
		a->o.max_tuples = 1 << 17;
	if (!a->o.max_netns)
		a->o.max_netns = 4096;
	if (sink)
		a->sink = *sink;
	if (ep_hash_init(&a->by_cookie, sizeof(uint64_t), sizeof(struct ep_sock), a->o.max_sockets) ||
	    ep_hash_init(&a->tuples, sizeof(struct tuple_key), sizeof(struct tuple_val),
			a->o.max_tuples) ||
	    ep_hash_init(&a->dests, 24, 8, 1 << 16) ||
	    ep_hash_init(&a->nsidx, sizeof(uint32_t), sizeof(uint32_t), a->o.max_netns) ||
	    ep_hash_init(&a->series, EP_SERIES_KEY_SIZE, sizeof(uint32_t), 4096) ||
	    ep_hash_init(&a->bykeys, EP_BY_KEY_LEN, sizeof(uint64_t), (size_t)a->o.top_n * 4) ||
	    ep_names_init(&a->names, 1 << 14, a->o.max_netns)) {
		ep_agg_free(a);
		return -1;
	}
	return 0;
}

void ep_agg_free(struct ep_agg *a)
{
	ep_ns_free_all(a);
	ep_series_free_all(a);
	ep_hash_free(&a->by_cookie);
	ep_hash_free(&a->tuples);
	ep_hash_free(&a->dests);
	ep_hash_free(&a->nsidx);
	ep_hash_free(&a->series);
	ep_hash_free(&a->bykeys);
	ep_names_free(&a->names);
}

static void tuple_key_of(const struct ep_record *r, struct tuple_key *k)
{
	memset(k, 0, sizeof(*k));
	k->netns = r->netns;
	k->lport = r->lport;
	k->rport = r->rport;
	memcpy(k->laddr, r->laddr, 16);
	memcpy(k->raddr, r->raddr, 16);
}

static bool has_tuple(const struct ep_record *r)
{
	return r->proto == EP_TCP && (r->flags & EP_F_RADDR) && r->rport;
}

/* Ended entries go first when the table is full: it only feeds intervals.
 * A table of live connections is not scanned for the few ended ones. */
static void tuples_make_room(struct ep_agg *a)
{
	size_t pos = 0, n = 0;
	uint64_t sum = 0, ended = 0, cut;
	struct tuple_key *victims;
	const struct tuple_key *k;
	struct tuple_val *v;

	if (a->tuples_ended < a->tuples.count / 4)
		return;
	victims = malloc(a->tuples_ended * sizeof(*victims));
	if (!victims)
		return;
	while ((k = ep_hash_next(&a->tuples, &pos, (void **)&v)))
		if (!v->holder) {
			sum += v->end_ns / 1024;
			ended++;
		}
	cut = ended ? sum / ended * 1024 : 0;
	pos = 0;
	while ((k = ep_hash_next(&a->tuples, &pos, (void **)&v)) && n < a->tuples_ended)
		if (!v->holder && v->end_ns <= cut)
			victims[n++] = *k;
	for (size_t i = 0; i < n; i++)
		ep_hash_del(&a->tuples, &victims[i]);
	a->tuples_ended -= n;
	free(victims);
}

static void tuple_assigned(struct ep_agg *a, const struct ep_record *r,
			   struct ep_alloc_info *info)
{
	struct tuple_key k;
	struct tuple_val *v;
	bool created;

	tuple_key_of(r, &k);
	v = ep_hash_put(&a->tuples, &k, &created);
	if (!v) {
		tuples_make_room(a);
		v = ep_hash_put(&a->tuples, &k, &created);
		if (!v) {
			a->dropped++;
			return;
		}
	}
	if (!created && !v->holder && a->tuples_ended)
		a->tuples_ended--;
	if (!created) {
		if (v->tw_since) {
			info->timewait_reuse = true;
			if (r->ts_ns >= v->tw_since)
				info->tuple_reuse_ns = r->ts_ns - v->tw_since;
		} else if (v->end_ns && r->ts_ns >= v->end_ns) {
			info->tuple_reuse_ns = r->ts_ns - v->end_ns;
		}
	}
	v->holder = r->cookie;
	v->end_ns = 0;
	v->tw_since = 0;
}

static void tuple_timewait(struct ep_agg *a, const struct ep_record *r)
{
	struct tuple_key k;
	struct tuple_val *v;

	tuple_key_of(r, &k);
	v = ep_hash_get(&a->tuples, &k);
	if (v && v->holder == r->cookie)
		v->tw_since = r->ts_ns;
}

static void tuple_released(struct ep_agg *a, const struct ep_record *r)
{
	struct tuple_key k;
	struct tuple_val *v;

	tuple_key_of(r, &k);
	v = ep_hash_get(&a->tuples, &k);
	if (!v || v->holder != r->cookie)
		return; /* a newer connection took the tuple over (tcp_tw_reuse) */
	v->holder = 0;
	a->tuples_ended++;
	v->end_ns = (r->flags & EP_F_TIMEWAIT) && r->tw_start_ns ? r->tw_start_ns : r->ts_ns;
	v->tw_since = 0;
}

static void link_holder(struct ep_agg *a, struct ep_port *e, uint64_t cookie, struct ep_sock *s)
{
	struct ep_sock *old = e->head ? ep_hash_get(&a->by_cookie, &e->head) : NULL;

	s->next = old ? e->head : 0;
	s->prev = 0;
	if (old)
		old->prev = cookie;
	e->head = cookie;
	e->holders++;
}

static void unlink_holder(struct ep_agg *a, struct ep_port *e, const struct ep_sock *s)
{
	struct ep_sock *n;

	if (s->prev) {
		n = ep_hash_get(&a->by_cookie, &s->prev);
		if (n)
			n->next = s->next;
	} else {
		e->head = s->next;
	}
	if (s->next) {
		n = ep_hash_get(&a->by_cookie, &s->next);
		if (n)
			n->prev = s->prev;
	}
	if (e->holders)
		e->holders--;
}

static void on_alloc(struct ep_agg *a, const struct ep_event *ev, struct ep_alloc_info *info)
{
	const struct ep_record *r = ev->rec;
	bool fixed = r->flags & EP_F_FIXED;
	struct ep_ns *ns = ep_ns_get(a, r->netns, true);
	struct ep_port *e = ns ? ep_ns_port(ns, r->proto, r->lport, true) : NULL;
	struct ep_sock *s;
	bool created;
	int before;

	if (!e) {
		a->dropped++;
		return;
	}
	if (!fixed) {
		if (!e->holders && e->last_release_ns && r->ts_ns >= e->last_release_ns)
			info->reuse_ns = r->ts_ns - e->last_release_ns;
		if (e->last_assign_ns && r->ts_ns >= e->last_assign_ns)
			info->reassign_ns = r->ts_ns - e->last_assign_ns;
		ep_ns_diagnose(a, ns, ev, e);
		e->last_assign_ns = r->ts_ns;
		if (has_tuple(r))
			tuple_assigned(a, r, info);
	}
	if (r->flags & EP_F_UNTRACKED)
		s = NULL; /* no release will come: not a holder we can follow */
	else if (!(s = ep_hash_put(&a->by_cookie, &r->cookie, &created)))
		a->dropped++;
	if (s && created) {
		before = ep_port_state(ns, r->lport, e);
		s->since_ns = r->ts_ns;
		s->netns = r->netns;
		s->pid = r->pid;
		s->cgroup_id = ev->owner_key;
		s->port = r->lport;
		s->proto = r->proto;
		s->flags = r->flags & EP_F_FIXED;
		memcpy(s->comm, r->comm, EP_COMM_LEN);
		link_holder(a, e, r->cookie, s);
		/* its name outlives the cgroup while it holds the port */
		ep_names_pin(&a->names, s->cgroup_id, 1);
		ep_port_changed(a, ns, r->proto, r->lport, before, e);
		ns->tracked++;
	}
	if (fixed)
		ep_ns_range_conflict(a, ns, ev);
}

static void on_timewait(struct ep_agg *a, const struct ep_event *ev)
{
	const struct ep_record *r = ev->rec;
	struct ep_sock *s = ep_hash_get(&a->by_cookie, &r->cookie);
	struct ep_ns *ns;
	struct ep_port *e;
	int before;

	if (has_tuple(r))
		tuple_timewait(a, r);
	if (!s || (s->flags & SOCK_TW))
		return;
	ns = ep_ns_get(a, s->netns, false);
	e = ns ? ep_ns_port(ns, s->proto, s->port, false) : NULL;
	if (!e)
		return;
	before = ep_port_state(ns, s->port, e);
	s->flags |= SOCK_TW;
	e->tw++;
	ep_port_changed(a, ns, s->proto, s->port, before, e);
}

/* The socket let go of its port at ts (0: unknown, the kernel forgot it);
 * false when it was no holder. */
static bool drop_holder(struct ep_agg *a, uint64_t cookie, uint64_t ts)
{
	struct ep_sock *sp = ep_hash_get(&a->by_cookie, &cookie), s;
	struct ep_ns *ns;
	struct ep_port *e;
	int before;

	if (!sp)
		return false;
	s = *sp;
	ep_hash_del_value(&a->by_cookie, sp);
	ep_names_pin(&a->names, s.cgroup_id, -1);
	ns = ep_ns_get(a, s.netns, false);
	e = ns ? ep_ns_port(ns, s.proto, s.port, false) : NULL;
	if (!e)
		return true;
	before = ep_port_state(ns, s.port, e);
	unlink_holder(a, e, &s);
	if ((s.flags & SOCK_TW) && e->tw)
		e->tw--;
	if (!e->holders && !(s.flags & EP_F_FIXED) && ts)
		e->last_release_ns = ts;
	ep_port_changed(a, ns, s.proto, s.port, before, e);
	ep_ns_untrack(a, ns);
	return true;
}

static void on_release(struct ep_agg *a, const struct ep_event *ev)
{
	const struct ep_record *r = ev->rec;

	if (!(r->flags & EP_F_FIXED)) {
		if (r->assign_ns && r->ts_ns >= r->assign_ns)
			series_add(a, EP_M_HOLD, ev, ev->held_ns);
		if (has_tuple(r))
			tuple_released(a, r);
	}
	if (!drop_holder(a, r->cookie, r->ts_ns) &&
	    (!(r->flags & EP_F_PRESTART) || !ep_ns_snapshot_release(a, r)))
		a->untracked_releases++;
}

/* A holder the kernel no longer tracks lost its release (ring buffer full):
 * dropped at the second check that finds it missing, so that a release
 * still on its way is not overtaken. */
void ep_agg_reconcile(struct ep_agg *a, bool (*alive)(uint64_t cookie, void *ctx), void *ctx)
{
	uint64_t *victims = malloc((a->by_cookie.count + 1) * sizeof(*victims));
	size_t pos = 0, n = 0;
	const uint64_t *cookie;
	struct ep_sock *s;

	if (!victims)
		return;
	while ((cookie = ep_hash_next(&a->by_cookie, &pos, (void **)&s))) {
		if (alive(*cookie, ctx))
			s->flags &= ~SOCK_SUSPECT;
		else if (s->flags & SOCK_SUSPECT)
			victims[n++] = *cookie;
		else
			s->flags |= SOCK_SUSPECT;
	}
	for (size_t i = 0; i < n; i++)
		drop_holder(a, victims[i], 0);
	a->reconciled += n;
	free(victims);
}

void ep_agg_event(struct ep_agg *a, const struct ep_event *ev, struct ep_alloc_info *info)
{
	const struct ep_record *r = ev->rec;
	struct ep_alloc_info scratch;
	struct ep_ns *ns;

	if (!info)
		info = &scratch;
	info->reuse_ns = info->reassign_ns = info->tuple_reuse_ns = EP_NONE;
	info->timewait_reuse = false;
	if (r->ts_ns > a->now)
		a->now = r->ts_ns;
	ep_series_row(a, r);

	switch (r->kind) {
	case EP_ALLOC:
		on_alloc(a, ev, info);
		if (r->flags & EP_F_FIXED)
			break;
		if (ev->has_latency)
			series_add(a, EP_M_LATENCY, ev, r->latency_ns);
		if (info->reuse_ns != EP_NONE)
			series_add(a, EP_M_REUSE, ev, info->reuse_ns);
		if (info->reassign_ns != EP_NONE)
			series_add(a, EP_M_REASSIGN, ev, info->reassign_ns);
		if (info->tuple_reuse_ns != EP_NONE)
			series_add(a, EP_M_TUPLE_REUSE, ev, info->tuple_reuse_ns);
		break;
	case EP_TW_START:
		on_timewait(a, ev);
		break;
	case EP_RELEASE:
		on_release(a, ev);
		break;
	case EP_FAIL:
		ns = ep_ns_get(a, r->netns, true);
		if (!ns)
			break;
		ns->p[proto_idx(r->proto)].fails++;
		if (r->err == EADDRINUSE && r->lport) {
			struct ep_collision c = { .type = EP_COLL_BIND_IN_USE, .ts_ns = r->ts_ns,
						  .ev = ev };

			c.holder_known = ep_agg_holder(a, r->netns, r->proto, r->lport, &c.holder);
			c.holder_ephemeral = c.holder_known && !c.holder.fixed && !c.holder.untracked;
			c.lo = ns->lo;
			c.hi = ns->hi;
			if (a->sink.collision)
				a->sink.collision(a->sink.ctx, &c);
		} else {
			ep_ns_exhausted(a, ns, ev);
		}
		break;
	}
}

void ep_agg_advance(struct ep_agg *a, uint64_t now)
{
	if (now > a->now)
		a->now = now;
}

bool ep_agg_holder(struct ep_agg *a, uint32_t netns, int proto, uint16_t port,
		   struct ep_holder *out)
{
	struct ep_ns *ns = ep_ns_get(a, netns, false);
	struct ep_port *e = ns ? ep_ns_port(ns, proto, port, false) : NULL;
	struct ep_sock *s;

	memset(out, 0, sizeof(*out));
	if (!e)
		return false;
	s = e->head ? ep_hash_get(&a->by_cookie, &e->head) : NULL;
	if (s) {
		out->pid = s->pid;
		out->ident = ep_names_cgroup(&a->names, s->cgroup_id);
		memcpy(out->comm, s->comm, EP_COMM_LEN);
		out->since_ns = s->since_ns;
		out->ports = 1;
		out->fixed = s->flags & EP_F_FIXED;
		return true;
	}
	if (e->snap) {
		const struct ep_port_owner *o = ep_ns_snap_owner(ns, proto, port);

		if (o) {
			out->pid = o->pid;
			out->ident = o->key ? ep_names_cgroup(&a->names, o->key) : NULL;
			memcpy(out->comm, o->comm, EP_COMM_LEN);
		}
		out->ports = 1;
		out->untracked = true;
		return true;
	}
	return false;
}
