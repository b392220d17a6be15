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
#include "backend.h"
#include "preempt.h"

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

/* Mount tracefs and cgroup v2 where missing; fills the cgroup v2 path, or
 * leaves it empty (after saying why) when there is none to be had. */
static int ensure_mounts(char *cg2_path, size_t len)
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

void ep_kallsyms_find(const char *const *names, unsigned long long *addr, bool *present, int n)
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

bool ep_refused_for_test(const char *what)
{
	const char *env = getenv("EPTRACE_REFUSE");

	return env && strstr(env, what);
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

void ep_loader_adopt(struct ep_loader *l, void *skel, struct bpf_object *obj,
		     void (*destroy)(void *skel))
{
	l->skel = skel;
	l->obj = obj;
	l->destroy = destroy;
}

/* SCTP is seen by the trampoline backend only, and only with the module
 * loaded; -1 when SCTP was all the options asked for. */
static int tell_sctp(const struct ep_loader *l, const struct ep_opts *o)
{
	if (!o->sctp || l->sctp)
		return 0;
	fprintf(stderr, "eptrace: SCTP is not traced: %s\n",
		l->backend == EP_BACKEND_TRAMPOLINE ? l->sctp_why
		: "the tracepoint backend does not see its port search");
	if (!o->tcp && !o->udp) {
		fprintf(stderr, "eptrace: only SCTP was asked for: nothing to trace\n");
		return -1;
	}
	return 0;
}

static void tell_helper_reads(const struct ep_loader *l)
{
	if (!l->direct_loads)
		fprintf(stderr, "eptrace: this kernel takes no direct loads (bpf_rdonly_cast, Linux "
				"6.2+): kernel structures are read through helpers, at a higher cost "
				"per event\n");
}

const char *ep_backend_name(int backend)
{
	return backend == EP_BACKEND_TRAMPOLINE ? "trampoline" : "tracepoint";
}

/* Nothing loaded, and nothing a backend found out: a backend given up
 * leaves no flag (SCTP followed, say) to the one tried after it. */
static void reset(struct ep_loader *l)
{
	ep_unload(l);
	memset(l, 0, sizeof(*l));
	l->cgroup_fd = -1;
}

/* 0 with the trampoline backend started, or -1 with why filled and the
 * loader reset. preempt: the kernel's preemption model, if it preempts. */
static int start_trampoline(struct ep_loader *l, const struct ep_opts *o, const char *preempt,
			    char *why, size_t len)
{
	if (ep_trampoline_start(l, o, why, len)) {
		reset(l);
		return -1;
	}
	l->backend = EP_BACKEND_TRAMPOLINE;
	fprintf(stderr, "eptrace: backend trampoline (fentry/fexit): latency is the port search "
			"function's own run\n");
	if (preempt)
		fprintf(stderr, "eptrace: this kernel preempts tasks inside these programs "
				"(preemption: %s): while a task is preempted in one, the kernel "
				"skips it for the other tasks on that CPU; with more processes "
				"taking ports than CPUs such events are missing (counted as hook "
				"misses): --backend tracepoint sees them all\n", preempt);
	return 0;
}

static int start_tracepoint(struct ep_loader *l, const struct ep_opts *o, const char *why)
{
	char cg2[512];

	l->backend = EP_BACKEND_TRACEPOINT;
	fprintf(stderr, "eptrace: backend tracepoint%s%s%s: latency brackets the port search "
			"between hooks\n", why[0] ? " (" : "", why, why[0] ? ")" : "");
	return ensure_mounts(cg2, sizeof(cg2)) || ep_tracepoint_start(l, o, cg2) ? -1 : 0;
}

/* auto: the trampoline backend, or the tracepoint one when it is not to be
 * had. On a kernel that preempts tasks inside fentry programs (preempt.h)
 * the other way round: there, with more tasks taking ports than CPUs, a
 * large share of trampoline runs is skipped (40% of bind(0) on 6.1
 * preempt=full, four processes on one CPU), while tracepoint programs run
 * unpreempted. -1 after saying why when neither is to be had. */
static int start_backend(struct ep_loader *l, const struct ep_opts *o)
{
	const char *preempt = o->backend == EP_BACKEND_TRACEPOINT ? NULL : ep_preempt_model();
	char why[256] = "";

	if (o->backend == EP_BACKEND_AUTO && preempt) {
		snprintf(why, sizeof(why), "this kernel preempts tasks inside fentry programs "
			 "(preemption: %s), and skips such a program for the other tasks on its "
			 "CPU meanwhile; --backend trampoline takes it anyway", preempt);
		if (!start_tracepoint(l, o, why))
			return 0;
		reset(l);
		fprintf(stderr, "eptrace: the tracepoint backend did not start: trying the "
				"trampoline backend\n");
		if (!start_trampoline(l, o, preempt, why, sizeof(why)))
			return 0;
		fprintf(stderr, "eptrace: nor the trampoline backend: %s\n", why);
		return -1;
	}
	if (o->backend != EP_BACKEND_TRACEPOINT) {
		if (!start_trampoline(l, o, preempt, why, sizeof(why)))
			return 0;
		if (o->backend == EP_BACKEND_TRAMPOLINE) {
			fprintf(stderr, "eptrace: --backend trampoline: %s\n", why);
			return -1;
		}
	}
	return start_tracepoint(l, o, why);
}

int ep_load(struct ep_loader *l, const struct ep_opts *o)
{
	memset(l, 0, sizeof(*l));
	l->cgroup_fd = -1;
	if (have_kernel_btf())
		return -1;
	if (start_backend(l, o)) {
		reset(l);
		return -1;
	}
	tell_helper_reads(l);
	if (ep_mapped_open(&l->mapped, l->obj) || tell_sctp(l, o)) {
		reset(l);
		return -1;
	}
	return 0;
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
	ep_mapped_close(&l->mapped);
	if (l->cgroup_fd >= 0)
		close(l->cgroup_fd);
	l->cgroup_fd = -1;
	if (l->destroy && l->skel)
		l->destroy(l->skel);
	l->skel = NULL;
	l->obj = NULL;
	l->runs_missed = NULL;
	l->ring_discards = NULL;
	l->reader_asleep = NULL;
}

/* Runs of our programs the kernel skipped because the same program was
 * already running on that CPU (a tracepoint hit again from an interrupt).
 * Once there is one, the programs are told (runs_missed). */
uint64_t ep_hook_misses(struct ep_loader *l)
{
	struct bpf_program *prog;
	uint64_t n = 0;

	if (!l->obj)
		return 0;
	bpf_object__for_each_program(prog, l->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
			n += info.recursion_misses;
	}
	if (n && l->runs_missed)
		*l->runs_missed = true;
	return n;
}

uint64_t ep_records_submitted(const struct ep_loader *l)
{
	uint64_t reserved = ep_mapped_ring_records(&l->mapped);
	uint64_t discarded = l->ring_discards ? *l->ring_discards : 0;

	return reserved > discarded ? reserved - discarded : 0;
}

bool ep_loaded(const struct ep_loader *l)
{
	return l->obj != NULL;
}

int ep_events_fd(const struct ep_loader *l)
{
	return bpf_object__find_map_fd_by_name(l->obj, "events");
}

struct ep_tables ep_tables_of(const struct ep_loader *l)
{
	struct bpf_program *op = bpf_object__find_program_by_name(l->obj, "sock_table_op");

	return (struct ep_tables){
		.socks_fd = bpf_object__find_map_fd_by_name(l->obj, "socks"),
		.slots = l->mapped.socks,
		.op_fd = op && bpf_program__autoload(op) ? bpf_program__fd(op) : -1,
		.excluded_fd = bpf_object__find_map_fd_by_name(l->obj, "cg_excluded"),
	};
}

bool ep_prog_is_hook(const struct bpf_program *p)
{
	return bpf_program__type(p) != BPF_PROG_TYPE_SYSCALL;
}

void ep_prepare_maps(struct bpf_object *obj)
{
	struct bpf_program *op = bpf_object__find_program_by_name(obj, "sock_table_op");

	if (op && libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SYSCALL, NULL) != 1)
		bpf_program__set_autoload(op, false);
	ep_mapped_size(obj);
}
