/* The pipeline's owner memo: runs of records from one owner ask the names
 * table once, and still see every change of it. */
#include <string.h>
#include "check.h"
#include "pipeline.h"

struct seen {
	const char *unit, *netns_name;
};

static struct seen last;
static int learned;
static bool name_it = true;

static void on_event(void *ctx, const struct ep_event *ev, const struct ep_alloc_info *info)
{
	last.unit = ev->ident ? ev->ident->unit : NULL;
	last.netns_name = ev->netns_name;
}

/* what the live loader does for an owner it has not seen: name it */
static void learn(void *ctx, const struct ep_record *rec)
{
	struct ep_pipeline *p = ctx;

	learned++;
	if (!ep_names_knows_cgroup(&p->agg.names, rec->cgroup_id))
		ep_pipe_cgroup(p, rec->ts_ns, rec->cgroup_id,
			       rec->cgroup_id == 5 ? "/system.slice/a.service" : "/system.slice/b.service",
			       0);
	if (name_it && !ep_names_knows_netns(&p->agg.names, rec->netns))
		ep_pipe_netns_name(p, rec->ts_ns, rec->netns, "blue");
}

static void feed(struct ep_pipeline *p, uint64_t cgroup, uint32_t pid, uint32_t netns)
{
	static uint64_t cookie;
	struct ep_record r = { .kind = EP_ALLOC, .ts_ns = 1000 + cookie, .cookie = ++cookie,
			       .lport = (uint16_t)(40000 + cookie), .proto = EP_TCP, .family = 4,
			       .via = EP_VIA_BIND, .latency_ns = 100, .netns = netns, .pid = pid,
			       .cgroup_id = cgroup, .comm = "web" };

	ep_pipe_event(p, &r);
}

int main(void)
{
	static struct ep_opts o = { .quiet = true, .top_n = 10, .threshold = 0.8, .tcp = true,
				    .udp = true, .ipv4 = true, .ipv6 = true };
	static struct ep_pipeline p;

	CHECK(ep_pipe_init(&p, &o, 0) == 0);
	ep_pipe_add_consumer(&p, &(struct ep_consumer){ .event = on_event });
	ep_pipe_set_enrich(&p, &(struct ep_enrich){ .learn = learn, .ctx = &p });

	for (int i = 0; i < 3; i++)
		feed(&p, 5, 100, 9);
	CHECK(learned == 1); /* one owner: asked once */
	CHECK_STR(last.unit, "a.service");
	CHECK_STR(last.netns_name, "blue");

	/* the table changed: the same owner sees the new name */
	ep_pipe_netns_name(&p, 0, 9, "green");
	feed(&p, 5, 100, 9);
	CHECK_STR(last.netns_name, "green");
	ep_pipe_cgroup(&p, 0, 5, "/system.slice/c.service", 0);
	feed(&p, 5, 100, 9);
	CHECK_STR(last.unit, "c.service");

	/* another owner is asked for; its names are its own */
	learned = 0;
	feed(&p, 6, 100, 9);
	CHECK(learned == 1);
	CHECK_STR(last.unit, "b.service");
	feed(&p, 6, 101, 9); /* another process */
	CHECK(learned == 2);

	/* a namespace that could not be named yet is asked again each time */
	name_it = false;
	learned = 0;
	feed(&p, 6, 101, 10);
	feed(&p, 6, 101, 10);
	CHECK(learned == 2);
	CHECK(last.netns_name == NULL);
	name_it = true;
	feed(&p, 6, 101, 10);
	CHECK_STR(last.netns_name, "blue");
	ep_pipe_free(&p);
	return check_done("pipeline");
}
