/* SPDX-License-Identifier: GPL-2.0 */
/* What a thread has under way in the kernel's port code, in task-local
 * storage: the port search it is in (fentry to fexit), and the UDP or SCTP
 * call around it. Found through the task itself, without hashing, locking
 * or allocating a map element per call; it goes away with the task. */
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
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_state);
} task_states SEC(".maps");

/* The current thread's state; created on first use when asked to. NULL when
 * it cannot be had (no memory, or the storage busy on this CPU in a nested
 * program): counted, as a full bracket table was. */
static __always_inline struct task_state *task_state(bool create)
{
	struct task_state *t = bpf_task_storage_get(&task_states, bpf_get_current_task_btf(), 0,
						    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);

	if (!t && create)
		stat_inc(EP_STAT_INFLIGHT_FULL);
	return t;
}

/* The call t has under way on sk, or NULL. */
static __always_inline struct udp_call *call_in(struct task_state *t, const struct sock *sk)
{
	return t && t->call.sk == (__u64)sk ? &t->call : NULL;
}

#endif
