/* SPDX-License-Identifier: GPL-2.0 */
/* Maps, per-socket state and the knobs userspace sets before load; every
 * backend has the same, so that userspace reads and sets them alike. */
#ifndef EPTRACE_MAPS_BPF_H
#define EPTRACE_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "record.h"

/* Knobs (.rodata): set through skel->rodata between open and load. */
const volatile __u32 targ_tgid = 0;
const volatile __u32 targ_netns = 0;
const volatile __u64 targ_cgroup = 0;
const volatile bool targ_comm_set = false;
const volatile char targ_comm[EP_COMM_LEN] = {};
const volatile bool trace_tcp = true;
const volatile bool trace_udp = true;
const volatile bool trace_sctp = true;
const volatile bool trace_ipv4 = true;
const volatile bool trace_ipv6 = true;
/* Kernel structures read with plain loads (bpf_rdonly_cast, Linux 6.2+). */
const volatile bool direct_loads = false;
/* Address of tw_timer_handler, from kallsyms; 0 disables TIME_WAIT tracking. */
const volatile __u64 tw_timer_fn = 0;
/* --unit/--container: userspace judges a cgroup's first event and enters
 * the cgroups it rejects in cg_excluded, whose later events go no further. */
const volatile bool cgroup_exclusions = false;
/* The namespace traced (--netns), else the tracer's own, and its cookie
 * (0: unknown). A cgroup socket hook gets its socket's namespace cookie from
 * a helper; a cookie, unlike an address, is never another namespace's. */
const volatile __u32 known_netns = 0;
const volatile __u64 known_netns_cookie = 0;
/* Wake the reader only once this much data is waiting. */
const volatile __u64 wakeup_bytes = 256 * 1024;

/* Set by userspace (.bss, at run time) once the sockops program is attached.
 * Without it a TCP connect is reported when the handshake ends, without
 * latency, and listen() on an unbound socket is not followed. */
volatile bool sockops_on = false;
/* Set once the syscall tracepoints are attached: without their exits a UDP
 * connect bracket would never close, so none is opened. */
volatile bool syscalls_on = false;
/* Set by userspace once the kernel skipped a run of one of these programs
 * (recursion_misses): a CLOSE may then have gone unseen. */
volatile bool runs_missed = false;

/* Records reserved in the ring and then discarded (a release another hook
 * reported first): userspace counts the records submitted from the ring's
 * own position, less these, so that no program counts each record. */
volatile __u64 ring_discards = 0;

/* Set by userspace before it sleeps past its usual pace (nothing came in):
 * the next record wakes it and clears this. */
volatile bool reader_asleep = false;

/* Entries in their second window (EP_SOCK_FAR): while there are none, a
 * cookie missing from its first window is missing from the table. */
volatile __u64 socks_far = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

/* Userspace reads the table and the counters through a mapping of their
 * memory: a map syscall would hold bpf_prog_active on its CPU, and where the
 * kernel preempts it there (PREEMPT_RT, preempt=full), every tracepoint
 * program of the tasks that run meanwhile is skipped (uncounted on 6.1;
 * 6.18 counts it in the programs' recursion_misses). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EP_SOCKS_MAX);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct sock_slot);
} socks SEC(".maps");

/* Least recently used first out: a cgroup forgotten is judged again in
 * userspace at its next event, and entered again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, EP_EXCLUDED_CGROUPS_MAX);
	__type(key, __u64);
	__type(value, __u8);
} cg_excluded SEC(".maps");

/* A row of EP_STAT_MAX counters per possible CPU (userspace sets the size
 * before load). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EP_STAT_MAX);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

#endif
