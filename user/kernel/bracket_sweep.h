/* Per-thread brackets (the kernel's inflight table) that no syscall exit
 * closed: opened by io_uring's bind or connect, or by a thread gone since.
 * The kernel drops them at the thread's next connect(); the rest are removed
 * here once older than EP_BRACKET_MAX_NS, so that the table never fills. */
#ifndef EPTRACE_BRACKET_SWEEP_H
#define EPTRACE_BRACKET_SWEEP_H

#include <stddef.h>
#include <stdint.h>

/* now: CLOCK_MONOTONIC ns. Returns the entries removed. */
size_t ep_sweep_brackets(int inflight_fd, uint64_t now);

#endif
