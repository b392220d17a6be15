#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include "tables.h"

/* Userspace's changes run in the kernel (sock_table_op), atomic against the
 * programs': -1 if it could not run. */
static int run_op_here(const struct ep_tables *t, struct sock_op *op);

static int run_op(const struct ep_tables *t, struct sock_op *op)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = op, .ctx_size_in = sizeof(*op));

	if (t->op_fd < 0)
		return run_op_here(t, op);
	if (bpf_prog_test_run_opts(t->op_fd, &opts))
		return -1;
	return op->ret;
}

/* The key of a cookie's entry in the window of probe i (bpf/record.h). */
static uint64_t key_at(uint64_t cookie, int i)
{
	return i < EP_SOCK_WINDOW ? cookie : cookie | EP_SOCK_FAR;
}

/* A slot as the kernel holds it now, copied out of the mapping: an empty
 * one (most) by its key alone. The programs may be writing it; whoever acts
 * on what was read checks it again in the kernel (run_op). */
static void read_slot(const struct ep_tables *t, uint32_t idx, struct sock_slot *v)
{
	const struct sock_slot *s = &t->slots[idx];

	if (!__atomic_load_n(&s->key, __ATOMIC_ACQUIRE)) {
		memset(v, 0, sizeof(*v));
		return;
	}
	memcpy(v, s, sizeof(*v));
}

/* The slots a cookie's entry may be in. */
static void read_probes(const struct ep_tables *t, uint64_t cookie,
			struct sock_slot v[EP_SOCK_PROBES])
{
	for (int i = 0; i < EP_SOCK_PROBES; i++)
		read_slot(t, ep_sock_slot(cookie, i), &v[i]);
}

/* The entry of a cookie as the table holds it now. */
static bool lookup(const struct ep_tables *t, uint64_t cookie, struct sock_state *st)
{
	struct sock_slot v[EP_SOCK_PROBES];

	if (!cookie)
		return false;
	read_probes(t, cookie, v);
	for (int i = 0; i < EP_SOCK_PROBES; i++)
		if (v[i].key == key_at(cookie, i)) {
			*st = v[i].st;
			return true;
		}
	return false;
}

/* The same without the kernel's help (before Linux 5.14, which has no
 * syscall programs): a slot is read, judged and written in separate calls,
 * so a program may change it in between; the window is a few microseconds.
 * Only first windows are used: the kernel's count of entries in second
 * windows (socks_far) cannot be kept from here. */
static int run_op_here(const struct ep_tables *t, struct sock_op *op)
{
	struct sock_slot v[EP_SOCK_PROBES], empty = { 0 };
	int free_at = -1;

	if (!op->cookie)
		return -1;
	read_probes(t, op->cookie, v);
	for (int i = 0; i < EP_SOCK_PROBES; i++) {
		uint32_t idx = ep_sock_slot(op->cookie, i);
		const struct sock_state *st = &v[i].st;

		if (!v[i].key && free_at < 0 && i < EP_SOCK_WINDOW)
			free_at = i;
		if ((v[i].key & ~EP_SOCK_BUSY) != key_at(op->cookie, i))
			continue;
		if (op->op == SOCK_OP_ADD || i >= EP_SOCK_WINDOW)
			return 0;
		if (op->op == SOCK_OP_TW_TAKE &&
		    (st->phase != PH_TIMEWAIT || st->cancel_ns != op->cancel_ns))
			return 0;
		if (op->op == SOCK_OP_DROP &&
		    (st->phase != op->st.phase || st->rec.assign_ns != op->st.rec.assign_ns))
			return 0;
		op->st = *st;
		return bpf_map_update_elem(t->socks_fd, &idx, &empty, BPF_ANY) ? -1 : 1;
	}
	if (op->op != SOCK_OP_ADD)
		return 0;
	if (free_at < 0)
		return -1;
	{
		uint32_t idx = ep_sock_slot(op->cookie, free_at);
		struct sock_slot s = { .st = op->st, .key = op->cookie };

		return bpf_map_update_elem(t->socks_fd, &idx, &s, BPF_ANY) ? -1 : 1;
	}
}

int ep_tables_follow_prestart(const struct ep_tables *t, const struct ep_opts *o,
			      uint32_t netns, const struct ep_diag_sock *s,
			      const struct ep_owner *owner, bool fixed)
{
	struct sock_op op = { .op = SOCK_OP_ADD, .cookie = s->cookie };
	struct sock_state *st = &op.st;
	struct ep_record *r = &st->rec;

	st->phase = PH_ASSIGNED;
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
		r->cgroup_id = owner->cgroup_id;
	}
	/* Without an owner (or its cgroup), a pid, comm or cgroup filter leaves
	 * it out. */
	if (!ep_opts_want(o, r))
		return 0;
	/* assign_ns stays 0: when the port was taken is not known. A socket the
	 * kernel follows already (made after the start) is left alone. */
	return run_op(t, &op);
}

