/* What a run says about itself: when and by whom it started, and its totals
 * (printed at the end, stored in recordings, exposed as metrics). */
#ifndef EPTRACE_SUMMARY_H
#define EPTRACE_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>

struct ep_start {
	uint64_t ts_ns; /* Unix time */
	uint32_t pid;
	bool timewait_tracking;
	char backend[16]; /* the set of BPF programs: "trampoline" or "tracepoint" */
};

struct ep_summary {
	uint64_t events;  /* user-visible events decoded */
	uint64_t allocs;
	uint64_t releases;
	uint64_t fails;
	uint64_t lost;    /* ring buffer full */
	uint64_t socks_full;
	uint64_t inflight_full;
	uint64_t hook_misses; /* hook runs the kernel skipped: their events are missing */
	uint64_t bad_records;
	uint64_t submitted; /* records the kernel put in the ring buffer */
	uint64_t received;  /* records read from it */
	uint64_t agg_dropped;        /* aggregate state not kept: a table was full */
	uint64_t untracked_releases; /* releases of sockets never seen assigned */
	uint64_t reconciled;         /* holders whose release was lost, dropped */
	double duration_s;
};

#endif
