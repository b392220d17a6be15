/* Layer kernel/: talking to the kernel, loading and attaching (this header),
 * the kernel tables (tables.h, the only code that reads or writes them),
 * counters (stats.h) and capabilities (caps.h). May call agg/, config/ and
 * host/ (for the socket dumps a sweep compares with).
 *
 * Privileges, mounts, and the backend: one of two sets of BPF programs,
 * chosen whole at start (--backend). trampoline: fentry/fexit on the kernel's
 * port search and release functions, exact latency, no syscall hook.
 * tracepoint: tracepoints, cgroup hooks and sockops, for kernels without
 * BPF trampolines; latency is a bracket between hooks around the search. */
#ifndef EPTRACE_LOADER_H
#define EPTRACE_LOADER_H

#include <stdbool.h>
#include "config/options.h"
#include "kernel/mapped.h"
#include "kernel/tables.h"

struct bpf_object;
struct bpf_program;
struct bpf_link;

struct ep_loader {
	int backend;      /* enum ep_backend: the one loaded */
	void *skel;
	struct bpf_object *obj;
	void (*destroy)(void *skel);
	struct bpf_link **links;
	int nlinks;
	int cgroup_fd;
	bool tw_tracking; /* TIME_WAIT ends visible */
	bool direct_loads; /* kernel structures read with plain loads (trampoline: always) */
	bool sockops;     /* TCP connect latency and listen(0) visible */
	bool sock_hooks;  /* bind() and UDP visible */
	bool syscalls;    /* syscall tracepoints: failed binds, UDP connect/send autobind */
	volatile bool *runs_missed; /* the programs' flag: a run was skipped */
	volatile __u64 *ring_discards; /* the programs' count of records discarded */
	volatile bool *reader_asleep; /* set: the next record wakes the reader */
	bool sctp;        /* SCTP followed (trampoline, sctp module loaded) */
	char sctp_why[96]; /* why not, when it was asked for */
	struct ep_mapped mapped; /* the table and counters, read without syscalls */
};

/* 0, or -1 after naming on stderr every capability that is missing. */
int ep_check_privileges(void);
/* Loads and attaches the backend the options ask for (auto: the trampoline
 * backend when every function it needs attaches, the tracepoint backend
 * otherwise). Its first line on stderr names the backend chosen. -1 (after
 * saying why) when nothing can be seen. EPTRACE_REFUSE=trampoline, =sockops,
 * =sock_hooks, =syscalls or a program's name treats that as refused (tests
 * of the fallbacks). */
int ep_load(struct ep_loader *l, const struct ep_opts *o);
/* Stop all programs; maps stay readable until ep_unload. */
void ep_detach(struct ep_loader *l);
void ep_unload(struct ep_loader *l);
bool ep_loaded(const struct ep_loader *l);
const char *ep_backend_name(int backend);
int ep_events_fd(const struct ep_loader *l);
uint64_t ep_hook_misses(struct ep_loader *l);
/* Records the programs submitted to the ring (EP_STAT_EVENTS). */
uint64_t ep_records_submitted(const struct ep_loader *l);
struct ep_tables ep_tables_of(const struct ep_loader *l);
/* Whether a program of the object attaches to a hook (the one that does
 * not is run by userspace: sock_table_op). */
bool ep_prog_is_hook(const struct bpf_program *p);
/* Between open and load: the table's syscall program only where the kernel
 * has the program type (Linux 5.14+); the counters sized for every CPU. */
void ep_prepare_maps(struct bpf_object *obj);

#endif
