#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "agg/hash.h"
#include "agg/sizes.h"
#include "host/netns.h"
#include "host/owners.h"
#include "probe.h"
#include "host/sockdiag.h"

#define MIN_GAP_NS 200000000ULL     /* between two probes of one namespace */
#define OWNER_SCAN_NS 30000000000ULL /* between two /proc scans for new sockets */
/* A namespace no event came from is probed at ever longer gaps, up to one
 * refresh in this many: a TCP dump walks the kernel's whole connection
 * table, whichever namespace asks (about 5 ms per namespace on a host with
 * 24 GiB). */
#define IDLE_PERIOD_MAX 12

struct ns_info {
	uint32_t pid;       /* a process seen in it */
	uint32_t seeded;    /* its sockets were handed to on_found */
	uint64_t probed_ns; /* 0: never */
	uint64_t owners_ns; /* last /proc scan for its sockets */
	uint8_t busy;       /* an event came from it since its last refresh */
	uint8_t period;     /* refreshes from one of its probes to the next */
	uint8_t wait;       /* refreshes to pass over before its next probe */
};

struct ep_probe {
	struct ep_pipeline *pipe;
	uint32_t only;
	struct ep_hash ns;     /* netns -> ns_info */
	/* The last event's namespace and pid, once that namespace is probed:
	 * the next event from them has nothing to add. */
	uint32_t seen_netns, seen_pid;
	struct ep_hash owners; /* socket inode -> struct ep_owner */
	void (*on_found)(void *ctx, uint32_t netns, const struct ep_diag_sock *s,
			 const struct ep_owner *owner, bool fixed);
	void *on_found_ctx;
	void (*on_dumped)(void *ctx, uint32_t netns, const struct ep_diag_sock *v, size_t n,
			  uint64_t mono);
	void *on_dumped_ctx;
	void (*on_owner)(void *ctx, struct ep_owner *o, uint64_t mono);
	void *on_owner_ctx;
	uint64_t (*on_pause)(void *ctx);
	void *on_pause_ctx;
	/* While the first probe reads the ring between its dumps: new
	 * namespaces wait for the next refresh, and the cookies released
	 * meanwhile are kept (struct ep_hash of u64) to leave their sockets out
	 * of the dumps. */
	bool starting;
	struct ep_hash released;
};

void ep_probe_on_owner(struct ep_probe *p,
		       void (*fn)(void *ctx, struct ep_owner *o, uint64_t mono), void *ctx)
{
	p->on_owner = fn;
	p->on_owner_ctx = ctx;
}

void ep_probe_on_dumped(struct ep_probe *p,
			void (*fn)(void *ctx, uint32_t netns, const struct ep_diag_sock *v,
				   size_t n, uint64_t mono),
			void *ctx)
{
	p->on_dumped = fn;
	p->on_dumped_ctx = ctx;
}

void ep_probe_on_found(struct ep_probe *p,
		       void (*fn)(void *ctx, uint32_t netns, const struct ep_diag_sock *s,
				  const struct ep_owner *owner, bool fixed),
		       void *ctx)
{
	p->on_found = fn;
	p->on_found_ctx = ctx;
}

/* What one probe collects inside the namespace. */
struct dump {
	uint64_t at; /* when it was taken */
	struct ep_diag_sock *v;
	size_t n, cap;
	bool failed;
	uint16_t lo, hi;
	bool range_ok, reserved_any;
	uint8_t reserved[EP_PORT_BITMAP_BYTES];
};

struct ep_probe *ep_probe_new(struct ep_pipeline *pipe, uint32_t only_netns)
{
	struct ep_probe *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->pipe = pipe;
	p->only = only_netns;
	if (ep_hash_init(&p->ns, sizeof(uint32_t), sizeof(struct ns_info), 65536) ||
	    ep_hash_init(&p->owners, sizeof(uint32_t), sizeof(struct ep_owner), 1 << 20) ||
	    ep_hash_init(&p->released, sizeof(uint64_t), 1, 1 << 20)) {
		ep_probe_free(p);
		return NULL;
	}
	return p;
}

