/* Kernel record -> event with Unix time and printable fields. */
#ifndef EPTRACE_DECODE_H
#define EPTRACE_DECODE_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "record.h"

#define EP_ADDR_STRLEN 48

struct ep_event {
	const struct ep_record *rec;
	uint64_t ts_unix_ns;
	bool has_latency;
	bool has_remote;
	uint64_t held_ns;     /* release only */
	bool has_held;        /* false: the socket was there before the trace */
	uint64_t timewait_ns; /* release with EP_F_TIMEWAIT only */
	/* Who the owner and the namespace are (agg/identity.h), NULL: unknown;
	 * set by the pipeline from its names table. */
	const struct ep_identity *ident;
	const char *netns_name;
	uint64_t owner_key; /* the owner's key in the names table (ep_names_key) */
	/* The same for every event whose ident and netns_name are the same
	 * strings as the last one's, so that outputs may reuse what they made
	 * of them; 0: no such promise. */
	uint64_t owner_seq;
};

/* CLOCK_MONOTONIC -> Unix time offset, taken once at startup. */
int64_t ep_clock_offset(void);

uint64_t ep_mono_to_unix(uint64_t mono, int64_t offset);

/* Addresses as text, formatted only by the outputs that print them (the
 * aggregate does not need them); raddr is "" without a remote. */
struct ep_addrs {
	char laddr[EP_ADDR_STRLEN];
	char raddr[EP_ADDR_STRLEN];
};
void ep_event_addrs(const struct ep_event *ev, struct ep_addrs *out);

/* Returns 0, or -1 for a record that is not a valid user-visible event. */
int ep_decode(const struct ep_record *rec, int64_t mono_to_unix, struct ep_event *ev);

void ep_format_addr(int family, const uint8_t addr[16], char *buf, size_t len);
const char *ep_kind_name(int kind);
/* The protocols with ephemeral ports, as dense indexes 0..EP_NPROTO-1 (tcp,
 * udp, sctp), for tables kept per protocol; -1 for any other. */
#define EP_NPROTO 3
/* Inline: every record asks it several times. */
static inline int ep_proto_index(int proto)
{
	return proto == EP_TCP ? 0 : proto == EP_UDP ? 1 : proto == EP_SCTP ? 2 : -1;
}
int ep_proto_of_index(int i);
const char *ep_via_name(int via);
const char *ep_proto_name(int proto);
const char *ep_errno_name(int err);
const char *ep_reason_name(int reason);

#endif
