#include "check.h"
#include "agg/agg.h"
#include "config/options.h"

int main(void)
{
	const char *err;
	double d;
	uint32_t u;
	uint64_t cg;
	char comm[EP_COMM_LEN];

	CHECK(ep_parse_duration("2.5", &d, &err) == 0 && d == 2.5);
	CHECK(ep_parse_duration("0", &d, &err) == -1);
	CHECK(ep_parse_duration("-3", &d, &err) == -1);
	CHECK(ep_parse_duration("3s", &d, &err) == -1);
	CHECK(ep_parse_duration("", &d, &err) == -1);
	CHECK(ep_parse_duration("nan", &d, &err) == -1);
	CHECK(ep_parse_duration("1e99", &d, &err) == -1);

	CHECK(ep_parse_pid("1234", &u, &err) == 0 && u == 1234);
	CHECK(ep_parse_pid("0", &u, &err) == -1);
	CHECK(ep_parse_pid("-1", &u, &err) == -1);
	CHECK(ep_parse_pid("12ab", &u, &err) == -1);
	CHECK(ep_parse_pid("99999999999", &u, &err) == -1);

	CHECK(ep_parse_comm("nginx", comm, &err) == 0 && !strcmp(comm, "nginx"));
	CHECK(ep_parse_comm("", comm, &err) == -1);
	CHECK(ep_parse_comm("0123456789abcdef", comm, &err) == -1);
	CHECK(ep_parse_comm("0123456789abcde", comm, &err) == 0);

	CHECK(ep_resolve_netns("4026531840", &u, &err) == 0 && u == 4026531840u);
	CHECK(ep_resolve_netns("/proc/self/ns/net", &u, &err) == 0 && u > 0);
	CHECK(ep_resolve_netns("/nonexistent", &u, &err) == -1);
	CHECK(ep_resolve_netns("/etc/hostname", &u, &err) == -1);
	CHECK(ep_resolve_netns("12x", &u, &err) == -1);
	CHECK(ep_resolve_netns("-5", &u, &err) == -1);
	CHECK(ep_resolve_netns("", &u, &err) == -1);

	CHECK(ep_resolve_cgroup("/tmp", &cg, &err) == -1);
	CHECK(ep_resolve_cgroup("/nonexistent", &cg, &err) == -1);
	{
		int by, top;
		double th;

		CHECK(ep_parse_by("comm", &by, &err) == 0 && by == EP_BY_COMM);
		CHECK(ep_parse_by("cgroup", &by, &err) == 0 && by == EP_BY_CGROUP);
		CHECK(ep_parse_by("pid", &by, &err) == -1);
		CHECK(ep_parse_top("5", &top, &err) == 0 && top == 5);
		CHECK(ep_parse_top("0", &top, &err) == -1);
		CHECK(ep_parse_top("101", &top, &err) == -1);
		CHECK(ep_parse_threshold("90", &th, &err) == 0 && th == 0.9);
		CHECK(ep_parse_threshold("75%", &th, &err) == 0 && th == 0.75);
		CHECK(ep_parse_threshold("0", &th, &err) == -1);
		CHECK(ep_parse_threshold("101", &th, &err) == -1);
		CHECK(ep_parse_threshold("x", &th, &err) == -1);
	}
	{
		char addr[64];
		uint16_t port;

		CHECK(ep_parse_listen("9435", addr, &port, &err) == 0 && port == 9435 &&
		      !strcmp(addr, "127.0.0.1"));
		CHECK(ep_parse_listen("0.0.0.0:80", addr, &port, &err) == 0 && port == 80 &&
		      !strcmp(addr, "0.0.0.0"));
		CHECK(ep_parse_listen("0", addr, &port, &err) == -1);
		CHECK(ep_parse_listen("65536", addr, &port, &err) == -1);
		CHECK(ep_parse_listen(":80", addr, &port, &err) == -1);
		CHECK(ep_parse_listen("host:80", addr, &port, &err) == -1);
		CHECK(ep_parse_listen("1.2.3.4:", addr, &port, &err) == -1);
		CHECK(ep_parse_listen("1.2.3.4:-5", addr, &port, &err) == -1);
	}
	{
		uint16_t lo = 0, hi = 0;

		CHECK(ep_parse_ports("32768-60999", &lo, &hi, &err) == 0 && lo == 32768 &&
		      hi == 60999);
		CHECK(ep_parse_ports("443", &lo, &hi, &err) == 0 && lo == 443 && hi == 443);
		CHECK(ep_parse_ports("1-65535", &lo, &hi, &err) == 0 && lo == 1 && hi == 65535);
		CHECK(ep_parse_ports("0", &lo, &hi, &err) == -1);
		CHECK(ep_parse_ports("100-50", &lo, &hi, &err) == -1 && strstr(err, "above"));
		CHECK(ep_parse_ports("1-65536", &lo, &hi, &err) == -1);
		CHECK(ep_parse_ports("-5", &lo, &hi, &err) == -1);
		CHECK(ep_parse_ports("5-", &lo, &hi, &err) == -1);
		CHECK(ep_parse_ports("5-6-7", &lo, &hi, &err) == -1);
		CHECK(ep_parse_ports(" 5", &lo, &hi, &err) == -1);
		CHECK(ep_parse_ports("", &lo, &hi, &err) == -1);
		CHECK(ep_parse_ports("99999999999999999999", &lo, &hi, &err) == -1);
	}
	return check_done("test_options");
}
