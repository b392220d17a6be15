#include <stdlib.h>
#include "tw_resolver.h"

int ep_tw_init(struct ep_tw_resolver *r, uint32_t cap)
{
	r->q = calloc(cap, sizeof(*r->q));
	r->cap = r->q ? cap : 0;
	r->head = r->len = 0;
	r->overflow = 0;
	return r->q ? 0 : -1;
}

void ep_tw_free(struct ep_tw_resolver *r)
{
	free(r->q);
	r->q = NULL;
	r->cap = r->len = 0;
}

static void pop(struct ep_tw_resolver *r, void (*confirm)(const struct ep_tw_pending *, void *),
		void *ctx)
{
	struct ep_tw_pending p = r->q[r->head];

	r->head = (r->head + 1) % r->cap;
	r->len--;
	confirm(&p, ctx);
}

void ep_tw_add(struct ep_tw_resolver *r, uint64_t cookie, uint64_t cancel_ns,
	       void (*confirm)(const struct ep_tw_pending *, void *), void *ctx)
{
	if (!r->cap)
		return;
	if (r->len == r->cap) {
		r->overflow++;
		pop(r, confirm, ctx);
	}
	r->q[(r->head + r->len) % r->cap] = (struct ep_tw_pending){ cookie, cancel_ns };
	r->len++;
}

void ep_tw_due(struct ep_tw_resolver *r, uint64_t now_ns,
	       void (*confirm)(const struct ep_tw_pending *, void *), void *ctx)
{
	while (r->len) {
		const struct ep_tw_pending *p = &r->q[r->head];

		if (now_ns != UINT64_MAX && p->cancel_ns + EP_TW_CONFIRM_NS > now_ns)
			break;
		pop(r, confirm, ctx);
	}
}
