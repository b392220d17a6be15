/* Histogram: bucket geometry, exact counts, percentiles against raw values. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include "check.h"
#include "agg/hist.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t nearest_rank(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)((p / 100.0) * n + 0.999999999);

	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

static void geometry(void)
{
	uint64_t samples[] = { 0, 1, 63, 64, 65, 127, 128, 1000, 4095, 4096, 123456789,
			       (1ULL << 47) + 5, (1ULL << 48) - 1 };
	bool ok = true;

	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		unsigned b = ep_hist_index(samples[i]);
		uint64_t lo = ep_hist_bucket_lo(b), w = ep_hist_bucket_width(b);

		if (!(lo <= samples[i] && samples[i] < lo + w) || b >= EP_HIST_BUCKETS)
			ok = false;
		/* a bucket is at most 1/32 of its values wide */
		if (lo >= 64 && w * 32 > lo)
			ok = false;
	}
	CHECK(ok);
	/* consecutive buckets tile the line */
	ok = true;
	for (unsigned i = 0; i + 1 < EP_HIST_BUCKETS; i++)
		if (ep_hist_bucket_lo(i) + ep_hist_bucket_width(i) != ep_hist_bucket_lo(i + 1))
			ok = false;
	CHECK(ok);
	CHECK(ep_hist_index(UINT64_MAX) == EP_HIST_BUCKETS - 1);
}

static void exact_counts(void)
{
	struct ep_hist h;

	ep_hist_init(&h);
	CHECK(ep_hist_percentile(&h, 50) == 0);
	for (uint64_t v = 1; v <= 100; v++)
		ep_hist_add(&h, v);
	CHECK(h.count == 100 && h.sum == 5050 && h.min == 1 && h.max == 100);
	CHECK(h.b[ep_hist_index(50)] == 1);
	/* 64..127 go two to a bucket */
	CHECK(h.b[ep_hist_index(98)] == 2);
	CHECK(ep_hist_percentile(&h, 50) == 50);
	CHECK(ep_hist_percentile(&h, 90) == 90);
	CHECK(ep_hist_percentile(&h, 99) == 98);
	CHECK(ep_hist_percentile(&h, 100) == 100);
	CHECK(ep_hist_percentile(&h, 0.001) == 1);
}

static void merge(void)
{
	struct ep_hist a, b;

	ep_hist_init(&a);
	ep_hist_init(&b);
	ep_hist_add(&a, 10);
	ep_hist_add(&b, 5);
	ep_hist_add(&b, 1000000);
	ep_hist_merge(&a, &b);
	CHECK(a.count == 3 && a.min == 5 && a.max == 1000000 && a.sum == 1000015);
	CHECK(a.b[ep_hist_index(1000000)] == 1);
}

/* Percentiles within 1/64 of the nearest-rank value on a wide random stream. */
static void against_raw(void)
{
	enum { N = 20000 };
	static uint64_t v[N];
	static struct ep_hist h;
	double ps[] = { 50, 90, 99, 99.9 };
	bool ok = true;

	srand(7);
	ep_hist_init(&h);
	for (int i = 0; i < N; i++) {
		/* log-uniform from 1us to 10s */
		v[i] = (uint64_t)(1000.0 * pow(10, 7.0 * rand() / RAND_MAX));
		ep_hist_add(&h, v[i]);
	}
	qsort(v, N, sizeof(v[0]), cmp_u64);
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		uint64_t want = nearest_rank(v, N, ps[i]), got = ep_hist_percentile(&h, ps[i]);
		double err = got > want ? (double)(got - want) / want : (double)(want - got) / want;

		if (err > 1.0 / 64) {
			ok = false;
			fprintf(stderr, "p%g: got %lu want %lu\n", ps[i], (unsigned long)got,
				(unsigned long)want);
		}
	}
	CHECK(ok);
	CHECK(ep_hist_percentile(&h, 100) == v[N - 1]);
}

int main(void)
{
	geometry();
	exact_counts();
	merge();
	against_raw();
	return check_done("hist");
}
