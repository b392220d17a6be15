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
		return -1;
	}
	fprintf(stderr, "eptrace: mounted cgroup v2 at %s\n", OWN_CG2);
	snprintf(cg2_path, len, "%s", OWN_CG2);
	return 0;
}

static unsigned long long kallsyms_addr(const char *name)
{
	char line[512], sym[256], type;
	unsigned long long addr, found = 0;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &addr, &type, sym) == 3 && !strcmp(sym, name)) {
			found = addr;
			break;
		}
	}
	fclose(f);
	return found;
}

static bool is_cgroup_prog(struct bpf_program *p)
{
	switch (bpf_program__type(p)) {
	case BPF_PROG_TYPE_CGROUP_SOCK:
	case BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
	case BPF_PROG_TYPE_SOCK_OPS:
		return true;
	default:
		return false;
	}
}

int ep_load(struct ep_loader *l, const struct ep_opts *o, const char *cg2_path)
{
	struct bpf_program *prog;
	int err, n = 0;

	memset(l, 0, sizeof(*l));
	l->cgroup_fd = -1;
	l->skel = eptrace_bpf__open();
	if (!l->skel) {
		fprintf(stderr, "eptrace: cannot open the BPF object: %s\n", strerror(errno));
		return -1;
	}
	struct eptrace_bpf *s = l->skel;

	s->rodata->targ_tgid = o->pid;
	s->rodata->targ_netns = o->netns;
	s->rodata->targ_cgroup = o->cgroup;
	s->rodata->targ_comm_set = o->comm_set;
	memcpy((char *)s->rodata->targ_comm, o->comm, EP_COMM_LEN);
	s->rodata->trace_tcp = o->tcp;
	s->rodata->trace_udp = o->udp;
	s->rodata->trace_ipv4 = o->ipv4;
	s->rodata->trace_ipv6 = o->ipv6;
	s->rodata->tw_timer_fn = kallsyms_addr("tw_timer_handler");
	l->tw_tracking = s->rodata->tw_timer_fn != 0;
	if (!l->tw_tracking)
		fprintf(stderr, "eptrace: tw_timer_handler not in /proc/kallsyms: ends of TIME_WAIT "
				"will not be seen\n");

	err = eptrace_bpf__load(s);
	if (err) {
		fprintf(stderr, "eptrace: loading the BPF programs failed: %s (run with -v for the "
				"verifier log)\n", strerror(-err));
		goto fail;
	}
	l->cgroup_fd = open(cg2_path, O_RDONLY | O_DIRECTORY);
	if (l->cgroup_fd < 0) {
		fprintf(stderr, "eptrace: cannot open cgroup v2 root %s: %s\n", cg2_path,
			strerror(errno));
		goto fail;
	}
	bpf_object__for_each_program(prog, s->obj)
		n++;
	l->links = calloc(n, sizeof(*l->links));
	if (!l->links)
		goto fail;
	bpf_object__for_each_program(prog, s->obj) {
		struct bpf_link *link = is_cgroup_prog(prog) ?
			bpf_program__attach_cgroup(prog, l->cgroup_fd) : bpf_program__attach(prog);

		if (!link) {
			fprintf(stderr, "eptrace: attaching %s (%s) failed: %s\n",
				bpf_program__name(prog), bpf_program__section_name(prog),
				strerror(errno));
			goto fail;
		}
		l->links[l->nlinks++] = link;
	}
	return 0;
fail:
	ep_unload(l);
	return -1;
}

void ep_detach(struct ep_loader *l)
{
	for (int i = 0; i < l->nlinks; i++)
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

int ep_events_fd(const struct ep_loader *l)
{
	return bpf_map__fd(l->skel->maps.events);
}

int ep_socks_fd(const struct ep_loader *l)
{
	return bpf_map__fd(l->skel->maps.socks);
}

int ep_stats_fd(const struct ep_loader *l)
{
	return bpf_map__fd(l->skel->maps.stats);
}
