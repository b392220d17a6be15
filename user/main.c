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
#include "decode.h"
#include "format.h"
#include "loader.h"
#include "options.h"
#include "stats.h"
#include "tw_resolver.h"

static volatile sig_atomic_t exiting;

struct ep_run {
	struct ep_opts opts;
	struct ep_loader loader;
	struct ep_tw_resolver tw;
	struct ep_summary sum;
	int64_t mono_to_unix;
	uint64_t lost_reported;
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

static void output(struct ep_run *run, const struct ep_record *rec)
{
	struct ep_event ev;

	if (ep_decode(rec, run->mono_to_unix, &ev)) {
		run->sum.bad_records++;
		return;
	}
	run->sum.events++;
	if (rec->kind == EP_ALLOC)
		run->sum.allocs++;
	else if (rec->kind == EP_RELEASE)
		run->sum.releases++;
	else
		run->sum.fails++;
	if (run->opts.json)
		ep_json_event(stdout, &ev);
	else
		ep_table_event(stdout, &ev);
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

static void print_start(struct ep_run *run)
{
	if (run->opts.json) {
		printf("{\"event\":\"start\",\"ts_ns\":%" PRIu64 ",\"pid\":%d,\"timewait_tracking\":%s}\n",
		       (uint64_t)((int64_t)mono_now() + run->mono_to_unix), (int)getpid(),
		       run->loader.tw_tracking ? "true" : "false");
	} else {
		fprintf(stderr, "Tracing ephemeral ports... Hit Ctrl-C to end.\n");
		ep_table_header(stdout);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static struct ep_run run;
	struct ring_buffer *rb = NULL;
	char cg2[512];
	uint64_t start = mono_now(), deadline = 0, last_stats = 0;
	int err = 1;

	ep_parse_args(argc, argv, &run.opts);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (run.opts.verbose)
		libbpf_set_print(print_libbpf);
	else
		libbpf_set_print(NULL);
	if (ep_check_privileges())
		return 1;
	if (ep_ensure_mounts(cg2, sizeof(cg2)))
		return 1;
	if (ep_tw_init(&run.tw, 65536)) {
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
	start = mono_now();
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
	return err;
}
