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

/* Renamed inet_twsk_hashdance_schedule in Linux 6.8: the loader points this
 * program at whichever the kernel has; both take (tw, sk, ...). */
SEC("fentry/inet_twsk_hashdance")
int BPF_PROG(on_tw_handover, struct inet_timewait_sock *tw, struct sock *sk)
{
	__u64 cookie = sk->__sk_common.skc_cookie.counter;
	struct sock_state *st;
	struct ep_record r;

	st = cookie ? bpf_map_lookup_elem(&socks, &cookie) : NULL;
	if (!st || st->phase != PH_ASSIGNED)
		return 0;
	st->phase = PH_TIMEWAIT;
	st->rec.tw_start_ns = bpf_ktime_get_ns();
	r = st->rec;
	r.kind = EP_TW_START;
	r.ts_ns = r.tw_start_ns;
	r.latency_ns = EP_LATENCY_NONE;
	emit(&r);
	return 0;
}

static __always_inline void tw_ended(__u64 cookie, __u8 reason)
{
	struct sock_state *st;

	st = cookie ? bpf_map_lookup_elem(&socks, &cookie) : NULL;
	if (st && st->phase == PH_TIMEWAIT)
		released(cookie, st, bpf_ktime_get_ns(), reason, EP_F_TIMEWAIT);
}

SEC("fentry/tw_timer_handler")
int BPF_PROG(on_tw_expired, struct timer_list *t)
{
	/* an address computed from the timer's: read through the helper */
	const struct inet_timewait_sock *tw = (void *)((__u64)t -
		bpf_core_field_offset(struct inet_timewait_sock, tw_timer));

	tw_ended(BPF_CORE_READ(tw, __tw_common.skc_cookie.counter), EP_REL_TW_EXPIRED);
	return 0;
}

/* Reuse by connect(), a reset or the namespace's exit: the port is free once
 * this returns, whether it kills the socket itself or its timer, running
 * already, does. */
SEC("fentry/inet_twsk_deschedule_put")
int BPF_PROG(on_tw_killed, struct inet_timewait_sock *tw)
{
	tw_ended(tw->__tw_common.skc_cookie.counter, EP_REL_TW_KILLED);
	return 0;
}

#endif
