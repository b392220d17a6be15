/* Layer agg/, the pure model: decoding kernel records, the aggregate (this
 * header), its hash table and histograms, the TIME_WAIT resolver, a run's
 * totals. No I/O and no BPF (the one clock read is ep_clock_offset(), once
 * at the start); may include bpf/record.h only. Every layer may call it.
 *
 * Aggregation of decoded events: histograms, reuse intervals, port holders,
 * collisions and range pressure per network namespace. Knows nothing of BPF:
 * live, recorded and exported views all feed it the same events. Time is the
 * events' own CLOCK_MONOTONIC, so a replay aggregates as the live run did. */
#ifndef EPTRACE_AGG_H
#define EPTRACE_AGG_H

#include <stdbool.h>
#include <stdint.h>
#include "decode.h"
#include "hash.h"
#include "hist.h"
#include "identity.h"

#define EP_NONE UINT64_MAX /* an interval that was not seen */

enum ep_metric {
	EP_M_LATENCY = 0, /* selection latency */
	EP_M_REUSE,       /* port release -> next assignment */
	EP_M_REASSIGN,    /* port assignment -> next assignment */
	EP_M_TUPLE_REUSE, /* end of a TCP 4-tuple's connection -> its next use */
	EP_M_HOLD,        /* assignment -> release */
	EP_M_MAX,
};

enum ep_by { EP_BY_NONE = 0, EP_BY_COMM, EP_BY_NETNS, EP_BY_CGROUP, EP_BY_UNIT, EP_BY_CONTAINER };

/* A by-key as text: room for a unit name; longer ones are cut. */
#define EP_BY_KEY_LEN 64

/* What --by unit|container (EP_BY_UNIT, EP_BY_CONTAINER) files an owner
 * under: its unit, or its container ("runtime:id12", "pod:UID"); none when
 * its cgroup names neither. Zero padded. */
void ep_owner_key(int by, const struct ep_identity *id, const char *none,
		  char out[EP_BY_KEY_LEN]);

/* What an assignment taught us, attached to the alloc event for output. */
struct ep_alloc_info {
	uint64_t reuse_ns;       /* EP_NONE if the port was not seen free before */
	uint64_t reassign_ns;
	uint64_t tuple_reuse_ns; /* TCP with a remote only */
	bool timewait_reuse;     /* the 4-tuple was still held in TIME_WAIT */
};

struct ep_holder {
	uint32_t pid;
	char comm[EP_COMM_LEN];
	const struct ep_identity *ident; /* its cgroup's, NULL: unknown */
	char group[EP_BY_KEY_LEN]; /* top holders with --by unit|container: pid 0, this */
	uint64_t since_ns; /* CLOCK_MONOTONIC; 0 if it predates the trace */
	uint32_t ports;    /* top-holder lists: ports held */
	bool fixed;        /* the holder chose the port in bind() */
	bool untracked;    /* seen in a socket snapshot, not assigned while traced */
};

#define EP_TOP_HOLDERS 5

enum ep_collision_type {
	EP_COLL_BIND_IN_USE = 1, /* EADDRINUSE on a port someone holds */
	EP_COLL_EXHAUSTED,       /* no free port: EADDRNOTAVAIL, EADDRINUSE(0), EAGAIN */
	EP_COLL_RANGE_CONFLICT,  /* fixed bind inside the range, or on a reserved port */
};

struct ep_proto_occ {
	uint32_t in_use;   /* distinct ports in the range, outside the reserved ones */
	uint32_t timewait; /* of which held by TIME_WAIT sockets only or partly */
	uint32_t capacity; /* range size minus reserved ports in it */
	double fraction;
	uint64_t allocs, fails;     /* totals */
	double alloc_rate, fail_rate; /* per second since the previous report */
	/* selection diagnostics */
	uint64_t even, odd;           /* connect */
	uint64_t bind_even, bind_odd; /* bind, listen, UDP autobind */
	uint64_t deciles[10];         /* assignments by position in the range */
	uint32_t distinct;            /* distinct ports assigned while traced */
	uint64_t pairs;               /* consecutive assignments to one destination */
	uint64_t repeat_delta;        /* of which with the same step as before */
	uint64_t median_step;         /* median |port step| between such pairs */
	struct ep_holder top[EP_TOP_HOLDERS]; /* who holds most ports of the range */
	int ntop;
};

struct ep_occupancy {
	uint32_t netns;
	const char *netns_name; /* NULL: unknown */
	bool gone;        /* the namespace no longer exists */
	bool range_known;
	uint16_t lo, hi;
	uint32_t reserved_in_range;
	struct ep_proto_occ tcp, udp, sctp;
};

/* By index (ep_proto_index). */
static inline struct ep_proto_occ *ep_occ_proto(struct ep_occupancy *o, int i)
{
	return i == 0 ? &o->tcp : i == 1 ? &o->udp : &o->sctp;
}

static inline const struct ep_proto_occ *ep_occ_proto_c(const struct ep_occupancy *o, int proto)
{
	return ep_occ_proto((struct ep_occupancy *)o, ep_proto_index(proto) < 0 ? 0
							     : ep_proto_index(proto));
}

struct ep_collision {
	int type;
	uint64_t ts_ns;
	const struct ep_event *ev; /* the failing or conflicting event */
	/* BIND_IN_USE: the holder; RANGE_CONFLICT: ev is the bind */
	bool holder_known;
	struct ep_holder holder;
	bool holder_ephemeral;
	uint16_t lo, hi;           /* RANGE_CONFLICT, EXHAUSTED: the range */
	bool reserved;             /* RANGE_CONFLICT: the port is reserved */
	const struct ep_occupancy *occ; /* EXHAUSTED */
	uint64_t suppressed;       /* EXHAUSTED: failures since the last report */
};

