/* SPDX-License-Identifier: GPL-2.0 */
/* SCTP, from the sctp module when it is loaded at start (the loader leaves
 * these programs out otherwise): sctp_get_port_local is the search of bind()
 * and of the autobind of connect(), sendmsg() and listen(); sctp_put_port the
 * release, when the endpoint goes. The caller is told by the call this
 * thread is in (bind: udp.bpf.h's inet_bind hooks; sendmsg and listen: the
 * hooks below); an autobind outside them is a connect's. */
#ifndef EPTRACE_TR_SCTP_BPF_H
#define EPTRACE_TR_SCTP_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "lib/maps.bpf.h"
#include "lib/kernel_defs.bpf.h"
#include "lib/sock_table.bpf.h"
#include "search.bpf.h"
#include "udp.bpf.h"

static __always_inline bool is_sctp(const struct sock *sk)
{
	return sk->sk_protocol == IPPROTO_SCTP;
}

/* A socket that has a port already (bindx, listen after bind) takes none. */
SEC("fentry/sctp_get_port_local")
int BPF_PROG(on_sctp_get_port, struct sock *sk, union sctp_addr *addr)
{
	if (!is_sctp(sk) || sk->__sk_common.skc_num || !trace_sctp)
		return 0;
	search_open(sk, bpf_ntohs(BPF_CORE_READ(addr, v4.sin_port)), EP_VIA_NONE);
	return 0;
}

/* 0 found, 1 not: bind() answers EADDRINUSE, an autobind EAGAIN. */
SEC("fexit/sctp_get_port_local")
int BPF_PROG(on_sctp_get_port_exit, struct sock *sk)
{
	bool ok = ret_long(ctx) == 0;
	__u64 now = bpf_ktime_get_ns();
	struct ep_record r = {};
	struct task_state *t;
	struct udp_call *c;
	struct inflight in;
	bool fresh;
	__u8 via;

	t = search_close(sk, &in);
	if (!t)
		return 0;
	c = call_in(t, sk);
	if (!c && call_was_refused(t))
		return 0;
	via = c ? c->via : EP_VIA_CONNECT;
	if (!search_record(&r, sk, via, &fresh))
		return 0;
	if (ok) {
		search_assigned(&r, now, now - in.start_ns, in.port_req != 0, fresh);
	} else {
		r.lport = in.port_req;
		failed(&r, now, via == EP_VIA_BIND ? EADDRINUSE : EAGAIN, via);
	}
	return 0;
}

SEC("fentry/sctp_sendmsg")
int BPF_PROG(on_sctp_sendmsg, struct sock *sk)
{
	if (is_sctp(sk) && !sk->__sk_common.skc_num && trace_sctp)
		call_begin(sk, EP_VIA_SENDMSG, false);
	return 0;
}

SEC("fexit/sctp_sendmsg")
int BPF_PROG(on_sctp_sendmsg_exit, struct sock *sk)
{
	struct udp_call *c = call_of(sk);

	if (c)
		call_end(c);
	return 0;
}

SEC("fentry/sctp_inet_listen")
int BPF_PROG(on_sctp_listen, struct socket *sock)
{
	struct sock *sk = sock->sk;

	if (sk && is_sctp(sk) && !sk->__sk_common.skc_num && trace_sctp)
		call_begin(sk, EP_VIA_LISTEN, false);
	return 0;
}

SEC("fexit/sctp_inet_listen")
int BPF_PROG(on_sctp_listen_exit, struct socket *sock)
{
	struct udp_call *c = sock->sk ? call_of(sock->sk) : NULL;

	if (c)
		call_end(c);
	return 0;
}

SEC("fentry/sctp_put_port")
int BPF_PROG(on_sctp_put_port, struct sock *sk)
{
	__u64 cookie = sk->__sk_common.skc_cookie.counter;
	struct sock_state *st;

	st = sock_find(cookie);
	if (st && st->phase == PH_ASSIGNED)
		released(cookie, st, bpf_ktime_get_ns(), EP_REL_CLOSE, 0);
	return 0;
}

#endif
