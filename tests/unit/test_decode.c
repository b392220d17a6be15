#include <arpa/inet.h>
#include "check.h"
#include "agg/decode.h"

static struct ep_record base(void)
{
	struct ep_record r = { 0 };

	r.kind = EP_ALLOC;
	r.proto = EP_TCP;
	r.family = 4;
	r.ts_ns = 5000;
	r.latency_ns = 1234;
	inet_pton(AF_INET, "10.1.2.3", r.laddr);
	inet_pton(AF_INET, "127.0.0.1", r.raddr);
	r.flags = EP_F_RADDR;
	return r;
}

int main(void)
{
	struct ep_record r = base();
	struct ep_event ev;

	CHECK(ep_decode(&r, 1000, &ev) == 0);
	CHECK(ev.ts_unix_ns == 6000);
	CHECK(ev.has_latency);
	CHECK(ev.has_remote);
	{
		struct ep_addrs a;

		ep_event_addrs(&ev, &a);
		CHECK_STR(a.laddr, "10.1.2.3");
		CHECK_STR(a.raddr, "127.0.0.1");
	}

	r.latency_ns = EP_LATENCY_NONE;
	r.flags = 0;
	CHECK(ep_decode(&r, 0, &ev) == 0);
	CHECK(!ev.has_latency);
	CHECK(!ev.has_remote);

	r = base();
	r.family = 6;
	inet_pton(AF_INET6, "::ffff:127.0.0.1", r.laddr);
	CHECK(ep_decode(&r, 0, &ev) == 0);
	{
		struct ep_addrs a;

		ep_event_addrs(&ev, &a);
		CHECK_STR(a.laddr, "::ffff:127.0.0.1");
	}

	/* release: held and TIME_WAIT durations */
	r = base();
	r.kind = EP_RELEASE;
	r.assign_ns = 1000;
	r.tw_start_ns = 3000;
	r.flags |= EP_F_TIMEWAIT;
	CHECK(ep_decode(&r, 0, &ev) == 0);
	CHECK(ev.held_ns == 4000);
	CHECK(ev.timewait_ns == 2000);
	CHECK(!ev.has_latency);

	/* invalid records are refused, not printed */
	r = base();
	r.kind = 9;
	CHECK(ep_decode(&r, 0, &ev) == -1);
	r = base();
	r.family = 5;
	CHECK(ep_decode(&r, 0, &ev) == -1);
	r = base();
	r.proto = 1;
	CHECK(ep_decode(&r, 0, &ev) == -1);
	r = base();
	r.kind = EP_TW_CANCEL;
	CHECK(ep_decode(&r, 0, &ev) == -1);

	CHECK_STR(ep_errno_name(99), "EADDRNOTAVAIL");
	CHECK_STR(ep_errno_name(98), "EADDRINUSE");
	CHECK_STR(ep_errno_name(11), "EAGAIN");
	CHECK_STR(ep_via_name(EP_VIA_SENDMSG), "sendmsg");
	CHECK_STR(ep_reason_name(EP_REL_TW_EXPIRED), "timewait_expired");
	return check_done("test_decode");
}
