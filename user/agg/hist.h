/* Log-linear histogram of nanosecond values: power-of-two ranges split into
 * 32 sub-buckets each, so a percentile read from it is within 1/64 of the
 * true value. Fixed size whatever the stream. */
#ifndef EPTRACE_HIST_H
#define EPTRACE_HIST_H

#include <stdint.h>

#define EP_HIST_SUB_BITS 5
#define EP_HIST_SUB (1u << EP_HIST_SUB_BITS)
#define EP_HIST_TOP_EXP 48 /* values from 2^48 ns (3.2 days) share the last bucket */
#define EP_HIST_BUCKETS ((EP_HIST_TOP_EXP - EP_HIST_SUB_BITS + 1) * EP_HIST_SUB)

struct ep_hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min;
	uint64_t max;
	uint64_t b[EP_HIST_BUCKETS];
};

void ep_hist_init(struct ep_hist *h);
void ep_hist_merge(struct ep_hist *dst, const struct ep_hist *src);

/* Inline: several adds per record. */
static inline unsigned ep_hist_index(uint64_t v)
{
	unsigned e, shift;

	if (v < 2 * EP_HIST_SUB)
		return (unsigned)v;
	e = 63 - __builtin_clzll(v);
	if (e >= EP_HIST_TOP_EXP)
		return EP_HIST_BUCKETS - 1;
	shift = e - EP_HIST_SUB_BITS;
	return (shift + 1) * EP_HIST_SUB + (unsigned)((v >> shift) - EP_HIST_SUB);
}

static inline void ep_hist_add(struct ep_hist *h, uint64_t v)
{
	if (!h->count || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += v;
	h->b[ep_hist_index(v)]++;
}

/* Values in bucket i: [lo, lo + width). */
uint64_t ep_hist_bucket_lo(unsigned i);
uint64_t ep_hist_bucket_width(unsigned i);

/* Nearest-rank percentile (0 < p <= 100) estimated at the middle of its
 * bucket, clamped to the observed min and max; 0 for an empty histogram. */
uint64_t ep_hist_percentile(const struct ep_hist *h, double p);

#endif
