/* Layer output/: everything a run prints or serves, the views (this header),
 * their formats (format.h, format_agg.h) and the Prometheus metrics and
 * exporter (metrics.h, exporter.h). Reads the aggregate, writes nothing
 * back; may call agg/ and config/.
 *
 * What a run prints, and where: the event table or JSON lines on stdout,
 * warnings on stderr, periodic reports and the summary. Decides once, from
 * the options, which views are shown; the pipeline calls it and prints
 * nothing itself. */
#ifndef EPTRACE_VIEW_H
#define EPTRACE_VIEW_H

#include <stdbool.h>
#include <stdint.h>
#include "agg/agg.h"
#include "agg/summary.h"
#include "config/options.h"

struct ep_view {
	const struct ep_opts *opts;
	int64_t mono_to_unix;
	bool show_events, show_collisions, show_occupancy;
};

void ep_view_init(struct ep_view *v, const struct ep_opts *o, int64_t mono_to_unix);
void ep_view_start(const struct ep_view *v, const struct ep_start *s);
/* The banner, once the start snapshot is in, after what stdout holds (the
 * table's header from ep_view_start, events read meanwhile). */
void ep_view_ready(const struct ep_view *v);
void ep_view_event(const struct ep_view *v, const struct ep_event *ev,
		   const struct ep_alloc_info *info);
void ep_view_collision(const struct ep_view *v, const struct ep_collision *c);
void ep_view_warning(const struct ep_view *v, const struct ep_warning *w);
/* Kernel counters that grew: total so far, and by how much. */
void ep_view_hook_misses(const struct ep_view *v, uint64_t total, uint64_t new);
void ep_view_lost(const struct ep_view *v, uint64_t total, uint64_t new);
/* A periodic (or final) report of the aggregate, at now_unix. */
void ep_view_report(const struct ep_view *v, struct ep_agg *a, uint64_t now_unix, bool final);
void ep_view_summary(const struct ep_view *v, const struct ep_summary *s);

#endif
