/* Output of decoded events: the live table and JSON lines. */
#ifndef EPTRACE_FORMAT_H
#define EPTRACE_FORMAT_H

#include <stdio.h>
#include "agg.h"
#include "decode.h"

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

/* comm escaping: JSON string body (no quotes) and table text. */
void ep_json_escape(FILE *f, const char *s, size_t maxlen);
void ep_table_escape(char *dst, size_t dstlen, const char *s, size_t maxlen);

void ep_table_header(FILE *f);
/* info: what the aggregation learnt from an alloc, or NULL. */
void ep_table_event(FILE *f, const struct ep_event *ev, const struct ep_alloc_info *info);
void ep_json_event(FILE *f, const struct ep_event *ev, const struct ep_alloc_info *info);
void ep_json_summary(FILE *f, const struct ep_summary *s);
void ep_table_summary(FILE *f, const struct ep_summary *s);

#endif
