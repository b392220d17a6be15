/* Recording to SQLite: every input of the pipeline, written by a thread of
 * its own in batched transactions. Schema in README.md ("Recordings"). */
#ifndef EPTRACE_RECORDER_H
#define EPTRACE_RECORDER_H

#include <stdbool.h>
#include "format.h"
#include "pipeline.h"

#define EP_SCHEMA_VERSION 1

struct ep_recorder;

/* Creates FILE (it must not exist) and hooks into the pipeline's journal.
 * NULL after printing why. */
struct ep_recorder *ep_rec_open(const char *path, struct ep_pipeline *pipe);
void ep_rec_start(struct ep_recorder *r, const struct ep_start *s, int64_t mono_to_unix);
/* Hand what the event loop staged to the writer (the loop calls it each turn). */
void ep_rec_flush(struct ep_recorder *r);
/* The writer hit an error (disk full...): it said why; what it committed stays. */
bool ep_rec_failed(struct ep_recorder *r);
/* Drains, writes the summary, closes. 0, or -1 after printing why. */
int ep_rec_close(struct ep_recorder *r, const struct ep_summary *sum);

#endif
