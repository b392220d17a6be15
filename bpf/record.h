/* SPDX-License-Identifier: GPL-2.0 */
/* The kernel-user ABI: one fixed-layout record per ring-buffer entry.
 * Fixed-width fields only, no pointers, explicit padding. */
#ifndef EPTRACE_RECORD_H
#define EPTRACE_RECORD_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define EP_COMM_LEN 16
#define EP_LATENCY_NONE 0xffffffffffffffffULL

enum ep_kind {
	EP_ALLOC = 1,
	EP_RELEASE = 2,
	EP_FAIL = 3,
	/* Internal: a TIME_WAIT timer was cancelled; userspace confirms the end. */
	EP_TW_CANCEL = 4,
	/* The port passed to a TIME_WAIT socket: still held, now in TIME_WAIT. */
	EP_TW_START = 5,
};

enum ep_via {
	EP_VIA_NONE = 0,
	EP_VIA_CONNECT = 1,
	EP_VIA_BIND = 2,
	EP_VIA_LISTEN = 3,
	EP_VIA_SENDMSG = 4,
};

enum ep_proto {
	EP_TCP = 6,
	EP_UDP = 17,
	EP_SCTP = 132,
};

/* Why a release happened (EP_RELEASE only). */
enum ep_release_reason {
	EP_REL_CLOSE = 0,     /* left the table at the transition to CLOSE */
	EP_REL_DESTROY = 1,   /* TCP socket destroyed while bound, never used */
	EP_REL_UDP_CLOSE = 2, /* UDP socket released */
	EP_REL_DISCONNECT = 3,/* UDP connect(AF_UNSPEC) */
	EP_REL_TW_EXPIRED = 4,/* TIME_WAIT timer ran out */
	EP_REL_TW_KILLED = 5, /* TIME_WAIT ended early: reused, reset, killed */
};

#define EP_F_TIMEWAIT   0x01 /* release: the port ended its life in TIME_WAIT */
#define EP_F_RADDR      0x02 /* raddr/rport are meaningful */
#define EP_F_FIXED      0x04 /* alloc/release of a port the caller chose in bind() */
#define EP_F_UNTRACKED  0x08 /* alloc: the socket table was full, no release will follow */
#define EP_F_PRESTART   0x10 /* release: the socket was there before the trace (assign_ns 0) */
#define EP_F_STALE      0x20 /* release, in recordings before the table of slots: its entry
			      * could not be removed then (no longer set) */

/* Counters kept in the kernel: a row of them per CPU in the stats map. */
enum ep_stat {
	EP_STAT_LOST = 0,        /* ring buffer full: record dropped */
	EP_STAT_SOCKS_FULL,      /* socket table full: socket not tracked */
	EP_STAT_INFLIGHT_FULL,   /* per-thread table full: bracket lost */
	EP_STAT_EVENTS,          /* records submitted: not counted by the programs; userspace
				  * reads it off the ring (ep_records_submitted) */
	EP_STAT_HOOK_MISSES,     /* runs the kernel skipped (a hook nested in itself on a CPU);
				  * filled in by userspace from the programs' recursion_misses */
	EP_STAT_MAX,
};

struct ep_record {
	__u64 ts_ns;        /* CLOCK_MONOTONIC of the event */
	__u64 latency_ns;   /* alloc: selection latency, EP_LATENCY_NONE if none */
	__u64 assign_ns;    /* release: CLOCK_MONOTONIC of the assignment */
	__u64 tw_start_ns;  /* release with EP_F_TIMEWAIT: entry into TIME_WAIT */
	__u64 cookie;       /* socket cookie */
	__u64 cgroup_id;
	__u32 netns;        /* network namespace inode */
	__u32 pid;          /* owner tgid */
	__u32 tid;          /* owner thread */
	__s32 err;          /* fail: positive errno */
	__u8 laddr[16];     /* IPv4 in the first 4 bytes */
	__u8 raddr[16];
	__u16 lport;        /* host order */
	__u16 rport;        /* host order */
	__u8 kind;          /* enum ep_kind */
	__u8 proto;         /* enum ep_proto */
	__u8 family;        /* 4 or 6 */
	__u8 via;           /* enum ep_via */
	__u8 flags;         /* EP_F_* */
	__u8 reason;        /* enum ep_release_reason */
	__u8 pad[6];
	char comm[EP_COMM_LEN];
};

/* Value of the socket table (kernel map, read by userspace to confirm the
 * end of a TIME_WAIT). */
enum sock_phase {
	PH_PENDING_CONNECT = 1, /* TCP connect: port search under way */
	PH_PENDING_LISTEN = 2,  /* listen() on an unbound socket */
	PH_ASSIGNED = 3,        /* port held by this socket */
	PH_TIMEWAIT = 4,        /* port handed to a TIME_WAIT socket */
	/* 5: no longer used */
	PH_UNBOUND = 6,         /* UDP socket made while traced, no port yet (tracepoint backend) */
};

#define EP_SOCKS_BITS 18
#define EP_SOCKS_MAX (1u << EP_SOCKS_BITS) /* slots of the kernel table */
/* cgroups whose events --unit/--container rejected, the most recently
 * used kept. */
#define EP_EXCLUDED_CGROUPS_MAX 16384
/* A cookie's entry is in one of two windows of EP_SOCK_WINDOW slots, each
 * from a hash of the cookie on (ep_sock_slot(cookie, 0..EP_SOCK_PROBES-1));
 * with none of them free, it is not tracked. */
#define EP_SOCK_WINDOW 8
#define EP_SOCK_PROBES (2 * EP_SOCK_WINDOW)
#define EP_SOCK_BUSY (1ULL << 63) /* slot claimed, entry being written */
#define EP_SOCK_FAR (1ULL << 62)  /* the entry is in its second window */

