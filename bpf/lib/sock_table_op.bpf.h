/* SPDX-License-Identifier: GPL-2.0 */
/* The table changes userspace asks for (struct sock_op), run by
 * BPF_PROG_RUN so that they take and give back slots with the same
 * compare-and-swap as the programs do. */
#ifndef EPTRACE_SOCK_TABLE_OP_BPF_H
#define EPTRACE_SOCK_TABLE_OP_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "lib/sock_table.bpf.h"

/* An entry of the cookie, published or being written by the kernel. */
static __always_inline bool sock_known(__u64 cookie)
{
	for (__u32 i = 0; i < EP_SOCK_PROBES; i++) {
		__u32 idx = ep_sock_slot(cookie, i);
		struct sock_slot *s = bpf_map_lookup_elem(&socks, &idx);

		if (s && (s->key & ~(EP_SOCK_BUSY | EP_SOCK_FAR)) == cookie)
			return true;
	}
	return false;
}

static __always_inline int op_add(struct sock_op *op)
{
	struct sock_slot *s;

	if (sock_known(op->cookie))
		return 0;
	s = sock_claim(op->cookie);
	if (!s)
		return -1;
	s->st = op->st;
	sock_publish(s);
	return 1;
}

static __always_inline int op_tw_take(struct sock_op *op)
{
	struct sock_state *st = sock_find(op->cookie);

	if (!st || st->phase != PH_TIMEWAIT || st->cancel_ns != op->cancel_ns)
		return 0; /* released by the kernel, restarted, or cancelled again */
	op->st = *st;
	return sock_drop(st, op->cookie);
}

static __always_inline int op_drop(struct sock_op *op)
{
	struct sock_state *st = sock_find(op->cookie);

	if (!st || st->phase != op->st.phase || st->rec.assign_ns != op->st.rec.assign_ns)
		return 0; /* changed since userspace looked */
	return sock_drop(st, op->cookie);
}

SEC("syscall")
int sock_table_op(struct sock_op *op)
{
	if (!op->cookie) {
		op->ret = -1;
		return 0;
	}
	switch (op->op) {
	case SOCK_OP_ADD:
		op->ret = op_add(op);
		break;
	case SOCK_OP_TW_TAKE:
		op->ret = op_tw_take(op);
		break;
	case SOCK_OP_DROP:
		op->ret = op_drop(op);
		break;
	default:
		op->ret = -1;
	}
	return 0;
}

#endif