void ep_probe_free(struct ep_probe *p)
{
	if (!p)
		return;
	ep_hash_free(&p->ns);
	ep_hash_free(&p->owners);
	ep_hash_free(&p->released);
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

/* The sockets of a dump whose owner is not known yet, appended to *want
 * (*n of them, room for *cap); false when out of memory. */
static bool unknown_owners(struct ep_probe *p, const struct dump *d, uint32_t **want, size_t *n,
			   size_t *cap)
{
	for (size_t i = 0; i < d->n; i++) {
		if (!d->v[i].inode || ep_hash_get(&p->owners, &d->v[i].inode))
			continue;
		if (*n == *cap) {
			size_t c = *cap ? 2 * *cap : 256;
			uint32_t *w = realloc(*want, c * sizeof(*w));

			if (!w)
				return false;
			*want = w;
			*cap = c;
		}
		(*want)[(*n)++] = d->v[i].inode;
	}
	return true;
}

/* Owners of the sockets in want[0..n) (sorted here): one pass over /proc
 * serves them all. */
static void learn_owners(struct ep_probe *p, uint32_t *want, size_t n, uint64_t now)
{
	struct ep_owner *found;

	if (!n)
		return;
	qsort(want, n, sizeof(*want), cmp_u32);
	found = calloc(n, sizeof(*found));
	if (found && ep_owners_find(want, n, found) > 0) {
		/* on_owner once per process, not per socket */
		struct ep_hash by_pid; /* pid -> its struct ep_owner as completed */
		bool memo = p->on_owner &&
			    !ep_hash_init(&by_pid, sizeof(uint32_t), sizeof(struct ep_owner), n);

		for (size_t i = 0; i < n; i++) {
			struct ep_owner *o, *done;

			if (!found[i].pid)
				continue;
			done = memo ? ep_hash_get(&by_pid, &found[i].pid) : NULL;
			if (done) {
				found[i] = *done;
			} else if (p->on_owner) {
				p->on_owner(p->on_owner_ctx, &found[i], now);
				if (memo && (done = ep_hash_put(&by_pid, &found[i].pid, NULL)))
					*done = found[i];
			}
			o = ep_hash_put(&p->owners, &want[i], NULL);
			if (o)
				*o = found[i];
		}
		if (memo)
			ep_hash_free(&by_pid);
	}
	free(found);
}

static void free_dump(struct dump *d)
{
	if (d)
		free(d->v);
	free(d);
}

/* The namespace's settings and sockets, or NULL (*gone when it no longer
 * exists; otherwise there is no way in and the events alone will do). */
static struct dump *take(struct ep_probe *p, uint32_t netns, struct ns_info *ni, uint64_t now,
			 bool *gone)
{
	struct dump *d = calloc(1, sizeof(*d));
	int err;

	*gone = false;
	if (!d)
		return NULL;
	ni->probed_ns = d->at = now;
	err = ep_in_netns(netns, ni->pid, inside, d);
	if (err < 0 || d->failed) {
		*gone = err == -ENOENT;
		free_dump(d);
		return NULL;
	}
	return d;
}

#define TCP_TIME_WAIT 6
#define TCP_LISTEN 10

/* A socket whose release was read after its dump was taken (first probe). */
static bool released_meanwhile(const struct ep_probe *p, uint64_t cookie)
{
	return p->starting && cookie && ep_hash_get(&p->released, &cookie);
}

/* Sockets from before the trace, the first time their namespace is seen. */
static void hand_over_found(struct ep_probe *p, uint32_t netns, const struct dump *d)
{
	struct ns_info *ni = ep_hash_get(&p->ns, &netns);
	uint8_t *listening;

	if (!p->on_found || !ni || ni->seeded)
		return;
	ni->seeded = 1;
	/* Connections a listener accepted share its port without holding one. */
	listening = calloc(EP_PORT_BITMAP_BYTES, 1);
	if (!listening)
		return;
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].proto == EP_TCP && d->v[i].state == TCP_LISTEN)
			listening[d->v[i].lport / 8] |= 1 << (d->v[i].lport % 8);
	for (size_t i = 0; i < d->n; i++) {
		const struct ep_diag_sock *s = &d->v[i];
		const struct ep_owner *o = s->inode ? ep_hash_get(&p->owners, &s->inode) : NULL;
		bool in_range = d->range_ok && s->lport >= d->lo && s->lport <= d->hi;

		if (!s->lport || !s->inode || !s->cookie || s->state == TCP_TIME_WAIT ||
		    released_meanwhile(p, s->cookie))
			continue;
		if (s->proto == EP_TCP && s->state != TCP_LISTEN &&
		    (listening[s->lport / 8] & (1 << (s->lport % 8))))
			continue;
		p->on_found(p->on_found_ctx, netns, s, o,
			    !in_range || (s->proto == EP_TCP && s->state == TCP_LISTEN));
	}
	free(listening);
}

