/* SPDX-License-Identifier: GPL-2.0 */
/* TIME_WAIT: the timer of the TIME_WAIT socket says when the port passes to
 * it, when it is given back, and when its end needs userspace to confirm. */
#ifndef EPTRACE_TP_TIMEWAIT_BPF_H
#define EPTRACE_TP_TIMEWAIT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "lib/maps.bpf.h"
#include "lib/emit.bpf.h"
#include "lib/sock_facts.bpf.h"
#include "lib/sock_table.bpf.h"

static __always_inline struct sock_state *tw_state(struct timer_list *timer, __u64 *cookie)
{
	struct inet_timewait_sock *tw;

	if (!tw_timer_fn || (__u64)timer->function != tw_timer_fn)
		return NULL;
	tw = (void *)timer - bpf_core_field_offset(struct inet_timewait_sock, tw_timer);
	*cookie = direct_loads ? AS(struct inet_timewait_sock, tw)->__tw_common.skc_cookie.counter
			       : BPF_CORE_READ(tw, __tw_common.skc_cookie.counter);
	if (!*cookie)
		return NULL;
	return sock_find(*cookie);
}

/* Armed in the hand-over to TIME_WAIT (before the full socket's CLOSE) and
 * again when the TIME_WAIT period is restarted. */
SEC("tp_btf/timer_start")
int BPF_PROG(on_timer_start, struct timer_list *timer)
{
	struct sock_state *st;
	__u64 cookie;

	st = tw_state(timer, &cookie);
	if (!st)
		return 0;
	if (st->phase == PH_ASSIGNED)
		timewait_started(st);
	st->cancel_ns = 0;
	return 0;
}

SEC("tp_btf/timer_expire_entry")
int BPF_PROG(on_timer_expire, struct timer_list *timer)
{
	struct sock_state *st;
	__u64 cookie;

	st = tw_state(timer, &cookie);
	if (st && st->phase == PH_TIMEWAIT)
		released(cookie, st, bpf_ktime_get_ns(), EP_REL_TW_EXPIRED, EP_F_TIMEWAIT);
	return 0;
}

/* Out of line: the record's zeroing would otherwise be hoisted above the
 * checks that turn away every other timer of the system. */
static __noinline void tw_cancel_emit(__u64 now, __u64 cookie)
{
	struct ep_record *r = emit_reserve_counted();

	if (!r)
		return;
	__builtin_memset(r, 0, sizeof(*r));
	r->kind = EP_TW_CANCEL;
	r->ts_ns = now;
	r->cookie = cookie;
	emit_submit(r);
}

/* Either the TIME_WAIT socket is being killed (reuse, reset, namespace exit)
 * or its timer is being restarted; a timer_start follows only in the second
 * case, so userspace confirms the end a moment later. */
SEC("tp_btf/timer_cancel")
int BPF_PROG(on_timer_cancel, struct timer_list *timer)
{
	struct sock_state *st;
	__u64 cookie;

	st = tw_state(timer, &cookie);
	if (!st || st->phase != PH_TIMEWAIT)
		return 0;
	st->cancel_ns = bpf_ktime_get_ns();
	tw_cancel_emit(st->cancel_ns, cookie);
	return 0;
}

#endif
