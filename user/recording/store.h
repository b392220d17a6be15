/* The SQLite side of a recording: schema, batched writes of the pipeline's
 * inputs, and the readable events table filled in behind them. Used by the
 * recorder's writer thread only. */
#ifndef EPTRACE_STORE_H
#define EPTRACE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>
#include "recorder.h"

#define EP_ITEM_EVENT 0
#define EP_ITEM_META -1 /* data: "key\0value" */

struct ep_store_item {
	int type; /* EP_ITEM_EVENT, EP_ITEM_META or enum ep_control */
	uint64_t seq;
	union {
		struct {
			struct ep_record rec;
			struct ep_alloc_info info;
		} ev;
		struct {
			uint64_t mono;
			uint32_t netns;
			void *data;
			size_t len;
		} ctl;
	};
};

struct ep_store {
	sqlite3 *db;
	sqlite3_stmt *ins_chunk, *ins_event, *ins_control, *ins_meta, *next_chunk;
	int64_t mono_to_unix;
	struct ep_chunk_entry *chunk; /* the batch being written */
	struct ep_chunk_entry *mat;   /* the chunk being made readable */
	size_t mat_n, mat_i;
	int64_t mat_after; /* first_seq of the last chunk loaded */
	uint64_t chunked, materialized; /* events */
};

/* Creates the schema in PATH (which exists, empty). 0, or -1 after printing why. */
int ep_store_open(struct ep_store *s, const char *path, int64_t mono_to_unix);
/* One transaction: all N items are committed, or none. */
int ep_store_batch(struct ep_store *s, const struct ep_store_item *items, size_t n);
/* Readable rows behind the chunks: one step of at most a few ms of work. */
bool ep_store_behind(const struct ep_store *s);
int ep_store_materialize(struct ep_store *s);
int ep_store_meta(struct ep_store *s, const char *key, const char *value);
const char *ep_store_error(const struct ep_store *s);
/* Checkpoints into one self-contained file where it can, and closes. */
void ep_store_close(struct ep_store *s, const char *path);

#endif
