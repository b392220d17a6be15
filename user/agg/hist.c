#include <math.h>
#include <string.h>
#include "hist.h"

void ep_hist_init(struct ep_hist *h)
{
	memset(h, 0, sizeof(*h));
}

static unsigned bucket_shift(unsigned i)
{
	return i < 2 * EP_HIST_SUB ? 0 : i / EP_HIST_SUB - 1;
}

uint64_t ep_hist_bucket_lo(unsigned i)
{
	if (i < 2 * EP_HIST_SUB)
		return i;
	return (uint64_t)(EP_HIST_SUB + i % EP_HIST_SUB) << bucket_shift(i);
}

uint64_t ep_hist_bucket_width(unsigned i)
{
	return 1ULL << bucket_shift(i);
}

void ep_hist_merge(struct ep_hist *dst, const struct ep_hist *src)
{
	if (!src->count)
		return;
	if (!dst->count || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
	for (unsigned i = 0; i < EP_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
}

uint64_t ep_hist_percentile(const struct ep_hist *h, double p)
{
	uint64_t rank, seen = 0, v;

	if (!h->count)
		return 0;
	if (p >= 100)
		return h->max;
	rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < EP_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen < rank)
			continue;
		v = ep_hist_bucket_lo(i) + (ep_hist_bucket_width(i) - 1) / 2;
		if (v < h->min)
			v = h->min;
		if (v > h->max)
			v = h->max;
		return v;
	}
	return h->max;
}
