/* Shared by the aggregation files only. */
#ifndef EPTRACE_AGG_INTERNAL_H
#define EPTRACE_AGG_INTERNAL_H

#include "agg.h"

#define EP_PAGE_BITS 8
#define EP_PAGE (1u << EP_PAGE_BITS)
#define EP_NPAGES (65536u / EP_PAGE)
/* Port pages are carved from mappings of this many pages, taken when one
 * of them is first needed: the kernel hands them over zeroed as they are
 * touched, with no clearing pass and no heap growth in the first lap. */
#define EP_CHUNK_PAGES 16u
#define EP_NCHUNKS (EP_NPAGES / EP_CHUNK_PAGES)

/* One local port of one protocol in one namespace: what every record
 * touches. Its snapshot owner, which only snapshots write, is kept apart
 * (struct ep_port_owner). */
struct ep_port {
	uint64_t head;            /* cookie of the newest tracked holder, 0: none */
	uint64_t last_assign_ns;
	uint64_t last_release_ns; /* when the last tracked holder let go */
	uint32_t holders;         /* tracked sockets on the port */
	uint32_t tw;              /* of which in TIME_WAIT */
	uint32_t snap, snap_tw;   /* untracked sockets in the last snapshot */
};

/* The process the last snapshot found on a port, where it found one. */
struct ep_port_owner {
	uint64_t key;             /* pid's key in the names table, 0: none */
	uint32_t pid;
	char comm[EP_COMM_LEN];
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
	uint32_t warn_at, rearm_below; /* in_use counts ep_ns_check_threshold acts at */
	struct ep_port *pages[EP_NPROTO][EP_NPAGES];
	struct ep_port *chunks[EP_NPROTO][EP_NCHUNKS]; /* mappings pages lie in */
	struct ep_port_owner *owners[EP_NPROTO][EP_NPAGES]; /* NULL: no one named */
	struct ep_ns_proto p[EP_NPROTO];
	uint64_t prev_report_ns;
	uint32_t tracked;         /* sockets in agg->by_cookie that live here */
	bool gone;
};

/* Only records of the three protocols get past decoding: the index of
 * ep_proto_index, asked several times a record, in two compares. */
static inline int proto_idx(int proto)
{
	return proto == EP_UDP ? 1 : proto == EP_SCTP ? 2 : 0;
}

/* agg_ns.c; what every record asks is inline below */
struct ep_ns *ep_ns_lookup(struct ep_agg *a, uint32_t netns, bool create);
struct ep_port *ep_ns_port_page(struct ep_ns *ns, int proto, uint16_t port, bool create);
const struct ep_port_owner *ep_ns_snap_owner(const struct ep_ns *ns, int proto, uint16_t port);
void ep_ns_check_threshold(struct ep_agg *a, struct ep_ns *ns, int proto);
bool ep_ns_snapshot_release(struct ep_agg *a, const struct ep_record *r);
void ep_ns_free_all(struct ep_agg *a);
/* One tracked socket fewer; a namespace that is gone goes with its last. */
void ep_ns_untrack(struct ep_agg *a, struct ep_ns *ns);
void ep_ns_diagnose(struct ep_agg *a, struct ep_ns *ns, const struct ep_event *ev,
		    struct ep_port *e);
void ep_ns_exhausted(struct ep_agg *a, struct ep_ns *ns, const struct ep_event *ev);
void ep_ns_range_conflict(struct ep_agg *a, struct ep_ns *ns, const struct ep_event *ev);

static inline struct ep_ns *ep_ns_get(struct ep_agg *a, uint32_t netns, bool create)
{
	struct ep_ns *ns = a->last_ns;

	/* most records in a row belong to one namespace */
	if (ns && ns->netns == netns) {
		if (create)
			ns->gone = false;
		return ns;
	}
	return ep_ns_lookup(a, netns, create);
}

static inline struct ep_port *ep_ns_port(struct ep_ns *ns, int proto, uint16_t port, bool create)
{
	struct ep_port *page = ns->pages[proto_idx(proto)][port >> EP_PAGE_BITS];

	return page ? &page[port & (EP_PAGE - 1)] : ep_ns_port_page(ns, proto, port, create);
}

static inline bool ep_port_reserved(const struct ep_ns *ns, uint16_t port)
{
	return ns->reserved && (ns->reserved[port >> 3] & (1u << (port & 7)));
}

static inline bool ep_port_in_range(const struct ep_ns *ns, uint16_t port)
{
	return ns->range_known && port >= ns->lo && port <= ns->hi;
}

/* Bits of a port's contribution to the occupancy counters. */
#define ST_USED 1
#define ST_TW 2
static inline int ep_port_state(const struct ep_ns *ns, uint16_t port, const struct ep_port *e)
{
	int st = 0;

	if (!ep_port_in_range(ns, port) || ep_port_reserved(ns, port))
		return 0;
	if (e->holders || e->snap)
		st |= ST_USED;
	if (e->tw || e->snap_tw)
		st |= ST_TW;
	return st;
}

static inline void ep_port_changed(struct ep_agg *a, struct ep_ns *ns, int proto, uint16_t port,
				   int before, const struct ep_port *e)
{
	struct ep_ns_proto *p = &ns->p[proto_idx(proto)];
	int after = ep_port_state(ns, port, e);

	if (before == after)
		return;
	p->in_use += ((after & ST_USED) != 0) - ((before & ST_USED) != 0);
	p->tw += ((after & ST_TW) != 0) - ((before & ST_TW) != 0);
	if (p->warned ? p->in_use < ns->rearm_below : p->in_use >= ns->warn_at)
		ep_ns_check_threshold(a, ns, proto);
}

/* agg_series.c */
/* Which plain series the record's values go to (before any series_add). */
void ep_series_row(struct ep_agg *a, const struct ep_record *r);
void ep_series_add(struct ep_agg *a, int metric, const struct ep_event *ev, uint64_t v);

/* A series found before takes the value without a call. */
static inline void series_add(struct ep_agg *a, int metric, const struct ep_event *ev,
			      uint64_t v)
{
	struct ep_hist *h = a->row ? a->row[metric] : NULL;

	if (h)
		ep_hist_add(h, v);
	else
		ep_series_add(a, metric, ev, v);
}
void ep_series_free_all(struct ep_agg *a);

/* Bytes of a histogram series' key (agg_series.c): all of them hashed. */
#define EP_SERIES_KEY_SIZE (8 + EP_BY_KEY_LEN)

#endif
