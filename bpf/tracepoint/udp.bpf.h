/* SPDX-License-Identifier: GPL-2.0 */
/* UDP: autobind in connect() and send*(), the port given back by
 * connect(AF_UNSPEC), and the release. The syscall tracepoints' context is
 * described in bind.bpf.h, above on_exit_bind. */
#ifndef EPTRACE_TP_UDP_BPF_H
#define EPTRACE_TP_UDP_BPF_H

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

static __always_inline struct sock *fd_to_sock(long fd)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct file **fds;
	struct file *f;
	unsigned int max;
	struct socket *so;

	if (fd < 0)
		return NULL;
	max = BPF_CORE_READ(task, files, fdt, max_fds);
	if (fd >= max)
		return NULL;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	so = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(so, sk);
}

static __always_inline struct sock *udp_sock_of(long fd)
{
	struct sock *sk = fd_to_sock(fd);
	__u16 family;

	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	return sk;
}

static __always_inline void udp_enter(long fd, __u8 via, bool only_unbound)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct inflight in = {};
	struct sock *sk;

	if (!trace_udp)
		return;
	sk = udp_sock_of(fd);
	if (!sk)
		return;
	in.was_bound = BPF_CORE_READ(sk, __sk_common.skc_num) != 0;
	if (only_unbound && in.was_bound)
		return;
	in.sk = (__u64)sk;
	in.via = via;
	in.start_ns = bpf_ktime_get_ns();
	in.cookie = sk_cookie(sk);
	if (bpf_map_update_elem(&inflight, &tid, &in, BPF_ANY))
		stat_inc(EP_STAT_INFLIGHT_FULL);
}

/* The port appeared during this syscall: report it. peer, when given, is the
 * destination of an unconnected send. */
static __always_inline void udp_assigned(struct inflight *in, __u64 cookie, __u64 now,
					 __u64 latency, const __u8 *peer, __u16 peer_port)
{
	struct sock_state s = {};

	if (!fill_owner(&s.rec) || !fill_from_sk(&s.rec, (struct sock *)in->sk))
		return;
	if (peer && !s.rec.rport) {
		__builtin_memcpy(s.rec.raddr, peer, 16);
		s.rec.rport = peer_port;
		s.rec.flags |= EP_F_RADDR;
	}
	s.rec.via = in->via;
	assigned(cookie, &s, now, latency);
}

static __always_inline void udp_exit(long ret, __u8 via)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct inflight *in;
	struct sock *sk;
	__u64 now, cookie;
	__u16 num;

	in = bpf_map_lookup_elem(&inflight, &tid);
	if (!in)
		return;
	if (in->via != via || !in->sk)
		goto out;
	sk = (struct sock *)in->sk;
	now = bpf_ktime_get_ns();
	num = SK_FIELD(sk, __sk_common.skc_num);
	cookie = in->cookie ? in->cookie : sk_cookie(sk);
	if (!in->was_bound && num) {
		udp_assigned(in, cookie, now, now - in->start_ns, NULL, 0);
	} else if (!in->was_bound && ret == -EAGAIN) {
		struct ep_record r = {};

		if (fill_owner(&r) && fill_from_sk(&r, sk)) {
			r.cookie = cookie;
			failed(&r, now, EAGAIN, via);
		}
	} else if (in->was_bound && !num && cookie) {
		/* connect(AF_UNSPEC) gave the port back */
		struct sock_state *st = bpf_map_lookup_elem(&socks, &cookie);

		if (st && st->phase == PH_ASSIGNED)
			released(cookie, st, now, EP_REL_DISCONNECT, 0);
	}
out:
	bpf_map_delete_elem(&inflight, &tid);
}

/* Only connect(AF_UNSPEC) needs the socket here (it may give a UDP port
 * back): an address connect is bracketed by the cgroup hook, without walking
 * the fd table on every connect of every process. */
