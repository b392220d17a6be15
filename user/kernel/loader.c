#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include "loader.h"
#include "eptrace.skel.h"

#define TRACEFS "/sys/kernel/tracing"
#define OWN_CG2 "/run/eptrace/cgroup2"

int ep_check_privileges(void)
{
	static const struct { int bit; const char *name; } need[] = {
		{ 39, "CAP_BPF" }, { 38, "CAP_PERFMON" }, { 12, "CAP_NET_ADMIN" },
		{ 21, "CAP_SYS_ADMIN" },
	};
	unsigned long long eff = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	int missing = 0;

	if (!f)
		return 0; /* cannot tell: let the kernel decide */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (!(eff & (1ULL << need[i].bit))) {
			fprintf(stderr, "eptrace: missing capability %s\n", need[i].name);
			missing++;
		}
	}
	if (missing)
		fprintf(stderr, "eptrace: run as root (it loads BPF programs and attaches them to "
				"the root cgroup)\n");
	return missing ? -1 : 0;
}

static int find_cgroup2(char *path, size_t len)
{
	char dev[256], mnt[512], type[64];
	FILE *f = fopen("/proc/self/mounts", "r");
	int found = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%255s %511s %63s %*s %*d %*d", dev, mnt, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			snprintf(path, len, "%s", mnt);
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

int ep_ensure_mounts(char *cg2_path, size_t len)
{
	struct statfs sfs;

	if (statfs(TRACEFS, &sfs) || sfs.f_type != TRACEFS_MAGIC) {
		if (mount("nodev", TRACEFS, "tracefs", 0, NULL)) {
			fprintf(stderr, "eptrace: tracefs is not mounted and mounting it at %s failed: %s\n",
				TRACEFS, strerror(errno));
			return -1;
		}
		fprintf(stderr, "eptrace: mounted tracefs at %s\n", TRACEFS);
	}
	if (find_cgroup2(cg2_path, len) == 0)
		return 0;
	mkdir("/run/eptrace", 0700);
	mkdir(OWN_CG2, 0700);
	if (mount("none", OWN_CG2, "cgroup2", 0, NULL)) {
		fprintf(stderr, "eptrace: no cgroup v2 hierarchy and mounting one at %s failed: %s\n",
			OWN_CG2, strerror(errno));
		cg2_path[0] = 0;
		return 0;
	}
	fprintf(stderr, "eptrace: mounted cgroup v2 at %s\n", OWN_CG2);
	snprintf(cg2_path, len, "%s", OWN_CG2);
	return 0;
}

/* Looks the kernel symbols up in one pass over /proc/kallsyms: present[i]
 * says whether names[i] is there, addr[i] its address (0 when hidden). */
static void kallsyms_find(const char *const *names, unsigned long long *addr, bool *present,
			  int n)
{
	char line[512], sym[256], type;
	unsigned long long a;
	int left = n;
	FILE *f = fopen("/proc/kallsyms", "r");

	memset(addr, 0, n * sizeof(*addr));
	memset(present, 0, n * sizeof(*present));
	if (!f)
		return;
	while (left && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &a, &type, sym) != 3)
			continue;
		for (int i = 0; i < n; i++) {
			if (!present[i] && !strcmp(sym, names[i])) {
				present[i] = true;
				addr[i] = a;
				left--;
			}
		}
	}
	fclose(f);
}

/* Programs attach in groups that stand or fall together: the core (state
 * changes, timers) must attach; each other group is given up whole when the
 * kernel refuses one of its programs, and what it saw is then unseen. */
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

static bool refused_for_test(const char *what)
{
	const char *env = getenv("EPTRACE_REFUSE");

	return env && strstr(env, what);
}

static struct bpf_link *attach(struct ep_loader *l, struct bpf_program *prog)
{
	enum hook_group g = group_of(prog);

	if ((g != G_CORE && refused_for_test(group_test_name[g])) ||
	    refused_for_test(bpf_program__name(prog))) {
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
				"(EADDRINUSE, conflicts and exhaustion), UDP autobind in connect(), "
				"sendto(), sendmsg() and sendmmsg() (assignments and EAGAIN), and "
				"UDP connect(AF_UNSPEC) releases are not seen\n");
	if (!l->sock_hooks && !o->tcp) {
		fprintf(stderr, "eptrace: only UDP was asked for and UDP cannot be seen: "
				"nothing to trace\n");
		return -1;
	}
	return 0;
}

/* Every program reads kernel structures through BTF (CO-RE, tp_btf). */
static int have_kernel_btf(void)
{
	struct stat st;
	struct btf *btf;

	if (!stat("/sys/kernel/btf/vmlinux", &st) && st.st_size > 0)
		return 0;
	btf = btf__load_vmlinux_btf(); /* the other places libbpf knows */
	if (btf) {
		btf__free(btf);
		return 0;
	}
	fprintf(stderr, "eptrace: this kernel has no BTF (/sys/kernel/btf/vmlinux; "
			"CONFIG_DEBUG_INFO_BTF=y): none of eptrace's programs can load without it\n");
	return -1;
}

