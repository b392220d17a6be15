/* Sockets from before the trace: handed to the kernel's socket table so that
 * their releases are reported like any other (flagged EP_F_PRESTART). */
#ifndef EPTRACE_PRESTART_H
#define EPTRACE_PRESTART_H

#include <stdbool.h>
#include <stdint.h>
#include "config/options.h"
#include "host/owners.h"
#include "host/sockdiag.h"

/* 1 if the socket was added, 0 if filtered out or already followed, -1 on error. */
int ep_prestart_follow(int socks_fd, const struct ep_opts *o, uint32_t netns,
		       const struct ep_diag_sock *s, const struct ep_owner *owner, bool fixed);

#endif
