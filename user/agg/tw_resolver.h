/* TIME_WAIT ends seen as a timer cancel wait here until a restart of the timer
 * would have shown up; then the socket table decides. */
#ifndef EPTRACE_TW_RESOLVER_H
#define EPTRACE_TW_RESOLVER_H

#include <stdint.h>

#define EP_TW_CONFIRM_NS (50ULL * 1000 * 1000)

struct ep_tw_pending {
	uint64_t cookie;
	uint64_t cancel_ns;
};

struct ep_tw_resolver {
	struct ep_tw_pending *q;
	uint32_t cap, head, len;
	uint64_t overflow; /* confirmed early because the queue was full */
};

int ep_tw_init(struct ep_tw_resolver *r, uint32_t cap);
void ep_tw_free(struct ep_tw_resolver *r);
/* Queue a cancel; when full, the oldest is handed to confirm first. */
void ep_tw_add(struct ep_tw_resolver *r, uint64_t cookie, uint64_t cancel_ns,
	       void (*confirm)(const struct ep_tw_pending *, void *), void *ctx);
/* Hand every entry older than now - EP_TW_CONFIRM_NS (all when now is ~0). */
void ep_tw_due(struct ep_tw_resolver *r, uint64_t now_ns,
	       void (*confirm)(const struct ep_tw_pending *, void *), void *ctx);

#endif
