/* SPDX-License-Identifier: GPL-2.0 */
/* TCP: the connect search (__inet_hash_connect), the bind and listen search
 * (inet_csk_get_port) and the release (inet_put_port). DCCP shares these
 * functions: only TCP sockets are followed. */
#ifndef EPTRACE_TR_TCP_BPF_H
#define EPTRACE_TR_TCP_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "lib/maps.bpf.h"
#include "lib/kernel_defs.bpf.h"
#include "lib/sock_table.bpf.h"
#include "search.bpf.h"
#include "timewait.bpf.h"

/* A socket that already has a port (bound, or listen() after bind()) takes
 * no search: nothing to report. A TCP Fast Open connect searches here too,
 * from sendmsg: it is reported as a connect. */
SEC("fentry/__inet_hash_connect")
int BPF_PROG(on_hash_connect, struct inet_timewait_death_row *death_row, struct sock *sk)
{
	if (sk->sk_protocol != IPPROTO_TCP || sk->__sk_common.skc_num || !trace_tcp)
		return 0;
	search_open(sk, 0, EP_VIA_CONNECT);
	return 0;
}

SEC("fexit/__inet_hash_connect")
int BPF_PROG(on_hash_connect_exit, struct inet_timewait_death_row *death_row, struct sock *sk)
{
	struct ep_record r = {};
	struct inflight in;
	long ret = ret_long(ctx);
	__u64 now = bpf_ktime_get_ns();
	bool fresh;

	if (!search_close(sk, &in))
		return 0;
	if (search_record(&r, sk, EP_VIA_CONNECT, &fresh)) {
		if (ret)
			failed(&r, now, ret < 0 ? -ret : EADDRNOTAVAIL, EP_VIA_CONNECT);
		else
			search_assigned(&r, now, now - in.start_ns, false, fresh);
	}
	/* a TIME_WAIT socket this search took the tuple from (timewait.bpf.h) */
	if (in.cookie)
		tw_ended(in.cookie, EP_REL_TW_KILLED);
	return 0;
}

/* listen() sets the state before it asks for the port: that tells it from
 * bind(). listen() on a bound socket asks for its own port again: no search. */
SEC("fentry/inet_csk_get_port")
int BPF_PROG(on_csk_get_port, struct sock *sk, unsigned short snum)
{
	bool listening = sk->__sk_common.skc_state == TCP_LISTEN;

	if (sk->sk_protocol != IPPROTO_TCP || !trace_tcp || (listening && snum))
		return 0;
	search_open(sk, snum, listening ? EP_VIA_LISTEN : EP_VIA_BIND);
	return 0;
}

/* Any non-zero return is a failure: 1 before Linux 6.2, -EADDRINUSE since;
 * bind() and listen() both answer it with EADDRINUSE. */
SEC("fexit/inet_csk_get_port")
int BPF_PROG(on_csk_get_port_exit, struct sock *sk, unsigned short snum)
{
	struct ep_record r = {};
	struct inflight in;
	long ret = ret_long(ctx);
	__u64 now = bpf_ktime_get_ns();
	bool fresh;

	if (!search_close(sk, &in) || !search_record(&r, sk, in.via, &fresh))
		return 0;
	if (ret) {
		r.lport = snum;
		failed(&r, now, EADDRINUSE, in.via);
	} else {
		search_assigned(&r, now, now - in.start_ns, snum != 0, fresh);
	}
	return 0;
}

/* The port goes back to the bind table: from tcp_set_state() on the way to
 * CLOSE (the state not yet changed), or when a socket still bound is
 * destroyed. After a hand-over to TIME_WAIT the TIME_WAIT socket holds it. */
SEC("fentry/inet_put_port")
int BPF_PROG(on_put_port, struct sock *sk)
{
	struct sock_state *st;
	__u64 cookie;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	cookie = sk->__sk_common.skc_cookie.counter;
	st = sock_find(cookie);
	if (st && st->phase == PH_ASSIGNED)
		released(cookie, st, bpf_ktime_get_ns(),
			 sk->__sk_common.skc_state == TCP_CLOSE ? EP_REL_DESTROY : EP_REL_CLOSE, 0);
	return 0;
}

#endif