/* Hands a dump to the pipeline at now: range, then the snapshot. */
static void apply(struct ep_probe *p, uint32_t netns, const struct dump *d, uint64_t now)
{
	struct ep_snap_entry *snap;
	size_t n = 0;

	if (d->range_ok)
		ep_pipe_range(p->pipe, now, netns, d->lo, d->hi, d->reserved_any ? d->reserved : NULL);
	/* The kernel follows the holders before anyone is shown them: a holder
	 * that closed between the snapshot and its hand-over would never be
	 * released (its close found no entry). */
	hand_over_found(p, netns, d);
	snap = calloc(d->n ? d->n : 1, sizeof(*snap));
	if (!snap)
		return;
	for (size_t i = 0; i < d->n; i++) {
		const struct ep_diag_sock *s = &d->v[i];
		struct ep_owner *o = s->inode ? ep_hash_get(&p->owners, &s->inode) : NULL;

		if (!s->lport || released_meanwhile(p, s->cookie))
			continue;
		snap[n].cookie = s->cookie;
		snap[n].port = s->lport;
		snap[n].proto = s->proto;
		snap[n].timewait = s->state == TCP_TIME_WAIT;
		if (o) {
			snap[n].pid = o->pid;
			memcpy(snap[n].comm, o->comm, EP_COMM_LEN);
			if (o->cgroup_id)
				snap[n].owner_key = ep_names_key(&p->pipe->agg.names, o->cgroup_id,
								 o->pid, o->comm);
		}
		n++;
	}
	ep_pipe_snapshot(p->pipe, now, netns, snap, n);
	free(snap);
	if (p->on_dumped)
		p->on_dumped(p->on_dumped_ctx, netns, d->v, d->n, d->at);
}

/* The time now, from the pause if there is one (0 there: ending). */
static uint64_t mono_of(struct ep_probe *p, uint64_t now)
{
	return p->on_pause ? p->on_pause(p->on_pause_ctx) : now;
}

/* Probes the namespaces in v[0..n) together; while starting, the ring is
 * read between two dumps (the pause), and the dumps are applied less the
 * sockets whose release was read meanwhile. Owners are looked up for all
 * (owners) or for those not scanned for a while. Those that are gone go to
 * gone (room for n, or NULL); returns how many. */
