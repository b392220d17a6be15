#include "check.h"
#include "options.h"

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
	return check_done("test_options");
}
