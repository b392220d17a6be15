/* Kernel-side counters: each summed over its CPUs' rows. */
#ifndef EPTRACE_STATS_H
#define EPTRACE_STATS_H

#include <stdint.h>
#include "record.h"
#include "kernel/mapped.h"

void ep_read_stats(const struct ep_mapped *m, uint64_t out[EP_STAT_MAX]);

#endif
