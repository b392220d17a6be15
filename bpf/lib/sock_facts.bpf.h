/* SPDX-License-Identifier: GPL-2.0 */
/* What a record says about a socket (addresses, ports, protocol, namespace,
 * cookie), read by plain loads where the kernel allows it (direct_loads) and
 * by helper reads elsewhere; and the address a sock_addr hook was given. */
#ifndef EPTRACE_SOCK_FACTS_BPF_H
#define EPTRACE_SOCK_FACTS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "lib/maps.bpf.h"
#include "lib/kernel_defs.bpf.h"
#include "lib/owner.bpf.h"

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* A kernel address seen as a struct the verifier lets us load from directly:
 * a plain load with a fault fixup, where each BPF_CORE_READ is a helper call
 * that copies with fault handling. Needs bpf_rdonly_cast (Linux 6.2); without
 * it (direct_loads off) the helper path is used. */
#define AS(type, p) ((const type *)bpf_rdonly_cast(p, bpf_core_type_id_kernel(type)))
#define SK_FIELD(p, field) \
	(direct_loads ? AS(struct sock, p)->field : BPF_CORE_READ((const struct sock *)(p), field))

/* The namespace of a cgroup socket hook's socket (ctx) if it is the known
 * one (maps.bpf.h), by its cookie from a helper; else 0. */
static __always_inline __u32 ctx_known_netns(void *ctx)
{
	return known_netns_cookie && bpf_get_netns_cookie(ctx) == known_netns_cookie ?
		       known_netns : 0;
}

