/* Layer recording/: recordings on disk, the stored layouts and schema
 * version (layout.h), the SQL schema and writes (store.h), the writer (this
 * header). Replay (report.c) reads through layout.h. May call agg/ and config/.
 *
 * Recording to SQLite: every input of the pipeline, written by a thread of
 * its own in batched transactions. Schema in README.md ("Recordings"). */
#ifndef EPTRACE_RECORDER_H
#define EPTRACE_RECORDER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "agg/agg.h"
#include "agg/summary.h"
#include "layout.h"

struct ep_recorder;

/* Creates FILE (it must not exist). NULL after printing why. */
struct ep_recorder *ep_recorder_open(const char *path, int64_t mono_to_unix);
/* A pipeline consumer's input and control callbacks (ctx: the recorder). */
void ep_recorder_input(void *ctx, const struct ep_record *rec, const struct ep_alloc_info *info);
void ep_recorder_control(void *ctx, int type, uint64_t mono, uint32_t netns,
			 const void *data, size_t len);
void ep_recorder_start(struct ep_recorder *r, const struct ep_start *s, int64_t mono_to_unix);
/* Hand what the event loop staged to the writer (the loop calls it each turn). */
void ep_recorder_flush(struct ep_recorder *r);
/* The writer hit an error (disk full...): it said why; what it committed stays. */
bool ep_recorder_failed(struct ep_recorder *r);
/* Drains, writes the summary, fills the readable events table unless
 * *skip_rows becomes set, closes. 0, or -1 after printing why. */
int ep_recorder_close(struct ep_recorder *r, const struct ep_summary *sum,
		      const volatile sig_atomic_t *skip_rows);

#endif
