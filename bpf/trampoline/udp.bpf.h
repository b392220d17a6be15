/* SPDX-License-Identifier: GPL-2.0 */
/* UDP: udp_lib_get_port is the search for bind() and for the autobind of
 * connect() and send*(); it runs before connect or send knows the peer, and
 * its caller chooses the errno. So the caller reports: bind() at the search's
 * end, connect() at its own exit (the peer set), a send on entry to
 * udp_sendmsg/udpv6_sendmsg (the peer in the message). udp_lib_unhash is the
 * release, on close or on connect(AF_UNSPEC). UDP-Lite is not followed. */
#ifndef EPTRACE_TR_UDP_BPF_H
#define EPTRACE_TR_UDP_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "lib/maps.bpf.h"
#include "lib/kernel_defs.bpf.h"
#include "lib/sock_table.bpf.h"
#include "search.bpf.h"

static __always_inline bool is_udp(const struct sock *sk)
{
	return sk->sk_protocol == IPPROTO_UDP;
}

static __always_inline void call_begin(const struct sock *sk, __u8 via, bool disconnect)
{
	struct task_state *t = task_state(TS_CALL);

	if (!t)
		return;
	t->call = (struct udp_call){ .sk = (__u64)sk, .via = via, .disconnect = disconnect };
	t->since_ns = bpf_ktime_get_ns();
	t->call_lost = 0;
}

/* This thread's call on sk, or NULL. */
static __always_inline struct udp_call *call_of(const struct sock *sk)
{
	return call_in(task_state(TS_FIND), sk);
}

static __always_inline void call_end(struct udp_call *c)
{
	c->sk = 0;
}

/* An autobind's outcome, reported by its caller; peer and peer_port (0:
 * none) are the destination of an unconnected send. */
static __always_inline void autobind_report(struct sock *sk, const struct udp_call *c, int err,
					    const __u8 peer[16], __u16 peer_port)
{
	struct ep_record r = {};
	__u64 now = bpf_ktime_get_ns();
	bool fresh;

	if (!search_record(&r, sk, c->via, &fresh))
		return;
	if (!c->ok) {
		failed(&r, now, err, c->via);
		return;
	}
	if (peer_port && !r.rport) {
		__builtin_memcpy(r.raddr, peer, 16);
		r.rport = peer_port;
		r.flags |= EP_F_RADDR;
	}
	search_assigned(&r, now, c->latency_ns, false, fresh);
}

/* UDP and SCTP: their searches do not tell bind() from an autobind. */
static __always_inline bool bind_call_wanted(const struct sock *sk)
{
	return (sk->sk_protocol == IPPROTO_UDP && trace_udp) ||
	       (sk->sk_protocol == IPPROTO_SCTP && trace_sctp);
}

static __always_inline int bind_enter(struct socket *sock)
{
	struct sock *sk = sock->sk;

	if (sk && bind_call_wanted(sk))
		call_begin(sk, EP_VIA_BIND, false);
	return 0;
}

static __always_inline int bind_exit(struct socket *sock)
{
	struct sock *sk = sock->sk;
	struct udp_call *c;

	if (sk && bind_call_wanted(sk) && (c = call_of(sk)))
		call_end(c);
	return 0;
}

SEC("fentry/inet_bind")
int BPF_PROG(on_inet_bind, struct socket *sock)
{
	return bind_enter(sock);
}

SEC("fentry/inet6_bind")
int BPF_PROG(on_inet6_bind, struct socket *sock)
{
	return bind_enter(sock);
}

SEC("fexit/inet_bind")
int BPF_PROG(on_inet_bind_exit, struct socket *sock)
{
	return bind_exit(sock);
}

SEC("fexit/inet6_bind")
int BPF_PROG(on_inet6_bind_exit, struct socket *sock)
{
	return bind_exit(sock);
}

SEC("fentry/inet_dgram_connect")
int BPF_PROG(on_dgram_connect, struct socket *sock, struct sockaddr *uaddr)
{
	struct sock *sk = sock->sk;

	if (!sk || !is_udp(sk) || !trace_udp)
		return 0;
	call_begin(sk, EP_VIA_CONNECT, uaddr->sa_family == AF_UNSPEC);
	return 0;
}

/* The peer is set by now (when the connect succeeded); a failed autobind
 * gives the connect its errno. */
SEC("fexit/inet_dgram_connect")
int BPF_PROG(on_dgram_connect_exit, struct socket *sock)
{
	struct sock *sk = sock->sk;
	struct udp_call *c;
	long ret;

	if (!sk || !is_udp(sk))
		return 0;
	c = call_of(sk);
	if (!c)
		return 0;
	if (c->searched) {
		__u8 none[16] = {};

		ret = ret_long(ctx);
		autobind_report(sk, c, ret < 0 ? -ret : EAGAIN, none, 0);
	}
	call_end(c);
	return 0;
}

