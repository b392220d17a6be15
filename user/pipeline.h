/* The one path from the aggregate's inputs to output. Live runs and replays
 * of a recording call the same functions in the same order, so they print the
 * same; a journal, when set, receives every input to be recorded. */
#ifndef EPTRACE_PIPELINE_H
#define EPTRACE_PIPELINE_H

#include <stdint.h>
#include "agg.h"
#include "format.h"
#include "options.h"

enum ep_control {
	EP_CTL_RANGE = 1,  /* data: struct ep_range_data */
	EP_CTL_SNAPSHOT,   /* data: struct ep_snap_entry[] */
	EP_CTL_GONE,       /* no data */
	EP_CTL_RECONCILE,  /* data: uint64_t cookies the kernel no longer tracks */
	EP_CTL_STATS,      /* data: uint64_t[EP_STAT_MAX] kernel counters */
	EP_CTL_TICK,       /* data: uint8_t final */
};

const char *ep_control_name(int type);
int ep_control_type(const char *name); /* -1: unknown */

struct ep_range_data {
	uint16_t lo, hi;
	uint8_t has_reserved;
	uint8_t pad[3];
	uint8_t reserved[8192]; /* present only if has_reserved */
};

struct ep_journal {
	void (*event)(void *ctx, const struct ep_record *rec, const struct ep_alloc_info *info);
	void (*control)(void *ctx, int type, uint64_t mono_ns, uint32_t netns, const void *data,
			size_t len);
	void *ctx;
};

/* Live only: called before an event is aggregated (learn its namespace). */
struct ep_enrich {
	void (*before)(void *ctx, const struct ep_record *rec);
	void *ctx;
};

struct ep_pipeline {
	const struct ep_opts *opts;
	struct ep_agg agg;
	struct ep_summary sum;
	int64_t mono_to_unix;
	bool show_events, show_collisions, show_occupancy;
	uint64_t report_every; /* ns, 0: at exit only */
	uint64_t lost_reported, misses_reported;
	struct ep_journal journal; /* event NULL: not recording */
	struct ep_enrich enrich;
	void (*on_event)(void *ctx, const struct ep_event *ev, const struct ep_alloc_info *info);
	void *on_event_ctx;        /* metrics */
};

struct ep_start {
	uint64_t ts_ns; /* Unix time */
	uint32_t pid;
	bool timewait_tracking;
};

void ep_print_start(struct ep_pipeline *p, const struct ep_start *s);

int ep_pipe_init(struct ep_pipeline *p, const struct ep_opts *opts, int64_t mono_to_unix);
void ep_pipe_free(struct ep_pipeline *p);

void ep_pipe_event(struct ep_pipeline *p, const struct ep_record *rec);
void ep_pipe_range(struct ep_pipeline *p, uint64_t mono, uint32_t netns, uint16_t lo,
		   uint16_t hi, const uint8_t *reserved);
void ep_pipe_snapshot(struct ep_pipeline *p, uint64_t mono, uint32_t netns,
		      const struct ep_snap_entry *v, size_t n);
void ep_pipe_gone(struct ep_pipeline *p, uint64_t mono, uint32_t netns);
/* Live: asks alive() about every holder; replay: the recorded answer. */
void ep_pipe_reconcile_live(struct ep_pipeline *p, uint64_t mono,
			    bool (*alive)(uint64_t cookie, void *ctx), void *ctx);
void ep_pipe_reconcile(struct ep_pipeline *p, uint64_t mono, const uint64_t *dead, size_t n);
void ep_pipe_stats(struct ep_pipeline *p, uint64_t mono, const uint64_t st[EP_STAT_MAX]);
/* Periodic and final reports. */
void ep_pipe_tick(struct ep_pipeline *p, uint64_t mono, bool final);
void ep_pipe_summary(struct ep_pipeline *p);

#endif
