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
#include "syscall_args.bpf.h"
#include "thread_slot.bpf.h"

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

static __always_inline void udp_peer(struct ep_record *r, __u8 via, const __u8 *peer,
				     __u16 peer_port)
{
	if (peer && !r->rport) {
		__builtin_memcpy(r->raddr, peer, 16);
		r->rport = peer_port;
		r->flags |= EP_F_RADDR;
	}
	r->via = via;
}

static __always_inline bool udp_fill(struct ep_record *r, const struct sock *sk,
				     const struct sk_head *head, bool in_tracepoint)
{
	struct sk_head h;

	if (!fill_owner_as(r, in_tracepoint))
		return false;
	if (!head) {
		sk_head_of(sk, &h);
		head = &h;
	}
	return fill_from_head(r, sk, head, IPPROTO_UDP);
}

/* The port appeared on sk: report it. A socket made while traced has its
 * entry already (st, PH_UNBOUND), turned into the assignment where it is; peer,
 * when given, is the destination of an unconnected send; head, when given,
 * the socket's head as the caller read it. in_tracepoint: the caller is a
 * syscall exit, whose program may type the task. */
static __always_inline void udp_assigned(struct sock_state *st, const struct sock *sk,
					 const struct sk_head *head, __u64 cookie, __u8 via,
					 __u64 now, __u64 latency, const __u8 *peer,
					 __u16 peer_port, bool in_tracepoint)
{
	struct ep_record r = {};

	/* reported already, by another thread's send or connect on it */
	if (st && st->phase != PH_UNBOUND)
		return;
	if (st) {
		if (!udp_fill(&st->rec, sk, head, in_tracepoint)) {
			/* filtered out: not worth a look at its next send */
			sock_drop(st, cookie);
			return;
		}
		udp_peer(&st->rec, via, peer, peer_port);
		pending_assigned(cookie, st, now, latency);
		return;
	}
	if (!udp_fill(&r, sk, head, in_tracepoint))
		return;
	udp_peer(&r, via, peer, peer_port);
	assigned(cookie, &r, now, latency, false);
}

/* UDP connect: the cgroup hook runs right before the autobind and opens the
 * bracket in the thread's slot; the syscall exit closes it. */
