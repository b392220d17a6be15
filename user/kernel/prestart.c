#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>
#include "record.h"
#include "prestart.h"

int ep_prestart_follow(int socks_fd, const struct ep_opts *o, uint32_t netns,
		       const struct ep_diag_sock *s, const struct ep_owner *owner, bool fixed)
{
	struct sock_state st = { .phase = PH_ASSIGNED };
	struct ep_record *r = &st.rec;

	r->kind = EP_ALLOC;
	r->latency_ns = EP_LATENCY_NONE;
	r->cookie = s->cookie;
	r->netns = netns;
	r->proto = s->proto;
	r->family = s->family;
	r->lport = s->lport;
	r->rport = s->rport;
	memcpy(r->laddr, s->laddr, sizeof(r->laddr));
	memcpy(r->raddr, s->raddr, sizeof(r->raddr));
	r->flags = EP_F_PRESTART | (s->rport ? EP_F_RADDR : 0) | (fixed ? EP_F_FIXED : 0);
	if (owner) {
		r->pid = r->tid = owner->pid;
		memcpy(r->comm, owner->comm, sizeof(r->comm));
	}
	/* Without an owner, a pid or comm filter leaves it out; with a cgroup
	 * filter everything (its owner's cgroup is not looked up: id 0). */
	if (!ep_opts_want(o, r))
		return 0;
	/* assign_ns stays 0: when the port was taken is not known. A socket the
	 * kernel follows already (made after the start) is left alone. */
	if (bpf_map_update_elem(socks_fd, &s->cookie, &st, BPF_NOEXIST))
		return errno == EEXIST ? 0 : -1;
	return 1;
}
