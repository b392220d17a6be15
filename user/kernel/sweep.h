/* Kernel socket-table entries whose socket is gone without a release record
 * (a hook run the kernel skipped, say): found by comparing the table with the
 * sockets a namespace's dump listed, and removed, so that the table does not
 * fill up and the aggregate's reconciliation drops (and counts) the holder. */
#ifndef EPTRACE_SWEEP_H
#define EPTRACE_SWEEP_H

#include <stddef.h>
#include <stdint.h>
#include "host/sockdiag.h"

struct ep_sweep_ns;

struct ep_sweep {
	struct ep_sweep_ns *v;
	size_t n, cap;
};

/* A namespace's dump, taken at mono (CLOCK_MONOTONIC ns). */
void ep_sweep_add(struct ep_sweep *s, uint32_t netns, const struct ep_diag_sock *v, size_t n,
		  uint64_t mono);
/* One pass over the kernel table for all namespaces added; forgets them.
 * Returns the entries removed. */
size_t ep_sweep_run(struct ep_sweep *s, int socks_fd);
void ep_sweep_free(struct ep_sweep *s);

#endif