static int open_and_load(struct ep_loader *l, const struct ep_opts *o,
			 unsigned long long tw_timer_fn, bool direct_loads)
{
	struct eptrace_bpf *s;
	int err;

	l->skel = s = eptrace_bpf__open();
	if (!s) {
		fprintf(stderr, "eptrace: cannot open the BPF object: %s\n", strerror(errno));
		return -1;
	}
	s->rodata->targ_tgid = o->pid;
	s->rodata->targ_netns = o->netns;
	s->rodata->targ_cgroup = o->cgroup;
	s->rodata->targ_comm_set = o->comm_set;
	memcpy((char *)s->rodata->targ_comm, o->comm, EP_COMM_LEN);
	s->rodata->trace_tcp = o->tcp;
	s->rodata->trace_udp = o->udp;
	s->rodata->trace_ipv4 = o->ipv4;
	s->rodata->trace_ipv6 = o->ipv6;
	s->rodata->direct_loads = l->direct_loads = direct_loads;
	s->rodata->tw_timer_fn = tw_timer_fn;
	/* The test knob plays a kernel that refuses the direct loads. */
	err = direct_loads && refused_for_test("direct_loads") ? -EINVAL : eptrace_bpf__load(s);
	if (err && !direct_loads)
		fprintf(stderr, "eptrace: loading the BPF programs failed: %s (run with -v for the "
				"verifier log)\n", strerror(-err));
	return err ? -1 : 0;
}

int ep_load(struct ep_loader *l, const struct ep_opts *o, const char *cg2_path)
{
	static const char *const syms[] = { "tw_timer_handler", "bpf_rdonly_cast" };
	unsigned long long addr[2];
	struct bpf_program *prog, **progs = NULL;
	struct eptrace_bpf *s;
	bool present[2];
	int err, n = 0;

	memset(l, 0, sizeof(*l));
	l->cgroup_fd = -1;
	if (have_kernel_btf())
		return -1;
	kallsyms_find(syms, addr, present, 2);
	l->tw_tracking = addr[0] != 0;
	if (!l->tw_tracking)
		fprintf(stderr, "eptrace: tw_timer_handler not in /proc/kallsyms: ends of TIME_WAIT "
				"will not be seen\n");
	/* Plain loads where the kernel has bpf_rdonly_cast (6.2+); should it
	 * still refuse them, the helper reads. */
	err = open_and_load(l, o, addr[0], present[1]);
	if (err && l->direct_loads) {
		eptrace_bpf__destroy(l->skel);
		err = open_and_load(l, o, addr[0], false);
	}
	if (err)
		goto fail;
	if (!l->direct_loads)
		fprintf(stderr, "eptrace: this kernel takes no direct loads (bpf_rdonly_cast, Linux "
				"6.2+): kernel structures are read through helpers, at a higher cost "
				"per event\n");
	s = l->skel;

	if (cg2_path[0]) {
		l->cgroup_fd = open(cg2_path, O_RDONLY | O_DIRECTORY);
		if (l->cgroup_fd < 0)
			fprintf(stderr, "eptrace: cannot open cgroup v2 root %s: %s\n", cg2_path,
				strerror(errno));
	}
	bpf_object__for_each_program(prog, s->obj)
		n++;
	l->links = calloc(n, sizeof(*l->links));
	progs = calloc(n, sizeof(*progs));
	if (!l->links || !progs) {
		fprintf(stderr, "eptrace: out of memory\n");
		goto fail;
	}
	l->sockops = l->sock_hooks = l->cgroup_fd >= 0;
	l->syscalls = true;
	bpf_object__for_each_program(prog, s->obj) {
		enum hook_group g = group_of(prog);
		bool *on = group_flag(l, g);
		/* a program whose group is already given up is not tried */
		bool tried = !on || *on;
		struct bpf_link *link = NULL;

		progs[l->nlinks] = prog;
		if (tried)
			link = attach(l, prog);
		if (!link && g == G_CORE) {
			fprintf(stderr, "eptrace: attaching %s (%s) failed: %s\n",
				bpf_program__name(prog), bpf_program__section_name(prog),
				strerror(errno));
			goto fail;
		}
		if (!link && tried)
			fprintf(stderr, "eptrace: attaching %s (%s) was refused: %s\n",
				bpf_program__name(prog), bpf_program__section_name(prog),
				strerror(errno));
		l->links[l->nlinks++] = link;
		if (!link && tried)
			drop_group(l, progs, g);
	}
	s->bss->sockops_on = l->sockops;
	s->bss->syscalls_on = l->syscalls;
	if (tell_missing(l, o))
		goto fail;
	free(progs);
	return 0;
fail:
	free(progs);
	ep_unload(l);
	return -1;
}

void ep_detach(struct ep_loader *l)
{
	for (int i = 0; i < l->nlinks; i++)
		if (l->links[i])
			bpf_link__destroy(l->links[i]);
	free(l->links);
	l->links = NULL;
	l->nlinks = 0;
}

void ep_unload(struct ep_loader *l)
{
	ep_detach(l);
	if (l->cgroup_fd >= 0)
		close(l->cgroup_fd);
	l->cgroup_fd = -1;
	eptrace_bpf__destroy(l->skel);
	l->skel = NULL;
}

/* Runs of our programs the kernel skipped because the same program was
 * already running on that CPU (a tracepoint hit again from an interrupt). */
uint64_t ep_hook_misses(const struct ep_loader *l)
{
	struct bpf_program *prog;
	uint64_t n = 0;

	if (!l->skel)
		return 0;
	bpf_object__for_each_program(prog, l->skel->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
			n += info.recursion_misses;
	}
	return n;
}

int ep_events_fd(const struct ep_loader *l)
{
	return bpf_map__fd(l->skel->maps.events);
}

int ep_socks_fd(const struct ep_loader *l)
{
	return bpf_map__fd(l->skel->maps.socks);
}

int ep_inflight_fd(const struct ep_loader *l)
{
	return bpf_map__fd(l->skel->maps.inflight);
}

int ep_stats_fd(const struct ep_loader *l)
{
	return bpf_map__fd(l->skel->maps.stats);
}
