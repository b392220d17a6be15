/* eptrace: options -> load -> consume ring buffer -> decode -> output. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "agg.h"
#include "decode.h"
#include "format.h"
#include "format_agg.h"
#include "loader.h"
#include "options.h"
#include "probe.h"
#include "stats.h"
#include "tw_resolver.h"

static volatile sig_atomic_t exiting;

struct ep_run {
	struct ep_opts opts;
	struct ep_loader loader;
	struct ep_tw_resolver tw;
	struct ep_summary sum;
	struct ep_agg agg;
	struct ep_probe *probe;
	int64_t mono_to_unix;
	uint64_t lost_reported;
	bool show_events;      /* no view chosen: every event */
	bool show_collisions;
	bool show_occupancy;
	uint64_t report_every; /* ns, 0: at exit only */
};

static void on_signal(int sig)
{
	exiting = 1;
}

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return vfprintf(stderr, fmt, args);
}

static uint64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Record -> decode -> (live only: learn the namespace) -> aggregate -> output. */
static void output(struct ep_run *run, const struct ep_record *rec)
{
	struct ep_alloc_info info;
	struct ep_event ev;

	if (ep_decode(rec, run->mono_to_unix, &ev)) {
		run->sum.bad_records++;
		return;
	}
	ep_probe_seen(run->probe, rec->netns, rec->pid, rec->ts_ns);
	if (rec->kind == EP_FAIL && rec->err == EADDRINUSE && rec->lport) {
		struct ep_holder h;

		if (!ep_agg_holder(&run->agg, rec->netns, rec->proto, rec->lport, &h))
			ep_probe_now(run->probe, rec->netns, rec->pid, rec->ts_ns);
	}
	ep_agg_event(&run->agg, &ev, &info);
	if (rec->kind == EP_TW_START || (rec->flags & EP_F_FIXED))
		return; /* inputs of the aggregate, not assignments */
	run->sum.events++;
	if (rec->kind == EP_ALLOC)
		run->sum.allocs++;
	else if (rec->kind == EP_RELEASE)
		run->sum.releases++;
	else
		run->sum.fails++;
	if (!run->show_events)
		return;
	if (run->opts.json)
		ep_json_event(stdout, &ev, &info);
	else
		ep_table_event(stdout, &ev, &info);
}

static void on_collision(void *ctx, const struct ep_collision *c)
{
	struct ep_run *run = ctx;

	if (!run->show_collisions)
		return;
	if (run->opts.json)
		ep_json_collision(stdout, c, run->mono_to_unix);
	else
		ep_table_collision(stdout, c, run->mono_to_unix);
}

static void on_warning(void *ctx, const struct ep_warning *w)
{
	struct ep_run *run = ctx;

	if (run->opts.json)
		ep_json_warning(stdout, w, run->mono_to_unix);
	else
		ep_table_warning(stderr, w);
}

static void print_hists(struct ep_run *run, uint64_t now_unix)
{
	struct ep_series *sv;
	size_t n = ep_agg_series(&run->agg, &sv);

	if (!run->opts.json) {
		time_t secs = (time_t)(now_unix / 1000000000ULL);
		struct tm tm;

		localtime_r(&secs, &tm);
		printf("%02d:%02d:%02d  (since start)\n", tm.tm_hour, tm.tm_min, tm.tm_sec);
	}
	for (size_t i = 0; i < n; i++) {
		if (run->opts.json)
			ep_json_series(stdout, &sv[i], run->opts.by, now_unix);
		else
			ep_table_series(stdout, &sv[i], run->opts.by);
	}
	if (!n && !run->opts.json)
		printf("(no events yet)\n\n");
	ep_agg_series_free(sv, n);
}

static void print_occupancy(struct ep_run *run, uint64_t now_unix)
{
	size_t n = ep_agg_netns_count(&run->agg);

	if (!run->opts.json)
		ep_table_occupancy_header(stdout);
	for (size_t i = 0; i < n; i++) {
		struct ep_occupancy o;

		if (!ep_agg_occupancy(&run->agg, i, &o))
			continue;
		if (run->opts.netns && o.netns != run->opts.netns)
			continue;
		if (run->opts.json)
			ep_json_occupancy(stdout, &o, now_unix);
		else
			ep_table_occupancy(stdout, &o);
	}
	if (!run->opts.json)
		putchar('\n');
}

