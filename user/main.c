/* The program flow, the top layer (user/: main.c, pipeline.c, probe.c,
 * report.c): it may call every layer below, and none of them calls it.
 *
 * eptrace: options -> load -> consume ring buffer -> pipeline (decode,
 * aggregate, output, record, export). `report` replays a recording instead. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/libbpf.h>
#include "output/exporter.h"
#include "kernel/caps.h"
#include "kernel/tables.h"
#include "kernel/loader.h"
#include "config/options.h"
#include "pipeline.h"
#include "probe.h"
#include "recording/recorder.h"
#include "report.h"
#include "kernel/stats.h"
#include "agg/tw_resolver.h"
#include "host/namer.h"

#define SECOND 1000000000ULL
#define REFRESH_EVERY (5 * SECOND)
#define WAIT_MS 50 /* the longest a record waits for the reader while records come */
#define MS 1000000ULL
/* TIME_WAIT cancels waiting for their restart; a full queue confirms early. */
#define TW_PENDING_MAX 65536

static volatile sig_atomic_t exiting, hurry;
/* Readable once a signal came: wakes the loop even when the signal landed
 * between its check of exiting and its wait. */
static int signalled_fd = -1;

struct ep_run {
	struct ep_opts opts;
	struct ep_loader loader;
	struct ep_tw_resolver tw;
	struct ep_pipeline pipe;
	struct ep_probe *probe;
	struct ep_namer namer;
	struct ep_tables tables; /* the loaded backend's */
	uint64_t last_excluded;  /* the last cgroup entered in cg_excluded */
	struct ep_sweep sweep; /* dumps of this probe round, for the table sweep */
	struct ep_recorder *recorder;
	struct ep_exporter *exp;
	struct ring_buffer *rb;
	uint64_t start, last_stats, last_report, last_refresh; /* CLOCK_MONOTONIC ns */
	uint64_t refresh_every;
};

/* A second signal while a recording closes: do not wait for its readable rows. */
static void on_signal(int sig)
{
	int saved = errno;

	hurry = exiting;
	exiting = 1;
	if (signalled_fd >= 0 && write(signalled_fd, &(uint64_t){ 1 }, sizeof(uint64_t)) < 0) {
		/* full: it is readable already */
	}
	errno = saved;
}

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return vfprintf(stderr, fmt, args);
}

static uint64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SECOND + ts.tv_nsec;
}

/* Who the owner's cgroup and the namespace are, once each (the pipeline
 * remembers, and tells the recording). */
static void learn_owner(struct ep_run *run, uint64_t mono, uint64_t cgroup_id, uint32_t pid,
			const char comm[EP_COMM_LEN])
{
	struct ep_names *names = &run->pipe.agg.names;
	char path[EP_CGROUP_PATH_MAX];
	uint64_t key;
	int found;

	if (cgroup_id && !ep_names_knows_cgroup(names, cgroup_id) &&
	    (found = ep_namer_cgroup(&run->namer, cgroup_id, path, sizeof(path))) >= 0)
		/* the v2 root of a hybrid host: its processes are told apart in v1 */
		ep_pipe_cgroup(&run->pipe, mono, cgroup_id, found ? path : NULL,
			       found && run->namer.hybrid && !strcmp(path, "/")
				       ? EP_NAMES_PER_PROCESS : 0);
	key = ep_names_key(names, cgroup_id, pid, comm);
	if (key != cgroup_id && !ep_names_knows_cgroup(names, key))
		ep_pipe_cgroup(&run->pipe, mono, key,
			       ep_namer_v1_path(pid, path, sizeof(path)) ? path : NULL, 0);
}

/* A process found owning a socket from before the start: its cgroup, named
 * as an event's owner is. */
static void name_found_owner(void *ctx, struct ep_owner *o, uint64_t mono)
{
	struct ep_run *run = ctx;

	o->cgroup_id = ep_namer_cgroup_of(&run->namer, o->pid);
	if (o->cgroup_id)
		learn_owner(run, mono, o->cgroup_id, o->pid, o->comm);
}

static void learn_names(void *ctx, const struct ep_record *rec)
{
	struct ep_run *run = ctx;
	struct ep_names *names = &run->pipe.agg.names;
	char name[256];
	int named;

	learn_owner(run, rec->ts_ns, rec->cgroup_id, rec->pid, rec->comm);
	if (rec->netns && !ep_names_knows_netns(names, rec->netns) &&
	    (named = ep_namer_netns(&run->namer, rec->netns, rec->pid, rec->ts_ns, name,
				    sizeof(name))) >= 0)
		ep_pipe_netns_name(&run->pipe, rec->ts_ns, rec->netns, named ? name : NULL);
}

/* Live only: a namespace an event shows for the first time is probed, and a
 * bind conflict with no known holder looks again at once. */
