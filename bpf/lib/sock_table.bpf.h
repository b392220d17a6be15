/* SPDX-License-Identifier: GPL-2.0 */
/* The socket table (socks, keyed by cookie) and the records of its transitions:
 * a port assigned, released or not found. */
#ifndef EPTRACE_SOCK_TABLE_BPF_H
#define EPTRACE_SOCK_TABLE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "lib/maps.bpf.h"
#include "lib/kernel_defs.bpf.h"
#include "lib/emit.bpf.h"

/* The slot of a cookie's entry, or NULL; with free, also the first free
 * slot seen on the way (all sixteen are looked at when there is no entry).
 * The windows' places are worked out once, not per probe. */
static __always_inline struct sock_slot *sock_scan(__u64 cookie, struct sock_slot **free)
{
	__u32 base[2] = { ep_sock_window(cookie, 0), ep_sock_window(cookie, 1) };

	for (__u32 i = 0; i < EP_SOCK_PROBES; i++) {
		__u32 idx = (base[i / EP_SOCK_WINDOW] + i % EP_SOCK_WINDOW) & (EP_SOCKS_MAX - 1);
		struct sock_slot *s = bpf_map_lookup_elem(&socks, &idx);

		if (!s)
			continue;
		if (s->key == cookie)
			return s;
		if (free && !*free && !s->key)
			*free = s;
	}
	return NULL;
}

/* The entry of a cookie, NULL if it has none (cookie 0, no socket's, would
 * match a free slot). */
static __always_inline struct sock_state *sock_find(__u64 cookie)
{
	struct sock_slot *s = cookie ? sock_scan(cookie, NULL) : NULL;

	return s ? &s->st : NULL;
}

/* Take a free slot for a new entry, busy until sock_publish(). */
static __always_inline bool sock_take(struct sock_slot *s, __u64 cookie)
{
	return !s->key && !__sync_val_compare_and_swap(&s->key, 0, cookie | EP_SOCK_BUSY);
}

/* A free slot for a new entry, claimed (busy) until sock_publish(). */
static __always_inline struct sock_slot *sock_claim(__u64 cookie)
{
	__u32 base[2] = { ep_sock_window(cookie, 0), ep_sock_window(cookie, 1) };

	for (__u32 i = 0; i < EP_SOCK_PROBES; i++) {
		__u32 idx = (base[i / EP_SOCK_WINDOW] + i % EP_SOCK_WINDOW) & (EP_SOCKS_MAX - 1);
		struct sock_slot *s = bpf_map_lookup_elem(&socks, &idx);

		if (s && sock_take(s, cookie))
			return s;
	}
	return NULL;
}

static __always_inline void sock_publish(struct sock_slot *s, __u64 cookie)
{
	__sync_lock_test_and_set(&s->key, cookie);
}

/* Remove an entry sock_find() gave: true for the one caller that did.
 * A pointer sock_find() gave is written through without a lock: should the
 * entry be removed meanwhile (by another hook of the same socket, or by
 * userspace ending its TIME_WAIT) and the slot taken by a new cookie whose
 * slots include it, all within those few instructions, the write would
 * land on the new entry. Each hook of a socket runs under its lock or timer,
 * so only TIME_WAIT's userspace end can race this, and rarely. */
static __always_inline bool sock_drop(const struct sock_state *st, __u64 cookie)
{
	struct sock_slot *s = (struct sock_slot *)st;

	return __sync_val_compare_and_swap(&s->key, cookie, 0) == cookie;
}

/* Add or replace the entry of a cookie; false (and counted) when the slots
 * it may use are all taken. */
static __always_inline bool track(__u64 cookie, const struct sock_state *st)
{
	struct sock_slot *free = NULL, *s = cookie ? sock_scan(cookie, &free) : NULL;

	if (s) {
		s->st = *st;
		return true;
	}
	/* the free slot seen, unless another CPU took it since */
	s = free && sock_take(free, cookie) ? free : sock_claim(cookie);
	if (!s) {
		stat_inc(EP_STAT_SOCKS_FULL);
		return false;
	}
	s->st = *st;
	sock_publish(s, cookie);
	return true;
}

static __always_inline void set_assigned(__u64 cookie, struct sock_state *st, __u64 now,
					 __u64 latency)
{
	st->rec.kind = EP_ALLOC;
	st->rec.ts_ns = now;
	st->rec.assign_ns = now;
	st->rec.latency_ns = latency;
	st->rec.cookie = cookie;
	st->phase = PH_ASSIGNED;
	st->sk = 0;
}

/* Report an assignment and remember its owner for the release. */
static __always_inline void assigned(__u64 cookie, struct sock_state *st, __u64 now,
				     __u64 latency)
{
	set_assigned(cookie, st, now, latency);
	/* In the table before the record is out, so that userspace never sees
	 * an assignment the table does not hold. */
	if (!track(cookie, st))
		st->rec.flags |= EP_F_UNTRACKED;
	emit(&st->rec);
}

/* The same for a pending entry, changed where it is in the table: replacing
 * it would allocate a new element and free the old one. */
static __always_inline void pending_assigned(__u64 cookie, struct sock_state *st, __u64 now,
					     __u64 latency)
{
	set_assigned(cookie, st, now, latency);
	emit(&st->rec);
}

static __always_inline void released(__u64 cookie, const struct sock_state *st, __u64 now,
				     __u8 reason, __u8 extra_flags)
{
	struct ep_record r = st->rec;

	r.kind = EP_RELEASE;
	r.ts_ns = now;
	r.reason = reason;
	r.flags |= extra_flags;
	r.latency_ns = EP_LATENCY_NONE;
	/* Only the caller that removes the entry reports it: another hook, or
	 * the userspace TIME_WAIT resolver, may be releasing it at once. */
	if (sock_drop(st, cookie))
		emit(&r);
}

/* The port passed to a TIME_WAIT socket: still held, now in TIME_WAIT. */
static __always_inline void timewait_started(struct sock_state *st)
{
	struct ep_record r;

	st->phase = PH_TIMEWAIT;
	st->rec.tw_start_ns = bpf_ktime_get_ns();
	r = st->rec;
	r.kind = EP_TW_START;
	r.ts_ns = r.tw_start_ns;
	r.latency_ns = EP_LATENCY_NONE;
	emit(&r);
}

static __always_inline void failed(struct ep_record *r, __u64 now, int err, __u8 via)
{
	r->kind = EP_FAIL;
	r->ts_ns = now;
	r->err = err;
	r->via = via;
	r->latency_ns = EP_LATENCY_NONE;
	emit(r);
}

#endif