static __always_inline int connect_hook(struct bpf_sock_addr *ctx)
{
	struct thread_bracket *b;
	struct bpf_sock *sk;

	if (ctx->protocol != IPPROTO_UDP || !trace_udp || !syscalls_on)
		return 1;
	sk = ctx->sk;
	if (!sk || sk->src_port)
		return 1; /* bound already: no assignment */
	b = bracket_open((__u32)bpf_get_current_pid_tgid(), EP_VIA_CONNECT, bpf_ktime_get_ns());
	if (!b)
		return 1;
	b->sk = (__u64)sk;
	b->cookie = bpf_get_socket_cookie(ctx);
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

/* An autobind that found no free port: EAGAIN, reported as the caller's. */
static __always_inline void autobind_failed(struct sock *sk, __u64 cookie, __u8 via, __u64 now)
{
	struct ep_record r = {};

	if (fill_owner_btf(&r) && fill_from_sk(&r, sk)) {
		r.cookie = cookie;
		failed(&r, now, EAGAIN, via);
	}
}

/* A UDP connect the cgroup hook bracketed: its port, or its EAGAIN. h:
 * the socket's head, read once to check the bracket, tell an assignment
 * and describe it. */
static __always_inline void udp_connect_done(const struct thread_bracket *in, struct sock *sk,
					    const struct sk_head *h, long ret, __u64 now)
{
	if (h->num) {
		udp_assigned(sock_find(in->cookie), sk, h, in->cookie,
			     EP_VIA_CONNECT, now, now - in->start_ns, NULL, 0, true);
	} else if (ret == -EAGAIN) {
		autobind_failed(sk, in->cookie, EP_VIA_CONNECT, now);
	}
}

/* The entry of a UDP socket without a port, which a send's autobind turns
 * into its assignment. netns: the socket's, if known (0: read when needed). */
static __always_inline void track_unbound(__u64 cookie, __u64 sk, bool fresh, __u32 netns)
{
	struct sock_state st = { .phase = PH_UNBOUND, .sk = sk };
	struct sock_slot *s;

	st.rec.cookie = cookie;
	st.rec.netns = netns;
	if (!fresh) {
		track(cookie, &st);
		return;
	}
	/* every UDP socket made comes here, with no entry yet: written in
	 * its slot, not copied there */
	s = sock_claim(cookie);
	if (!s) {
		stat_inc(EP_STAT_SOCKS_FULL);
		return;
	}
	__builtin_memset(&s->st, 0, sizeof(s->st));
	s->st.phase = PH_UNBOUND;
	s->st.sk = sk;
	s->st.rec.cookie = cookie;
	s->st.rec.netns = netns;
	sock_publish(s);
}

/* connect(AF_UNSPEC) gives a UDP port back unless bind() fixed it; the
 * socket can then autobind again. The fd is read only once the address
 * says AF_UNSPEC: every successful connect() comes here. */
static __always_inline void udp_disconnected(void)
{
	struct sock_state *st;
	struct sock *sk;
	__u16 family;
	__u64 cookie;

	if (bpf_probe_read_user(&family, sizeof(family), syscall_arg1()) || family != AF_UNSPEC)
		return;
	sk = udp_sock_of(syscall_arg0());
	if (!sk || SK_FIELD(sk, __sk_common.skc_num))
		return;
	cookie = sk_cookie(sk);
	st = sock_find(cookie);
	if (st && st->phase == PH_ASSIGNED) {
		/* read before the release gives the entry up */
		__u32 netns = st->rec.netns;

		released(cookie, st, bpf_ktime_get_ns(), EP_REL_DISCONNECT, 0);
		track_unbound(cookie, (__u64)sk, false, netns);
	}
}

/* A bracket this connect did not open (io_uring's connect opens one with no
 * syscall exit to close it) is dropped. The socket's cookie rules out a
 * socket freed since; a bracket older than a millisecond is checked against
 * the fd this connect was given, which costs a walk of the fd table. */
static __always_inline bool bracket_is_this_calls(const struct thread_bracket *c,
						  const struct sk_head *h, __u64 now)
{
	if (h->cookie != c->cookie)
		return false;
	if (now - c->start_ns < 1000000)
		return true;
	return c->sk == (__u64)fd_to_sock(syscall_arg0());
}

SEC("tracepoint/syscalls/sys_exit_connect")
int on_exit_connect(struct syscall_trace_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct thread_bracket *in = bracket_of(tid, EP_VIA_CONNECT);
	long ret = ctx->ret; /* read once: the verifier takes no offset ctx pointer */

	if (!in && ret)
		return 0; /* the common case: neither a UDP bracket nor a disconnect */
	if (in) {
		/* one clock read serves the bracket's check and its end */
		struct thread_bracket c = *in;
		__u64 now = bpf_ktime_get_ns();
		struct sk_head h;

		in->tid = 0;
		if (c.sk) {
			sk_head_of((const struct sock *)c.sk, &h);
			if (bracket_is_this_calls(&c, &h, now)) {
				udp_connect_done(&c, (struct sock *)c.sk, &h, ret, now);
				return 0;
			}
		}
	}
	if (!ret && trace_udp)
		udp_disconnected();
	return 0;
}

/* UDP send to an address: a socket without a port got one just before this
 * hook (inet_send_prepare's autobind). Only a socket made while traced is
 * known to have had none; the socket lock serialises the hook per socket.
 * No bracket: the search ran before any hook of this backend. */
static __always_inline int sendmsg_hook(struct bpf_sock_addr *ctx, __u8 family)
{
	__u8 peer[16] = {};
	struct sock_state *st;
	__u64 cookie;

	if (ctx->protocol != IPPROTO_UDP || !ctx->sk)
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	st = sock_find(cookie);
	if (!st || st->phase != PH_UNBOUND)
		return 1;
	user_addr(ctx, family, peer);
	/* st->sk, not ctx->sk: the helper reads need an address, not a pointer
	 * the verifier types */
	udp_assigned(st, (const struct sock *)st->sk, NULL, cookie, EP_VIA_SENDMSG, bpf_ktime_get_ns(),
		     EP_LATENCY_NONE, peer, bpf_ntohs(ctx->user_port), false);
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

/* A UDP socket made while traced: its entry waits for the port, knowing
 * the socket's namespace when that cost no read. */
SEC("cgroup/sock_create")
int on_sock_create(struct bpf_sock *ctx)
{
	__u32 netns;

	if (ctx->protocol != IPPROTO_UDP || !trace_udp || !family_wanted(ctx->family))
		return 1;
	/* the context is the struct sock, its namespace set already */
	netns = targ_netns ? ctx_netns(ctx) : ctx_known_netns(ctx);
	if (targ_netns && netns != targ_netns)
		return 1;
	track_unbound(bpf_get_socket_cookie(ctx), (__u64)ctx, true, netns);
	return 1;
}

/* A failed send. One that could not autobind returns EAGAIN with the
 * socket still without a port (a full send buffer's EAGAIN leaves the port
 * in place). One that autobound and then failed before the cgroup hook (no
 * address, a bad one, too long a datagram) keeps its new port: reported
 * here. Sends succeed far more often than they fail: the fd table is
 * walked only for failures. */
static __always_inline void send_done(long ret)
{
	struct sock_state *st;
	struct sock *sk;
	__u64 cookie;

	if (ret >= 0 || !trace_udp)
		return;
	sk = udp_sock_of(syscall_arg0());
	if (!sk)
		return;
	if (SK_FIELD(sk, __sk_common.skc_num)) {
		cookie = sk_cookie(sk);
		st = sock_find(cookie);
		if (st && st->phase == PH_UNBOUND)
			udp_assigned(st, sk, NULL, cookie, EP_VIA_SENDMSG, bpf_ktime_get_ns(),
				     EP_LATENCY_NONE, NULL, 0, true);
		return;
	}
	if (ret == -EAGAIN)
		autobind_failed(sk, sk_cookie(sk), EP_VIA_SENDMSG, bpf_ktime_get_ns());
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int on_exit_sendto(struct syscall_trace_exit *ctx)
{
	send_done(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int on_exit_sendmsg(struct syscall_trace_exit *ctx)
{
	send_done(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int on_exit_sendmmsg(struct syscall_trace_exit *ctx)
{
	send_done(ctx->ret);
	return 0;
}

/* ---------- UDP release ---------- */

/* A socket made while traced closes without its port reported: either it
 * never had one, or no hook saw it taken: an io_uring connect or send (no
 * syscall exit follows them), or a syscall exit the kernel skipped. Such a
 * port's release is reported, held since a time not known (as for a port
 * held before the start), by the task closing it; userspace counts it in
 * untracked_releases. */
static __always_inline void unbound_closed(struct sock_state *st, __u64 cookie)
{
	const struct sock *sk = (const struct sock *)st->sk;
	struct sk_head h;

	sk_head_of(sk, &h);
	if (!h.num || !fill_owner(&st->rec) || !fill_from_head(&st->rec, sk, &h, IPPROTO_UDP)) {
		sock_drop(st, cookie);
		return;
	}
	/* the entry's template, filled in place, is the release's record */
	released(cookie, st, bpf_ktime_get_ns(), EP_REL_UDP_CLOSE, 0);
}

SEC("cgroup/sock_release")
int on_sock_release(struct bpf_sock *ctx)
{
	struct sock_state *st;
	__u64 cookie;

	if (ctx->protocol != IPPROTO_UDP)
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	st = sock_find(cookie);
	if (!st)
		return 1;
	if (st->phase == PH_ASSIGNED)
		released(cookie, st, bpf_ktime_get_ns(), EP_REL_UDP_CLOSE, 0);
	else if (st->phase == PH_UNBOUND)
		unbound_closed(st, cookie);
	return 1;
}

#endif
