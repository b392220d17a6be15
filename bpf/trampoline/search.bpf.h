/* SPDX-License-Identifier: GPL-2.0 */
/* The bracket around one run of a port search function, kept in the thread's
 * state from fentry to fexit, and what its end reports. */
#ifndef EPTRACE_TR_SEARCH_BPF_H
#define EPTRACE_TR_SEARCH_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "lib/maps.bpf.h"
#include "lib/emit.bpf.h"
#include "lib/owner.bpf.h"
#include "lib/sock_facts.bpf.h"
#include "lib/sock_table.bpf.h"
#include "task_state.bpf.h"

/* The return value through the helper rather than a positional context slot:
 * a kernel that adds a parameter (as __inet_hash_connect did) moves it. The
 * leading arguments, which BPF_PROG names, have kept their places. */
static __always_inline long ret_long(void *ctx)
{
	__u64 v = 0;

	bpf_get_func_ret(ctx, &v);
	return (long)v;
}

static __always_inline void search_open(const struct sock *sk, __u16 port_req, __u8 via)
{
	struct task_state *t = task_state(TS_SEARCH);

	if (!t)
		return;
	t->search = (struct inflight){ .sk = (__u64)sk, .port_req = port_req, .via = via };
	t->search.start_ns = t->since_ns = bpf_ktime_get_ns();
}

/* The bracket this thread opened on sk, taken out of its state; the state
 * is returned (the call around the search is there too), NULL when there is
 * no bracket (the search began before the trace, or no state could be had). */
static __always_inline struct task_state *search_close(const struct sock *sk,
						      struct inflight *out)
{
	struct task_state *t = task_state(TS_FIND);

	if (!t || t->search.sk != (__u64)sk)
		return NULL;
	*out = t->search;
	t->search.sk = 0;
	return t;
}

/* The owner and the socket's facts, for a record made at the search's end;
 * false when a filter rejects it. *fresh: no program had asked for the
 * socket's cookie before (it is given out on first demand), so the socket
 * cannot be in the table. */
static __always_inline bool search_record(struct ep_record *r, struct sock *sk, __u8 via,
					  bool *fresh)
{
	__u64 cookie = btf_sk_cookie(sk);

	if (!fill_owner_btf(r) || !fill_from_btf_sk(r, sk))
		return false;
	r->via = via;
	*fresh = !cookie;
	r->cookie = cookie ?: bpf_get_socket_cookie(sk);
	return true;
}

/* A port found by a search (latency given) or taken as asked (fixed). */
static __always_inline void search_assigned(struct ep_record *r, __u64 now, __u64 latency,
					    bool fixed, bool fresh)
{
	if (fixed)
		r->flags |= EP_F_FIXED;
	/* A socket with a cookie is looked for first: it searches again after
	 * its release (UDP after a disconnect, TCP after a failed connect),
	 * whose hook run the kernel may have skipped. */
	assigned(r->cookie, r, now, fixed ? EP_LATENCY_NONE : latency, fresh);
}

#endif