static void report(struct ep_run *run, bool final)
{
	uint64_t mono = mono_now(), now_unix = (uint64_t)((int64_t)mono + run->mono_to_unix);

	ep_agg_advance(&run->agg, mono); /* rates up to now, not the last event */
	if (run->show_occupancy)
		print_occupancy(run, now_unix);
	if (run->opts.hist || (final && run->opts.json && run->show_events))
		print_hists(run, now_unix);
}

static void setup_views(struct ep_run *run)
{
	const struct ep_opts *o = &run->opts;

	run->show_events = !o->hist && !o->collisions && !o->occupancy;
	run->show_collisions = o->collisions || (o->json && run->show_events);
	run->show_occupancy = o->occupancy || (o->json && run->show_events);
	if (o->interval_s > 0)
		run->report_every = (uint64_t)(o->interval_s * 1e9);
	else if (run->show_occupancy)
		run->report_every = 5000000000ULL;
}

/* A TIME_WAIT timer cancel that no restart followed: the port is free since
 * the cancel, if the socket table still agrees and we win the delete. */
static void tw_confirm(const struct ep_tw_pending *p, void *ctx)
{
	struct ep_run *run = ctx;
	int fd = ep_socks_fd(&run->loader);
	struct sock_state st;

	if (bpf_map_lookup_elem(fd, &p->cookie, &st))
		return; /* the kernel released it (expiry) */
	if (st.phase != PH_TIMEWAIT || st.cancel_ns != p->cancel_ns)
		return; /* restarted, or cancelled again later */
	if (bpf_map_delete_elem(fd, &p->cookie))
		return;
	st.rec.kind = EP_RELEASE;
	st.rec.ts_ns = p->cancel_ns;
	st.rec.reason = EP_REL_TW_KILLED;
	st.rec.flags |= EP_F_TIMEWAIT;
	st.rec.latency_ns = EP_LATENCY_NONE;
	output(run, &st.rec);
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct ep_run *run = ctx;
	const struct ep_record *rec = data;

	run->sum.received++;
	if (len < sizeof(*rec)) {
		run->sum.bad_records++;
		return 0;
	}
	if (rec->kind == EP_TW_CANCEL) {
		ep_tw_add(&run->tw, rec->cookie, rec->ts_ns, tw_confirm, run);
		return 0;
	}
	output(run, rec);
	return 0;
}

static void refresh_stats(struct ep_run *run, bool report)
{
	uint64_t st[EP_STAT_MAX];

	if (ep_read_stats(ep_stats_fd(&run->loader), st))
		return;
	run->sum.lost = st[EP_STAT_LOST];
	run->sum.socks_full = st[EP_STAT_SOCKS_FULL];
	run->sum.inflight_full = st[EP_STAT_INFLIGHT_FULL];
	run->sum.submitted = st[EP_STAT_EVENTS];
	if (report && run->sum.lost > run->lost_reported) {
		if (run->opts.json)
			printf("{\"event\":\"lost\",\"lost\":%" PRIu64 ",\"new\":%" PRIu64 "}\n",
			       run->sum.lost, run->sum.lost - run->lost_reported);
		else
			fprintf(stderr, "WARNING: %" PRIu64 " events lost so far (ring buffer full)\n",
				run->sum.lost);
		run->lost_reported = run->sum.lost;
	}
}

static bool kernel_tracks(uint64_t cookie, void *ctx)
{
	struct ep_run *run = ctx;
	struct sock_state st;

	return !bpf_map_lookup_elem(ep_socks_fd(&run->loader), &cookie, &st);
}

