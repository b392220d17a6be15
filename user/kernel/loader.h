/* Layer kernel/: talking to the kernel, loading and attaching (this header),
 * the kernel tables (tables.h, the only code that reads or writes them),
 * counters (stats.h) and capabilities (caps.h). May call agg/, config/ and
 * host/ (for the socket dumps a sweep compares with).
 *
 * Privileges, mounts, loading and attaching the BPF programs. */
#ifndef EPTRACE_LOADER_H
#define EPTRACE_LOADER_H

#include <stdbool.h>
#include "config/options.h"

struct eptrace_bpf;
struct bpf_link;

struct ep_loader {
	struct eptrace_bpf *skel;
	struct bpf_link **links;
	int nlinks;
	int cgroup_fd;
	bool tw_tracking; /* TIME_WAIT ends visible */
	bool direct_loads; /* kernel structures read with plain loads */
	bool sockops;     /* TCP connect latency and listen(0) visible */
	bool sock_hooks;  /* the other cgroup hooks: bind() and UDP visible */
	bool syscalls;    /* syscall tracepoints: failed binds, UDP connect/send autobind */
};

/* 0, or -1 after naming on stderr every capability that is missing. */
int ep_check_privileges(void);
/* Mount tracefs and cgroup v2 where missing; fills the cgroup v2 path, or
 * leaves it empty (after saying why) when there is none to be had. */
int ep_ensure_mounts(char *cg2_path, size_t len);
/* Loads and attaches what the kernel allows: without cgroup v2 or with some
 * cgroup hooks refused it says what it cannot see and goes on; -1 (after
 * saying why) when it could see nothing. EPTRACE_REFUSE=sockops, =sock_hooks,
 * =syscalls or a program's name treats that attachment as refused (tests of
 * the fallback). */
int ep_load(struct ep_loader *l, const struct ep_opts *o, const char *cg2_path);
/* Stop all programs; maps stay readable until ep_unload. */
void ep_detach(struct ep_loader *l);
void ep_unload(struct ep_loader *l);
int ep_events_fd(const struct ep_loader *l);
uint64_t ep_hook_misses(const struct ep_loader *l);
int ep_socks_fd(const struct ep_loader *l);
int ep_inflight_fd(const struct ep_loader *l);
int ep_stats_fd(const struct ep_loader *l);

#endif
