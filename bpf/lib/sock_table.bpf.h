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

static __always_inline struct sock_slot *probe(const __u32 *base, __u32 i)
{
	__u32 idx = (base[i / EP_SOCK_WINDOW] + i % EP_SOCK_WINDOW) & (EP_SOCKS_MAX - 1);

	return bpf_map_lookup_elem(&socks, &idx);
}

/* The key of a cookie's entry in the window of probe i. */
static __always_inline __u64 key_at(__u64 cookie, __u32 i)
{
	return i < EP_SOCK_WINDOW ? cookie : cookie | EP_SOCK_FAR;
}

/* The slot of a cookie's entry, or NULL; with free, also the first free
 * slot of its first window. The second window is looked at only while some
 * entry lives in one. */
static __always_inline struct sock_slot *sock_scan(__u64 cookie, struct sock_slot **free)
{
	__u32 base[2] = { ep_sock_window(cookie, 0), ep_sock_window(cookie, 1) };

	/* Unrolled: each probe's slot index is then a constant from a base. */
#pragma unroll
	for (__u32 i = 0; i < EP_SOCK_PROBES; i++) {
		struct sock_slot *s;

		if (i == EP_SOCK_WINDOW && !socks_far)
			break;
		s = probe(base, i);
		if (!s)
			continue;
		if (s->key == key_at(cookie, i))
			return s;
		if (free && !*free && !s->key && i < EP_SOCK_WINDOW)
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

/* Take a free slot (busy until sock_publish()); one in a second window is
 * counted before anyone can find it. */
static __always_inline bool sock_take(struct sock_slot *s, __u64 key)
{
	if (s->key || __sync_val_compare_and_swap(&s->key, 0, key | EP_SOCK_BUSY))
		return false;
	if (key & EP_SOCK_FAR)
		__sync_fetch_and_add(&socks_far, 1);
	return true;
}

/* A free slot for a new entry, claimed (busy) until sock_publish(). */
static __always_inline struct sock_slot *sock_claim(__u64 cookie)
{
	__u32 base[2] = { ep_sock_window(cookie, 0), ep_sock_window(cookie, 1) };

	for (__u32 i = 0; i < EP_SOCK_PROBES; i++) {
		struct sock_slot *s = probe(base, i);

		if (s && sock_take(s, key_at(cookie, i)))
			return s;
	}
	return NULL;
}

static __always_inline void sock_publish(struct sock_slot *s)
{
	__sync_lock_test_and_set(&s->key, s->key & ~EP_SOCK_BUSY);
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
	__u64 key = s->key;

	if ((key & ~EP_SOCK_FAR) != cookie || __sync_val_compare_and_swap(&s->key, key, 0) != key)
		return false;
	if (key & EP_SOCK_FAR)
		__sync_fetch_and_sub(&socks_far, 1);
	return true;
}

/* The slot for a cookie's entry: its own (*claimed false), or a free one
 * taken for it (*claimed true: sock_publish() it once written); NULL, and
 * counted, when the slots it may use are all taken. fresh: the cookie is
 * known to have no entry. */
static __always_inline struct sock_slot *slot_for(__u64 cookie, bool fresh, bool *claimed)
{
	struct sock_slot *free = NULL, *s = cookie && !fresh ? sock_scan(cookie, &free) : NULL;

	*claimed = !s;
	if (s)
		return s;
	/* the free slot seen, unless another CPU took it since */
	s = free && sock_take(free, cookie) ? free : sock_claim(cookie);
	if (!s)
		stat_inc(EP_STAT_SOCKS_FULL);
	return s;
}

/* Add or replace the entry of a cookie; false (and counted) when the slots
 * it may use are all taken. fresh: as for slot_for. */
static __always_inline bool track_as(__u64 cookie, const struct sock_state *st, bool fresh)
{
	bool claimed;
	struct sock_slot *s = slot_for(cookie, fresh, &claimed);

	if (!s)
		return false;
	s->st = *st;
	if (claimed)
		sock_publish(s);
	return true;
}

static __always_inline bool track(__u64 cookie, const struct sock_state *st)
{
	return track_as(cookie, st, false);
}

static __always_inline void stamp_assigned(struct ep_record *r, __u64 cookie, __u64 now,
					   __u64 latency)
{
	r->kind = EP_ALLOC;
	r->ts_ns = now;
	r->assign_ns = now;
	r->latency_ns = latency;
	r->cookie = cookie;
}

static __always_inline void set_assigned(__u64 cookie, struct sock_state *st, __u64 now,
					 __u64 latency)
{
	stamp_assigned(&st->rec, cookie, now, latency);
	st->phase = PH_ASSIGNED;
	st->sk = 0;
}

/* Report the assignment r describes and remember its owner for the
 * release (fresh: as for slot_for). r is written once into the table and
 * once into the ring, each in place. */
static __always_inline void assigned(__u64 cookie, const struct ep_record *r, __u64 now,
				     __u64 latency, bool fresh)
{
	bool claimed;
	struct sock_slot *s = slot_for(cookie, fresh, &claimed);
	struct ep_record *out;
	__u8 flags = r->flags;

	if (s) {
		s->st.rec = *r;
		s->st.start_ns = 0;
		s->st.cancel_ns = 0;
		set_assigned(cookie, &s->st, now, latency);
		if (claimed)
			sock_publish(s);
	} else {
		flags |= EP_F_UNTRACKED;
	}
	/* In the table before the record is out, so that userspace never sees
	 * an assignment the table does not hold. */
	out = emit_reserve_counted();
	if (!out)
		return;
	*out = *r;
	stamp_assigned(out, cookie, now, latency);
	out->flags = flags;
	emit_submit(out);
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
	/* written straight into the ring, before the entry (st) is given up */
	struct ep_record *r = emit_reserve();

	if (!r) {
		if (sock_drop(st, cookie))
			stat_inc(EP_STAT_LOST);
		return;
	}
	*r = st->rec;
	r->kind = EP_RELEASE;
	r->ts_ns = now;
	r->reason = reason;
	r->flags |= extra_flags;
	r->latency_ns = EP_LATENCY_NONE;
	/* Only the caller that removes the entry reports it: another hook, or
	 * the userspace TIME_WAIT resolver, may be releasing it at once. */
	if (sock_drop(st, cookie)) {
		emit_submit(r);
		return;
	}
	bpf_ringbuf_discard(r, BPF_RB_NO_WAKEUP);
	__sync_fetch_and_add(&ring_discards, 1);
}

/* The port passed to a TIME_WAIT socket: still held, now in TIME_WAIT. */
static __always_inline void timewait_started(struct sock_state *st)
{
	__u64 now = bpf_ktime_get_ns();
	struct ep_record *r;

	st->phase = PH_TIMEWAIT;
	st->rec.tw_start_ns = now;
	r = emit_reserve_counted();
	if (!r)
		return;
	*r = st->rec;
	r->kind = EP_TW_START;
	r->ts_ns = now;
	r->latency_ns = EP_LATENCY_NONE;
	emit_submit(r);
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
