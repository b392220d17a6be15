/* SPDX-License-Identifier: GPL-2.0 */
/* A syscall's bracket (bind(), a UDP connect()) in an array slot chosen by
 * thread id: no hashing, locking or element per call, and the same slot on
 * whichever CPU the thread ends up. Its close checks the thread, socket and
 * call it was opened for. A bracket no syscall exit closes (io_uring's
 * connect and bind) stays until its slot is next taken: nothing to sweep. */
#ifndef EPTRACE_TP_THREAD_SLOT_BPF_H
#define EPTRACE_TP_THREAD_SLOT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "lib/maps.bpf.h"
#include "lib/emit.bpf.h"

struct thread_bracket {
	__u64 start_ns;
	__u64 cookie;
	__u64 sk;       /* connect: the socket's kernel address */
	__u32 tid;      /* 0: closed */
	__u16 port_req; /* bind: the port the caller asked for, host order */
	__u8 via;       /* EP_VIA_BIND or EP_VIA_CONNECT */
	__u8 unasked;   /* bind: a TCP socket whose cookie was first asked for here */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EP_INFLIGHT_MAX);
	__type(key, __u32);
	__type(value, struct thread_bracket);
} brackets SEC(".maps");

static __always_inline struct thread_bracket *thread_slot(__u32 tid)
{
	__u32 i = tid & (EP_INFLIGHT_MAX - 1);

	return bpf_map_lookup_elem(&brackets, &i);
}

/* The slot, taken for tid's call. A connect a thread with a congruent id
 * still has open there (younger than a second: not one io_uring left) is
 * lost: its exit will not find it, so it is counted now. A bind's loss is
 * counted at its post_bind, which sees the slot taken. */
static __always_inline struct thread_bracket *bracket_open(__u32 tid, __u8 via, __u64 now)
{
	struct thread_bracket *b = thread_slot(tid);

	if (!b)
		return NULL;
	if (b->tid && b->tid != tid && b->via == EP_VIA_CONNECT && now - b->start_ns < 1000000000)
		stat_inc(EP_STAT_INFLIGHT_FULL);
	b->start_ns = now;
	b->tid = tid;
	b->via = via;
	return b;
}

/* tid's bracket for a call of this kind, or NULL. */
static __always_inline struct thread_bracket *bracket_of(__u32 tid, __u8 via)
{
	struct thread_bracket *b = thread_slot(tid);

	return b && b->tid == tid && b->via == via ? b : NULL;
}

#endif
