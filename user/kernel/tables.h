/* The kernel's tables, seen from userspace: the one module outside bpf/ that
 * reads, writes or deletes entries of `socks` (struct sock_state by socket
 * cookie). The other side of
 * the protocol is bpf/lib/sock_table.bpf.h and the backends in bpf/; the
 * layouts are bpf/record.h's.
 *
 * socks, by phase (enum sock_phase):
 *   PENDING_*  the kernel's, during a port search or listen(); left alone.
 *   ASSIGNED   a socket holding a port; the kernel deletes it at the release.
 *              Userspace adds entries only here, for sockets from before the
 *              start (ep_tables_follow_prestart), and deletes one only when a
 *              dump shows its socket gone (ep_sweep_run).
 *   TIMEWAIT   the port passed to a TIME_WAIT socket. Its end is the kernel's
 *              to report, except a cancelled timer with no restart: userspace
 *              reports that release if it wins the delete (ep_tables_tw_take).
 *   RELEASED   released, but the kernel could not delete the entry (release
 *              record flagged EP_F_STALE): userspace deletes it
 *              (ep_tables_forget_released).
 * Every delete looks at the entry again first and goes only if it is still
 * the one judged: the kernel may have changed it. */
#ifndef EPTRACE_TABLES_H
#define EPTRACE_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "record.h"
#include "config/options.h"
#include "host/owners.h"
#include "host/sockdiag.h"

/* A socket from before the trace, handed to the kernel table so that its
 * release is reported like any other (flagged EP_F_PRESTART). 1 if added, 0
 * if filtered out or followed already, -1 on error. */
int ep_tables_follow_prestart(int socks_fd, const struct ep_opts *o, uint32_t netns,
			      const struct ep_diag_sock *s, const struct ep_owner *owner,
			      bool fixed);

/* A TIME_WAIT timer cancelled at cancel_ns and not restarted: if the entry is
 * still that TIME_WAIT and this call wins its delete, fills the release record
 * (the port is free since the cancel) and returns true. */
bool ep_tables_tw_take(int socks_fd, uint64_t cookie, uint64_t cancel_ns,
		       struct ep_record *release);

/* The kernel reported the release of cookie but could not remove the entry. */
void ep_tables_forget_released(int socks_fd, uint64_t cookie);

/* Whether the kernel still follows the socket. */
bool ep_tables_tracks(int socks_fd, uint64_t cookie);

/* Entries whose socket is gone without a release record (a hook run the kernel
 * skipped, say): found by comparing the table with the sockets a namespace's
 * dump listed, and removed, so that the table does not fill up and the
 * aggregate's reconciliation drops (and counts) the holder. */
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
