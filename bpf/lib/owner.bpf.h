/* SPDX-License-Identifier: GPL-2.0 */
/* The filters userspace set before load (protocol, family, process, comm,
 * cgroup) or since (cgroups --unit/--container excluded), and the owner of a
 * record: the current task. */
#ifndef EPTRACE_OWNER_BPF_H
#define EPTRACE_OWNER_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "lib/maps.bpf.h"
#include "lib/kernel_defs.bpf.h"

static __always_inline bool proto_wanted(__u16 proto)
{
	if (proto == IPPROTO_TCP)
		return trace_tcp;
	if (proto == IPPROTO_UDP)
		return trace_udp;
	if (proto == IPPROTO_SCTP)
		return trace_sctp;
	return false;
}

static __always_inline bool family_wanted(__u16 family)
{
	if (family == AF_INET)
		return trace_ipv4;
	if (family == AF_INET6)
		return trace_ipv6;
	return false;
}

/* The rest of the filters, once comm and cgroup_id are in. */
static __always_inline bool owner_wanted(const struct ep_record *r)
{
	if (targ_comm_set) {
		for (int i = 0; i < EP_COMM_LEN; i++) {
			if (r->comm[i] != targ_comm[i])
				return false;
			if (!r->comm[i])
				break;
		}
	}
	if (targ_cgroup && r->cgroup_id != targ_cgroup)
		return false;
	if (cgroup_exclusions && bpf_map_lookup_elem(&cg_excluded, &r->cgroup_id))
		return false;
	return true;
}

/* The current task as owner; false when a filter rejects it. Only called in
 * the task context of the syscall that asked for the port. */
static __always_inline bool fill_owner(struct ep_record *r)
{
	__u64 id = bpf_get_current_pid_tgid();

	r->pid = id >> 32;
	r->tid = (__u32)id;
	if (targ_tgid && r->pid != targ_tgid)
		return false;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	r->cgroup_id = bpf_get_current_cgroup_id();
	return owner_wanted(r);
}

/* The same in programs that may have the task as a typed pointer (fentry,
 * fexit, tp_btf, syscall tracepoints; not the cgroup socket hooks): plain
 * loads instead of three helper calls, the same values (comm is always
 * NUL-terminated in the task; the cgroup is the default hierarchy's, as
 * bpf_get_current_cgroup_id() reads it). */
static __always_inline bool fill_owner_btf(struct ep_record *r)
{
	struct task_struct *t = bpf_get_current_task_btf();

	r->pid = t->tgid;
	r->tid = t->pid;
	if (targ_tgid && r->pid != targ_tgid)
		return false;
	__builtin_memcpy(r->comm, t->comm, sizeof(r->comm));
	r->cgroup_id = t->cgroups->dfl_cgrp->kn->id;
	return owner_wanted(r);
}

/* Either, for code inlined into both kinds of program: typed (a constant at
 * each call) leaves the other out of the program. */
static __always_inline bool fill_owner_as(struct ep_record *r, bool typed)
{
	return typed ? fill_owner_btf(r) : fill_owner(r);
}

#endif
