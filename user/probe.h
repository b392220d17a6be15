/* Live runs only: learn a namespace's port range, reserved ports and existing
 * sockets from the kernel, and hand them to the pipeline. */
#ifndef EPTRACE_PROBE_H
#define EPTRACE_PROBE_H

#include <stdint.h>
#include <stdbool.h>
#include "host/owners.h"
#include "pipeline.h"
#include "host/sockdiag.h"

struct ep_probe;

/* only_netns: 0 for all namespaces. */
struct ep_probe *ep_probe_new(struct ep_pipeline *pipe, uint32_t only_netns);
/* Called with every namespace's socket dump, taken at mono. */
void ep_probe_on_dumped(struct ep_probe *p,
			void (*fn)(void *ctx, uint32_t netns, const struct ep_diag_sock *v,
				   size_t n, uint64_t mono),
			void *ctx);
/* Called for each socket that held a port when its namespace was first
 * probed (not TIME_WAIT), so that the kernel side follows it to its release.
 * fixed: a listener, or a port outside the namespace's ephemeral range. */
void ep_probe_on_found(struct ep_probe *p,
		       void (*fn)(void *ctx, uint32_t netns, const struct ep_diag_sock *s,
				  const struct ep_owner *owner, bool fixed),
		       void *ctx);
/* Called for each process found owning a socket, before its sockets are
 * handed on: fills in what the probe cannot know (o->cgroup_id). */
void ep_probe_on_owner(struct ep_probe *p,
		       void (*fn)(void *ctx, struct ep_owner *o, uint64_t mono), void *ctx);
/* Called between the namespaces of a refresh, which can take longer than
 * the ring buffer holds under churn: reads what came meanwhile and returns
 * the time now (CLOCK_MONOTONIC ns), or 0 to end the refresh there. */
void ep_probe_on_pause(struct ep_probe *p, uint64_t (*fn)(void *ctx), void *ctx);
void ep_probe_free(struct ep_probe *p);
/* Every namespace on the host (or the one selected), at startup. */
void ep_probe_all(struct ep_probe *p, uint64_t now);
/* A release read while the first probe runs: its socket is left out of the
 * dumps taken before. */
void ep_probe_released(struct ep_probe *p, uint64_t cookie);
/* A namespace seen in an event: probed the first time only. pid: a process
 * that was in it, to find it by. */
void ep_probe_seen(struct ep_probe *p, uint32_t netns, uint32_t pid, uint64_t now);
/* Probe again now (a bind conflict wants the current holder); at most a few
 * times per second per namespace. */
void ep_probe_now(struct ep_probe *p, uint32_t netns, uint32_t pid, uint64_t now);
/* Re-read the known namespaces (sysctls may change, sockets come and go):
 * each one an event came from since, the idle ones at growing gaps, up to
 * one refresh in twelve. */
void ep_probe_refresh(struct ep_probe *p, uint64_t now);

#endif
