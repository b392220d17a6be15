#include <string.h>
#include "stats.h"

void ep_read_stats(const struct ep_mapped *m, uint64_t out[EP_STAT_MAX])
{
	memset(out, 0, sizeof(uint64_t) * EP_STAT_MAX);
	for (int c = 0; c < m->ncpus; c++)
		for (int k = 0; k < EP_STAT_MAX; k++)
			out[k] += __atomic_load_n(&m->stats[c * EP_STAT_MAX + k], __ATOMIC_RELAXED);
}
