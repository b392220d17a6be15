#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include "check.h"
#include "host/netns.h"

static uint8_t bm[8192];

static bool bit(unsigned int p)
{
	return bm[p >> 3] & (1u << (p & 7));
}

static int bits_set(void)
{
	int n = 0;

	for (unsigned int p = 0; p < 65536; p++)
		n += bit(p);
	return n;
}

int main(void)
{
	uint16_t lo = 1, hi = 1;
	bool any;

	CHECK(ep_parse_port_range("32768\t60999\n", &lo, &hi) == 0 && lo == 32768 && hi == 60999);
	CHECK(ep_parse_port_range("32768\t60999", &lo, &hi) == 0 && lo == 32768 && hi == 60999);
	CHECK(ep_parse_port_range("1024 65535", &lo, &hi) == 0 && lo == 1024 && hi == 65535);
	CHECK(ep_parse_port_range("40000 40000", &lo, &hi) == 0 && lo == 40000 && hi == 40000);
	lo = hi = 7;
	CHECK(ep_parse_port_range("garbage", &lo, &hi) == -EINVAL && lo == 7 && hi == 7);
	CHECK(ep_parse_port_range("", &lo, &hi) == -EINVAL);
	CHECK(ep_parse_port_range("1024", &lo, &hi) == -EINVAL);
	CHECK(ep_parse_port_range("60999 32768", &lo, &hi) == -EINVAL);
	CHECK(ep_parse_port_range("1024 70000", &lo, &hi) == -EINVAL);
	CHECK(ep_parse_port_range("1024 2048 3", &lo, &hi) == -EINVAL);
	CHECK(ep_parse_port_range("-1 5", &lo, &hi) == -EINVAL);
	CHECK(ep_parse_port_range("1024x 2048", &lo, &hi) == -EINVAL);

	CHECK(ep_parse_reserved_ports("", bm, &any) == 0 && !any && bits_set() == 0);
	CHECK(ep_parse_reserved_ports("\n", bm, &any) == 0 && !any && bits_set() == 0);
	CHECK(ep_parse_reserved_ports("80,443", bm, &any) == 0 && any);
	CHECK(bit(80) && bit(443) && bits_set() == 2);
	CHECK(ep_parse_reserved_ports("1000-1002,2000\n", bm, &any) == 0 && any);
	CHECK(bit(1000) && bit(1001) && bit(1002) && bit(2000) && bits_set() == 4);
	CHECK(ep_parse_reserved_ports(" 5 ", bm, &any) == 0 && any && bit(5) && bits_set() == 1);
	CHECK(ep_parse_reserved_ports("0,65535", bm, &any) == 0 && bit(0) && bit(65535));
	CHECK(ep_parse_reserved_ports("0-65535", bm, &any) == 0 && bits_set() == 65536);
	CHECK(ep_parse_reserved_ports("70000", bm, &any) == -EINVAL && !any && bits_set() == 0);
	CHECK(ep_parse_reserved_ports("3-1", bm, &any) == -EINVAL && !any);
	CHECK(ep_parse_reserved_ports("a,b", bm, &any) == -EINVAL && !any);
	/* a failed parse must not leave bits from the items before the bad one */
	CHECK(ep_parse_reserved_ports("80,x", bm, &any) == -EINVAL && bits_set() == 0);
	CHECK(ep_parse_reserved_ports("80,", bm, &any) == -EINVAL);
	CHECK(ep_parse_reserved_ports(",80", bm, &any) == -EINVAL);
	CHECK(ep_parse_reserved_ports("80,,443", bm, &any) == -EINVAL);
	CHECK(ep_parse_reserved_ports("1-", bm, &any) == -EINVAL);
	CHECK(ep_parse_reserved_ports("80 443", bm, &any) == -EINVAL);
	return check_done("netns");
}
