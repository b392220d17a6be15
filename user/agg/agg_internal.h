/* Shared by the aggregation files only. */
#ifndef EPTRACE_AGG_INTERNAL_H
#define EPTRACE_AGG_INTERNAL_H

#include "agg.h"

#define EP_PAGE_BITS 8
#define EP_PAGE (1u << EP_PAGE_BITS)
#define EP_NPAGES (65536u / EP_PAGE)

/* One local port of one protocol in one namespace. */
struct ep_port {
	uint64_t head;            /* cookie of the newest tracked holder, 0: none */
	uint64_t last_assign_ns;
	uint64_t last_release_ns; /* when the last tracked holder let go */
	uint32_t holders;         /* tracked sockets on the port */
	uint32_t tw;              /* of which in TIME_WAIT */
	uint32_t snap, snap_tw;   /* untracked sockets in the last snapshot */
	uint32_t snap_pid;
	char snap_comm[EP_COMM_LEN];
	uint64_t snap_key;        /* snap_pid's key in the names table, 0: none */
};

/* A tracked socket, keyed by cookie; holders of a port form a list. */
struct ep_sock {
	uint64_t prev, next;      /* cookies on the same port, 0: end */
	uint64_t since_ns;
	uint64_t cgroup_id;       /* the owner's key in the names table */
	uint32_t netns;
	uint32_t pid;
	uint16_t port;
	uint8_t proto;
	uint8_t flags;            /* EP_F_FIXED, SOCK_TW */
	char comm[EP_COMM_LEN];
};
#define SOCK_TW 0x80
#define SOCK_SUSPECT 0x40 /* missing from the kernel table at the last check */

struct ep_ns_proto {
	uint32_t in_use, tw;
	uint64_t allocs, fails, prev_allocs, prev_fails;
	uint64_t even, odd, bind_even, bind_odd;
	uint64_t deciles[10];
	uint32_t distinct;
	uint64_t pairs, repeat_delta;
	struct ep_hist *steps;
	bool warned;
	uint64_t last_exhausted_ns, suppressed;
};

struct ep_ns {
	uint32_t netns;
	bool range_known;
	uint16_t lo, hi;
	uint8_t *reserved;        /* 65536-bit map, NULL: none */
	uint32_t reserved_in_range;
	struct ep_port *pages[EP_NPROTO][EP_NPAGES];
	struct ep_ns_proto p[EP_NPROTO];
	uint64_t prev_report_ns;
	uint32_t tracked;         /* sockets in agg->by_cookie that live here */
	bool gone;
};

/* Only records of the three protocols get past decoding. */
static inline int proto_idx(int proto)
{
	int i = ep_proto_index(proto);

	return i < 0 ? 0 : i;
}

/* agg_ns.c */
struct ep_ns *ep_ns_get(struct ep_agg *a, uint32_t netns, bool create);
struct ep_port *ep_ns_port(struct ep_ns *ns, int proto, uint16_t port, bool create);
/* Bits of a port's contribution to the occupancy counters. */
int ep_port_state(const struct ep_ns *ns, uint16_t port, const struct ep_port *e);
bool ep_ns_snapshot_release(struct ep_agg *a, const struct ep_record *r);
void ep_port_changed(struct ep_agg *a, struct ep_ns *ns, int proto, uint16_t port, int before,
		     const struct ep_port *e);
void ep_ns_free_all(struct ep_agg *a);
/* One tracked socket fewer; a namespace that is gone goes with its last. */
void ep_ns_untrack(struct ep_agg *a, struct ep_ns *ns);
void ep_ns_diagnose(struct ep_agg *a, struct ep_ns *ns, const struct ep_event *ev,
		    struct ep_port *e);
void ep_ns_exhausted(struct ep_agg *a, struct ep_ns *ns, const struct ep_event *ev);
void ep_ns_range_conflict(struct ep_agg *a, struct ep_ns *ns, const struct ep_event *ev);

/* agg_series.c */
void ep_series_add(struct ep_agg *a, int metric, const struct ep_event *ev, uint64_t v);
void ep_series_free_all(struct ep_agg *a);

/* Bytes of a histogram series' key (agg_series.c): all of them hashed. */
#define EP_SERIES_KEY_SIZE (8 + EP_BY_KEY_LEN)

#endif