static void learn_netns(void *ctx, const struct ep_record *rec)
{
	struct ep_run *run = ctx;
	struct ep_holder h;

	ep_probe_seen(run->probe, rec->netns, rec->pid, rec->ts_ns);
	if (rec->kind == EP_RELEASE)
		ep_probe_released(run->probe, rec->cookie);
	if (rec->kind == EP_FAIL && rec->err == EADDRINUSE && rec->lport &&
	    !ep_agg_holder(&run->pipe.agg, rec->netns, rec->proto, rec->lport, &h))
		ep_probe_now(run->probe, rec->netns, rec->pid, rec->ts_ns);
}

/* A TIME_WAIT timer cancel that no restart followed: the port is free since
 * the cancel, if the socket table still agrees and we win the delete. */
static void tw_confirm(const struct ep_tw_pending *p, void *ctx)
{
	struct ep_run *run = ctx;
	struct ep_record rel;

	if (ep_tables_tw_take(&run->tables, p->cookie, p->cancel_ns, &rel))
		ep_pipe_event(&run->pipe, &rel);
}

/* Records from a cgroup still in the ring buffer ask again: asked once. */
static void exclude_cgroup(void *ctx, uint64_t cgroup_id)
{
	struct ep_run *run = ctx;

	if (cgroup_id == run->last_excluded)
		return;
	run->last_excluded = cgroup_id;
	ep_tables_exclude_cgroup(&run->tables, cgroup_id);
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct ep_run *run = ctx;
	const struct ep_record *rec = data;

	ep_pipe_received(&run->pipe, len < sizeof(*rec));
	if (len < sizeof(*rec))
		return 0;
	if (rec->kind == EP_TW_CANCEL) {
		ep_tw_add(&run->tw, rec->cookie, rec->ts_ns, tw_confirm, run);
		return 0;
	}
	ep_pipe_event(&run->pipe, rec);
	return 0;
}

static void refresh_stats(struct ep_run *run)
{
	uint64_t st[EP_STAT_MAX];

	ep_read_stats(&run->loader.mapped, st);
	st[EP_STAT_HOOK_MISSES] = ep_hook_misses(&run->loader);
	st[EP_STAT_EVENTS] = ep_records_submitted(&run->loader);
	ep_pipe_stats(&run->pipe, mono_now(), st);
}

static bool kernel_tracks(uint64_t cookie, void *ctx)
{
	struct ep_run *run = ctx;

	return ep_tables_tracks(&run->tables, cookie);
}

static void follow_prestart(void *ctx, uint32_t netns, const struct ep_diag_sock *s,
			    const struct ep_owner *owner, bool fixed)
{
	struct ep_run *run = ctx;

	/* Without the release hook nothing would ever take a UDP entry out. */
	if (s->proto == EP_UDP && !run->loader.sock_hooks)
		return;
	ep_tables_follow_prestart(&run->tables, &run->opts, netns, s, owner, fixed);
}

static void collect_dump(void *ctx, uint32_t netns, const struct ep_diag_sock *v, size_t n,
			 uint64_t mono)
{
	struct ep_run *run = ctx;

	ep_sweep_add(&run->sweep, netns, v, n, mono);
}

/* Between two namespaces of a refresh: the ring is read as the loop would,
 * and a signal ends the refresh. */
static uint64_t read_meanwhile(void *ctx)
{
	struct ep_run *run = ctx;

	if (exiting)
		return 0;
	ring_buffer__consume(run->rb); /* a failure shows at the loop's next read */
	return mono_now();
}

static void print_start(struct ep_run *run, uint64_t mono)
{
	struct ep_start start = { .ts_ns = ep_mono_to_unix(mono, run->pipe.mono_to_unix),
				  .pid = (uint32_t)getpid(),
				  .timewait_tracking = run->loader.tw_tracking };

	snprintf(start.backend, sizeof(start.backend), "%s", ep_backend_name(run->loader.backend));
	ep_exporter_set_start(run->exp, &start);

	if (run->recorder)
		ep_recorder_start(run->recorder, &start, run->pipe.mono_to_unix);
	ep_pipe_start(&run->pipe, &start);
}