/* Cookies are handed out in sequence (in batches per CPU): a block of
 * long-lived sockets would hold a block of slots that later cookies come
 * round to. A multiplicative hash spreads them over the table; its top bits
 * place the first window, the next ones the second. */
static inline __u32 ep_sock_window(__u64 cookie, __u32 w)
{
	__u64 h = cookie * 0x9E3779B97F4A7C15ULL;

	return (__u32)(h >> (64 - (w + 1) * EP_SOCKS_BITS)) & (EP_SOCKS_MAX - 1);
}

static inline __u32 ep_sock_slot(__u64 cookie, __u32 i)
{
	return (ep_sock_window(cookie, i / EP_SOCK_WINDOW) + i % EP_SOCK_WINDOW) &
	       (EP_SOCKS_MAX - 1);
}

/* One per tracked socket, keyed by socket cookie (cookies are never reused,
 * unlike kernel addresses; TIME_WAIT sockets inherit the cookie). */
struct sock_state {
	struct ep_record rec; /* identity template for the release */
	__u64 sk;             /* kernel address, valid while pending */
	__u64 start_ns;       /* selection bracket start */
	__u64 cancel_ns;      /* TIME_WAIT timer cancelled at */
	__u32 phase;
	__u32 pad;
};

/* The kernel table is an array of these (no lock, nothing allocated per
 * socket). key: the cookie of the entry (with EP_SOCK_FAR in its second
 * window), 0 when free, with EP_SOCK_BUSY while it is written; taken and
 * given back with compare-and-swap only. */
struct sock_slot {
	struct sock_state st;
	__u64 key;
};

/* Changes userspace asks of the table, run in the kernel (the syscall
 * program sock_table_op) so that they are atomic against the programs'. */
enum sock_op_kind {
	SOCK_OP_ADD = 1,     /* st added unless the cookie has an entry: ret 1 added, 0 had one, -1 full */
	SOCK_OP_TW_TAKE = 2, /* removed if in TIME_WAIT since cancel_ns: ret 1 and st */
	SOCK_OP_DROP = 3,    /* removed if its phase and assign_ns are st's: ret 1 */
};

struct sock_op {
	__u64 cookie;
	__u64 cancel_ns;
	__u32 op;
	__s32 ret;
	struct sock_state st;
};

/* A port search under way on one thread (the trampoline backend keeps it in
 * the task's storage). EP_INFLIGHT_MAX: the tracepoint backend's slots for
 * brackets, one per thread id modulo it. */
#define EP_INFLIGHT_MAX 16384
struct inflight {
	__u64 sk;        /* kernel address (0 until known) */
	__u64 start_ns;  /* bracket start */
	__u64 cookie;
	__u8 addr[16];   /* bind: requested address */
	__u16 port_req;  /* bind: requested port, host order */
	__u8 via;
	__u8 was_bound;  /* connect: socket had a port at entry */
	__u8 family;     /* 4 or 6 */
	__u8 proto;
	__u8 pad[2];
};


/* These layouts are stored in recordings and shared with userspace through
 * the maps: a change here must be deliberate (and versioned), not a side
 * effect of editing a field. */
#define EP_ABI_AT(type, field, off) \
	_Static_assert(__builtin_offsetof(struct type, field) == (off), \
		       "struct " #type ": " #field " moved")
_Static_assert(sizeof(struct ep_record) == 128, "struct ep_record: size changed");
EP_ABI_AT(ep_record, ts_ns, 0);
EP_ABI_AT(ep_record, latency_ns, 8);
EP_ABI_AT(ep_record, assign_ns, 16);
EP_ABI_AT(ep_record, tw_start_ns, 24);
EP_ABI_AT(ep_record, cookie, 32);
EP_ABI_AT(ep_record, cgroup_id, 40);
EP_ABI_AT(ep_record, netns, 48);
EP_ABI_AT(ep_record, pid, 52);
EP_ABI_AT(ep_record, tid, 56);
EP_ABI_AT(ep_record, err, 60);
EP_ABI_AT(ep_record, laddr, 64);
EP_ABI_AT(ep_record, raddr, 80);
EP_ABI_AT(ep_record, lport, 96);
EP_ABI_AT(ep_record, rport, 98);
EP_ABI_AT(ep_record, kind, 100);
EP_ABI_AT(ep_record, proto, 101);
EP_ABI_AT(ep_record, family, 102);
EP_ABI_AT(ep_record, via, 103);
EP_ABI_AT(ep_record, flags, 104);
EP_ABI_AT(ep_record, reason, 105);
EP_ABI_AT(ep_record, comm, 112);
_Static_assert(sizeof(struct sock_state) == 160, "struct sock_state: size changed");
EP_ABI_AT(sock_state, rec, 0);
EP_ABI_AT(sock_state, sk, 128);
EP_ABI_AT(sock_state, start_ns, 136);
EP_ABI_AT(sock_state, cancel_ns, 144);
EP_ABI_AT(sock_state, phase, 152);
_Static_assert(sizeof(struct sock_slot) == 168, "struct sock_slot: size changed");
EP_ABI_AT(sock_slot, key, 160);
_Static_assert(sizeof(struct inflight) == 48, "struct inflight: size changed");
EP_ABI_AT(inflight, sk, 0);
EP_ABI_AT(inflight, start_ns, 8);
EP_ABI_AT(inflight, cookie, 16);
EP_ABI_AT(inflight, addr, 24);
EP_ABI_AT(inflight, port_req, 40);
EP_ABI_AT(inflight, via, 42);
EP_ABI_AT(inflight, was_bound, 43);
EP_ABI_AT(inflight, family, 44);
EP_ABI_AT(inflight, proto, 45);
#undef EP_ABI_AT

#endif