static size_t probe_set(struct ep_probe *p, const uint32_t *v, size_t n, uint64_t now,
			bool owners, uint32_t *gone_out)
{
	struct dump **ds = calloc(n ? n : 1, sizeof(*ds));
	uint32_t *want = NULL;
	size_t ngone = 0, nwant = 0, cap = 0;
	bool room = true;

	if (!ds)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t at = p->starting ? mono_of(p, now) : now;
		struct ns_info *ni;
		bool gone;

		if (!at) {
			nwant = 0; /* ending: no walk of /proc */
			break;
		}
		now = at;
		/* looked up after the pause: what it read may have moved it */
		if (!(ni = ep_hash_get(&p->ns, &v[i])))
			continue;
		ds[i] = take(p, v[i], ni, now, &gone);
		if (gone && gone_out)
			gone_out[ngone++] = v[i];
		if (ds[i] && room && (owners || now - ni->owners_ns > OWNER_SCAN_NS)) {
			room = unknown_owners(p, ds[i], &want, &nwant, &cap);
			ni->owners_ns = now;
		}
	}
	learn_owners(p, want, nwant, now);
	for (size_t i = 0; i < n; i++) {
		if (ds[i])
			apply(p, v[i], ds[i], now);
		free_dump(ds[i]);
	}
	free(ds);
	free(want);
	return ngone;
}

/* Every namespace known: their inodes, for probe_set. */
static uint32_t *known(struct ep_probe *p, size_t *n)
{
	uint32_t *v = malloc((p->ns.count + 1) * sizeof(*v));
	const uint32_t *netns;
	size_t pos = 0;

	*n = 0;
	while (v && (netns = ep_hash_next(&p->ns, &pos, NULL)))
		v[(*n)++] = *netns;
	return v;
}

static struct ns_info *info(struct ep_probe *p, uint32_t netns, uint32_t pid)
{
	struct ns_info *ni;

	if (p->only && netns != p->only)
		return NULL;
	ni = ep_hash_put(&p->ns, &netns, NULL);
	if (ni && pid)
		ni->pid = pid;
	return ni;
}

static void found(uint32_t netns, uint32_t pid, void *ctx)
{
	info(ctx, netns, pid);
}

/* Keeps in v the namespaces never probed. */
static size_t unprobed(struct ep_probe *p, uint32_t *v, size_t n)
{
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		struct ns_info *ni = ep_hash_get(&p->ns, &v[i]);

		if (ni && !ni->probed_ns)
			v[kept++] = v[i];
	}
	return kept;
}

/* The first probe, of every namespace (see probe_set). */
static void probe_start(struct ep_probe *p, const uint32_t *v, size_t n, uint64_t now)
{
	p->starting = true;
	probe_set(p, v, n, now, true, NULL);
	p->starting = false;
	/* only the first probe needs it: its memory goes */
	ep_hash_free(&p->released);
}

void ep_probe_all(struct ep_probe *p, uint64_t now)
{
	size_t n;
	uint32_t *v;

	/* One namespace asked for: no walk of /proc to list the others. */
	if (p->only)
		info(p, p->only, 0);
	else
		ep_list_netns(found, p);
	v = known(p, &n);
	if (v)
		probe_start(p, v, n, now);
	free(v);
	/* Namespaces an event showed while it ran: probed now, together. */
	v = known(p, &n);
	if (v && (n = unprobed(p, v, n)) && (now = mono_of(p, now)))
		probe_set(p, v, n, now, true, NULL);
	free(v);
}

void ep_probe_released(struct ep_probe *p, uint64_t cookie)
{
	if (p->starting && cookie)
		ep_hash_put(&p->released, &cookie, NULL); /* full: the next refresh mends */
}

void ep_probe_seen(struct ep_probe *p, uint32_t netns, uint32_t pid, uint64_t now)
{
	struct ns_info *ni;

	if (netns == p->seen_netns && pid == p->seen_pid && netns)
		return;
	ni = info(p, netns, pid);
	if (ni)
		ni->busy = 1;
	if (ni && !ni->probed_ns && !p->starting) {
		probe_set(p, &netns, 1, now, true, NULL);
		ni = ep_hash_get(&p->ns, &netns); /* the probe may have moved it */
	}
	if (ni && ni->probed_ns) {
		p->seen_netns = netns;
		p->seen_pid = pid;
	}
}

