/* The kernel's tables, seen from userspace: the one module outside bpf/ that
 * reads or changes entries of `socks` (struct sock_slot, found by socket
 * cookie). The other side of the protocol is bpf/lib/sock_table.bpf.h and
 * the backends in bpf/; the layouts are bpf/record.h's. Userspace reads the
 * table directly and changes it only through the kernel's own compare-and-
 * swap (the syscall program sock_table_op, run by BPF_PROG_RUN).
 *
 * socks, by phase (enum sock_phase):
 *   PENDING_*  the kernel's, during a port search or listen(); left alone.
 *   ASSIGNED   a socket holding a port; the kernel removes it at the release.
 *              Userspace adds entries only here, for sockets from before the
 *              start (ep_tables_follow_prestart), and removes one only when a
 *              dump shows its socket gone (ep_sweep_run).
 *   TIMEWAIT   the port passed to a TIME_WAIT socket. Its end is the kernel's
 *              to report, except a cancelled timer with no restart: userspace
 *              reports that release if it wins the removal (ep_tables_tw_take).
 * Every removal checks the entry again in the kernel first and goes only if
 * it is still the one judged. */
#ifndef EPTRACE_TABLES_H
#define EPTRACE_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "record.h"
#include "config/options.h"
#include "host/owners.h"
#include "host/sockdiag.h"

/* The table (its mapped slots, read without a syscall, and its map fd) and
 * the program that changes it for userspace (fd, -1 where the kernel has no
 * syscall programs, before Linux 5.14: userspace then writes slots itself,
 * which a program may race). */
struct ep_tables {
	const struct sock_slot *slots;
	int socks_fd;
	int op_fd;
	int excluded_fd; /* cg_excluded */
};

/* A socket from before the trace, handed to the kernel table so that its
 * release is reported like any other (flagged EP_F_PRESTART). 1 if added, 0
 * if filtered out or followed already, -1 on error. */
int ep_tables_follow_prestart(const struct ep_tables *t, const struct ep_opts *o,
			      uint32_t netns, const struct ep_diag_sock *s,
			      const struct ep_owner *owner, bool fixed);

/* A TIME_WAIT timer cancelled at cancel_ns and not restarted: if the entry is
 * still that TIME_WAIT and this call wins its delete, fills the release record
 * (the port is free since the cancel) and returns true. */
bool ep_tables_tw_take(const struct ep_tables *t, uint64_t cookie, uint64_t cancel_ns,
		       struct ep_record *release);

/* --unit/--container rejected this cgroup (its path, which cannot change,
 * says so): the kernel drops its later events (cg_excluded, which forgets
 * the least recently used when full). Should it not go in, userspace goes
 * on judging its events alone. */
void ep_tables_exclude_cgroup(const struct ep_tables *t, uint64_t cgroup_id);

/* Whether the kernel still follows the socket. */
bool ep_tables_tracks(const struct ep_tables *t, uint64_t cookie);

/* Entries whose socket is gone without a release record (a hook run the kernel
 * skipped, say): found by comparing the table with the sockets a namespace's
 * dump listed, and removed, so that the table does not fill up and the
 * aggregate's reconciliation drops (and counts) the holder. */
struct ep_sweep_ns;
struct ep_sweep {
	struct ep_sweep_ns *v;
	size_t n, cap;
	uint32_t cursor; /* the next slot to look at */
};

/* A namespace's dump, taken at mono (CLOCK_MONOTONIC ns). */
void ep_sweep_add(struct ep_sweep *s, uint32_t netns, const struct ep_diag_sock *v, size_t n,
		  uint64_t mono);
/* One sixteenth of the kernel table, the next after the last run's, looked
 * at against each namespace's latest dump; a dump is forgotten once sixteen
 * runs have used it. Returns the entries removed. */
size_t ep_sweep_run(struct ep_sweep *s, const struct ep_tables *t);
void ep_sweep_free(struct ep_sweep *s);

#endif
