/* The trampoline backend: fentry/fexit on the kernel's port search and
 * release functions (bpf/trampoline/). All or nothing: a kernel without one
 * of the functions, without BTF for it, or without BPF trampolines gets the
 * tracepoint backend instead, and the reason is handed back, not printed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>
#include <bpf/btf.h>
#include "backend.h"
#include "trampoline.skel.h"

/* Kernel functions renamed across versions: the program names the oldest;
 * the first name the running kernel has is the one attached. */
static const struct {
	const char *prog;
	const char *names[3];
} renamed[] = {
	{ "on_tw_handover", { "inet_twsk_hashdance", "inet_twsk_hashdance_schedule", NULL } },
};

/* Programs for functions only some kernels have: left out where missing. */
static const char *const optional[] = { "on_udp_sendpage" };

static bool is_optional(struct bpf_program *prog)
{
	for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++)
		if (!strcmp(bpf_program__name(prog), optional[i]))
			return true;
	return false;
}

static void destroy(void *skel)
{
	trampoline_bpf__destroy(skel);
}

static bool has_func(const struct btf *btf, const char *name)
{
	return btf && btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) > 0;
}

/* The kernel function a program attaches to; "" for sock_table_op. */
static const char *target_of(struct bpf_program *prog)
{
	const char *slash = strchr(bpf_program__section_name(prog), '/');

	return slash ? slash + 1 : "";
}

static bool is_sctp_prog(struct bpf_program *prog)
{
	return !strncmp(target_of(prog), "sctp_", 5);
}

/* SCTP's programs go in when the sctp module is there already (loaded, or
 * built in) with every function they need; nothing here loads it. */
static void choose_sctp(struct ep_loader *l, struct trampoline_bpf *s, const struct btf *vmlinux,
			const struct ep_opts *o)
{
	struct btf *mod = NULL;
	struct bpf_program *prog;
	const char *missing = NULL;
	struct stat st;

	if (o->sctp && !stat("/sys/kernel/btf/sctp", &st))
		mod = btf__load_module_btf("sctp", (struct btf *)vmlinux);
	bpf_object__for_each_program(prog, s->obj) {
		if (is_sctp_prog(prog) && !missing && !has_func(mod, target_of(prog)) &&
		    !has_func(vmlinux, target_of(prog)))
			missing = target_of(prog);
	}
	l->sctp = o->sctp && !missing;
	bpf_object__for_each_program(prog, s->obj)
		if (is_sctp_prog(prog))
			bpf_program__set_autoload(prog, l->sctp);
	btf__free(mod);
	if (!o->sctp || l->sctp)
		return;
	if (!mod && !has_func(vmlinux, "sctp_get_port_local"))
		snprintf(l->sctp_why, sizeof(l->sctp_why), "the sctp module is not loaded");
	else
		snprintf(l->sctp_why, sizeof(l->sctp_why), "the kernel has no function %s", missing);
}

/* Points each program at a function the kernel has; false, with why, when
 * one has none. */
static bool choose_targets(struct ep_loader *l, struct trampoline_bpf *s, const struct ep_opts *o,
			   char *why, size_t len)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	struct bpf_program *prog;
	bool ok = true;

	if (!vmlinux) {
		snprintf(why, len, "no kernel BTF");
		return false;
	}
	bpf_object__for_each_program(prog, s->obj) {
		const char *name = bpf_program__name(prog);
		const char *target = target_of(prog);
		bool found = has_func(vmlinux, target);

		if (is_sctp_prog(prog) || !ep_prog_is_hook(prog))
			continue;
		for (size_t i = 0; !found && i < sizeof(renamed) / sizeof(renamed[0]); i++) {
			if (strcmp(renamed[i].prog, name))
				continue;
			for (int j = 0; !found && renamed[i].names[j]; j++) {
				if (has_func(vmlinux, renamed[i].names[j])) {
					bpf_program__set_attach_target(prog, 0, renamed[i].names[j]);
					found = true;
				}
			}
		}
		if (!found && is_optional(prog)) {
			bpf_program__set_autoload(prog, false);
			continue;
		}
		if (!found) {
			snprintf(why, len, "the kernel has no function %s to attach to", target);
			ok = false;
			break;
		}
	}
	if (ok)
		choose_sctp(l, s, vmlinux, o);
	btf__free(vmlinux);
	return ok;
}

/* Its programs read the sockets they are handed with plain loads on every
 * kernel (BTF pointers): the direct_loads knob, for addresses, stays off. */
static int open_and_load(struct ep_loader *l, const struct ep_opts *o, char *why, size_t len)
{
	struct trampoline_bpf *s = trampoline_bpf__open();
	int err;

	if (!s) {
		snprintf(why, len, "cannot open its BPF object: %s", strerror(errno));
		return -1;
	}
	ep_loader_adopt(l, s, s->obj, destroy);
	EP_SET_KNOBS(s, o, false);
	l->direct_loads = true;
	if (!choose_targets(l, s, o, why, len))
		return -1;
	ep_prepare_maps(s->obj);
	err = trampoline_bpf__load(s);
	if (!err) {
		l->ring_discards = &s->bss->ring_discards;
		l->reader_asleep = &s->bss->reader_asleep;
	}
	if (err)
		snprintf(why, len, "the kernel refused its fentry/fexit programs: %s (-v shows why)",
			 strerror(-err));
	return err ? -1 : 0;
}

int ep_trampoline_start(struct ep_loader *l, const struct ep_opts *o, char *why, size_t len)
{
	struct bpf_program *prog;
	int n = 0;

	if (ep_refused_for_test("trampoline")) {
		snprintf(why, len, "refused for a test (EPTRACE_REFUSE)");
		return -1;
	}
	if (open_and_load(l, o, why, len))
		return -1;
	bpf_object__for_each_program(prog, l->obj)
		n += bpf_program__autoload(prog) && ep_prog_is_hook(prog);
	l->links = calloc(n, sizeof(*l->links));
	if (!l->links) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	bpf_object__for_each_program(prog, l->obj) {
		struct bpf_link *link;

		if (!bpf_program__autoload(prog) || !ep_prog_is_hook(prog))
			continue;
		link = bpf_program__attach(prog);
		if (!link) {
			snprintf(why, len, "attaching %s to %s failed: %s", bpf_program__name(prog),
				 bpf_program__section_name(prog), strerror(errno));
			return -1;
		}
		l->links[l->nlinks++] = link;
	}
	l->tw_tracking = true;
	l->sockops = l->sock_hooks = l->syscalls = true;
	return 0;
}
