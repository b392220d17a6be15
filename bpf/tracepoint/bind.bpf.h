/* SPDX-License-Identifier: GPL-2.0 */
/* bind(): the cgroup hooks bracket the search, the syscall exit reports
 * EADDRINUSE. */
#ifndef EPTRACE_TP_BIND_BPF_H
#define EPTRACE_TP_BIND_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "lib/maps.bpf.h"
#include "lib/kernel_defs.bpf.h"
#include "lib/emit.bpf.h"
#include "lib/owner.bpf.h"
#include "lib/sock_facts.bpf.h"
#include "lib/sock_table.bpf.h"
#include "syscall_args.bpf.h"
#include "thread_slot.bpf.h"

/* bind()'s bracket, cgroup/bind4|6 to post_bind4|6, in the thread's slot. A
 * bind whose slot a thread with a congruent id took meanwhile is counted
 * (inflight_full) and not reported: whether it asked for a port is then
 * unknown (bind() records that only after its post_bind hook). */
static __always_inline int bind_start(struct bpf_sock_addr *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct bpf_sock *sk = ctx->sk;
	struct thread_bracket *b;
	struct tcp_sock *tp;

	if (!proto_wanted(ctx->protocol))
		return 1;
	b = bracket_open(tid, EP_VIA_BIND, bpf_ktime_get_ns());
	if (!b)
		return 1;
	/* A cookie not asked for before this bind cannot have an entry: the
	 * assignment then takes a slot without a look for one. */
	tp = ctx->protocol == IPPROTO_TCP && sk ? bpf_skc_to_tcp_sock(sk) : NULL;
	b->unasked = tp && !tp->inet_conn.icsk_inet.sk.__sk_common.skc_cookie.counter;
	b->cookie = bpf_get_socket_cookie(ctx);
	b->port_req = bpf_ntohs(ctx->user_port);
	return 1;
}

SEC("cgroup/bind4")
int on_bind4(struct bpf_sock_addr *ctx)
{
	return bind_start(ctx);
}

SEC("cgroup/bind6")
int on_bind6(struct bpf_sock_addr *ctx)
{
	return bind_start(ctx);
}

/* A UDP socket bound without a report: a send must not take its port for
 * an autobind. */
static __always_inline void forget_unbound(__u64 cookie)
{
	struct sock_state *st = sock_find(cookie);

	if (st && st->phase == PH_UNBOUND)
		sock_drop(st, cookie);
}

/* For cgroup sock programs the context is the struct sock itself. */
static __always_inline int bind_done(struct bpf_sock *ctx, __u16 family)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 cookie = bpf_get_socket_cookie(ctx), now = bpf_ktime_get_ns();
	__u64 latency = EP_LATENCY_NONE;
	struct thread_bracket *b = bracket_of(tid, EP_VIA_BIND);
	struct ep_record r = {};
	bool fixed, unasked;

	if (!proto_wanted(ctx->protocol))
		return 1;
	if (!b || b->cookie != cookie) {
		stat_inc(EP_STAT_INFLIGHT_FULL);
		forget_unbound(cookie);
		return 1;
	}
	fixed = b->port_req != 0;
	unasked = b->unasked;
	if (!fixed)
		latency = now - b->start_ns;
	b->tid = 0;
	if (!fill_owner(&r) || !fill_from_bound_ctx(&r, ctx, family)) {
		forget_unbound(cookie);
		return 1;
	}
	r.via = EP_VIA_BIND;
	/* A port the caller chose is no assignment, but userspace needs its
	 * holder for bind conflicts and range overlaps. */
	if (fixed)
		r.flags |= EP_F_FIXED;
	/* a UDP socket made while traced has its entry (PH_UNBOUND) */
	assigned(cookie, &r, now, latency, unasked);
	return 1;
}

SEC("cgroup/post_bind4")
int on_post_bind4(struct bpf_sock *ctx)
{
	return bind_done(ctx, AF_INET);
}

SEC("cgroup/post_bind6")
int on_post_bind6(struct bpf_sock *ctx)
{
	return bind_done(ctx, AF_INET6);
}

/* A refused bind(): EADDRINUSE, the port asked for held, or none free in
 * the range for bind(0). Rare, so the socket and the address asked for are
 * read here, from the syscall's arguments, rather than kept from the
 * bracket. The syscall tracepoints' context is the kernel's
 * syscall_trace_enter/_exit (ret and args at offset 16), not
 * trace_event_raw_sys_*, which belongs to raw_syscalls and grows with
 * trace_entry: on PREEMPT_RT kernels its larger trace_entry moves ret past
 * the context's end and the attach is refused. */
SEC("tracepoint/syscalls/sys_exit_bind")
int on_exit_bind(struct syscall_trace_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct thread_bracket *b = bracket_of(tid, EP_VIA_BIND);
	long ret = ctx->ret; /* read once: the verifier takes no offset ctx pointer */
	struct ep_record r = {};
	const __u8 *uaddr;
	struct sock *sk;
	__u16 family, port;

	/* A bracket a refused bind left open could otherwise time the next
	 * bind of the same socket from here. */
	if (b)
		b->tid = 0;
	if (ret != -EADDRINUSE)
		return 0;
	sk = fd_to_sock(syscall_arg0());
	if (!sk || !proto_wanted(SK_FIELD(sk, sk_protocol)))
		return 0;
	family = SK_FIELD(sk, __sk_common.skc_family);
	if (!fill_owner_btf(&r) || !fill_from_sk(&r, sk))
		return 0;
	/* the socket is still unbound: the address and port are the ones asked for */
	uaddr = syscall_arg1();
	if (bpf_probe_read_user(&port, sizeof(port), uaddr + 2))
		return 0;
	__builtin_memset(r.laddr, 0, sizeof(r.laddr));
	if (family == AF_INET6)
		bpf_probe_read_user(r.laddr, 16, uaddr + 8);
	else
		bpf_probe_read_user(r.laddr, 4, uaddr + 4);
	r.lport = bpf_ntohs(port);
	r.cookie = sk_cookie(sk);
	failed(&r, bpf_ktime_get_ns(), EADDRINUSE, EP_VIA_BIND);
	return 0;
}

#endif
