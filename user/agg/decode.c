#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "decode.h"

int64_t ep_clock_offset(void)
{
	struct timespec mono, real, mono2;

	/* Bracket the realtime read to halve the error. */
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_MONOTONIC, &mono2);
	int64_t m = ((int64_t)mono.tv_sec * 1000000000LL + mono.tv_nsec +
		     (int64_t)mono2.tv_sec * 1000000000LL + mono2.tv_nsec) / 2;
	return (int64_t)real.tv_sec * 1000000000LL + real.tv_nsec - m;
}

/* Dotted quad without stdio: inet_ntop formats IPv4 through sprintf. */
static void format_ipv4(const uint8_t a[4], char *buf)
{
	char *p = buf;

	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];

		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : 0;
	}
}

void ep_format_addr(int family, const uint8_t addr[16], char *buf, size_t len)
{
	if (family == 4) {
		if (len >= INET_ADDRSTRLEN)
			format_ipv4(addr, buf);
		else if (!inet_ntop(AF_INET, addr, buf, len))
			snprintf(buf, len, "?");
	} else if (!inet_ntop(AF_INET6, addr, buf, len)) {
		snprintf(buf, len, "?");
	}
}

uint64_t ep_mono_to_unix(uint64_t mono, int64_t offset)
{
	return mono + (uint64_t)offset; /* unsigned: wraps instead of overflowing */
}

void ep_event_addrs(const struct ep_event *ev, struct ep_addrs *out)
{
	ep_format_addr(ev->rec->family, ev->rec->laddr, out->laddr, sizeof(out->laddr));
	out->raddr[0] = 0;
	if (ev->has_remote)
		ep_format_addr(ev->rec->family, ev->rec->raddr, out->raddr, sizeof(out->raddr));
}

int ep_decode(const struct ep_record *rec, int64_t mono_to_unix, struct ep_event *ev)
{
	/* Whole-struct assignments, no memset call per record; a record
	 * refused leaves the event zeroed. */
	*ev = (struct ep_event){ 0 };
	if (rec->kind < EP_ALLOC || rec->kind > EP_TW_START || rec->kind == EP_TW_CANCEL)
		return -1;
	if (rec->family != 4 && rec->family != 6)
		return -1;
	if (ep_proto_index(rec->proto) < 0)
		return -1;
	*ev = (struct ep_event){
		.rec = rec,
		.ts_unix_ns = ep_mono_to_unix(rec->ts_ns, mono_to_unix),
		.has_latency = rec->kind == EP_ALLOC && rec->latency_ns != EP_LATENCY_NONE,
		.has_remote = (rec->flags & EP_F_RADDR) != 0,
	};
	if (rec->kind == EP_RELEASE) {
		ev->has_held = rec->assign_ns && rec->ts_ns >= rec->assign_ns;
		if (ev->has_held)
			ev->held_ns = rec->ts_ns - rec->assign_ns;
		if ((rec->flags & EP_F_TIMEWAIT) && rec->tw_start_ns && rec->ts_ns >= rec->tw_start_ns)
			ev->timewait_ns = rec->ts_ns - rec->tw_start_ns;
	}
	return 0;
}

const char *ep_kind_name(int kind)
{
	switch (kind) {
	case EP_ALLOC: return "alloc";
	case EP_RELEASE: return "release";
	case EP_FAIL: return "fail";
	case EP_TW_START: return "timewait";
	default: return "unknown";
	}
}

const char *ep_via_name(int via)
{
	switch (via) {
	case EP_VIA_CONNECT: return "connect";
	case EP_VIA_BIND: return "bind";
	case EP_VIA_LISTEN: return "listen";
	case EP_VIA_SENDMSG: return "sendmsg";
	default: return "none";
	}
}

const char *ep_proto_name(int proto)
{
	return proto == EP_TCP ? "tcp" : proto == EP_UDP ? "udp" : proto == EP_SCTP ? "sctp" : "unknown";
}

const char *ep_errno_name(int err)
{
	switch (err) {
	case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
	case EADDRINUSE: return "EADDRINUSE";
	case EAGAIN: return "EAGAIN";
	default: return "EUNKNOWN";
	}
}

const char *ep_reason_name(int reason)
{
	switch (reason) {
	case EP_REL_CLOSE: return "close";
	case EP_REL_DESTROY: return "destroy";
	case EP_REL_UDP_CLOSE: return "close";
	case EP_REL_DISCONNECT: return "disconnect";
	case EP_REL_TW_EXPIRED: return "timewait_expired";
	case EP_REL_TW_KILLED: return "timewait_killed";
	default: return "unknown";
	}
}

int ep_proto_of_index(int i)
{
	static const int protos[EP_NPROTO] = { EP_TCP, EP_UDP, EP_SCTP };

	return protos[i];
}