bool ep_tables_tw_take(const struct ep_tables *t, uint64_t cookie, uint64_t cancel_ns,
		       struct ep_record *release)
{
	struct sock_op op = { .op = SOCK_OP_TW_TAKE, .cookie = cookie, .cancel_ns = cancel_ns };

	if (run_op(t, &op) != 1)
		return false; /* released by the kernel (expiry), restarted, or cancelled again */
	*release = op.st.rec;
	release->kind = EP_RELEASE;
	release->ts_ns = cancel_ns;
	release->reason = EP_REL_TW_KILLED;
	release->flags |= EP_F_TIMEWAIT;
	release->latency_ns = EP_LATENCY_NONE;
	return true;
}

bool ep_tables_tracks(const struct ep_tables *t, uint64_t cookie)
{
	struct sock_state st;

	return lookup(t, cookie, &st);
}

void ep_tables_exclude_cgroup(const struct ep_tables *t, uint64_t cgroup_id)
{
	uint8_t one = 1;

	bpf_map_update_elem(t->excluded_fd, &cgroup_id, &one, BPF_ANY);
}

/* A socket assigned this long before a dump that does not list it is gone. */
#define SETTLE_NS 1000000000ULL
/* Slots read per sweep: the table is walked in 16 sweeps. */
#define SWEEP_SLICE (EP_SOCKS_MAX / 16)

struct ep_sweep_ns {
	uint32_t netns;
	uint32_t runs; /* sweeps it served: kept for a whole walk of the table */
	uint64_t mono;
	uint64_t *cookies; /* sorted */
	size_t n;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static struct ep_sweep_ns *find_ns(const struct ep_sweep *s, uint32_t netns)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].netns == netns)
			return &s->v[i];
	return NULL;
}

/* A new namespace's place, or NULL when there is no room. */
static struct ep_sweep_ns *sweep_append(struct ep_sweep *s, uint32_t netns)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;
		struct ep_sweep_ns *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n].netns = netns;
	return &s->v[s->n++];
}

void ep_sweep_add(struct ep_sweep *s, uint32_t netns, const struct ep_diag_sock *v, size_t n,
		  uint64_t mono)
{
	struct ep_sweep_ns *e = find_ns(s, netns);
	uint64_t *cookies = malloc((n ? n : 1) * sizeof(*cookies));

	if (!cookies)
		return;
	for (size_t i = 0; i < n; i++)
		cookies[i] = v[i].cookie;
	qsort(cookies, n, sizeof(*cookies), cmp_u64);
	if (e) {
		free(e->cookies); /* the newer dump replaces the older */
	} else if (!(e = sweep_append(s, netns))) {
		free(cookies);
		return; /* not swept this time */
	}
	e->cookies = cookies;
	e->mono = mono;
	e->n = n;
	e->runs = 0;
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

	if (!ns || st->phase != PH_ASSIGNED)
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

static void sweep_forget(struct ep_sweep *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].cookies);
	s->n = 0;
}

/* A dump still says which of its namespace's sockets were gone when it was
 * taken: it serves until the sweeps have walked the whole table, so that a
 * namespace probed less often than every refresh is swept whole too. */
static void sweep_age(struct ep_sweep *s)
{
	size_t kept = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (++s->v[i].runs >= EP_SOCKS_MAX / SWEEP_SLICE)
			free(s->v[i].cookies);
		else
			s->v[kept++] = s->v[i];
	}
	s->n = kept;
}

size_t ep_sweep_run(struct ep_sweep *s, const struct ep_tables *t)
{
	size_t removed = 0;

	if (!s->n)
		return 0;
	for (uint32_t done = 0; done < SWEEP_SLICE; done++) {
		struct sock_op op = { .op = SOCK_OP_DROP };
		struct sock_slot v;

		read_slot(t, s->cursor, &v);
		s->cursor = (s->cursor + 1) & (EP_SOCKS_MAX - 1);
		op.cookie = v.key & ~EP_SOCK_FAR;
		/* a busy slot is being written: not judged now */
		if (!op.cookie || (op.cookie & EP_SOCK_BUSY) || !gone(s, op.cookie, &v.st))
			continue;
		/* removed only if the kernel has not changed it since */
		op.st = v.st;
		removed += run_op(t, &op) == 1;
	}
	sweep_age(s);
	return removed;
}

void ep_sweep_free(struct ep_sweep *s)
{
	sweep_forget(s);
	free(s->v);
	memset(s, 0, sizeof(*s));
}
