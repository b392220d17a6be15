/* Recording to SQLite: every input of the pipeline, written by a thread of
 * its own in batched transactions. Schema in README.md ("Recordings"). */
#ifndef EPTRACE_RECORDER_H
#define EPTRACE_RECORDER_H

#include <signal.h>
#include <stdbool.h>
#include "format.h"
#include "pipeline.h"

#define EP_SCHEMA_VERSION 2
#define EP_CHUNK_MAX 8192 /* entries in one event_chunks row */

/* One event in an event_chunks blob, host byte order: what replay needs (the
 * kernel record) and what the readable row shows that replay recomputes. */
struct ep_rec_entry {
	uint64_t seq;
	uint64_t reuse_ns, reassign_ns, tuple_reuse_ns; /* EP_NONE: none */
	uint8_t timewait_reuse;
	uint8_t pad[7];
	struct ep_record rec;
};
_Static_assert(sizeof(struct ep_rec_entry) == 168, "chunk entry layout");

struct ep_recorder;

/* Creates FILE (it must not exist) and hooks into the pipeline's journal.
 * NULL after printing why. */
struct ep_recorder *ep_rec_open(const char *path, struct ep_pipeline *pipe);
void ep_rec_start(struct ep_recorder *r, const struct ep_start *s, int64_t mono_to_unix);
/* Hand what the event loop staged to the writer (the loop calls it each turn). */
void ep_rec_flush(struct ep_recorder *r);
/* The writer hit an error (disk full...): it said why; what it committed stays. */
bool ep_rec_failed(struct ep_recorder *r);
/* Drains, writes the summary, fills the readable events table unless
 * *skip_rows becomes set, closes. 0, or -1 after printing why. */
int ep_rec_close(struct ep_recorder *r, const struct ep_summary *sum,
		 const volatile sig_atomic_t *skip_rows);

#endif
