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

static __always_inline int bind_start(struct bpf_sock_addr *ctx, __u8 family)
{
	struct inflight in = {};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (!proto_wanted(ctx->protocol))
		return 1;
	in.start_ns = bpf_ktime_get_ns();
	in.via = EP_VIA_BIND;
	in.port_req = bpf_ntohs(ctx->user_port);
	in.family = family;
	in.proto = ctx->protocol;
	in.cookie = bpf_get_socket_cookie(ctx);
	user_addr(ctx, family, in.addr);
	if (bpf_map_update_elem(&inflight, &tid, &in, BPF_ANY))
		stat_inc(EP_STAT_INFLIGHT_FULL);
	return 1;
}

SEC("cgroup/bind4")
int on_bind4(struct bpf_sock_addr *ctx)
{
	return bind_start(ctx, 4);
}

SEC("cgroup/bind6")
int on_bind6(struct bpf_sock_addr *ctx)
{
	return bind_start(ctx, 6);
}

/* For cgroup sock programs the context is the struct sock itself. */
static __always_inline int bind_done(struct bpf_sock *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct sock_state s = {};
	struct inflight *in;
	__u64 now, start, cookie;
	bool fixed;

	in = bpf_map_lookup_elem(&inflight, &tid);
	if (!in || in->via != EP_VIA_BIND)
		return 1;
	start = in->start_ns;
	cookie = in->cookie;
	fixed = in->port_req != 0;
	bpf_map_delete_elem(&inflight, &tid);
	now = bpf_ktime_get_ns();
	if (!fill_owner(&s.rec) || !fill_from_sk(&s.rec, (struct sock *)ctx)) {
		/* Its port is bound now: a send must not take it for an autobind. */
		struct sock_state *st = bpf_map_lookup_elem(&socks, &cookie);

		if (st && st->phase == PH_UNBOUND)
			bpf_map_delete_elem(&socks, &cookie);
		return 1;
	}
	s.rec.lport = ctx->src_port;
	s.rec.via = EP_VIA_BIND;
	/* A port the caller chose is no assignment, but userspace needs its
	 * holder for bind conflicts and range overlaps. */
	if (fixed)
		s.rec.flags |= EP_F_FIXED;
	assigned(cookie, &s, now, fixed ? EP_LATENCY_NONE : now - start);
	return 1;
}

SEC("cgroup/post_bind4")
int on_post_bind4(struct bpf_sock *ctx)
{
	return bind_done(ctx);
}

SEC("cgroup/post_bind6")
int on_post_bind6(struct bpf_sock *ctx)
{
	return bind_done(ctx);
}

/* Syscall tracepoints: the context is the kernel's syscall_trace_enter/_exit
 * (ret and args at offset 16), not trace_event_raw_sys_*, which belongs to
 * raw_syscalls and grows with trace_entry: on PREEMPT_RT kernels its larger
 * trace_entry moves ret past the context's end and the attach is refused. */
SEC("tracepoint/syscalls/sys_exit_bind")
int on_exit_bind(struct syscall_trace_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ep_record r = {};
	struct inflight *in;

	in = bpf_map_lookup_elem(&inflight, &tid);
	if (!in || in->via != EP_VIA_BIND)
		return 0;
	if (ctx->ret == -EADDRINUSE && fill_owner(&r)) {
		r.proto = in->proto;
		r.family = in->family;
		r.lport = in->port_req;
		r.cookie = in->cookie;
		__builtin_memcpy(r.laddr, in->addr, 16);
		r.netns = BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), nsproxy,
					net_ns, ns.inum);
		if (!targ_netns || r.netns == targ_netns)
			failed(&r, bpf_ktime_get_ns(), EADDRINUSE, EP_VIA_BIND);
	}
	bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

#endif
