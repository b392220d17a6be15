/* --prometheus: /metrics served by libmicrohttpd from its own thread. The
 * event loop renders the text at most once a second and swaps it in; a slow
 * scraper only ever waits for that swap, and the loop never waits for it. */
#ifndef EPTRACE_EXPORTER_H
#define EPTRACE_EXPORTER_H

#include "pipeline.h"

struct ep_exporter;

/* Listens on [ADDR:]PORT; NULL after printing why. */
/* Serves on addr:port (IPv4, as --prometheus gave them). */
struct ep_exporter *ep_exporter_start(const char *addr, uint16_t port, struct ep_pipeline *pipe);
/* now 0: render now, whatever the time. */
void ep_exporter_publish(struct ep_exporter *e, struct ep_pipeline *pipe, uint64_t now);
void ep_exporter_set_timewait(struct ep_exporter *e, bool tracking);
void ep_exporter_stop(struct ep_exporter *e);

#endif
