#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include "tables.h"

int ep_tables_follow_prestart(int socks_fd, const struct ep_opts *o, uint32_t netns,
			      const struct ep_diag_sock *s, const struct ep_owner *owner,
			      bool fixed)
{
	struct sock_state st = { .phase = PH_ASSIGNED };
	struct ep_record *r = &st.rec;

	r->kind = EP_ALLOC;
	r->latency_ns = EP_LATENCY_NONE;
	r->cookie = s->cookie;
	r->netns = netns;
	r->proto = s->proto;
	r->family = s->family;
	r->lport = s->lport;
	r->rport = s->rport;
	memcpy(r->laddr, s->laddr, sizeof(r->laddr));
	memcpy(r->raddr, s->raddr, sizeof(r->raddr));
	r->flags = EP_F_PRESTART | (s->rport ? EP_F_RADDR : 0) | (fixed ? EP_F_FIXED : 0);
	if (owner) {
		r->pid = r->tid = owner->pid;
		memcpy(r->comm, owner->comm, sizeof(r->comm));
	}
	/* Without an owner, a pid or comm filter leaves it out; with a cgroup
	 * filter everything (its owner's cgroup is not looked up: id 0). */
	if (!ep_opts_want(o, r))
		return 0;
	/* assign_ns stays 0: when the port was taken is not known. A socket the
	 * kernel follows already (made after the start) is left alone. */
	if (bpf_map_update_elem(socks_fd, &s->cookie, &st, BPF_NOEXIST))
		return errno == EEXIST ? 0 : -1;
	return 1;
}

bool ep_tables_tw_take(int socks_fd, uint64_t cookie, uint64_t cancel_ns,
		       struct ep_record *release)
{
	struct sock_state st;

	if (bpf_map_lookup_elem(socks_fd, &cookie, &st))
		return false; /* the kernel released it (expiry) */
	if (st.phase != PH_TIMEWAIT || st.cancel_ns != cancel_ns)
		return false; /* restarted, or cancelled again later */
	if (bpf_map_delete_elem(socks_fd, &cookie))
		return false;
	*release = st.rec;
	release->kind = EP_RELEASE;
	release->ts_ns = cancel_ns;
	release->reason = EP_REL_TW_KILLED;
	release->flags |= EP_F_TIMEWAIT;
	release->latency_ns = EP_LATENCY_NONE;
	return true;
}

void ep_tables_forget_released(int socks_fd, uint64_t cookie)
{
	struct sock_state st;

	if (!bpf_map_lookup_elem(socks_fd, &cookie, &st) && st.phase == PH_RELEASED)
		bpf_map_delete_elem(socks_fd, &cookie);
}

bool ep_tables_tracks(int socks_fd, uint64_t cookie)
{
	struct sock_state st;

	return !bpf_map_lookup_elem(socks_fd, &cookie, &st);
}

/* A socket assigned this long before a dump that does not list it is gone. */
#define SETTLE_NS 1000000000ULL
#define SWEEP_STEPS (4 * EP_SOCKS_MAX)

struct ep_sweep_ns {
	uint32_t netns;
	uint64_t mono;
	uint64_t *cookies; /* sorted */
	size_t n;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void ep_sweep_add(struct ep_sweep *s, uint32_t netns, const struct ep_diag_sock *v, size_t n,
		  uint64_t mono)
{
	struct ep_sweep_ns *e;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;
		struct ep_sweep_ns *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return; /* not swept this time */
		s->v = nv;
		s->cap = cap;
	}
	e = &s->v[s->n];
	e->cookies = malloc((n ? n : 1) * sizeof(*e->cookies));
	if (!e->cookies)
		return;
	for (size_t i = 0; i < n; i++)
		e->cookies[i] = v[i].cookie;
	qsort(e->cookies, n, sizeof(*e->cookies), cmp_u64);
	e->netns = netns;
	e->mono = mono;
	e->n = n;
	s->n++;
}

static const struct ep_sweep_ns *find_ns(const struct ep_sweep *s, uint32_t netns)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].netns == netns)
			return &s->v[i];
	return NULL;
}

/* sock_diag lists TCP sockets that are bound but neither listening nor
 * connected (TCP_BOUND_INACTIVE) from Linux 6.7 on; before, such a socket
 * missing from a dump says nothing. */
static bool bound_only_listed(void)
{
	static int known = -1;
	struct utsname u;
	int major = 0, minor = 0;

	if (known < 0)
		known = !uname(&u) && sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
			(major > 6 || (major == 6 && minor >= 7));
	return known;
}

static bool gone(const struct ep_sweep *s, uint64_t cookie, const struct sock_state *st)
{
	const struct ep_sweep_ns *ns = find_ns(s, st->rec.netns);

	if (!ns || (st->phase != PH_ASSIGNED && st->phase != PH_RELEASED))
		return false;
	/* A pending entry the kernel is turning into an assignment in place:
	 * its time may not be written yet. */
	if (!st->rec.assign_ns && !(st->rec.flags & EP_F_PRESTART))
		return false;
	if (st->rec.proto == EP_TCP && st->rec.via == EP_VIA_BIND && !bound_only_listed())
		return false;
	/* Entries made after the dump (or just before it) are left alone. */
	if (st->rec.assign_ns + SETTLE_NS > ns->mono)
		return false;
	return !bsearch(&cookie, ns->cookies, ns->n, sizeof(cookie), cmp_u64);
}

size_t ep_sweep_run(struct ep_sweep *s, int socks_fd)
{
	uint64_t key = 0, next, *victims = NULL; /* no socket has cookie 0: starts the walk */
	size_t n = 0, cap = 0, removed = 0, steps = 0;
	struct sock_state st;

	if (!s->n)
		return 0;
	/* A key deleted under the walk restarts it from the first: bounded. */
	while (steps++ < SWEEP_STEPS && !bpf_map_get_next_key(socks_fd, &key, &next)) {
		key = next;
		if (bpf_map_lookup_elem(socks_fd, &key, &st) || !gone(s, key, &st))
			continue;
		if (n == cap) {
			uint64_t *nv = realloc(victims, (cap = cap ? 2 * cap : 16) * sizeof(*nv));

			if (!nv)
				break;
			victims = nv;
		}
		victims[n++] = key;
	}
	/* Deleted after the walk: deleting during it would restart it. Looked
	 * at again first: the kernel may have changed an entry since. */
	for (size_t i = 0; i < n; i++)
		if (!bpf_map_lookup_elem(socks_fd, &victims[i], &st) && gone(s, victims[i], &st))
			removed += !bpf_map_delete_elem(socks_fd, &victims[i]);
	free(victims);
	ep_sweep_free(s);
	return removed;
}

void ep_sweep_free(struct ep_sweep *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].cookies);
	free(s->v);
	memset(s, 0, sizeof(*s));
}
