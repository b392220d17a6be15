/* Every layout a recording stores, and the schema version that names them.
 * Change any of them (the kernel's struct ep_record included: chunks store it
 * as it is) and old files no longer read: bump EP_SCHEMA_VERSION. The size
 * checks below stop the build when a stored struct changes unnoticed. The
 * SQL schema itself is in store.c; README.md ("Recordings") describes it. */
#ifndef EPTRACE_LAYOUT_H
#define EPTRACE_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include "record.h"
#include "agg/sizes.h"

#define EP_SCHEMA_VERSION 4
/* Still read: version 3's snapshot entries have no owner key (the first
 * EP_SNAP_ENTRY_V3 bytes of today's); version 2 has no cgroup and
 * netns_name controls either. */
#define EP_SCHEMA_OLDEST 2
#define EP_SNAP_ENTRY_V3 32
#define EP_CHUNK_MAX 8192 /* entries in one event_chunks row */

/* The pipeline's inputs other than events, stored by name in controls rows. */
enum ep_control {
	EP_CTL_RANGE = 1,  /* data: struct ep_range_data */
	EP_CTL_SNAPSHOT,   /* data: struct ep_snap_entry[] */
	EP_CTL_GONE,       /* no data */
	EP_CTL_RECONCILE,  /* data: uint64_t cookies the kernel no longer tracks */
	EP_CTL_STATS,      /* data: uint64_t[EP_STAT_MAX] kernel counters */
	EP_CTL_TICK,       /* data: uint8_t final */
	EP_CTL_CGROUP,     /* data: uint64_t owner key (ep_names_key), uint8_t flags
			    * (EP_NAMES_PER_PROCESS), then the path (no NUL; none: unknown) */
	EP_CTL_NETNS_NAME, /* data: the namespace's name (no NUL; none: it has none) */
	EP_CTL_LAST = EP_CTL_NETNS_NAME,
};

#define EP_CGROUP_CTL_HEAD 9 /* the key and the flags before a cgroup's path */

const char *ep_control_name(int type);
int ep_control_type(const char *name); /* -1: unknown */

struct ep_range_data {
	uint16_t lo, hi;
	uint8_t has_reserved;
	uint8_t pad[3];
	uint8_t reserved[EP_PORT_BITMAP_BYTES]; /* present only if has_reserved */
};

/* One socket of a snapshot: the pipeline's input, stored as arrays of it. */
struct ep_snap_entry {
	uint64_t cookie;
	uint32_t pid;   /* owner, 0: not found */
	uint16_t port;
	uint8_t proto;
	uint8_t timewait;
	char comm[EP_COMM_LEN];
	uint64_t owner_key; /* the owner's key in the names table, 0: none */
};

/* One event in an event_chunks blob, host byte order: what replay needs (the
 * kernel record) and what the readable row shows that replay recomputes. */
struct ep_chunk_entry {
	uint64_t seq;
	uint64_t reuse_ns, reassign_ns, tuple_reuse_ns; /* EP_NONE: none */
	uint8_t timewait_reuse;
	uint8_t pad[7];
	struct ep_record rec;
};

_Static_assert(sizeof(struct ep_record) == 128, "stored in chunks: bump EP_SCHEMA_VERSION");
_Static_assert(sizeof(struct ep_chunk_entry) == 168, "chunk entry layout");
_Static_assert(sizeof(struct ep_snap_entry) == 40, "stored in snapshots: bump EP_SCHEMA_VERSION");
_Static_assert(offsetof(struct ep_snap_entry, owner_key) == EP_SNAP_ENTRY_V3, "version 3 entries");
_Static_assert(sizeof(struct ep_range_data) == 8 + EP_PORT_BITMAP_BYTES, "range layout");
_Static_assert(EP_STAT_MAX == 5, "stats rows store EP_STAT_MAX counters: bump EP_SCHEMA_VERSION");

#endif
