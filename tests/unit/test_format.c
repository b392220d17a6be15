#include <arpa/inet.h>
#include "check.h"
#include "output/format.h"

static void json_ev(FILE *f, const void *arg)
{
	ep_json_event(f, arg, NULL);
}

static void table_ev(FILE *f, const void *arg)
{
	ep_table_event(f, arg, NULL);
}

static void esc(FILE *f, const void *arg)
{
	ep_json_escape(f, arg, EP_COMM_LEN);
}

int main(void)
{
	struct ep_record r = { 0 };
	struct ep_event ev;
	const char *out;
	char tbl[80];

	r.kind = EP_ALLOC;
	r.proto = EP_UDP;
	r.family = 4;
	r.lport = 40000;
	r.via = EP_VIA_SENDMSG;
	r.latency_ns = EP_LATENCY_NONE;
	r.pid = 7;
	r.tid = 8;
	r.netns = 4026531840u;
	r.cookie = 42;
	strcpy(r.comm, "a\"b\\c");
	inet_pton(AF_INET, "0.0.0.0", r.laddr);
	ep_decode(&r, 0, &ev);
	out = capture(json_ev, &ev);
	CHECK(strstr(out, "\"event\":\"alloc\"") != NULL);
	CHECK(strstr(out, "\"raddr\":null,\"rport\":null") != NULL);
	CHECK(strstr(out, "\"latency_ns\":null") != NULL);
	CHECK(strstr(out, "\"comm\":\"a\\\"b\\\\c\"") != NULL);
	CHECK(strstr(out, "\"netns\":4026531840") != NULL);
	CHECK(strstr(out, "\"via\":\"sendmsg\"") != NULL);
	CHECK(strstr(out, "held_ns") == NULL);

	/* no names known: null, and the inode in the table */
	CHECK(strstr(out, "\"cgroup\":null,\"unit\":null,\"container\":null,\"netns_name\":null") != NULL);
	out = capture(table_ev, &ev);
	CHECK(strstr(out, " 4026531840 ") != NULL && strstr(out, " - ") != NULL);
	{
		struct ep_identity id;

		CHECK(ep_identity_parse("/system.slice/we\"ird\n.service", &id) == 0);
		ev.ident = &id;
		ev.netns_name = "lb\x01";
		out = capture(json_ev, &ev);
		CHECK(strstr(out, "\"cgroup\":\"/system.slice/we\\\"ird\\u000a.service\"") != NULL);
		CHECK(strstr(out, "\"unit\":\"we\\\"ird\\u000a.service\",\"container\":null") != NULL);
		CHECK(strstr(out, "\"netns_name\":\"lb\\u0001\"") != NULL);
		out = capture(table_ev, &ev);
		CHECK(strstr(out, " lb\\x01 ") != NULL && strstr(out, " we\"ird\\x0a.service ") != NULL);
		CHECK(!strchr(out, '\x01') && strchr(out, '\n') == out + strlen(out) - 1);
		/* an owner's names made once per owner_seq: a new seq makes them again */
		ev.owner_seq = 5;
		out = capture(json_ev, &ev);
		CHECK(strstr(out, "\"netns_name\":\"lb\\u0001\"") != NULL);
		out = capture(json_ev, &ev);
		CHECK(strstr(out, "\"unit\":\"we\\\"ird\\u000a.service\"") != NULL &&
		      strstr(out, "\"netns_name\":\"lb\\u0001\",\"cookie\":42") != NULL);
		ev.owner_seq = 6;
		ev.netns_name = "blue";
		out = capture(json_ev, &ev);
		CHECK(strstr(out, "\"netns_name\":\"blue\",\"cookie\":42") != NULL);
		ev.owner_seq = 0; /* no promise: made each time */
		ev.netns_name = "green";
		out = capture(json_ev, &ev);
		CHECK(strstr(out, "\"netns_name\":\"green\"") != NULL);
		ep_identity_clear(&id);
		ev.ident = NULL;
		ev.netns_name = NULL;
	}
	/* numbers: the extremes, and two-digit steps */
	r.cookie = UINT64_MAX;
	r.pid = 0;
	r.tid = 10;
	r.lport = 100;
	ep_decode(&r, 0, &ev);
	out = capture(json_ev, &ev);
	CHECK(strstr(out, "\"cookie\":18446744073709551615") != NULL);
	CHECK(strstr(out, "\"pid\":0,\"tid\":10,") != NULL);
	CHECK(strstr(out, "\"lport\":100,") != NULL);
	/* every digit count, at both ends (eight digits are written at a time) */
	for (uint64_t p = 1, k = 0; k < 20; k++, p *= 10) {
		for (uint64_t v = p - 1; v <= p; v++) {
			char want[48];

			r.cookie = v;
			ep_decode(&r, 0, &ev);
			out = capture(json_ev, &ev);
			snprintf(want, sizeof(want), "\"cookie\":%llu}", (unsigned long long)v);
			CHECK(strstr(out, want) != NULL);
		}
	}
	r.cookie = 42;
	r.pid = 7;
	r.tid = 8;
	r.lport = 40000;

	r.kind = EP_RELEASE;
	r.assign_ns = 1;
	r.ts_ns = 11;
	ep_decode(&r, 0, &ev);
	out = capture(json_ev, &ev);
	CHECK(strstr(out, "\"held_ns\":10") != NULL);
	CHECK(strstr(out, "\"timewait\":false,\"timewait_ns\":null") != NULL);
	CHECK(strstr(out, "latency_ns") == NULL);

	r.kind = EP_FAIL;
	r.err = 99;
	ep_decode(&r, 0, &ev);
	out = capture(json_ev, &ev);
	CHECK(strstr(out, "\"errno\":\"EADDRNOTAVAIL\"") != NULL);
	out = capture(table_ev, &ev);
	CHECK(strstr(out, "EADDRNOTAVAIL") != NULL);
	CHECK(strstr(out, "0.0.0.0:40000") != NULL);

	/* control characters, invalid UTF-8, valid UTF-8 */
	CHECK_STR(capture(esc, "a\nb\x01"), "a\\u000ab\\u0001");
	CHECK_STR(capture(esc, "x\xff" "y"), "x\\ufffdy");
	CHECK_STR(capture(esc, "caf\xc3\xa9"), "caf\xc3\xa9");
	CHECK_STR(capture(esc, "\xc3"), "\\ufffd");
	CHECK_STR(capture(esc, "\xe0\x80\x80"), "\\ufffd\\ufffd\\ufffd");
	ep_table_escape(tbl, sizeof(tbl), "t\tab\x80", EP_COMM_LEN);
	CHECK_STR(tbl, "t\\x09ab\\x80");
	return check_done("test_format");
}
