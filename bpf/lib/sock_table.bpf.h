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

static __always_inline bool track(__u64 cookie, const struct sock_state *st)
{
	if (bpf_map_update_elem(&socks, &cookie, st, BPF_ANY)) {
		stat_inc(EP_STAT_SOCKS_FULL);
		return false;
	}
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
	long err = bpf_map_delete_elem(&socks, &cookie);

	/* The bucket lock can time out (a lock holder's vCPU preempted): try
	 * again, and if it still fails, report the release anyway and leave the
	 * entry to userspace. Only a missing entry means someone else (the
	 * userspace TIME_WAIT resolver) owns the release. */
	for (int i = 0; i < 3 && err && err != -ENOENT; i++)
		err = bpf_map_delete_elem(&socks, &cookie);
	if (err == -ENOENT)
		return;
	if (err) {
		/* A lookup takes no lock: mark it so that no other hook releases
		 * it again before userspace removes it. */
		struct sock_state *cur = bpf_map_lookup_elem(&socks, &cookie);

		if (cur)
			cur->phase = PH_RELEASED;
		r.flags |= EP_F_STALE;
	}
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
