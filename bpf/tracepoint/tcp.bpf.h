/* SPDX-License-Identifier: GPL-2.0 */
/* TCP: state changes open the connect and listen brackets and release ports;
 * sockops closes the brackets; tcp_destroy_sock ends ports bound and unused. */
#ifndef EPTRACE_TP_TCP_BPF_H
#define EPTRACE_TP_TCP_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "lib/maps.bpf.h"
#include "lib/kernel_defs.bpf.h"
#include "lib/owner.bpf.h"
#include "lib/sock_facts.bpf.h"
#include "lib/sock_table.bpf.h"

/* ---------- TCP: state changes ---------- */

/* tp_btf programs get the socket as a pointer the verifier types: its
 * fields are plain loads on every kernel (btf_sk_cookie, fill_from_btf_sk),
 * no helper reads. */

/* No sockops: the connect's port is known by the end of the handshake. */
static __always_inline void connected_without_sockops(const struct sock *sk, __u64 now)
{
	__u64 cookie = btf_sk_cookie(sk);
	struct sock_state *st;

	st = sock_find(cookie);
	if (!st || st->phase != PH_PENDING_CONNECT)
		return;
	fill_from_btf_sk(&st->rec, sk);
	pending_assigned(cookie, st, now, EP_LATENCY_NONE);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct sock_state *st;
	__u64 cookie, now;

	/* Most of the seven or so changes of a connection matter to nobody:
	 * they return before any helper call. */
	if (newstate != TCP_CLOSE && oldstate != TCP_CLOSE &&
	    (sockops_on || newstate != TCP_ESTABLISHED))
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;

	if (oldstate == TCP_CLOSE && (newstate == TCP_SYN_SENT || newstate == TCP_LISTEN)) {
		struct sock_state pending = {};
		bool unasked;

		if (newstate == TCP_LISTEN && !sockops_on)
			return 0;
		if (sk->__sk_common.skc_num)
			return 0; /* bound before: not a selection */
		if (!fill_owner_btf(&pending.rec) || !fill_from_btf_sk(&pending.rec, sk))
			return 0;
		/* a cookie made only now cannot have an entry: no look for one */
		unasked = !btf_sk_cookie(sk);
		cookie = bpf_get_socket_cookie((void *)sk);
		pending.rec.cookie = cookie;
		pending.sk = (__u64)sk;
		pending.start_ns = bpf_ktime_get_ns();
		pending.phase = newstate == TCP_SYN_SENT ? PH_PENDING_CONNECT : PH_PENDING_LISTEN;
		pending.rec.via = newstate == TCP_SYN_SENT ? EP_VIA_CONNECT : EP_VIA_LISTEN;
		track_as(cookie, &pending, unasked);
		return 0;
	}

	if (!sockops_on && oldstate == TCP_SYN_SENT && newstate == TCP_ESTABLISHED) {
		connected_without_sockops(sk, bpf_ktime_get_ns());
		return 0;
	}
	if (newstate != TCP_CLOSE)
		return 0;
	cookie = btf_sk_cookie(sk);
	if (!cookie)
		return 0;
	st = sock_find(cookie);
	/* a TIME_WAIT socket holds the port now: nothing to report, no clock */
	if (!st || st->phase == PH_TIMEWAIT)
		return 0;
	now = bpf_ktime_get_ns();

	switch (st->phase) {
	case PH_PENDING_CONNECT: {
		const struct inet_sock *inet = (const struct inet_sock *)sk;
		__u16 sport = bpf_ntohs(direct_loads ? AS(struct inet_sock, sk)->inet_sport
						     : BPF_CORE_READ(inet, inet_sport));

		if (!sport) {
			/* inet_hash_connect() found no port */
			struct ep_record r = st->rec;

			sock_drop(st, cookie);
			fill_from_btf_sk(&r, sk);
			r.cookie = cookie;
			failed(&r, now, EADDRNOTAVAIL, EP_VIA_CONNECT);
			return 0;
		}
		/* A port was found, then connect failed before tcp_connect()
		 * (route change): no end of bracket, so no latency. The entry
		 * turns into the assignment where it is, then is released. */
		st->rec.lport = sport;
		pending_assigned(cookie, st, now, EP_LATENCY_NONE);
		released(cookie, st, now, EP_REL_CLOSE, 0);
		return 0;
	}
	case PH_PENDING_LISTEN: {
		struct ep_record r = st->rec;

		sock_drop(st, cookie);
		failed(&r, now, EADDRINUSE, EP_VIA_LISTEN);
		return 0;
	}
	case PH_ASSIGNED:
		released(cookie, st, now, EP_REL_CLOSE, 0);
		return 0;
	default:
		return 0;
	}
}

/* A TCP socket bound by bind(0) and closed without ever changing state keeps
 * its port until here. One whose port was given back at its CLOSE (num 0)
 * was released then by on_state, unless the kernel skipped that run: only
 * once it has skipped one is such a socket looked for. */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(on_tcp_destroy, struct sock *sk)
{
	__u64 cookie = btf_sk_cookie(sk);
	struct sock_state *st;

	if (!cookie || (!sk->__sk_common.skc_num && !runs_missed))
		return 0;
	st = sock_find(cookie);
	if (st && st->phase == PH_ASSIGNED)
		released(cookie, st, bpf_ktime_get_ns(), EP_REL_DESTROY, 0);
	return 0;
}

/* ---------- TCP: end of the connect and listen brackets ---------- */

/* The bit read through the typed socket (plain loads), not by a helper read. */
static __always_inline bool fastopen_deferred(struct bpf_sock_ops *skops)
{
	struct bpf_sock *bsk = skops->sk;
	struct tcp_sock *tp = bsk ? bpf_skc_to_tcp_sock(bsk) : NULL;

	return tp && BPF_CORE_READ_BITFIELD(tp, fastopen_connect);
}

SEC("sockops")
int on_sockops(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;
	struct sock_state *st;
	__u64 cookie, now;
	bool deferred;

	if (op != BPF_SOCK_OPS_TCP_CONNECT_CB && op != BPF_SOCK_OPS_TCP_LISTEN_CB)
		return 1;
	now = bpf_ktime_get_ns();
	cookie = bpf_get_socket_cookie(skops);
	st = sock_find(cookie);
	if (!st)
		return 1;
	if (st->phase != PH_PENDING_CONNECT && st->phase != PH_PENDING_LISTEN)
		return 1;
	fill_from_sockops(&st->rec, skops);
	/* TCP_FASTOPEN_CONNECT defers this callback to the first send: the
	 * bracket would include the application's wait, so report none. */
	deferred = op == BPF_SOCK_OPS_TCP_CONNECT_CB && fastopen_deferred(skops);
	pending_assigned(cookie, st, now, deferred ? EP_LATENCY_NONE : now - st->start_ns);
	return 1;
}

#endif
