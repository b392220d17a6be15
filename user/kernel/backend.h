/* Inside kernel/: what loader.c asks of each backend. A backend is one BPF
 * object (bpf/<name>/backend.bpf.c, one skeleton), loaded and attached whole
 * or not at all; the maps and knobs have the same names in both, so that
 * everything past loading reads them alike. */
#ifndef EPTRACE_BACKEND_H
#define EPTRACE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include "loader.h"

/* The knobs every backend has in .rodata (bpf/lib/maps.bpf.h), set between
 * open and load. */
#define EP_SET_KNOBS(skel, o, direct) do {                                    \
	(skel)->rodata->targ_tgid = (o)->pid;                                  \
	(skel)->rodata->targ_netns = (o)->netns;                               \
	(skel)->rodata->targ_cgroup = (o)->cgroup;                             \
	(skel)->rodata->targ_comm_set = (o)->comm_set;                         \
	(skel)->rodata->cgroup_exclusions = (o)->unit || (o)->container;       \
	if (!(o)->unit && !(o)->container) /* its room unused */               \
		bpf_map__set_max_entries((skel)->maps.cg_excluded, 1);         \
	memcpy((char *)(skel)->rodata->targ_comm, (o)->comm, EP_COMM_LEN);     \
	(skel)->rodata->trace_tcp = (o)->tcp;                                  \
	(skel)->rodata->trace_udp = (o)->udp;                                  \
	(skel)->rodata->trace_sctp = (o)->sctp;                                \
	(skel)->rodata->trace_ipv4 = (o)->ipv4;                                \
	(skel)->rodata->trace_ipv6 = (o)->ipv6;                                \
	(skel)->rodata->direct_loads = (direct);                               \
} while (0)

/* Tracepoints, tp_btf, cgroup hooks, sockops: starts with what the kernel
 * allows, saying what it cannot see; -1 (after saying why) when nothing. */
int ep_tracepoint_start(struct ep_loader *l, const struct ep_opts *o, const char *cg2_path);
/* fentry/fexit on the search and release functions: all or nothing. -1 with
 * the reason in why (nothing printed: the caller decides whether it is an
 * error or a fallback). */
int ep_trampoline_start(struct ep_loader *l, const struct ep_opts *o, char *why, size_t len);

/* Shared helpers of the backends (loader.c). */
bool ep_refused_for_test(const char *what);
/* Looks kernel symbols up in one pass over /proc/kallsyms: present[i] says
 * whether names[i] is there, addr[i] its address (0 when hidden). */
void ep_kallsyms_find(const char *const *names, unsigned long long *addr, bool *present, int n);
/* Keeps the backend's object and links in l; destroy frees the skeleton. */
void ep_loader_adopt(struct ep_loader *l, void *skel, struct bpf_object *obj,
		     void (*destroy)(void *skel));

#endif
