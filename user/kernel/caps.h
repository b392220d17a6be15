/* Capabilities: what the tracer keeps once its programs are loaded. */
#ifndef EPTRACE_CAPS_H
#define EPTRACE_CAPS_H

#include <stdbool.h>
#include <stdint.h>

/* Keeps what is still needed: entering network namespaces (CAP_SYS_ADMIN),
 * finding socket owners in /proc/PID/fd (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH),
 * the recording's journal files in any directory (CAP_DAC_OVERRIDE), and with
 * bind_service the exporter's port below 1024 (CAP_NET_BIND_SERVICE).
 * Drops every other capability from this thread's effective, permitted,
 * inheritable, ambient and bounding sets, and sets no_new_privs. Call before
 * any thread is created (capabilities are per thread). 0, or -1 after
 * printing why. */
int ep_caps_drop(bool bind_service);

#endif
