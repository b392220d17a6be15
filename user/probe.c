#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "hashmap.h"
#include "netns.h"
#include "owners.h"
#include "probe.h"
#include "sockdiag.h"

#define MIN_GAP_NS 200000000ULL     /* between two probes of one namespace */
#define OWNER_SCAN_NS 30000000000ULL /* between two /proc scans for new sockets */

struct ns_info {
	uint32_t pid;       /* a process seen in it */
	uint32_t pad;
	uint64_t probed_ns; /* 0: never */
	uint64_t owners_ns; /* last /proc scan for its sockets */
};

struct ep_probe {
	struct ep_pipeline *pipe;
	uint32_t only;
	struct ep_map ns;     /* netns -> ns_info */
	struct ep_map owners; /* socket inode -> struct ep_owner */
};

/* What one probe collects inside the namespace. */
struct dump {
	struct ep_diag_sock *v;
	size_t n, cap;
	bool failed;
	uint16_t lo, hi;
	bool range_ok, reserved_any;
	uint8_t reserved[8192];
};

struct ep_probe *ep_probe_new(struct ep_pipeline *pipe, uint32_t only_netns)
{
	struct ep_probe *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->pipe = pipe;
	p->only = only_netns;
	if (ep_map_init(&p->ns, sizeof(uint32_t), sizeof(struct ns_info), 65536) ||
	    ep_map_init(&p->owners, sizeof(uint32_t), sizeof(struct ep_owner), 1 << 20)) {
		ep_probe_free(p);
		return NULL;
	}
	return p;
}

void ep_probe_free(struct ep_probe *p)
{
	if (!p)
		return;
	ep_map_free(&p->ns);
	ep_map_free(&p->owners);
	free(p);
}

static void collect(const struct ep_diag_sock *s, void *ctx)
{
	struct dump *d = ctx;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;
		struct ep_diag_sock *v = realloc(d->v, cap * sizeof(*v));

		if (!v) {
			d->failed = true;
			return;
		}
		d->v = v;
		d->cap = cap;
	}
	d->v[d->n++] = *s;
}

static int inside(void *ctx)
{
	struct dump *d = ctx;

	d->range_ok = !ep_read_port_range(&d->lo, &d->hi);
	if (ep_read_reserved_ports(d->reserved, &d->reserved_any))
		d->reserved_any = false;
	if (ep_sockdiag_dump(collect, d) < 0)
		d->failed = true;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Owners of sockets not seen before, by one pass over /proc. */
static void learn_owners(struct ep_probe *p, const struct dump *d)
{
	uint32_t *want = malloc((d->n ? d->n : 1) * sizeof(*want));
	struct ep_owner *found;
	size_t n = 0;

	if (!want)
		return;
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].inode && !ep_map_get(&p->owners, &d->v[i].inode))
			want[n++] = d->v[i].inode;
	qsort(want, n, sizeof(*want), cmp_u32);
	found = n ? calloc(n, sizeof(*found)) : NULL;
	if (found && ep_owners_find(want, n, found) > 0) {
		for (size_t i = 0; i < n; i++) {
			struct ep_owner *o;

			if (!found[i].pid)
				continue;
			o = ep_map_put(&p->owners, &want[i], NULL);
			if (o)
				*o = found[i];
		}
	}
	free(found);
	free(want);
}

/* 0, or -ENOENT when the namespace is gone. */
static int probe(struct ep_probe *p, uint32_t netns, struct ns_info *ni, uint64_t now,
		 bool owners)
{
	struct dump *d = calloc(1, sizeof(*d));
	struct ep_snap_entry *snap;
	size_t n = 0;
	int err;

	if (!d)
		return 0;
	ni->probed_ns = now;
	err = ep_in_netns(netns, ni->pid, inside, d);
	if (err < 0 || d->failed) {
		free(d->v);
		free(d);
		return err == -ENOENT ? err : 0; /* no way in: the events alone will do */
	}
	if (d->range_ok)
		ep_pipe_range(p->pipe, now, netns, d->lo, d->hi, d->reserved_any ? d->reserved : NULL);
	if (owners || now - ni->owners_ns > OWNER_SCAN_NS) {
		learn_owners(p, d);
		ni->owners_ns = now;
	}
	snap = calloc(d->n ? d->n : 1, sizeof(*snap));
	if (snap) {
		for (size_t i = 0; i < d->n; i++) {
			const struct ep_diag_sock *s = &d->v[i];
			struct ep_owner *o = s->inode ? ep_map_get(&p->owners, &s->inode) : NULL;

			if (!s->lport)
				continue;
			snap[n].cookie = s->cookie;
			snap[n].port = s->lport;
			snap[n].proto = s->proto;
			snap[n].timewait = s->state == 6; /* TCP_TIME_WAIT */
			if (o) {
				snap[n].pid = o->pid;
				memcpy(snap[n].comm, o->comm, EP_COMM_LEN);
			}
			n++;
		}
		ep_pipe_snapshot(p->pipe, now, netns, snap, n);
		free(snap);
	}
	free(d->v);
	free(d);
	return 0;
}

static struct ns_info *info(struct ep_probe *p, uint32_t netns, uint32_t pid)
{
	struct ns_info *ni;

	if (p->only && netns != p->only)
		return NULL;
	ni = ep_map_put(&p->ns, &netns, NULL);
	if (ni && pid)
		ni->pid = pid;
	return ni;
}

static void found(uint32_t netns, uint32_t pid, void *ctx)
{
	info(ctx, netns, pid);
}

void ep_probe_all(struct ep_probe *p, uint64_t now)
{
	size_t pos = 0;
	const uint32_t *netns;
	struct ns_info *ni;

	ep_list_netns(found, p);
	while ((netns = ep_map_next(&p->ns, &pos, (void **)&ni)))
		probe(p, *netns, ni, now, true);
}

void ep_probe_seen(struct ep_probe *p, uint32_t netns, uint32_t pid, uint64_t now)
{
	struct ns_info *ni = info(p, netns, pid);

	if (ni && !ni->probed_ns)
		probe(p, netns, ni, now, true);
}

void ep_probe_now(struct ep_probe *p, uint32_t netns, uint32_t pid, uint64_t now)
{
	struct ns_info *ni = info(p, netns, pid);

	if (ni && (!ni->probed_ns || now - ni->probed_ns >= MIN_GAP_NS))
		probe(p, netns, ni, now, true);
}

void ep_probe_refresh(struct ep_probe *p, uint64_t now)
{
	uint32_t *gone = malloc((p->ns.count + 1) * sizeof(*gone));
	size_t pos = 0, ngone = 0;
	const uint32_t *netns;
	struct ns_info *ni;

	while ((netns = ep_map_next(&p->ns, &pos, (void **)&ni)))
		if (probe(p, *netns, ni, now, false) == -ENOENT && gone)
			gone[ngone++] = *netns;
	/* Finding a namespace that is gone costs a walk of /proc: forget it
	 * (an event from it, were it still alive, brings it back). */
	for (size_t i = 0; i < ngone; i++) {
		ep_map_del(&p->ns, &gone[i]);
		ep_pipe_gone(p->pipe, now, gone[i]);
	}
	free(gone);
}
