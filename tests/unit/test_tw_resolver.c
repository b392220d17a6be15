#include "check.h"
#include "agg/tw_resolver.h"

static uint64_t seen[16];
static int nseen;

static void confirm(const struct ep_tw_pending *p, void *ctx)
{
	(void)ctx;
	seen[nseen++] = p->cookie;
}

int main(void)
{
	struct ep_tw_resolver r;
	const uint64_t ms = 1000000ULL;

	CHECK(ep_tw_init(&r, 3) == 0);
	ep_tw_add(&r, 1, 100 * ms, confirm, NULL);
	ep_tw_add(&r, 2, 120 * ms, confirm, NULL);
	ep_tw_due(&r, 140 * ms, confirm, NULL);
	CHECK(nseen == 0); /* nothing is 50 ms old yet */
	ep_tw_due(&r, 150 * ms, confirm, NULL);
	CHECK(nseen == 1 && seen[0] == 1);
	ep_tw_add(&r, 3, 130 * ms, confirm, NULL);
	ep_tw_add(&r, 4, 131 * ms, confirm, NULL);
	CHECK(nseen == 1 && r.len == 3);
	ep_tw_add(&r, 5, 132 * ms, confirm, NULL); /* full: oldest goes first */
	CHECK(nseen == 2 && seen[1] == 2 && r.overflow == 1);
	ep_tw_due(&r, UINT64_MAX, confirm, NULL);
	CHECK(nseen == 5 && seen[2] == 3 && seen[3] == 4 && seen[4] == 5 && r.len == 0);
	ep_tw_free(&r);
	return check_done("test_tw_resolver");
}
