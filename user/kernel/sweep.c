#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include "record.h"
#include "sweep.h"

/* A socket assigned this long before a dump that does not list it is gone. */
#define SETTLE_NS 1000000000ULL
#define MAX_STEPS (4 * EP_SOCKS_MAX)

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
	while (steps++ < MAX_STEPS && !bpf_map_get_next_key(socks_fd, &key, &next)) {
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
