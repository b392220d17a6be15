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
	if (targ_comm_set) {
		for (int i = 0; i < EP_COMM_LEN; i++) {
			if (r->comm[i] != targ_comm[i])
				return false;
			if (!r->comm[i])
				break;
		}
	}
	r->cgroup_id = bpf_get_current_cgroup_id();
	if (targ_cgroup && r->cgroup_id != targ_cgroup)
		return false;
	if (cgroup_exclusions && bpf_map_lookup_elem(&cg_excluded, &r->cgroup_id))
		return false;
	return true;
}

#endif
