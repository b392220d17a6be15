/* SPDX-License-Identifier: GPL-2.0 */
/* What a thread has under way in the kernel's port code: the port search it
 * is in (fentry to fexit), and the UDP or SCTP call around it. In an array
 * slot chosen by thread id: an inlined lookup, no lock, nothing allocated,
 * and nothing that fails because another program holds a lock on this CPU
 * (task-local storage did, with a per-CPU busy counter that a preempted or
 * interrupted holder keeps taken). */
#ifndef EPTRACE_TR_TASK_STATE_BPF_H
#define EPTRACE_TR_TASK_STATE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "record.h"
#include "lib/emit.bpf.h"

/* The call a UDP or SCTP search runs in: set on entry to bind(), connect(),
 * listen() or a send; a UDP search outside them is a send's autobind. Holds
 * the search's result until the caller can report it. sk 0: no call. */
struct udp_call {
	__u64 sk;
	__u64 latency_ns;
	__u8 via;        /* EP_VIA_BIND, EP_VIA_CONNECT, EP_VIA_LISTEN or EP_VIA_SENDMSG */
	__u8 searched;   /* the search ran: ok tells how it ended */
	__u8 ok;
	__u8 disconnect; /* connect(AF_UNSPEC) */
	__u32 pad;
};

struct task_state {
	struct inflight search; /* search.sk 0: no search under way */
	struct udp_call call;
	__u64 since_ns;         /* the last search or call opened here */
	__u64 tid;              /* the thread the slot is for (64 bits: compare-and-swap) */
	__u32 refused;          /* a thread refused the slot for a call: its search is
				 * not to be taken for a send's autobind */
	__u8 call_lost;         /* this thread's call was refused the slot */
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EP_INFLIGHT_MAX);
	__type(key, __u32);
	__type(value, struct task_state);
} task_states SEC(".maps");

/* Older than this, what a slot holds was left by a skipped fexit. */
#define SLOT_STALE_NS 1000000000ULL

enum ts_want { TS_FIND, TS_SEARCH, TS_CALL };

/* The current thread's slot, or NULL. TS_SEARCH and TS_CALL take it from a
 * thread with a congruent id when that one has nothing under way, or has
 * had it open for over a second (its fexit skipped, or a send's autobind no
 * send followed: given up, and counted); otherwise not, and counted: what
 * this thread starts is not followed. */
static __always_inline struct task_state *task_state(enum ts_want want)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 i = tid & (EP_INFLIGHT_MAX - 1);
	struct task_state *t = bpf_map_lookup_elem(&task_states, &i);
	__u64 owner;

	if (!t || t->tid == tid)
		return t;
	if (want == TS_FIND)
		return NULL;
	owner = t->tid;
	if (t->search.sk || t->call.sk) {
		stat_inc(EP_STAT_INFLIGHT_FULL);
		if (bpf_ktime_get_ns() - t->since_ns < SLOT_STALE_NS) {
			if (want == TS_CALL)
				t->refused = tid;
			return NULL;
		}
	}
	/* two threads taking it at once: one wins */
	if (__sync_val_compare_and_swap(&t->tid, owner, tid) != owner) {
		stat_inc(EP_STAT_INFLIGHT_FULL);
		return NULL;
	}
	t->search.sk = 0;
	t->call.sk = 0;
	t->call_lost = t->refused == tid;
	t->refused = 0;
	return t;
}

/* A search with no call around it whose call was refused the slot: not a
 * send's autobind; already counted. Clears the mark. */
static __always_inline bool call_was_refused(struct task_state *t)
{
	if (!t->call_lost)
		return false;
	t->call_lost = 0;
	return true;
}

/* The call t has under way on sk, or NULL. */
static __always_inline struct udp_call *call_in(struct task_state *t, const struct sock *sk)
{
	return t && t->call.sk == (__u64)sk ? &t->call : NULL;
}

#endif
