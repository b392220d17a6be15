/* The tracepoint backend: tracepoints, tp_btf, cgroup hooks and sockops, for
 * kernels without BPF trampolines. Its programs attach in groups that stand
 * or fall together: the core (state changes, timers) must attach; each other
 * group is given up whole when the kernel refuses one of its programs, and
 * what it saw is then unseen (README, "Supported kernels"). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "backend.h"
#include "host/netns.h"
#include "tracepoint.skel.h"

enum hook_group { G_CORE, G_SOCKOPS, G_SOCK_HOOKS, G_SYSCALLS };

static enum hook_group group_of(struct bpf_program *p)
{
	switch (bpf_program__type(p)) {
	case BPF_PROG_TYPE_SOCK_OPS:
		return G_SOCKOPS;
	case BPF_PROG_TYPE_CGROUP_SOCK:
	case BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
		return G_SOCK_HOOKS;
	default:
		return strncmp(bpf_program__section_name(p), "tracepoint/syscalls/", 20) ?
			G_CORE : G_SYSCALLS;
	}
}

static bool *group_flag(struct ep_loader *l, enum hook_group g)
{
	switch (g) {
	case G_SOCKOPS:
		return &l->sockops;
	case G_SOCK_HOOKS:
		return &l->sock_hooks;
	case G_SYSCALLS:
		return &l->syscalls;
	default:
		return NULL;
	}
}

static const char *const group_test_name[] = {
	[G_CORE] = "core", [G_SOCKOPS] = "sockops", [G_SOCK_HOOKS] = "sock_hooks",
	[G_SYSCALLS] = "syscalls",
};

static struct bpf_link *attach(struct ep_loader *l, struct bpf_program *prog)
{
	enum hook_group g = group_of(prog);

	if ((g != G_CORE && ep_refused_for_test(group_test_name[g])) ||
	    ep_refused_for_test(bpf_program__name(prog))) {
		errno = EPERM;
		return NULL;
	}
	if (g == G_SOCKOPS || g == G_SOCK_HOOKS)
		return bpf_program__attach_cgroup(prog, l->cgroup_fd);
	return bpf_program__attach(prog);
}

/* A group works together (a bracket's start without its end, or an
 * assignment without its release, is worse than nothing): all or none. */
static void drop_group(struct ep_loader *l, struct bpf_program **progs, enum hook_group g)
{
	for (int i = 0; i < l->nlinks; i++) {
		if (group_of(progs[i]) == g && l->links[i]) {
			bpf_link__destroy(l->links[i]);
			l->links[i] = NULL;
		}
	}
	*group_flag(l, g) = false;
}

/* What is left out, in words, or -1 when nothing the options ask for is left. */
static int tell_missing(const struct ep_loader *l, const struct ep_opts *o)
{
	if (!l->sockops)
		fprintf(stderr, "eptrace: without the sockops hook: TCP connect() is reported when "
				"the handshake ends, with no latency; listen() on an unbound socket "
				"is not seen\n");
	if (!l->sock_hooks)
		fprintf(stderr, "eptrace: without the cgroup socket hooks: bind() (assignments "
				"and conflicts) and UDP (assignments and releases) are not seen\n");
	else if (!l->syscalls)
		fprintf(stderr, "eptrace: without the syscall tracepoints: failed bind() "
				"(EADDRINUSE, conflicts and exhaustion), UDP autobind in connect() "
				"(EAGAIN, and assignments: their ports are reported at the release "
				"only), the EAGAIN of a send's autobind, and "
				"UDP connect(AF_UNSPEC) releases are not seen\n");
	if (!l->sock_hooks && !o->tcp) {
		fprintf(stderr, "eptrace: only UDP was asked for and UDP cannot be seen: "
				"nothing to trace\n");
		return -1;
	}
	return 0;
}

static void destroy(void *skel)
{
	tracepoint_bpf__destroy(skel);
}

/* What the programs are told before load besides the options. */
struct load_facts {
	unsigned long long tw_timer_fn;
	/* The namespace traced (--netns), else the tracer's own, and its
	 * cookie, by which the cgroup socket hooks know it without a read
	 * (known_netns in bpf/lib/maps.bpf.h); found once for both loads. */
	uint32_t known_netns;
	uint64_t known_netns_cookie;
};

