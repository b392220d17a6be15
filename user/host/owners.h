/* Socket inode -> owning process, found by scanning /proc/<pid>/fd like `ss -p`. */
#ifndef EPTRACE_OWNERS_H
#define EPTRACE_OWNERS_H

#include <stddef.h>
#include <stdint.h>

struct ep_owner {
	uint32_t pid;
	char comm[16];
	uint64_t cgroup_id; /* cgroup v2 id, 0: unknown (not looked up here) */
};

/* Scans /proc/<pid>/fd/<fd> for links "socket:[N]"; for each inode in `want` (sorted
 * ascending array of n inodes) that is found, sets out[i] (same index) to the first
 * owner found (comm from /proc/<pid>/comm, newline stripped, "" if unreadable).
 * out is zeroed first, so entries not found stay zeroed. Processes that vanish or
 * cannot be read are skipped. Returns the number found, or -errno if /proc cannot
 * be read. */
int ep_owners_find(const uint32_t *want, size_t n, struct ep_owner *out);

#endif
