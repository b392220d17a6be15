/* The one path from the aggregate's inputs to output. Live runs and replays
 * of a recording call the same functions in the same order, so they print the
 * same. Consumers (the recorder, the exporter's metrics) register here. */
#ifndef EPTRACE_PIPELINE_H
#define EPTRACE_PIPELINE_H

#include <stdint.h>
#include "agg/agg.h"
#include "output/view.h"
#include "config/options.h"
#include "recording/layout.h"

/* A consumer of the pipeline's flow; any callback may be NULL. input: every
 * event as it came in (the record) with what aggregation learnt from it, as a
 * recording stores it; event: the decoded event, after aggregation; control:
 * every other input (enum ep_control), before it is applied. */
struct ep_consumer {
	void (*input)(void *ctx, const struct ep_record *rec, const struct ep_alloc_info *info);
	void (*event)(void *ctx, const struct ep_event *ev, const struct ep_alloc_info *info);
	void (*control)(void *ctx, int type, uint64_t mono_ns, uint32_t netns, const void *data,
			size_t len);
	void *ctx;
};

#define EP_PIPE_CONSUMERS_MAX 4

/* Live only: called before an event is aggregated. learn: the names of an
 * owner (cgroup, namespace) other than the last record's; before: every
 * record (probe its namespace); exclude: --unit/--container rejected a
 * cgroup by its path (which never changes), for all its events to come. */
struct ep_enrich {
	void (*learn)(void *ctx, const struct ep_record *rec);
	void (*before)(void *ctx, const struct ep_record *rec);
	void (*exclude)(void *ctx, uint64_t cgroup_id);
	void *ctx;
};

/* Records come in runs from one owner: while the names table is unchanged,
 * what it said for the run's first record holds for the rest. */
struct ep_owner_memo {
	uint64_t cgroup_id, key;
	uint32_t pid, netns;
	char comm[EP_COMM_LEN];
	unsigned names_gen;
	bool valid;
	uint64_t seq; /* ep_event.owner_seq: changes with every lookup */
	const struct ep_identity *ident;
	const char *netns_name;
};

/* Fields are the pipeline's own: others read them, and change them only
 * through the functions below. */
struct ep_pipeline {
	const struct ep_opts *opts;
	struct ep_agg agg;
	struct ep_summary sum;
	int64_t mono_to_unix;
	struct ep_view view;
	uint64_t report_every; /* ns, 0: at exit only */
	uint64_t lost_reported, misses_reported;
	struct ep_enrich enrich;
	struct ep_owner_memo owner;
	struct ep_consumer consumers[EP_PIPE_CONSUMERS_MAX];
	int nconsumers;
};


/* The run has started: the hooks are attached (the start line printed). */
void ep_pipe_start(struct ep_pipeline *p, const struct ep_start *s);
/* The start snapshot is in: live runs say so on stderr; the table's header. */
void ep_pipe_ready(struct ep_pipeline *p);

int ep_pipe_init(struct ep_pipeline *p, const struct ep_opts *opts, int64_t mono_to_unix);
void ep_pipe_free(struct ep_pipeline *p);
/* In the order called; 0, or -1 when there are EP_PIPE_CONSUMERS_MAX already. */
int ep_pipe_add_consumer(struct ep_pipeline *p, const struct ep_consumer *c);
void ep_pipe_set_enrich(struct ep_pipeline *p, const struct ep_enrich *e);
/* Live: a record read from the ring buffer; bad: it did not decode. */
void ep_pipe_received(struct ep_pipeline *p, bool bad);
void ep_pipe_set_duration(struct ep_pipeline *p, double seconds);
/* Replay: the totals the live run counted outside the pipeline. */
void ep_pipe_restore_totals(struct ep_pipeline *p, uint64_t received, uint64_t bad_records,
			    double duration_s);

void ep_pipe_event(struct ep_pipeline *p, const struct ep_record *rec);
void ep_pipe_range(struct ep_pipeline *p, uint64_t mono, uint32_t netns, uint16_t lo,
		   uint16_t hi, const uint8_t *reserved);
void ep_pipe_snapshot(struct ep_pipeline *p, uint64_t mono, uint32_t netns,
		      const struct ep_snap_entry *v, size_t n);
void ep_pipe_gone(struct ep_pipeline *p, uint64_t mono, uint32_t netns);
/* Who a cgroup and a namespace are (path NULL, name NULL: nobody knows):
 * learnt live before the first event that needs them, replayed from a
 * recording. */
void ep_pipe_cgroup(struct ep_pipeline *p, uint64_t mono, uint64_t id, const char *path,
		    int flags);
void ep_pipe_netns_name(struct ep_pipeline *p, uint64_t mono, uint32_t netns, const char *name);
/* Live: asks alive() about every holder; replay: the recorded answer. */
void ep_pipe_reconcile_live(struct ep_pipeline *p, uint64_t mono,
			    bool (*alive)(uint64_t cookie, void *ctx), void *ctx);
void ep_pipe_reconcile(struct ep_pipeline *p, uint64_t mono, const uint64_t *dead, size_t n);
void ep_pipe_stats(struct ep_pipeline *p, uint64_t mono, const uint64_t st[EP_STAT_MAX]);
/* Periodic and final reports. */
void ep_pipe_tick(struct ep_pipeline *p, uint64_t mono, bool final);
void ep_pipe_summary(struct ep_pipeline *p);

#endif
