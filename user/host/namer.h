/* Live only: the facts behind the names of agg/identity.h, read from the
 * host. A cgroup id is opened by handle on the cgroup v2 hierarchy (the id is
 * its kernfs handle), which needs CAP_DAC_READ_SEARCH, kept for this; a
 * network namespace is named by /run/netns, as the initial one ("host"), or
 * by the pod, container or unit of a process that lives in it. */
#ifndef EPTRACE_NAMER_H
#define EPTRACE_NAMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "agg/hash.h"

struct ep_namer {
	int cg_fd;           /* the cgroup v2 hierarchy's root, -1: none mounted */
	size_t cg_mount_len; /* its mount point's length, cut from paths */
	uint64_t cg_root_id; /* the root's id (its inode), which no handle opens */
	uint64_t cg_dev;     /* its device: paths must not lead out of it */
	uint32_t host_netns; /* the initial namespace's inode, 0: unknown */
	bool hybrid;         /* cgroup v1 hierarchies are mounted (beside v2, or alone) */
	uint64_t last_scan;  /* last walk of /proc for a namespace's process */
	/* namespaces waiting for that walk (netns -> struct ep_netns_verdict):
	 * one walk names them all */
	struct ep_hash waiting;
};

void ep_namer_init(struct ep_namer *nm);
void ep_namer_free(struct ep_namer *nm);
/* The path of cgroup id relative to the hierarchy's root into buf: 1; 0
 * when there is none (the cgroup is gone, or no cgroup v2 is mounted); -1
 * when it could not be looked up now (out of descriptors, say): ask later. */
int ep_namer_cgroup(struct ep_namer *nm, uint64_t id, char *buf, size_t len);
/* On a hybrid host, the path of a process in the v1 hierarchy that has one
 * (name=systemd first, else the first controller's that is not the root);
 * "/" when none has; false when the process is gone. */
bool ep_namer_v1_path(uint32_t pid, char *buf, size_t len);
/* The cgroup v2 id of a process (what the kernel's programs read for the
 * current task), for sockets found open at the start; 0 when unknown. */
uint64_t ep_namer_cgroup_of(struct ep_namer *nm, uint32_t pid);

/* The name of a network namespace into buf: 1; 0 when nothing names it; -1
 * when it would take a walk of /proc and one was made less than a second ago
 * (now: CLOCK_MONOTONIC ns): ask again later, which costs a look-up only.
 * hint_pid, a process likely to live in it, is asked first. A walk names
 * every namespace waiting for one. */
int ep_namer_netns(struct ep_namer *nm, uint32_t netns, uint32_t hint_pid, uint64_t now,
		   char *buf, size_t len);

#endif
