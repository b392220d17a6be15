/* Prometheus text exposition of the aggregate: counters, native histograms
 * in seconds, per-namespace gauges, tracer health. Labels stay bounded. */
#ifndef EPTRACE_METRICS_H
#define EPTRACE_METRICS_H

#include <stdio.h>
#include <stdbool.h>
#include "agg/agg.h"
#include "agg/summary.h"

struct ep_metrics {
	uint64_t allocs[2][2][5];
	uint64_t releases[2][2][5][8];
	uint64_t fails[2][2][5][4];
};

/* A pipeline consumer's event callback (ctx: struct ep_metrics). */
void ep_metrics_event(void *ctx, const struct ep_event *ev, const struct ep_alloc_info *info);
void ep_metrics_render(FILE *f, const struct ep_metrics *m, struct ep_agg *agg,
		       const struct ep_summary *sum, bool timewait_tracking);
/* Histogram bucket bounds in ns: two per octave, 1 us to 2^37 ns (137 s). */
size_t ep_metrics_bounds(uint64_t *out, size_t max);

#endif