static int open_and_load(struct ep_loader *l, const struct ep_opts *o,
			 const struct load_facts *f, bool direct_loads)
{
	struct tracepoint_bpf *s;
	int err;

	s = tracepoint_bpf__open();
	if (!s) {
		fprintf(stderr, "eptrace: cannot open the BPF object: %s\n", strerror(errno));
		return -1;
	}
	ep_loader_adopt(l, s, s->obj, destroy);
	EP_SET_KNOBS(s, o, direct_loads);
	l->direct_loads = direct_loads;
	s->rodata->tw_timer_fn = f->tw_timer_fn;
	s->rodata->known_netns = f->known_netns;
	s->rodata->known_netns_cookie = f->known_netns_cookie;
	ep_prepare_maps(s->obj);
	/* The test knob plays a kernel that refuses the direct loads. */
	err = direct_loads && ep_refused_for_test("direct_loads") ? -EINVAL : tracepoint_bpf__load(s);
	if (!err) {
		l->ring_discards = &s->bss->ring_discards;
		l->reader_asleep = &s->bss->reader_asleep;
	}
	if (err && !direct_loads)
		fprintf(stderr, "eptrace: loading the BPF programs failed: %s (run with -v for the "
				"verifier log)\n", strerror(-err));
	return err ? -1 : 0;
}

int ep_tracepoint_start(struct ep_loader *l, const struct ep_opts *o, const char *cg2_path)
{
	static const char *const syms[] = { "tw_timer_handler", "bpf_rdonly_cast" };
	unsigned long long addr[2];
	struct bpf_program *prog, **progs = NULL;
	struct load_facts facts;
	struct tracepoint_bpf *s;
	bool present[2];
	int err, n = 0;

	if (ep_refused_for_test("tracepoint_backend")) {
		fprintf(stderr, "eptrace: the tracepoint backend refused for a test (EPTRACE_REFUSE)\n");
		return -1;
	}
	ep_kallsyms_find(syms, addr, present, 2);
	l->tw_tracking = addr[0] != 0;
	if (!l->tw_tracking)
		fprintf(stderr, "eptrace: tw_timer_handler not in /proc/kallsyms: ends of TIME_WAIT "
				"will not be seen\n");
	facts.tw_timer_fn = addr[0];
	facts.known_netns = o->netns ?: ep_self_netns();
	facts.known_netns_cookie = facts.known_netns ? ep_netns_cookie(facts.known_netns) : 0;
	/* Plain loads where the kernel has bpf_rdonly_cast (6.2+); should it
	 * still refuse them, the helper reads. */
	err = open_and_load(l, o, &facts, present[1]);
	if (err && l->direct_loads) {
		ep_unload(l);
		err = open_and_load(l, o, &facts, false);
	}
	if (err)
		return -1;
	s = l->skel;

	if (cg2_path[0]) {
		l->cgroup_fd = open(cg2_path, O_RDONLY | O_DIRECTORY);
		if (l->cgroup_fd < 0)
			fprintf(stderr, "eptrace: cannot open cgroup v2 root %s: %s\n", cg2_path,
				strerror(errno));
	}
	bpf_object__for_each_program(prog, s->obj)
		n += ep_prog_is_hook(prog);
	l->links = calloc(n, sizeof(*l->links));
	progs = calloc(n, sizeof(*progs));
	if (!l->links || !progs) {
		fprintf(stderr, "eptrace: out of memory\n");
		free(progs);
		return -1;
	}
	l->sockops = l->sock_hooks = l->cgroup_fd >= 0;
	l->syscalls = true;
	bpf_object__for_each_program(prog, s->obj) {
		enum hook_group g = group_of(prog);
		bool *on = group_flag(l, g);
		/* a program whose group is already given up is not tried */
		bool tried = !on || *on;
		struct bpf_link *link = NULL;

		if (!ep_prog_is_hook(prog))
			continue;
		progs[l->nlinks] = prog;
		if (tried)
			link = attach(l, prog);
		if (!link && g == G_CORE) {
			fprintf(stderr, "eptrace: attaching %s (%s) failed: %s\n",
				bpf_program__name(prog), bpf_program__section_name(prog),
				strerror(errno));
			free(progs);
			return -1;
		}
		if (!link && tried)
			fprintf(stderr, "eptrace: attaching %s (%s) was refused: %s\n",
				bpf_program__name(prog), bpf_program__section_name(prog),
				strerror(errno));
		l->links[l->nlinks++] = link;
		if (!link && tried)
			drop_group(l, progs, g);
	}
	free(progs);
	s->bss->sockops_on = l->sockops;
	s->bss->syscalls_on = l->syscalls;
	l->runs_missed = &s->bss->runs_missed;
	return tell_missing(l, o);
}
