#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include "format.h"
#include "format_agg.h"
#include "view.h"

void ep_view_init(struct ep_view *v, const struct ep_opts *o, int64_t mono_to_unix)
{
	v->opts = o;
	v->mono_to_unix = mono_to_unix;
	v->show_events = !o->hist && !o->collisions && !o->occupancy && !o->quiet;
	v->show_collisions = o->collisions || (o->json && v->show_events);
	v->show_occupancy = o->occupancy || (o->json && v->show_events);
}

void ep_view_start(const struct ep_view *v, const struct ep_start *s)
{
	if (v->opts->json && !v->opts->quiet)
		printf("{\"event\":\"start\",\"ts_ns\":%" PRIu64 ",\"pid\":%u,\"backend\":\"%s\","
		       "\"timewait_tracking\":%s}\n",
		       s->ts_ns, s->pid, s->backend, s->timewait_tracking ? "true" : "false");
	fflush(stdout);
	/* The table's header now: events read while the first probe runs
	 * follow it. */
	if (!v->opts->json && v->show_events)
		ep_table_header(stdout);
}

void ep_view_ready(const struct ep_view *v)
{
	/* Those events first, whole lines: the banner must not split one. */
	fflush(stdout);
	/* on stderr in every live mode: the hooks are attached and the sockets
	 * that were there before are known */
	if (v->opts->mode != EP_MODE_REPORT)
		fprintf(stderr, "Tracing ephemeral ports... Hit Ctrl-C to end.\n");
}

void ep_view_event(const struct ep_view *v, const struct ep_event *ev,
		   const struct ep_alloc_info *info)
{
	if (!v->show_events)
		return;
	if (v->opts->json)
		ep_json_event(stdout, ev, info);
	else
		ep_table_event(stdout, ev, info);
}

void ep_view_collision(const struct ep_view *v, const struct ep_collision *c)
{
	if (!v->show_collisions)
		return;
	if (v->opts->json)
		ep_json_collision(stdout, c, v->mono_to_unix);
	else
		ep_table_collision(stdout, c, v->mono_to_unix);
}

void ep_view_warning(const struct ep_view *v, const struct ep_warning *w)
{
	if (v->opts->json && !v->opts->quiet)
		ep_json_warning(stdout, w, v->mono_to_unix);
	else
		ep_table_warning(stderr, w);
}

void ep_view_hook_misses(const struct ep_view *v, uint64_t total, uint64_t new)
{
	if (v->opts->json)
		printf("{\"event\":\"lost\",\"hook_misses\":%" PRIu64 ",\"new\":%" PRIu64 "}\n",
		       total, new);
	else
		fprintf(stderr, "WARNING: %" PRIu64 " hook runs skipped by the kernel so far "
				"(a hook nested in itself, or one a preempted task was running, on a "
				"kernel that preempts inside them): their events are missing\n", total);
}

void ep_view_lost(const struct ep_view *v, uint64_t total, uint64_t new)
{
	if (v->opts->json)
		printf("{\"event\":\"lost\",\"lost\":%" PRIu64 ",\"new\":%" PRIu64 "}\n", total, new);
	else
		fprintf(stderr, "WARNING: %" PRIu64 " events lost so far (ring buffer full)\n", total);
}

static void print_hists(const struct ep_view *v, struct ep_agg *a, uint64_t now_unix)
{
	struct ep_series *sv;
	size_t n = ep_agg_series(a, &sv);

	if (!v->opts->json) {
		time_t secs = (time_t)(now_unix / 1000000000ULL);
		struct tm tm;

		localtime_r(&secs, &tm);
		printf("%02d:%02d:%02d  (since start)\n", tm.tm_hour, tm.tm_min, tm.tm_sec);
	}
	for (size_t i = 0; i < n; i++) {
		if (v->opts->json)
			ep_json_series(stdout, &sv[i], v->opts->by, now_unix);
		else
			ep_table_series(stdout, &sv[i], v->opts->by);
	}
	if (!n && !v->opts->json)
		printf("(no events yet)\n\n");
	ep_agg_series_free(sv, n);
}

static void print_occupancy(const struct ep_view *v, struct ep_agg *a, uint64_t now_unix)
{
	size_t n = ep_agg_netns_count(a);

	if (!v->opts->json)
		ep_table_occupancy_header(stdout);
	for (size_t i = 0; i < n; i++) {
		struct ep_occupancy o;

		if (!ep_agg_occupancy(a, i, &o))
			continue;
		if (v->opts->netns && o.netns != v->opts->netns)
			continue;
		if (v->opts->json)
			ep_json_occupancy(stdout, &o, now_unix);
		else
			ep_table_occupancy(stdout, &o);
	}
	if (!v->opts->json)
		putchar('\n');
}

void ep_view_report(const struct ep_view *v, struct ep_agg *a, uint64_t now_unix, bool final)
{
	if (v->show_occupancy)
		print_occupancy(v, a, now_unix);
	if (v->opts->hist || (final && v->opts->json && v->show_events))
		print_hists(v, a, now_unix);
}

void ep_view_summary(const struct ep_view *v, const struct ep_summary *s)
{
	fflush(stdout);
	if (v->opts->json)
		ep_json_summary(stdout, s);
	else
		ep_table_summary(stderr, s);
	fflush(stdout);
}