struct ep_warning {
	uint32_t netns;
	const char *netns_name; /* NULL: unknown */
	int proto;
	double fraction, threshold;
	uint32_t in_use, capacity;
	uint64_t ts_ns;
};

struct ep_sink {
	void (*collision)(void *ctx, const struct ep_collision *c);
	void (*warning)(void *ctx, const struct ep_warning *w);
	void *ctx;
};

struct ep_agg_opts {
	enum ep_by by;
	int top_n;        /* keys shown per dimension before "other" */
	double threshold; /* warning fraction, 0..1 */
	uint32_t max_sockets, max_tuples, max_netns;
};

/* A histogram series: one (metric, proto, family, via, by-key). */
struct ep_series {
	uint8_t metric, proto, family, via;
	char key[EP_BY_KEY_LEN]; /* by-key as text; "other" for the rest */
	struct ep_hist *h;
	uint64_t weight; /* events of this by-key, for top-N */
};

struct ep_ns;

struct ep_agg {
	struct ep_agg_opts o;
	struct ep_sink sink;
	struct ep_hash by_cookie; /* tracked holders (struct ep_sock) by socket cookie */
	struct ep_hash tuples;  /* TCP 4-tuple -> last connection */
	struct ep_hash dests;   /* destination -> last port, for predictability */
	struct ep_hash series;  /* series key -> index */
	struct ep_hash bykeys;  /* by-key -> events, bounded by 4 * top_n */
	struct ep_series *sv;
	size_t nseries, capseries;
	/* Without --by, a series found once by (proto, family, via, metric):
	 * no hashing per record. Series live until the aggregate is freed. */
	struct ep_hist *plain[EP_NPROTO][2][EP_VIA_SENDMSG + 1][EP_M_MAX];
	struct ep_hist **row;   /* the event in hand's plain series, NULL: none */
	struct ep_ns **ns;
	size_t nns;
	struct ep_hash nsidx;   /* netns -> index in ns */
	struct ep_ns *last_ns;  /* the one ep_ns_get found last */
	uint64_t now;          /* latest event time */
	uint64_t dropped;      /* state not kept because a table was full */
	uint64_t untracked_releases; /* releases of sockets never seen assigned */
	uint64_t reconciled;   /* holders dropped: the kernel no longer tracks them */
	struct ep_names names; /* who the owners and namespaces are, in words */
	size_t tuples_ended;   /* tuple entries without a live connection */
};

int ep_agg_init(struct ep_agg *a, const struct ep_agg_opts *o, const struct ep_sink *sink);
void ep_agg_free(struct ep_agg *a);

/* Feed one decoded event (kinds alloc, release, fail, timewait; fixed binds
 * included). info, for an ephemeral alloc, receives what it taught us. */
void ep_agg_event(struct ep_agg *a, const struct ep_event *ev, struct ep_alloc_info *info);

/* Move the aggregate's clock forward without an event (reports, startup). */
void ep_agg_advance(struct ep_agg *a, uint64_t now);

/* Namespace settings: ip_local_port_range and ip_local_reserved_ports
 * (bitmap of 65536 bits, NULL for none). */
void ep_agg_set_range(struct ep_agg *a, uint32_t netns, uint16_t lo, uint16_t hi,
		      const uint8_t *reserved);
bool ep_agg_has_range(const struct ep_agg *a, uint32_t netns);

/* A snapshot of the sockets in a namespace. Sockets the trace already holds
 * are recognised by cookie; the others count as untracked holders until the
 * next snapshot of that namespace replaces them. */
void ep_agg_snapshot_begin(struct ep_agg *a, uint32_t netns);
void ep_agg_snapshot_add(struct ep_agg *a, uint32_t netns, int proto, uint16_t port,
			 bool timewait, uint64_t cookie, uint32_t pid, const char *comm,
			 uint64_t owner_key);
void ep_agg_snapshot_end(struct ep_agg *a, uint32_t netns);

/* The namespace no longer exists: forgotten once it holds no traced socket
 * (its TIME_WAIT sockets end with it). */
void ep_agg_netns_gone(struct ep_agg *a, uint32_t netns);

/* Drop holders whose kernel-side state is gone without a release record
 * (lost in a full ring buffer); alive says whether the kernel still has it. */
void ep_agg_reconcile(struct ep_agg *a, bool (*alive)(uint64_t cookie, void *ctx), void *ctx);

/* Whether someone the trace knows holds (netns, proto, port). */
bool ep_agg_holder(struct ep_agg *a, uint32_t netns, int proto, uint16_t port,
		   struct ep_holder *out);

/* Occupancy of each namespace; rates are since the previous call for it.
 * false (and only netns, gone filled) for a namespace that is gone. */
size_t ep_agg_netns_count(const struct ep_agg *a);
bool ep_agg_occupancy(struct ep_agg *a, size_t i, struct ep_occupancy *out);
/* The same without top holders, rates left alone (metrics). */
bool ep_agg_occupancy_peek(struct ep_agg *a, size_t i, struct ep_occupancy *out);

/* Histogram series for output, top-N applied: the caller frees *out
 * (the histograms inside included). */
size_t ep_agg_series(struct ep_agg *a, struct ep_series **out);
void ep_agg_series_free(struct ep_series *s, size_t n);

const char *ep_metric_name(int metric);

#endif