void ep_probe_now(struct ep_probe *p, uint32_t netns, uint32_t pid, uint64_t now)
{
	struct ns_info *ni;

	if (p->starting)
		return; /* its dump is in hand, or it waits for the end of the first probe */
	ni = info(p, netns, pid);

	if (ni && (!ni->probed_ns || now - ni->probed_ns >= MIN_GAP_NS))
		probe_set(p, &netns, 1, now, true, NULL);
}

/* Keeps in v the namespaces this refresh probes: every one an event came
 * from, and the idle ones whose gap has passed (each time twice as long). */
static size_t due(struct ep_probe *p, uint32_t *v, size_t n)
{
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		struct ns_info *ni = ep_hash_get(&p->ns, &v[i]);

		if (!ni)
			continue;
		if (!ni->busy && ni->wait) {
			ni->wait--;
			continue;
		}
		if (ni->busy)
			ni->period = 1;
		else
			ni->period = ni->period >= IDLE_PERIOD_MAX / 2 ? IDLE_PERIOD_MAX :
					 2 * (ni->period ? ni->period : 1);
		ni->wait = ni->period - 1;
		ni->busy = 0;
		v[kept++] = v[i];
	}
	return kept;
}

/* One namespace of a refresh, dumped and applied with nothing read in
 * between (a release read after the dump would otherwise be counted again
 * by the snapshot). Its owners are looked up at once if they never were;
 * when a new scan is due, their sockets go to *want for one scan after the
 * refresh. Returns false when the namespace is gone. */
static bool refresh_one(struct ep_probe *p, uint32_t netns, uint64_t now, uint32_t **want,
			size_t *nwant, size_t *cap)
{
	struct ns_info *ni = ep_hash_get(&p->ns, &netns);
	struct dump *d;
	bool gone;

	if (!ni)
		return true;
	if (!ni->owners_ns)
		return !probe_set(p, &netns, 1, now, true, &(uint32_t){ 0 });
	d = take(p, netns, ni, now, &gone);
	if (!d)
		return !gone;
	if (now - ni->owners_ns > OWNER_SCAN_NS && unknown_owners(p, d, want, nwant, cap))
		ni->owners_ns = now;
	apply(p, netns, d, now);
	free_dump(d);
	return true;
}

void ep_probe_on_pause(struct ep_probe *p, uint64_t (*fn)(void *ctx), void *ctx)
{
	p->on_pause = fn;
	p->on_pause_ctx = ctx;
}

void ep_probe_refresh(struct ep_probe *p, uint64_t now)
{
	size_t n, nd, ngone = 0, nwant = 0, cap = 0;
	uint32_t *v = known(p, &n), *gone = malloc((n + 1) * sizeof(*gone)), *want = NULL;

	nd = v && gone ? due(p, v, n) : 0;
	/* Records read between two namespaces mark theirs busy again. */
	p->seen_netns = 0;
	for (size_t i = 0; i < nd; i++) {
		/* A dump can take milliseconds, hundreds of them more than the
		 * ring holds under churn: the caller reads it in between. */
		uint64_t at = mono_of(p, now);

		if (!at) {
			nwant = 0; /* ending: no walk of /proc */
			break;
		}
		now = at;
		if (!refresh_one(p, v[i], now, &want, &nwant, &cap))
			gone[ngone++] = v[i];
	}
	/* Their owners serve the next refresh's snapshots. */
	learn_owners(p, want, nwant, now);
	free(want);
	/* Finding a namespace that is gone costs a walk of /proc: forget it
	 * (an event from it, were it still alive, brings it back). The next
	 * event from any namespace marks it busy. */
	p->seen_netns = 0;
	for (size_t i = 0; i < ngone; i++) {
		ep_hash_del(&p->ns, &gone[i]);
		ep_pipe_gone(p->pipe, now, gone[i]);
	}
	free(gone);
	free(v);
}