SEC("tracepoint/syscalls/sys_enter_connect")
int on_enter_connect(struct syscall_trace_enter *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u16 family;

	/* A bracket open before the syscall was opened where no syscall exit
	 * followed (io_uring's connect): not this connect's. */
	if (bpf_map_lookup_elem(&inflight, &tid))
		bpf_map_delete_elem(&inflight, &tid);
	if (bpf_probe_read_user(&family, sizeof(family), (void *)ctx->args[1]) ||
	    family != AF_UNSPEC)
		return 0;
	udp_enter(ctx->args[0], EP_VIA_CONNECT, false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int on_exit_connect(struct syscall_trace_exit *ctx)
{
	udp_exit(ctx->ret, EP_VIA_CONNECT);
	return 0;
}

/* UDP connect: the cgroup hook runs right before the autobind; the syscall
 * exit sees its result. */
static __always_inline int connect_hook(struct bpf_sock_addr *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct inflight in = {};
	struct bpf_sock *sk;

	if (ctx->protocol != IPPROTO_UDP || !trace_udp || !syscalls_on)
		return 1;
	sk = ctx->sk;
	if (!sk || sk->src_port)
		return 1; /* bound already: no assignment */
	in.sk = (__u64)sk;
	in.via = EP_VIA_CONNECT;
	in.start_ns = bpf_ktime_get_ns();
	in.cookie = bpf_get_socket_cookie(ctx);
	if (bpf_map_update_elem(&inflight, &tid, &in, BPF_ANY))
		stat_inc(EP_STAT_INFLIGHT_FULL);
	return 1;
}

SEC("cgroup/connect4")
int on_connect4(struct bpf_sock_addr *ctx)
{
	return connect_hook(ctx);
}

SEC("cgroup/connect6")
int on_connect6(struct bpf_sock_addr *ctx)
{
	return connect_hook(ctx);
}

/* UDP send to an address: the autobind has already happened here. */
static __always_inline int sendmsg_hook(struct bpf_sock_addr *ctx, __u8 family)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u8 peer[16] = {};
	struct inflight *in;
	__u64 now;

	in = bpf_map_lookup_elem(&inflight, &tid);
	if (!in || in->via != EP_VIA_SENDMSG || !in->sk)
		return 1;
	now = bpf_ktime_get_ns();
	user_addr(ctx, family, peer);
	udp_assigned(in, bpf_get_socket_cookie(ctx), now, now - in->start_ns, peer,
		     bpf_ntohs(ctx->user_port));
	bpf_map_delete_elem(&inflight, &tid);
	return 1;
}

SEC("cgroup/sendmsg4")
int on_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sendmsg_hook(ctx, 4);
}

SEC("cgroup/sendmsg6")
int on_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sendmsg_hook(ctx, 6);
}

/* Only processes that made a UDP socket while traced can autobind on send:
 * every other send on the host returns after one lookup. */
static __always_inline void send_enter(long fd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (bpf_map_lookup_elem(&udp_procs, &tgid))
		udp_enter(fd, EP_VIA_SENDMSG, true);
}

SEC("cgroup/sock_create")
int on_sock_create(struct bpf_sock *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u8 one = 1;

	/* A lookup first: a hit takes no lock, an LRU update does. */
	if (ctx->protocol == IPPROTO_UDP && trace_udp &&
	    !bpf_map_lookup_elem(&udp_procs, &tgid))
		bpf_map_update_elem(&udp_procs, &tgid, &one, BPF_ANY);
	return 1;
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int on_enter_sendto(struct syscall_trace_enter *ctx)
{
	send_enter(ctx->args[0]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int on_exit_sendto(struct syscall_trace_exit *ctx)
{
	udp_exit(ctx->ret, EP_VIA_SENDMSG);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int on_enter_sendmsg(struct syscall_trace_enter *ctx)
{
	send_enter(ctx->args[0]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int on_exit_sendmsg(struct syscall_trace_exit *ctx)
{
	udp_exit(ctx->ret, EP_VIA_SENDMSG);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int on_enter_sendmmsg(struct syscall_trace_enter *ctx)
{
	send_enter(ctx->args[0]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int on_exit_sendmmsg(struct syscall_trace_exit *ctx)
{
	udp_exit(ctx->ret, EP_VIA_SENDMSG);
	return 0;
}

/* ---------- UDP release ---------- */

SEC("cgroup/sock_release")
int on_sock_release(struct bpf_sock *ctx)
{
	struct sock_state *st;
	__u64 cookie;

	if (ctx->protocol != IPPROTO_UDP)
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	st = bpf_map_lookup_elem(&socks, &cookie);
	if (st && st->phase == PH_ASSIGNED)
		released(cookie, st, bpf_ktime_get_ns(), EP_REL_UDP_CLOSE, 0);
	return 1;
}

#endif
