/* Exposition from a pipeline fed known events: cumulative buckets on exact
 * edges, counts, sums, counters and their labels. */
#include <stdlib.h>
#include "check.h"
#include "output/metrics.h"
#include "pipeline.h"

static double value_of(const char *text, const char *series)
{
	const char *p = strstr(text, series);

	return p ? strtod(p + strlen(series), NULL) : -1;
}

int main(void)
{
	static struct ep_opts o = { .quiet = true, .top_n = 10, .threshold = 0.8, .tcp = true,
				    .udp = true, .ipv4 = true, .ipv6 = true };
	static struct ep_pipeline p;
	static struct ep_metrics m;
	uint64_t lat[] = { 1000, 1500, 3000, 3072, 3073, 1000000 }; /* ns */
	uint64_t bounds[64];
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	CHECK(ep_pipe_init(&p, &o, 0) == 0);
	ep_pipe_netns_name(&p, 0, 1, "q\"\xff\xc3\xa9");
	ep_pipe_add_consumer(&p, &(struct ep_consumer){ .event = ep_metrics_event, .ctx = &m });
	for (unsigned i = 0; i < sizeof(lat) / sizeof(lat[0]); i++) {
		struct ep_record r = { .kind = EP_ALLOC, .ts_ns = 1000 + i, .cookie = 1 + i,
				       .lport = 40000 + i, .proto = EP_TCP, .family = 4,
				       .via = EP_VIA_CONNECT, .latency_ns = lat[i], .netns = 1 };
		ep_pipe_event(&p, &r);
	}
	{
		struct ep_record r = { .kind = EP_FAIL, .ts_ns = 2000, .proto = EP_UDP, .family = 6,
				       .via = EP_VIA_SENDMSG, .err = 11, .netns = 1,
				       .latency_ns = EP_LATENCY_NONE };
		ep_pipe_event(&p, &r);
	}
	f = open_memstream(&text, &len);
	ep_metrics_render(f, &m, &p.agg, &p.sum,
			  &(struct ep_start){ .timewait_tracking = true, .backend = "trampoline" });
	fclose(f);

	CHECK(ep_metrics_bounds(bounds, 64) == 56 && bounds[0] == 1024 && bounds[1] == 1536);
#define LAT "eptrace_allocation_latency_seconds"
#define L "{proto=\"tcp\",family=\"4\",via=\"connect\""
	CHECK(value_of(text, LAT "_bucket" L ",le=\"1.024e-06\"} ") == 1);
	CHECK(value_of(text, LAT "_bucket" L ",le=\"1.536e-06\"} ") == 2); /* 1500 < 1536 */
	CHECK(value_of(text, LAT "_bucket" L ",le=\"2.048e-06\"} ") == 2);
	/* a value on an edge to the nanosecond counts in the bucket above */
	CHECK(value_of(text, LAT "_bucket" L ",le=\"3.072e-06\"} ") == 3);
	CHECK(value_of(text, LAT "_bucket" L ",le=\"4.096e-06\"} ") == 5);
	CHECK(value_of(text, LAT "_bucket" L ",le=\"0.001048576\"} ") == 6);
	CHECK(value_of(text, LAT "_bucket" L ",le=\"+Inf\"} ") == 6);
	CHECK(value_of(text, LAT "_count" L "} ") == 6);
	CHECK(value_of(text, LAT "_sum" L "} ") > 0.0010116 &&
	      value_of(text, LAT "_sum" L "} ") < 0.0010117);
	CHECK(value_of(text, "eptrace_assignments_total" L "} ") == 6);
	/* a name that is not UTF-8 cannot spoil the scrape */
	CHECK(strstr(text, "eptrace_netns_info{netns=\"1\",netns_name=\"q\\\"\xef\xbf\xbd\xc3\xa9\"} 1\n"));
	CHECK(value_of(text, "eptrace_failures_total{proto=\"udp\",family=\"6\",via=\"sendmsg\","
			     "errno=\"EAGAIN\"} ") == 1);
	CHECK(value_of(text, "eptrace_up ") == 1);
	CHECK(value_of(text, "eptrace_timewait_tracking ") == 1);
	CHECK(value_of(text, "eptrace_info{backend=\"trampoline\"} ") == 1);
	CHECK(strstr(text, "# TYPE " LAT " histogram\n") != NULL);
	free(text);
	ep_pipe_free(&p);
	return check_done("metrics");
}