static uint64_t earlier(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* One pass of the loop's periodic work; returns when the next is due. */
static uint64_t housekeeping(struct ep_run *run, uint64_t now)
{
	uint64_t next;

	ep_tw_due(&run->tw, now, tw_confirm, run);
	/* TIME_WAIT cancels are confirmed a moment after they come */
	next = run->tw.len ? now : UINT64_MAX;
	if (now - run->last_stats > SECOND) {
		refresh_stats(run);
		run->last_stats = now;
	}
	next = earlier(next, run->last_stats + SECOND + MS);
	/* Sockets from before the trace go away unseen: re-read them; holders
	 * whose release was lost are dropped. */
	if (now - run->last_refresh >= run->refresh_every) {
		ep_probe_refresh(run->probe, now);
		ep_sweep_run(&run->sweep, &run->tables);
		ep_pipe_reconcile_live(&run->pipe, mono_now(), kernel_tracks, run);
		run->last_refresh = now;
	}
	next = earlier(next, run->last_refresh + run->refresh_every);
	if (run->pipe.report_every) {
		if (now - run->last_report >= run->pipe.report_every) {
			ep_pipe_tick(&run->pipe, now, false);
			run->last_report = now;
		}
		next = earlier(next, run->last_report + run->pipe.report_every);
	}
	return earlier(next, ep_exporter_publish(run->exp, &run->pipe.agg, &run->pipe.sum, now));
}

/* Privileges, mounts and the userspace state: nothing to undo on failure. */
static int prepare(struct ep_run *run)
{
	run->namer.cg_fd = -1; /* opened once loaded */
	if (ep_check_privileges())
		return 1;
	if (ep_tw_init(&run->tw, TW_PENDING_MAX) ||
	    ep_pipe_init(&run->pipe, &run->opts, ep_clock_offset()) ||
	    !(run->probe = ep_probe_new(&run->pipe, run->opts.netns))) {
		fprintf(stderr, "eptrace: out of memory\n");
		return 1;
	}
	ep_pipe_set_enrich(&run->pipe, &(struct ep_enrich){ learn_names, learn_netns,
							     exclude_cgroup, run });
	/* Before any thread starts, so that they do not take the signals. */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	return 0;
}

static int load(struct ep_run *run)
{
	if (ep_load(&run->loader, &run->opts))
		return 1;
	run->tables = ep_tables_of(&run->loader);
	/* After the loader mounted a cgroup v2 hierarchy where the host has none */
	ep_namer_init(&run->namer);
	run->rb = ring_buffer__new(ep_events_fd(&run->loader), on_record, run, NULL);
	if (!run->rb) {
		fprintf(stderr, "eptrace: cannot open the ring buffer: %s\n", strerror(errno));
		return 1;
	}
	/* The ring's poll is level-triggered: it reports data as soon as one
	 * record is in, and a reader woken by it wakes for every few records.
	 * Edge-triggered, only the kernel's wakeups (a quarter of the ring
	 * filled) and the timeout wake us. The ring's own epoll set is changed
	 * (data.fd: libbpf's index of its one ring). */
	if (epoll_ctl(ring_buffer__epoll_fd(run->rb), EPOLL_CTL_MOD, ep_events_fd(&run->loader),
		      &(struct epoll_event){ .events = EPOLLIN | EPOLLET, .data.fd = 0 })) {
		fprintf(stderr, "eptrace: cannot wait for the ring buffer: %s\n", strerror(errno));
		return 1;
	}
	/* In the same set; the loop only ever consumes the ring, so libbpf
	 * never reads this entry as one of its rings. */
	signalled_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (signalled_fd < 0 ||
	    epoll_ctl(ring_buffer__epoll_fd(run->rb), EPOLL_CTL_ADD, signalled_fd,
		      &(struct epoll_event){ .events = EPOLLIN, .data.fd = 1 })) {
		fprintf(stderr, "eptrace: cannot wait for signals: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

/* Loaded and attached: what it took is given up before any thread starts,
 * the exporter's (the one that talks to the network) first. */
static int start_consumers(struct ep_run *run)
{
	if (ep_caps_drop(run->opts.prometheus && run->opts.prometheus_port < 1024))
		return 1;
	if (run->opts.prometheus &&
	    !(run->exp = ep_exporter_start(run->opts.prometheus_addr, run->opts.prometheus_port,
					   run->opts.prometheus_by, run->opts.prometheus_max)))
		return 1;
	if (run->exp)
		ep_pipe_add_consumer(&run->pipe, &(struct ep_consumer){
					     .event = ep_exporter_event, .ctx = run->exp });
	/* The file only once everything else worked: a name is not taken for nothing. */
	if (run->opts.file && !(run->recorder = ep_recorder_open(run->opts.file, run->pipe.mono_to_unix)))
		return 1;
	if (run->recorder)
		ep_pipe_add_consumer(&run->pipe, &(struct ep_consumer){
					     .input = ep_recorder_input, .control = ep_recorder_control,
					     .ctx = run->recorder });
	return 0;
}

static void begin(struct ep_run *run)
{
	run->start = run->last_report = run->last_refresh = mono_now();
	print_start(run, run->start);
	/* Sockets that exist already count from the first second, and the
	 * kernel side follows them to their release. */
	ep_probe_on_owner(run->probe, name_found_owner, run);
	ep_probe_on_found(run->probe, follow_prestart, run);
	ep_probe_on_dumped(run->probe, collect_dump, run);
	ep_probe_on_pause(run->probe, read_meanwhile, run);
	ep_probe_all(run->probe, mono_now());
	ep_sweep_run(&run->sweep, &run->tables);
	/* The exporter's first page and the banner: the hooks are attached and
	 * what was there before is counted. */
	if (run->exp)
		ep_exporter_publish(run->exp, &run->pipe.agg, &run->pipe.sum, 0);
	ep_pipe_ready(&run->pipe);
	run->refresh_every = REFRESH_EVERY;
	if (run->pipe.report_every && run->pipe.report_every < run->refresh_every)
		run->refresh_every = run->pipe.report_every;
}

/* How long to wait for the ring after a pass, with the next periodic work
 * due at next. While records come, WAIT_MS: they are submitted without a
 * wakeup and wait for the reader's pace. Once a wait brought none, until
 * next (at most a second), with the programs told to wake the reader with
 * the next record. */
static int wait_ms(struct ep_run *run, int consumed, uint64_t now, uint64_t next)
{
	if (consumed || !run->loader.reader_asleep || next <= now + WAIT_MS * MS)
		return WAIT_MS;
	*run->loader.reader_asleep = true;
	/* A record submitted before the flag was seen woke no one: look again. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (ring_buffer__consume(run->rb)) {
		*run->loader.reader_asleep = false;
		return WAIT_MS;
	}
	return (int)((next - now + MS - 1) / MS);
}

/* Until a signal, the --duration or an error (0 or 1). */
static int loop(struct ep_run *run)
{
	uint64_t deadline = 0;
	int wait = WAIT_MS;

	if (run->opts.duration_s > 0)
		deadline = run->start + (uint64_t)(run->opts.duration_s * 1e9);
	while (!exiting) {
		struct epoll_event ev;
		uint64_t now, next;
		int n;

		if (epoll_wait(ring_buffer__epoll_fd(run->rb), &ev, 1, wait) < 0 &&
		    errno != EINTR) {
			fprintf(stderr, "eptrace: waiting for the ring buffer failed: %s\n",
				strerror(errno));
			return 1;
		}
		/* Woken or not: records submitted without a wakeup wait for us here. */
		n = ring_buffer__consume(run->rb);
		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "eptrace: reading the ring buffer failed: %s\n", strerror(-n));
			return 1;
		}
		now = mono_now();
		next = housekeeping(run, now);
		fflush(stdout);
		if (run->recorder) {
			ep_recorder_flush(run->recorder);
			if (ep_recorder_failed(run->recorder))
				return 1; /* it said why */
		}
		if (deadline && now >= deadline)
			break;
		wait = wait_ms(run, n, now, deadline ? earlier(next, deadline) : next);
	}
	return 0;
}

/* Detach first so that the final counts and the last records agree. */
static void finish(struct ep_run *run)
{
	ep_detach(&run->loader);
	if (run->rb) {
		ring_buffer__consume(run->rb);
		if (ep_loaded(&run->loader))
			ep_tw_due(&run->tw, mono_now(), tw_confirm, run);
	}
	if (ep_loaded(&run->loader) && run->rb) {
		refresh_stats(run);
		ep_pipe_set_duration(&run->pipe, (mono_now() - run->start) / 1e9);
		ep_pipe_tick(&run->pipe, mono_now(), true);
		if (run->exp)
			ep_exporter_publish(run->exp, &run->pipe.agg, &run->pipe.sum, 0);
		ep_pipe_summary(&run->pipe);
	}
}

static void teardown(struct ep_run *run)
{
	fflush(stdout);
	ep_exporter_stop(run->exp);
	ring_buffer__free(run->rb);
	ep_unload(&run->loader);
	ep_tw_free(&run->tw);
	ep_probe_free(run->probe);
	ep_namer_free(&run->namer);
	ep_sweep_free(&run->sweep);
	ep_pipe_free(&run->pipe);
	if (signalled_fd >= 0) {
		int fd = signalled_fd;

		signalled_fd = -1; /* before the close: a late signal writes nowhere */
		close(fd);
	}
}

static int trace(struct ep_run *run)
{
	int err = 1;

	if (prepare(run))
		return 1;
	if (!load(run) && !start_consumers(run)) {
		begin(run);
		err = loop(run);
	}
	finish(run);
	if (run->recorder && ep_recorder_close(run->recorder, &run->pipe.sum, &hurry))
		err = 1;
	teardown(run);
	return err;
}

int main(int argc, char **argv)
{
	static struct ep_run run;

	ep_parse_args(argc, argv, &run.opts);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	libbpf_set_print(run.opts.verbose ? print_libbpf : NULL);
	if (run.opts.mode == EP_MODE_REPORT)
		return ep_report(&run.opts);
	return trace(&run);
}
