/* Prometheus text exposition of the aggregate: counters, native histograms
 * in seconds, per-namespace gauges, tracer health. Labels stay bounded. */
#ifndef EPTRACE_METRICS_H
#define EPTRACE_METRICS_H

#include <stdio.h>
#include <stdbool.h>
#include "agg/agg.h"
#include "agg/summary.h"

/* Label values per dimension: tcp/udp, IPv4/IPv6, enum ep_via, enum
 * ep_release_reason (reason & 7), and the errnos named apart plus "other". */
#define EP_M_PROTOS EP_NPROTO
#define EP_M_FAMILIES 2
#define EP_M_VIAS (EP_VIA_SENDMSG + 1)
#define EP_M_REASONS 8
#define EP_M_ERRNOS 4
_Static_assert(EP_REL_TW_KILLED < EP_M_REASONS, "a release reason without a counter");

struct ep_metrics {
	uint64_t allocs[EP_M_PROTOS][EP_M_FAMILIES][EP_M_VIAS];
	uint64_t releases[EP_M_PROTOS][EP_M_FAMILIES][EP_M_VIAS][EP_M_REASONS];
	uint64_t fails[EP_M_PROTOS][EP_M_FAMILIES][EP_M_VIAS][EP_M_ERRNOS];
	/* Assignments per unit or container (owner_by, 0: off): owner_max
	 * series at most, the rest counted in "other". */
	int owner_by, owner_max;
	struct ep_hash owners; /* label (EP_BY_KEY_LEN bytes) -> uint64_t */
	uint64_t owners_other;
};

/* by: EP_BY_UNIT or EP_BY_CONTAINER for the per-owner counter, 0 for none;
 * max: its series before "other" (1..EP_OWNER_SERIES_MAX). 0, or -1 without
 * memory. */
int ep_metrics_init(struct ep_metrics *m, int by, int max);
void ep_metrics_free(struct ep_metrics *m);

/* A pipeline consumer's event callback (ctx: struct ep_metrics). */
void ep_metrics_event(void *ctx, const struct ep_event *ev, const struct ep_alloc_info *info);
void ep_metrics_render(FILE *f, const struct ep_metrics *m, struct ep_agg *agg,
		       const struct ep_summary *sum, const struct ep_start *start);
/* Histogram bucket bounds in ns: two per octave, 1 us to 2^37 ns (137 s). */
size_t ep_metrics_bounds(uint64_t *out, size_t max);

#endif