SEC("fentry/udp_lib_get_port")
int BPF_PROG(on_udp_get_port, struct sock *sk, unsigned short snum)
{
	if (!is_udp(sk) || !trace_udp)
		return 0;
	search_open(sk, snum, EP_VIA_NONE);
	return 0;
}

/* 0 found, non-zero not: bind() answers EADDRINUSE, an autobind EAGAIN. */
SEC("fexit/udp_lib_get_port")
int BPF_PROG(on_udp_get_port_exit, struct sock *sk, unsigned short snum)
{
	struct udp_call *c;
	bool ok = ret_long(ctx) == 0;
	__u64 now = bpf_ktime_get_ns();
	struct ep_record r = {};
	struct task_state *t;
	struct inflight in;
	bool fresh;

	t = search_close(sk, &in);
	if (!t)
		return 0;
	c = call_in(t, sk);
	if (c && c->via == EP_VIA_BIND) {
		if (!search_record(&r, sk, EP_VIA_BIND, &fresh))
			return 0;
		if (ok) {
			search_assigned(&r, now, now - in.start_ns, snum != 0, fresh);
		} else {
			r.lport = snum;
			failed(&r, now, EADDRINUSE, EP_VIA_BIND);
		}
		return 0;
	}
	if (!c && call_was_refused(t))
		return 0;
	if (!c) {
		/* A send's autobind: its failure ends the send with EAGAIN
		 * before udp_sendmsg, so it is reported here. */
		if (!ok) {
			if (search_record(&r, sk, EP_VIA_SENDMSG, &fresh))
				failed(&r, now, EAGAIN, EP_VIA_SENDMSG);
			return 0;
		}
		c = &t->call;
		*c = (struct udp_call){ .sk = (__u64)sk, .via = EP_VIA_SENDMSG };
		t->since_ns = now;
	}
	c->searched = 1;
	c->ok = ok;
	c->latency_ns = now - in.start_ns;
	return 0;
}

static __always_inline int send_enter(struct sock *sk, struct msghdr *msg)
{
	struct udp_call *c = call_of(sk);
	struct sockaddr_in6 peer6;
	__u8 peer[16] = {};
	__u16 port = 0;
	void *name;

	if (!c || !c->searched || c->via != EP_VIA_SENDMSG)
		return 0;
	/* a kernel copy of the address (move_addr_to_kernel), or none */
	name = msg ? BPF_CORE_READ(msg, msg_name) : NULL;
	if (name && !bpf_probe_read_kernel(&peer6, sizeof(peer6), name)) {
		if (peer6.sin6_family == AF_INET) {
			struct sockaddr_in *in4 = (void *)&peer6;

			__builtin_memcpy(peer, &in4->sin_addr.s_addr, 4);
			port = bpf_ntohs(in4->sin_port);
		} else if (peer6.sin6_family == AF_INET6) {
			__builtin_memcpy(peer, &peer6.sin6_addr, 16);
			port = bpf_ntohs(peer6.sin6_port);
		}
	}
	autobind_report(sk, c, 0, peer, port);
	call_end(c);
	return 0;
}

SEC("fentry/udp_sendmsg")
int BPF_PROG(on_udp_sendmsg, struct sock *sk, struct msghdr *msg)
{
	return send_enter(sk, msg);
}

SEC("fentry/udpv6_sendmsg")
int BPF_PROG(on_udpv6_sendmsg, struct sock *sk, struct msghdr *msg)
{
	return send_enter(sk, msg);
}

/* sendfile() and splice() to an unbound socket, before Linux 6.5 (which
 * sends them through udp_sendmsg): optional, the loader leaves it out where
 * the kernel has no such function. */
SEC("fentry/udp_sendpage")
int BPF_PROG(on_udp_sendpage, struct sock *sk)
{
	return send_enter(sk, NULL);
}

/* On close, and on connect(AF_UNSPEC) of a socket whose port was not chosen
 * by bind(). */
SEC("fentry/udp_lib_unhash")
int BPF_PROG(on_udp_unhash, struct sock *sk)
{
	struct sock_state *st;
	struct udp_call *c;
	__u64 cookie;

	if (!is_udp(sk))
		return 0;
	cookie = sk->__sk_common.skc_cookie.counter;
	st = sock_find(cookie);
	if (!st || st->phase != PH_ASSIGNED)
		return 0;
	c = call_of(sk);
	released(cookie, st, bpf_ktime_get_ns(),
		 c && c->disconnect ? EP_REL_DISCONNECT : EP_REL_UDP_CLOSE, 0);
	return 0;
}

#endif
