/* Output of aggregates: histograms, collisions, warnings, occupancy. */
#ifndef EPTRACE_FORMAT_AGG_H
#define EPTRACE_FORMAT_AGG_H

#include <stdio.h>
#include "agg/agg.h"

/* Human duration: 850ns, 23.1us, 4.20ms, 61.003s. */
void ep_fmt_duration(char *buf, size_t len, uint64_t ns);
const char *ep_by_name(int by);

void ep_table_series(FILE *f, const struct ep_series *s, int by);
void ep_json_series(FILE *f, const struct ep_series *s, int by, uint64_t ts_unix_ns);

/* mono_to_unix turns the aggregate's CLOCK_MONOTONIC times into Unix time. */
void ep_table_collision(FILE *f, const struct ep_collision *c, int64_t mono_to_unix);
void ep_json_collision(FILE *f, const struct ep_collision *c, int64_t mono_to_unix);
void ep_table_warning(FILE *f, const struct ep_warning *w);
void ep_json_warning(FILE *f, const struct ep_warning *w, int64_t mono_to_unix);
void ep_table_occupancy_header(FILE *f);
void ep_table_occupancy(FILE *f, const struct ep_occupancy *o);
void ep_json_occupancy(FILE *f, const struct ep_occupancy *o, uint64_t ts_unix_ns);

#endif
