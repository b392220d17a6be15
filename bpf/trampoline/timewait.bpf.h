/* SPDX-License-Identifier: GPL-2.0 */
/* TIME_WAIT: the hand-over from the full socket (the TIME_WAIT socket keeps
 * its cookie and its port), the timer's end and the early kill (reuse, reset,
 * namespace exit). Each end is final: no confirmation from userspace. */
#ifndef EPTRACE_TR_TIMEWAIT_BPF_H
#define EPTRACE_TR_TIMEWAIT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "lib/maps.bpf.h"
#include "lib/emit.bpf.h"
#include "lib/sock_table.bpf.h"
#include "task_state.bpf.h"

/* Renamed inet_twsk_hashdance_schedule in later kernels: the loader points this
 * program at whichever the kernel has; both take (tw, sk, ...). */
SEC("fentry/inet_twsk_hashdance")
int BPF_PROG(on_tw_handover, struct inet_timewait_sock *tw, struct sock *sk)
{
	__u64 cookie = sk->__sk_common.skc_cookie.counter;
	struct sock_state *st;

	st = sock_find(cookie);
	if (st && st->phase == PH_ASSIGNED)
		timewait_started(st);
	return 0;
}

static __always_inline void tw_ended(__u64 cookie, __u8 reason)
{
	struct sock_state *st;

	st = sock_find(cookie);
	if (st && st->phase == PH_TIMEWAIT)
		released(cookie, st, bpf_ktime_get_ns(), reason, EP_F_TIMEWAIT);
}

/* The TIME_WAIT socket whose timer runs on this CPU: its kill is an expiry. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} tw_expiring SEC(".maps");

static __always_inline void set_expiring(__u64 tw)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&tw_expiring, &zero);

	if (v)
		*v = tw;
}

static __always_inline __u64 tw_of_timer(struct timer_list *t)
{
	return (__u64)t - bpf_core_field_offset(struct inet_timewait_sock, tw_timer);
}

SEC("fentry/tw_timer_handler")
int BPF_PROG(on_tw_timer, struct timer_list *t)
{
	set_expiring(tw_of_timer(t));
	return 0;
}

SEC("fexit/tw_timer_handler")
int BPF_PROG(on_tw_timer_exit, struct timer_list *t)
{
	set_expiring(0);
	return 0;
}

/* Where the port goes back, however the end came: the timer (above), a
 * reset, the namespace's exit (inet_twsk_purge, whose inlined calls fentry
 * on inet_twsk_deschedule_put would miss), or reuse by a connect whose search
 * is still running: that release waits for the search's end, so that the
 * assignment that took the tuple over comes first. */
SEC("fentry/inet_twsk_kill")
int BPF_PROG(on_tw_kill, struct inet_timewait_sock *tw)
{
	__u64 cookie = tw->__tw_common.skc_cookie.counter;
	__u32 zero = 0;
	__u64 *expiring = bpf_map_lookup_elem(&tw_expiring, &zero);
	struct task_state *t;

	if (expiring && *expiring == (__u64)tw) {
		tw_ended(cookie, EP_REL_TW_EXPIRED);
		return 0;
	}
	/* a connect search under way in this thread (a slot left open by a
	 * skipped fexit is older than any search) */
	t = task_state(TS_FIND);
	if (t && t->search.sk && t->search.via == EP_VIA_CONNECT && !t->search.cookie &&
	    bpf_ktime_get_ns() - t->search.start_ns < SLOT_STALE_NS) {
		t->search.cookie = cookie;
		return 0;
	}
	tw_ended(cookie, EP_REL_TW_KILLED);
	return 0;
}

#endif