/* The same, any other namespace's by a read. */
static __always_inline __u32 ctx_netns(void *ctx)
{
	const struct sock *sk = ctx;
	__u32 netns = ctx_known_netns(ctx);

	if (netns)
		return netns;
	return direct_loads ? AS(struct sock, sk)->__sk_common.skc_net.net->ns.inum
			    : BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* A record has a peer when its remote port is set. */
static __always_inline void raddr_flag(struct ep_record *r)
{
	if (r->rport)
		r->flags |= EP_F_RADDR;
	else
		r->flags &= ~EP_F_RADDR;
}

/* Both readers end here: the remote flag, and the filters set before load. */
static __always_inline bool facts_filtered(struct ep_record *r, __u16 family)
{
	raddr_flag(r);
	if (targ_netns && r->netns != targ_netns)
		return false;
	return family_wanted(family) && proto_wanted(r->proto);
}

/* What a record needs of sock_common, which on the usual layout (every
 * kernel since 4.x built with IPv6) lies in its first 96 bytes: one helper
 * read where each field's own read would cost about as much as the lot. */
struct sk_head {
	__be32 daddr;
	__be32 rcv_saddr;
	__u32 hash;
	__be16 dport;
	__u16 num;
	__u16 family;
	__u8 skipped[30]; /* state, flags, bound device, bind node, proto */
	__u64 net;        /* struct net * */
	__u8 v6_daddr[16];
	__u8 v6_rcv_saddr[16];
	__u64 cookie;
};

#define SK_HEAD_AT(field, at) \
	(bpf_core_field_offset(struct sock, __sk_common.field) - \
	 bpf_core_field_offset(struct sock, __sk_common.skc_daddr) == (at))

static __always_inline bool sk_head_read(const struct sock *sk, struct sk_head *h)
{
	if (!SK_HEAD_AT(skc_rcv_saddr, 4) || !SK_HEAD_AT(skc_dport, 12) ||
	    !SK_HEAD_AT(skc_num, 14) || !SK_HEAD_AT(skc_family, 16) ||
	    !SK_HEAD_AT(skc_net, 48) || !SK_HEAD_AT(skc_v6_daddr, 56) ||
	    !SK_HEAD_AT(skc_v6_rcv_saddr, 72) || !SK_HEAD_AT(skc_cookie, 88))
		return false;
	return !bpf_probe_read_kernel(h, sizeof(*h), &sk->__sk_common.skc_daddr);
}

/* The head by plain loads where the kernel allows them, else by one helper
 * read, else (another layout) field by field. */
static __always_inline void sk_head_of(const struct sock *sk, struct sk_head *h)
{
	if (!direct_loads && sk_head_read(sk, h))
		return;
	h->family = SK_FIELD(sk, __sk_common.skc_family);
	h->num = SK_FIELD(sk, __sk_common.skc_num);
	h->dport = SK_FIELD(sk, __sk_common.skc_dport);
	h->rcv_saddr = SK_FIELD(sk, __sk_common.skc_rcv_saddr);
	h->daddr = SK_FIELD(sk, __sk_common.skc_daddr);
	h->net = (__u64)SK_FIELD(sk, __sk_common.skc_net.net);
	h->cookie = SK_FIELD(sk, __sk_common.skc_cookie.counter);
	if (h->family != AF_INET6)
		return;
	if (direct_loads) {
		__builtin_memcpy(h->v6_daddr, &AS(struct sock, sk)->__sk_common.skc_v6_daddr, 16);
		__builtin_memcpy(h->v6_rcv_saddr,
				 &AS(struct sock, sk)->__sk_common.skc_v6_rcv_saddr, 16);
	} else {
		bpf_core_read(h->v6_daddr, 16, &sk->__sk_common.skc_v6_daddr);
		bpf_core_read(h->v6_rcv_saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	}
}

/* Addresses, ports and namespace of a socket whose head the caller read,
 * by address so that the same code serves BTF pointers and addresses found
 * by walking the fd table. proto: the socket's, when the caller knows it,
 * else 0. */
static __always_inline bool fill_from_head(struct ep_record *r, const struct sock *sk,
					   const struct sk_head *h, __u8 proto)
{
	const struct net *net = (const struct net *)h->net;

	if (h->num)
		r->lport = h->num;
	r->rport = bpf_ntohs(h->dport);
	/* a socket's namespace never changes: one its entry knows is not read */
	if (!r->netns)
		r->netns = direct_loads ? AS(struct net, net)->ns.inum : BPF_CORE_READ(net, ns.inum);
	r->proto = proto ?: SK_FIELD(sk, sk_protocol);
	if (h->family == AF_INET) {
		r->family = 4;
		__builtin_memcpy(r->laddr, &h->rcv_saddr, 4);
		__builtin_memcpy(r->raddr, &h->daddr, 4);
	} else {
		r->family = 6;
		__builtin_memcpy(r->laddr, h->v6_rcv_saddr, 16);
		__builtin_memcpy(r->raddr, h->v6_daddr, 16);
	}
	return facts_filtered(r, h->family);
}

static __always_inline bool fill_from_sk(struct ep_record *r, const struct sock *sk)
{
	struct sk_head h;

	sk_head_of(sk, &h);
	return fill_from_head(r, sk, &h, 0);
}

/* The same from a pointer the verifier knows as a struct sock (a traced
 * function's argument): plain loads on every kernel, no helper calls. */
static __always_inline bool fill_from_btf_sk(struct ep_record *r, const struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;
	__u16 num = sk->__sk_common.skc_num;

	if (num)
		r->lport = num;
	r->rport = bpf_ntohs(sk->__sk_common.skc_dport);
	r->netns = sk->__sk_common.skc_net.net->ns.inum;
	r->proto = sk->sk_protocol;
	if (family == AF_INET) {
		__u32 l = sk->__sk_common.skc_rcv_saddr, d = sk->__sk_common.skc_daddr;

		r->family = 4;
		__builtin_memcpy(r->laddr, &l, 4);
		__builtin_memcpy(r->raddr, &d, 4);
	} else {
		r->family = 6;
		__builtin_memcpy(r->laddr, &sk->__sk_common.skc_v6_rcv_saddr, 16);
		__builtin_memcpy(r->raddr, &sk->__sk_common.skc_v6_daddr, 16);
	}
	return facts_filtered(r, family);
}

static __always_inline __u64 btf_sk_cookie(const struct sock *sk)
{
	return sk->__sk_common.skc_cookie.counter;
}

/* The same after bind(), in a cgroup post_bind program, whose context is
 * the socket: its ports and addresses are context loads, not reads; only
 * the namespace is read. family (AF_INET or AF_INET6) must be the
 * program's own: each may load only its family's source address. A socket
 * being bound has no peer yet. */
static __always_inline bool fill_from_bound_ctx(struct ep_record *r, struct bpf_sock *ctx,
						__u16 family)
{
	r->lport = ctx->src_port;
	r->rport = 0;
	r->netns = ctx_netns(ctx);
	r->proto = ctx->protocol;
	if (family == AF_INET) {
		__u32 l = ctx->src_ip4;

		r->family = 4;
		__builtin_memcpy(r->laddr, &l, 4);
	} else {
		/* one load per word, each from the context pointer itself: the
		 * verifier refuses a load through an offset context pointer */
		__u32 l[4];

		l[0] = ctx->src_ip6[0];
		barrier_var(ctx);
		l[1] = ctx->src_ip6[1];
		barrier_var(ctx);
		l[2] = ctx->src_ip6[2];
		barrier_var(ctx);
		l[3] = ctx->src_ip6[3];
		r->family = 6;
		__builtin_memcpy(r->laddr, l, 16);
	}
	return facts_filtered(r, family);
}

/* A pending connect's or listen's port and addresses at the sockops
 * callback that ends its bracket: context loads, where reading the socket
 * takes four helper reads on kernels without bpf_rdonly_cast. Namespace,
 * protocol and the filters' verdict stay as the bracket's start found them. */
static __always_inline void fill_from_sockops(struct ep_record *r, struct bpf_sock_ops *ctx)
{
	__u16 lport = ctx->local_port;

	if (lport)
		r->lport = lport;
	r->rport = bpf_ntohl(ctx->remote_port) & 0xffff;
	if (ctx->family == AF_INET) {
		__u32 l = ctx->local_ip4, d = ctx->remote_ip4;

		__builtin_memcpy(r->laddr, &l, 4);
		__builtin_memcpy(r->raddr, &d, 4);
	} else {
		__u32 l[4] = { ctx->local_ip6[0], ctx->local_ip6[1], ctx->local_ip6[2],
			       ctx->local_ip6[3] };
		__u32 d[4] = { ctx->remote_ip6[0], ctx->remote_ip6[1], ctx->remote_ip6[2],
			       ctx->remote_ip6[3] };

		__builtin_memcpy(r->laddr, l, 16);
		__builtin_memcpy(r->raddr, d, 16);
	}
	raddr_flag(r);
}

static __always_inline __u64 sk_cookie(const struct sock *sk)
{
	return SK_FIELD(sk, __sk_common.skc_cookie.counter);
}

/* The address a sock_addr hook was given; family is a compile-time constant so
 * that only the matching context fields are read. */
static __always_inline void user_addr(struct bpf_sock_addr *ctx, __u8 family, __u8 out[16])
{
	if (family == 4) {
		__u32 a = ctx->user_ip4;

		__builtin_memcpy(out, &a, 4);
	} else {
		__u32 a[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
			       ctx->user_ip6[3] };

		__builtin_memcpy(out, a, 16);
	}
}

#endif
