/* --prometheus: /metrics served by libmicrohttpd from its own thread. The
 * event loop renders the text at most once a second and swaps it in; a slow
 * scraper only ever waits for that swap, and the loop never waits for it. */
#ifndef EPTRACE_EXPORTER_H
#define EPTRACE_EXPORTER_H

#include <stdbool.h>
#include <stdint.h>
#include "agg/agg.h"
#include "agg/summary.h"

struct ep_exporter;

/* Serves on addr:port (IPv4, as --prometheus gave them), with a per-owner
 * counter when owner_by is EP_BY_UNIT or EP_BY_CONTAINER (at most owner_max
 * series); NULL after printing why. */
struct ep_exporter *ep_exporter_start(const char *addr, uint16_t port, int owner_by,
				      int owner_max);
/* A pipeline consumer's event callback (ctx: the exporter): counts it. */
void ep_exporter_event(void *ctx, const struct ep_event *ev, const struct ep_alloc_info *info);
/* Renders the counts, agg and sum; now 0: render now, whatever the time.
 * Returns when the next render is due (UINT64_MAX without an exporter). */
uint64_t ep_exporter_publish(struct ep_exporter *e, struct ep_agg *agg, const struct ep_summary *sum,
			 uint64_t now);
void ep_exporter_set_start(struct ep_exporter *e, const struct ep_start *s);
void ep_exporter_stop(struct ep_exporter *e);

#endif
