/* Kernel-side counters: per-CPU sums. */
#ifndef EPTRACE_STATS_H
#define EPTRACE_STATS_H

#include <stdint.h>
#include "record.h"

int ep_read_stats(int stats_fd, uint64_t out[EP_STAT_MAX]);

#endif
