/* Whether the kernel preempts a task inside a BPF program it runs in task
 * context. fentry/fexit programs run with preemption on; the kernel guards
 * each against recursion with a per-CPU counter, so while one task is
 * preempted inside a program, that program is skipped (counted as a miss)
 * for every other task on the CPU. Tracepoint programs run with preemption
 * off. */
#ifndef EPTRACE_PREEMPT_H
#define EPTRACE_PREEMPT_H

/* What the kernel's own files say, any of them NULL when unreadable:
 * uts_version  uname's version ("#1 SMP PREEMPT_DYNAMIC ..."),
 * sched_preempt  debugfs sched/preempt ("none voluntary (full) lazy"),
 * cmdline  /proc/cmdline, config  the kernel's build config (its text).
 * Returns the preemption model's name ("PREEMPT_RT", "full", "lazy") when
 * tasks are preempted in kernel code, NULL when they are not (none,
 * voluntary) or nothing says. */
const char *ep_preempt_model_of(const char *uts_version, const char *sched_preempt,
				const char *cmdline, const char *config);

/* The same, read from this machine. */
const char *ep_preempt_model(void);

#endif
