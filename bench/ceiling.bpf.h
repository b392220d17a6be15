/* SPDX-License-Identifier: GPL-2.0 */
/* The benchmark's ceiling on the trampoline backend's hooks: the floor (every
 * attach point, a program that returns at once) but for the five programs
 * below, which put one bare record in a ring for each TCP connect, bind or
 * listen assignment, UDP connect assignment, and release of a port the
 * kernel chose. What the
 * hooks and a record per event cost before any of eptrace's own facts
 * (latency bracket, owner, addresses, socket table): the most any tracer
 * reporting each event could reach. Included by floor_gen.py --with. */
#include <bpf/bpf_tracing.h>
#include "record.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

__u64 ring_full = 0;

static __always_inline void ceiling_emit(const struct sock *sk, __u8 kind, __u64 cookie)
{
	struct ep_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	__u64 id;

	if (!r) {
		__sync_fetch_and_add(&ring_full, 1);
		return;
	}
	id = bpf_get_current_pid_tgid();
	r->ts_ns = bpf_ktime_get_ns();
	r->cookie = cookie;
	r->pid = id >> 32;
	r->tid = (__u32)id;
	r->lport = sk->__sk_common.skc_num;
	r->kind = kind;
	r->proto = sk->sk_protocol;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
}

static __always_inline void assigned(struct sock *sk, int ret, __u8 proto)
{
	if (!ret && sk && sk->sk_protocol == proto)
		ceiling_emit(sk, EP_ALLOC, bpf_get_socket_cookie(sk));
}

/* A socket whose cookie no one asked for was not assigned here (a bound
 * server, the sockets it accepts): the cheapest test there is, where
 * eptrace looks the socket up in its table. */
static __always_inline void released(const struct sock *sk, __u8 proto)
{
	__u64 cookie = sk->__sk_common.skc_cookie.counter;

	if (cookie && sk->sk_protocol == proto)
		ceiling_emit(sk, EP_RELEASE, cookie);
}

SEC("fexit/inet_csk_get_port")
int BPF_PROG(on_csk_get_port_exit, struct sock *sk, unsigned short snum, int ret)
{
	assigned(sk, ret, IPPROTO_TCP);
	return 0;
}

SEC("fexit/__inet_hash_connect")
int BPF_PROG(on_hash_connect_exit, struct inet_timewait_death_row *death_row, struct sock *sk)
{
	__u64 ret = 0;

	bpf_get_func_ret(ctx, &ret); /* its place among the arguments moved */
	assigned(sk, (int)ret, IPPROTO_TCP);
	return 0;
}

SEC("fentry/inet_put_port")
int BPF_PROG(on_put_port, struct sock *sk)
{
	released(sk, IPPROTO_TCP);
	return 0;
}

SEC("fexit/inet_dgram_connect")
int BPF_PROG(on_dgram_connect_exit, struct socket *sock, struct sockaddr *uaddr, int addr_len,
	     int flags, int ret)
{
	assigned(sock->sk, ret, IPPROTO_UDP);
	return 0;
}

SEC("fentry/udp_lib_unhash")
int BPF_PROG(on_udp_unhash, struct sock *sk)
{
	released(sk, IPPROTO_UDP);
	return 0;
}
