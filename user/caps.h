/* Capabilities: what the tracer keeps once its programs are loaded. */
#ifndef EPTRACE_CAPS_H
#define EPTRACE_CAPS_H

#include <stdint.h>

/* What stays: entering network namespaces (CAP_SYS_ADMIN), finding socket
 * owners in /proc/PID/fd (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH), and the
 * recording's journal files in any directory (CAP_DAC_OVERRIDE). */
uint64_t ep_caps_kept(void);

/* Drops every other capability from this thread's effective, permitted,
 * inheritable, ambient and bounding sets, and sets no_new_privs. Call before
 * any thread is created (capabilities are per thread). 0, or -1 after
 * printing why. */
int ep_caps_drop(void);

#endif