static void print_start(struct ep_run *run)
{
	if (run->opts.json) {
		printf("{\"event\":\"start\",\"ts_ns\":%" PRIu64 ",\"pid\":%d,\"timewait_tracking\":%s}\n",
		       (uint64_t)((int64_t)mono_now() + run->mono_to_unix), (int)getpid(),
		       run->loader.tw_tracking ? "true" : "false");
	} else {
		fprintf(stderr, "Tracing ephemeral ports... Hit Ctrl-C to end.\n");
		if (run->show_events)
			ep_table_header(stdout);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static struct ep_run run;
	struct ring_buffer *rb = NULL;
	char cg2[512];
	uint64_t start = mono_now(), deadline = 0, last_stats = 0, last_report = 0, last_refresh;
	uint64_t refresh_every = 5000000000ULL;
	struct ep_agg_opts ao = {};
	struct ep_sink sink = { on_collision, on_warning, &run };
	int err = 1;

	ep_parse_args(argc, argv, &run.opts);
	setup_views(&run);
	ao.by = run.opts.by;
	ao.top_n = run.opts.top_n;
	ao.threshold = run.opts.threshold;
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (run.opts.verbose)
		libbpf_set_print(print_libbpf);
	else
		libbpf_set_print(NULL);
	if (ep_check_privileges())
		return 1;
	if (ep_ensure_mounts(cg2, sizeof(cg2)))
		return 1;
	if (ep_tw_init(&run.tw, 65536) || ep_agg_init(&run.agg, &ao, &sink) ||
	    !(run.probe = ep_probe_new(&run.agg, run.opts.netns))) {
		fprintf(stderr, "eptrace: out of memory\n");
		return 1;
	}
	if (ep_load(&run.loader, &run.opts, cg2))
		goto out;
	rb = ring_buffer__new(ep_events_fd(&run.loader), on_record, &run, NULL);
	if (!rb) {
		fprintf(stderr, "eptrace: cannot open the ring buffer: %s\n", strerror(errno));
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	run.mono_to_unix = ep_clock_offset();
	/* Sockets that exist already count from the first second. */
	ep_agg_advance(&run.agg, mono_now());
	ep_probe_all(run.probe, mono_now());
	start = last_report = last_refresh = mono_now();
	if (run.report_every && run.report_every < refresh_every)
		refresh_every = run.report_every;
	if (run.opts.duration_s > 0)
		deadline = start + (uint64_t)(run.opts.duration_s * 1e9);
	print_start(&run);

	while (!exiting) {
		int n = ring_buffer__poll(rb, 50);
		uint64_t now;

		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "eptrace: reading the ring buffer failed: %s\n", strerror(-n));
			goto out;
		}
		/* Records submitted without a wakeup wait for us here. */
		ring_buffer__consume(rb);
		now = mono_now();
		ep_tw_due(&run.tw, now, tw_confirm, &run);
		if (now - last_stats > 1000000000ULL) {
			refresh_stats(&run, true);
			last_stats = now;
		}
		/* Sockets from before the trace go away unseen: re-read them;
		 * holders whose release was lost are dropped. */
		if (now - last_refresh >= refresh_every) {
			ep_probe_refresh(run.probe, now);
			ep_agg_reconcile(&run.agg, kernel_tracks, &run);
			last_refresh = now;
		}
		if (run.report_every && now - last_report >= run.report_every) {
			report(&run, false);
			last_report = now;
		}
		fflush(stdout);
		if (deadline && now >= deadline)
			break;
	}
	err = 0;
out:
	/* Detach first so that the final counts and the last records agree. */
	ep_detach(&run.loader);
	if (rb) {
		ring_buffer__consume(rb);
		if (run.loader.skel)
			ep_tw_due(&run.tw, mono_now(), tw_confirm, &run);
	}
	if (run.loader.skel) {
		refresh_stats(&run, true);
		run.sum.duration_s = (mono_now() - start) / 1e9;
		run.sum.agg_dropped = run.agg.dropped;
		run.sum.untracked_releases = run.agg.untracked_releases;
		run.sum.reconciled = run.agg.reconciled;
		if (!err)
			report(&run, true);
		fflush(stdout);
		if (!err) {
			if (run.opts.json)
				ep_json_summary(stdout, &run.sum);
			else
				ep_table_summary(stderr, &run.sum);
		}
	}
	fflush(stdout);
	ring_buffer__free(rb);
	ep_unload(&run.loader);
	ep_tw_free(&run.tw);
	ep_probe_free(run.probe);
	ep_agg_free(&run.agg);
	return err;
}
