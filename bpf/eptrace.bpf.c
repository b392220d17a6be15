// SPDX-License-Identifier: GPL-2.0
/* eptrace: ephemeral port assignments, releases and failures.
 *
 * Brackets (see README "Latency brackets"):
 *   TCP connect  CLOSE->SYN_SENT state change .. sockops TCP_CONNECT_CB
 *   listen       CLOSE->LISTEN state change   .. sockops TCP_LISTEN_CB
 *   bind(0)      cgroup/bind4|6               .. cgroup/post_bind4|6
 *   UDP connect  cgroup/connect4|6            .. sys_exit_connect
 *   UDP sendmsg  sys_enter_send*              .. cgroup/sendmsg4|6
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_UNSPEC 0
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define ENOENT 2
#define EAGAIN 11
#define EADDRINUSE 98
#define EADDRNOTAVAIL 99

/* TCP states (include/net/tcp_states.h) */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7
#define TCP_LISTEN 10

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
}

static __always_inline void emit(const struct ep_record *r)
{
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
			      BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;

	if (bpf_ringbuf_output(&events, (void *)r, sizeof(*r), flags))
		stat_inc(EP_STAT_LOST);
	else
		stat_inc(EP_STAT_EVENTS);
}

static __always_inline bool proto_wanted(__u16 proto)
{
	if (proto == IPPROTO_TCP)
		return trace_tcp;
	if (proto == IPPROTO_UDP)
		return trace_udp;
	return false;
}

static __always_inline bool family_wanted(__u16 family)
{
	if (family == AF_INET)
		return trace_ipv4;
	if (family == AF_INET6)
		return trace_ipv6;
	return false;
}

/* The current task as owner; false when a filter rejects it. Only called in
 * the task context of the syscall that asked for the port. */
static __always_inline bool fill_owner(struct ep_record *r)
{
	__u64 id = bpf_get_current_pid_tgid();

	r->pid = id >> 32;
	r->tid = (__u32)id;
	if (targ_tgid && r->pid != targ_tgid)
		return false;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	if (targ_comm_set) {
		for (int i = 0; i < EP_COMM_LEN; i++) {
			if (r->comm[i] != targ_comm[i])
				return false;
			if (!r->comm[i])
				break;
		}
	}
	r->cgroup_id = bpf_get_current_cgroup_id();
	if (targ_cgroup && r->cgroup_id != targ_cgroup)
		return false;
	return true;
}

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* A kernel address seen as a struct the verifier lets us load from directly:
 * a plain load with a fault fixup, where each BPF_CORE_READ is a helper call
 * that copies with fault handling. Needs bpf_rdonly_cast (Linux 6.2); without
 * it (direct_loads off) the helper path is used. */
#define AS(type, p) ((const type *)bpf_rdonly_cast(p, bpf_core_type_id_kernel(type)))
#define SK_FIELD(p, field) \
	(direct_loads ? AS(struct sock, p)->field : BPF_CORE_READ((const struct sock *)(p), field))

/* Addresses, ports and namespace of a socket, read by address so that the same
 * code serves BTF pointers and addresses found by walking the fd table. */
static __always_inline bool fill_from_sk(struct ep_record *r, const struct sock *sk)
{
	__u16 family = SK_FIELD(sk, __sk_common.skc_family);
	__u16 num = SK_FIELD(sk, __sk_common.skc_num);

	if (num)
		r->lport = num;
	r->rport = bpf_ntohs(SK_FIELD(sk, __sk_common.skc_dport));
	r->netns = direct_loads ? AS(struct sock, sk)->__sk_common.skc_net.net->ns.inum
				: BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	r->proto = SK_FIELD(sk, sk_protocol);
	if (family == AF_INET) {
		__u32 l = SK_FIELD(sk, __sk_common.skc_rcv_saddr);
		__u32 d = SK_FIELD(sk, __sk_common.skc_daddr);

		r->family = 4;
		__builtin_memcpy(r->laddr, &l, 4);
		__builtin_memcpy(r->raddr, &d, 4);
	} else if (direct_loads) {
		r->family = 6;
		__builtin_memcpy(r->laddr, &AS(struct sock, sk)->__sk_common.skc_v6_rcv_saddr, 16);
		__builtin_memcpy(r->raddr, &AS(struct sock, sk)->__sk_common.skc_v6_daddr, 16);
	} else {
		r->family = 6;
		bpf_core_read(r->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(r->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	if (r->rport)
		r->flags |= EP_F_RADDR;
	else
		r->flags &= ~EP_F_RADDR;
	if (targ_netns && r->netns != targ_netns)
		return false;
	return family_wanted(family) && proto_wanted(r->proto);
}

static __always_inline __u64 sk_cookie(const struct sock *sk)
{
	return SK_FIELD(sk, __sk_common.skc_cookie.counter);
}

static __always_inline bool track(__u64 cookie, const struct sock_state *st)
{
	if (bpf_map_update_elem(&socks, &cookie, st, BPF_ANY)) {
		stat_inc(EP_STAT_SOCKS_FULL);
		return false;
	}
	return true;
}

static __always_inline void set_assigned(__u64 cookie, struct sock_state *st, __u64 now,
					 __u64 latency)
{
	st->rec.kind = EP_ALLOC;
	st->rec.ts_ns = now;
	st->rec.assign_ns = now;
	st->rec.latency_ns = latency;
	st->rec.cookie = cookie;
	st->phase = PH_ASSIGNED;
	st->sk = 0;
}

/* Report an assignment and remember its owner for the release. */
static __always_inline void assigned(__u64 cookie, struct sock_state *st, __u64 now,
				     __u64 latency)
{
	set_assigned(cookie, st, now, latency);
	/* In the table before the record is out, so that userspace never sees
	 * an assignment the table does not hold. */
	if (!track(cookie, st))
		st->rec.flags |= EP_F_UNTRACKED;
	emit(&st->rec);
}

/* The same for a pending entry, changed where it is in the table: replacing
 * it would allocate a new element and free the old one. */
static __always_inline void pending_assigned(__u64 cookie, struct sock_state *st, __u64 now,
					     __u64 latency)
{
	set_assigned(cookie, st, now, latency);
	emit(&st->rec);
}

static __always_inline void released(__u64 cookie, const struct sock_state *st, __u64 now,
				     __u8 reason, __u8 extra_flags)
{
	struct ep_record r = st->rec;

	r.kind = EP_RELEASE;
	r.ts_ns = now;
	r.reason = reason;
	r.flags |= extra_flags;
	r.latency_ns = EP_LATENCY_NONE;
	long err = bpf_map_delete_elem(&socks, &cookie);

	/* The bucket lock can time out (a lock holder's vCPU preempted): try
	 * again, and if it still fails, report the release anyway and leave the
	 * entry to userspace. Only a missing entry means someone else (the
	 * userspace TIME_WAIT resolver) owns the release. */
	for (int i = 0; i < 3 && err && err != -ENOENT; i++)
		err = bpf_map_delete_elem(&socks, &cookie);
	if (err == -ENOENT)
		return;
	if (err) {
		/* A lookup takes no lock: mark it so that no other hook releases
		 * it again before userspace removes it. */
		struct sock_state *cur = bpf_map_lookup_elem(&socks, &cookie);

		if (cur)
			cur->phase = PH_RELEASED;
		r.flags |= EP_F_STALE;
	}
	emit(&r);
}

static __always_inline void failed(struct ep_record *r, __u64 now, int err, __u8 via)
{
	r->kind = EP_FAIL;
	r->ts_ns = now;
	r->err = err;
	r->via = via;
	r->latency_ns = EP_LATENCY_NONE;
	emit(r);
}

/* ---------- TCP: state changes ---------- */

/* No sockops: the connect's port is known by the end of the handshake. */
static __always_inline void connected_without_sockops(const struct sock *sk, __u64 now)
{
	__u64 cookie = sk_cookie(sk);
	struct sock_state *st;

	st = cookie ? bpf_map_lookup_elem(&socks, &cookie) : NULL;
	if (!st || st->phase != PH_PENDING_CONNECT)
		return;
	fill_from_sk(&st->rec, sk);
	pending_assigned(cookie, st, now, EP_LATENCY_NONE);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct sock_state *st;
	__u64 cookie, now;

	/* Most of the seven or so changes of a connection matter to nobody:
	 * they return before any helper call. */
	if (newstate != TCP_CLOSE && oldstate != TCP_CLOSE &&
	    (sockops_on || newstate != TCP_ESTABLISHED))
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	now = bpf_ktime_get_ns();

	if (oldstate == TCP_CLOSE && (newstate == TCP_SYN_SENT || newstate == TCP_LISTEN)) {
		struct sock_state fresh = {};

		if (newstate == TCP_LISTEN && !sockops_on)
			return 0;
		if (sk->__sk_common.skc_num)
			return 0; /* bound before: not a selection */
		if (!fill_owner(&fresh.rec) || !fill_from_sk(&fresh.rec, sk))
			return 0;
		cookie = bpf_get_socket_cookie((void *)sk);
		fresh.rec.cookie = cookie;
		fresh.sk = (__u64)sk;
		fresh.start_ns = now;
		fresh.phase = newstate == TCP_SYN_SENT ? PH_PENDING_CONNECT : PH_PENDING_LISTEN;
		fresh.rec.via = newstate == TCP_SYN_SENT ? EP_VIA_CONNECT : EP_VIA_LISTEN;
		track(cookie, &fresh);
		return 0;
	}

	if (!sockops_on && oldstate == TCP_SYN_SENT && newstate == TCP_ESTABLISHED) {
		connected_without_sockops(sk, now);
		return 0;
	}
	if (newstate != TCP_CLOSE)
		return 0;
	cookie = sk_cookie(sk);
	if (!cookie)
		return 0;
	st = bpf_map_lookup_elem(&socks, &cookie);
	if (!st)
		return 0;

	switch (st->phase) {
	case PH_PENDING_CONNECT: {
		struct sock_state s = *st;
		const struct inet_sock *inet = (const struct inet_sock *)sk;
		__u16 sport = bpf_ntohs(direct_loads ? AS(struct inet_sock, sk)->inet_sport
						     : BPF_CORE_READ(inet, inet_sport));

		if (!sport) {
			/* inet_hash_connect() found no port */
			bpf_map_delete_elem(&socks, &cookie);
			fill_from_sk(&s.rec, sk);
			s.rec.cookie = cookie;
			failed(&s.rec, now, EADDRNOTAVAIL, EP_VIA_CONNECT);
			return 0;
		}
		/* A port was found, then connect failed before tcp_connect()
		 * (route change): no end of bracket, so no latency. */
		s.rec.lport = sport;
		assigned(cookie, &s, now, EP_LATENCY_NONE);
		released(cookie, &s, now, EP_REL_CLOSE, 0);
		return 0;
	}
	case PH_PENDING_LISTEN: {
		struct sock_state s = *st;

		bpf_map_delete_elem(&socks, &cookie);
		failed(&s.rec, now, EADDRINUSE, EP_VIA_LISTEN);
		return 0;
	}
	case PH_ASSIGNED:
		released(cookie, st, now, EP_REL_CLOSE, 0);
		return 0;
	default:
		return 0; /* PH_TIMEWAIT: the TIME_WAIT socket holds the port */
	}
}

/* A TCP socket bound by bind(0) and closed without ever changing state keeps
 * its port until here. */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(on_tcp_destroy, struct sock *sk)
{
	__u64 cookie = sk_cookie(sk);
	struct sock_state *st;

	if (!cookie)
		return 0;
	st = bpf_map_lookup_elem(&socks, &cookie);
	if (st && st->phase == PH_ASSIGNED)
		released(cookie, st, bpf_ktime_get_ns(), EP_REL_DESTROY, 0);
	return 0;
}

/* ---------- TCP: end of the connect and listen brackets ---------- */

SEC("sockops")
int on_sockops(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;
	struct sock_state *st;
	__u64 cookie, now;
	bool deferred;
	void *sk;

	if (op != BPF_SOCK_OPS_TCP_CONNECT_CB && op != BPF_SOCK_OPS_TCP_LISTEN_CB)
		return 1;
	now = bpf_ktime_get_ns();
	cookie = bpf_get_socket_cookie(skops);
	st = bpf_map_lookup_elem(&socks, &cookie);
	if (!st)
		return 1;
	if (st->phase != PH_PENDING_CONNECT && st->phase != PH_PENDING_LISTEN)
		return 1;
	sk = (void *)st->sk;
	fill_from_sk(&st->rec, sk);
	/* TCP_FASTOPEN_CONNECT defers this callback to the first send: the
	 * bracket would include the application's wait, so report none. */
	deferred = op == BPF_SOCK_OPS_TCP_CONNECT_CB &&
		   BPF_CORE_READ_BITFIELD_PROBED((struct tcp_sock *)sk, fastopen_connect);
	pending_assigned(cookie, st, now, deferred ? EP_LATENCY_NONE : now - st->start_ns);
	return 1;
}

/* ---------- TIME_WAIT: the timer of the TIME_WAIT socket ---------- */

static __always_inline struct sock_state *tw_state(struct timer_list *timer, __u64 *cookie)
{
	struct inet_timewait_sock *tw;

	if (!tw_timer_fn || (__u64)timer->function != tw_timer_fn)
		return NULL;
	tw = (void *)timer - bpf_core_field_offset(struct inet_timewait_sock, tw_timer);
	*cookie = direct_loads ? AS(struct inet_timewait_sock, tw)->__tw_common.skc_cookie.counter
			       : BPF_CORE_READ(tw, __tw_common.skc_cookie.counter);
	if (!*cookie)
		return NULL;
	return bpf_map_lookup_elem(&socks, cookie);
}

/* Armed in the hand-over to TIME_WAIT (before the full socket's CLOSE) and
 * again when the TIME_WAIT period is restarted. */
SEC("tp_btf/timer_start")
int BPF_PROG(on_timer_start, struct timer_list *timer)
{
	struct sock_state *st;
	__u64 cookie;

	st = tw_state(timer, &cookie);
	if (!st)
		return 0;
	if (st->phase == PH_ASSIGNED) {
		struct ep_record r;

		st->phase = PH_TIMEWAIT;
		st->rec.tw_start_ns = bpf_ktime_get_ns();
		r = st->rec;
		r.kind = EP_TW_START;
		r.ts_ns = r.tw_start_ns;
		r.latency_ns = EP_LATENCY_NONE;
		emit(&r);
	}
	st->cancel_ns = 0;
	return 0;
}

SEC("tp_btf/timer_expire_entry")
int BPF_PROG(on_timer_expire, struct timer_list *timer)
{
	struct sock_state *st;
	__u64 cookie;

	st = tw_state(timer, &cookie);
	if (st && st->phase == PH_TIMEWAIT)
		released(cookie, st, bpf_ktime_get_ns(), EP_REL_TW_EXPIRED, EP_F_TIMEWAIT);
	return 0;
}

/* Either the TIME_WAIT socket is being killed (reuse, reset, namespace exit)
 * or its timer is being restarted; a timer_start follows only in the second
 * case, so userspace confirms the end a moment later. */
SEC("tp_btf/timer_cancel")
int BPF_PROG(on_timer_cancel, struct timer_list *timer)
{
	struct ep_record r = {};
	struct sock_state *st;
	__u64 cookie;

	st = tw_state(timer, &cookie);
	if (!st || st->phase != PH_TIMEWAIT)
		return 0;
	st->cancel_ns = bpf_ktime_get_ns();
	r.kind = EP_TW_CANCEL;
	r.ts_ns = st->cancel_ns;
	r.cookie = cookie;
	emit(&r);
	return 0;
}

/* ---------- bind(): cgroup hooks bracket the search ---------- */

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

static __always_inline int bind_start(struct bpf_sock_addr *ctx, __u8 family)
{
	struct inflight in = {};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (!proto_wanted(ctx->protocol))
		return 1;
	in.start_ns = bpf_ktime_get_ns();
	in.via = EP_VIA_BIND;
	in.port_req = bpf_ntohs(ctx->user_port);
	in.family = family;
	in.proto = ctx->protocol;
	in.cookie = bpf_get_socket_cookie(ctx);
	user_addr(ctx, family, in.addr);
	if (bpf_map_update_elem(&inflight, &tid, &in, BPF_ANY))
		stat_inc(EP_STAT_INFLIGHT_FULL);
	return 1;
}

SEC("cgroup/bind4")
int on_bind4(struct bpf_sock_addr *ctx)
{
	return bind_start(ctx, 4);
}

SEC("cgroup/bind6")
int on_bind6(struct bpf_sock_addr *ctx)
{
	return bind_start(ctx, 6);
}

/* For cgroup sock programs the context is the struct sock itself. */
static __always_inline int bind_done(struct bpf_sock *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct sock_state s = {};
	struct inflight *in;
	__u64 now, start, cookie;
	bool fixed;

	in = bpf_map_lookup_elem(&inflight, &tid);
	if (!in || in->via != EP_VIA_BIND)
		return 1;
	start = in->start_ns;
	cookie = in->cookie;
	fixed = in->port_req != 0;
	bpf_map_delete_elem(&inflight, &tid);
	now = bpf_ktime_get_ns();
	if (!fill_owner(&s.rec) || !fill_from_sk(&s.rec, (struct sock *)ctx))
		return 1;
	s.rec.lport = ctx->src_port;
	s.rec.via = EP_VIA_BIND;
	/* A port the caller chose is no assignment, but userspace needs its
	 * holder for bind conflicts and range overlaps. */
	if (fixed)
		s.rec.flags |= EP_F_FIXED;
	assigned(cookie, &s, now, fixed ? EP_LATENCY_NONE : now - start);
	return 1;
}

SEC("cgroup/post_bind4")
int on_post_bind4(struct bpf_sock *ctx)
{
	return bind_done(ctx);
}

SEC("cgroup/post_bind6")
int on_post_bind6(struct bpf_sock *ctx)
{
	return bind_done(ctx);
}

/* Syscall tracepoints: the context is the kernel's syscall_trace_enter/_exit
 * (ret and args at offset 16), not trace_event_raw_sys_*, which belongs to
 * raw_syscalls and grows with trace_entry: on PREEMPT_RT kernels its larger
 * trace_entry moves ret past the context's end and the attach is refused. */
SEC("tracepoint/syscalls/sys_exit_bind")
int on_exit_bind(struct syscall_trace_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ep_record r = {};
	struct inflight *in;

	in = bpf_map_lookup_elem(&inflight, &tid);
	if (!in || in->via != EP_VIA_BIND)
		return 0;
	if (ctx->ret == -EADDRINUSE && fill_owner(&r)) {
		r.proto = in->proto;
		r.family = in->family;
		r.lport = in->port_req;
		r.cookie = in->cookie;
		__builtin_memcpy(r.laddr, in->addr, 16);
		r.netns = BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), nsproxy,
					net_ns, ns.inum);
		if (!targ_netns || r.netns == targ_netns)
			failed(&r, bpf_ktime_get_ns(), EADDRINUSE, EP_VIA_BIND);
	}
	bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

/* ---------- UDP: autobind in connect() and send*() ---------- */

static __always_inline struct sock *fd_to_sock(long fd)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct file **fds;
	struct file *f;
	unsigned int max;
	struct socket *so;

	if (fd < 0)
		return NULL;
	max = BPF_CORE_READ(task, files, fdt, max_fds);
	if (fd >= max)
		return NULL;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	so = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(so, sk);
}

static __always_inline struct sock *udp_sock_of(long fd)
{
	struct sock *sk = fd_to_sock(fd);
	__u16 family;

	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	return sk;
}

static __always_inline void udp_enter(long fd, __u8 via, bool only_unbound)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct inflight in = {};
	struct sock *sk;

	if (!trace_udp)
		return;
	sk = udp_sock_of(fd);
	if (!sk)
		return;
	in.was_bound = BPF_CORE_READ(sk, __sk_common.skc_num) != 0;
	if (only_unbound && in.was_bound)
		return;
	in.sk = (__u64)sk;
	in.via = via;
	in.start_ns = bpf_ktime_get_ns();
	in.cookie = sk_cookie(sk);
	if (bpf_map_update_elem(&inflight, &tid, &in, BPF_ANY))
		stat_inc(EP_STAT_INFLIGHT_FULL);
}

/* The port appeared during this syscall: report it. peer, when given, is the
 * destination of an unconnected send. */
static __always_inline void udp_assigned(struct inflight *in, __u64 cookie, __u64 now,
					 __u64 latency, const __u8 *peer, __u16 peer_port)
{
	struct sock_state s = {};

	if (!fill_owner(&s.rec) || !fill_from_sk(&s.rec, (struct sock *)in->sk))
		return;
	if (peer && !s.rec.rport) {
		__builtin_memcpy(s.rec.raddr, peer, 16);
		s.rec.rport = peer_port;
		s.rec.flags |= EP_F_RADDR;
	}
	s.rec.via = in->via;
	assigned(cookie, &s, now, latency);
}

static __always_inline void udp_exit(long ret, __u8 via)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct inflight *in;
	struct sock *sk;
	__u64 now, cookie;
	__u16 num;

	in = bpf_map_lookup_elem(&inflight, &tid);
	if (!in)
		return;
	if (in->via != via || !in->sk)
		goto out;
	sk = (struct sock *)in->sk;
	now = bpf_ktime_get_ns();
	num = SK_FIELD(sk, __sk_common.skc_num);
	cookie = in->cookie ? in->cookie : sk_cookie(sk);
	if (!in->was_bound && num) {
		udp_assigned(in, cookie, now, now - in->start_ns, NULL, 0);
	} else if (!in->was_bound && ret == -EAGAIN) {
		struct ep_record r = {};

		if (fill_owner(&r) && fill_from_sk(&r, sk)) {
			r.cookie = cookie;
			failed(&r, now, EAGAIN, via);
		}
	} else if (in->was_bound && !num && cookie) {
		/* connect(AF_UNSPEC) gave the port back */
		struct sock_state *st = bpf_map_lookup_elem(&socks, &cookie);

		if (st && st->phase == PH_ASSIGNED)
			released(cookie, st, now, EP_REL_DISCONNECT, 0);
	}
out:
	bpf_map_delete_elem(&inflight, &tid);
}

/* Only connect(AF_UNSPEC) needs the socket here (it may give a UDP port
 * back): an address connect is bracketed by the cgroup hook, without walking
 * the fd table on every connect of every process. */
SEC("tracepoint/syscalls/sys_enter_connect")
int on_enter_connect(struct syscall_trace_enter *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u16 family;

	/* A bracket open before the syscall was opened where no syscall exit
	 * followed (io_uring's connect): not this connect's. */
	if (bpf_map_lookup_elem(&inflight, &tid))
		bpf_map_delete_elem(&inflight, &tid);
	if (bpf_probe_read_user(&family, sizeof(family), (void *)ctx->args[1]) ||
	    family != AF_UNSPEC)
		return 0;
	udp_enter(ctx->args[0], EP_VIA_CONNECT, false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int on_exit_connect(struct syscall_trace_exit *ctx)
{
	udp_exit(ctx->ret, EP_VIA_CONNECT);
	return 0;
}

/* UDP connect: the cgroup hook runs right before the autobind; the syscall
 * exit sees its result. */
static __always_inline int connect_hook(struct bpf_sock_addr *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct inflight in = {};
	struct bpf_sock *sk;

	if (ctx->protocol != IPPROTO_UDP || !trace_udp || !syscalls_on)
		return 1;
	sk = ctx->sk;
	if (!sk || sk->src_port)
		return 1; /* bound already: no assignment */
	in.sk = (__u64)sk;
	in.via = EP_VIA_CONNECT;
	in.start_ns = bpf_ktime_get_ns();
	in.cookie = bpf_get_socket_cookie(ctx);
	if (bpf_map_update_elem(&inflight, &tid, &in, BPF_ANY))
		stat_inc(EP_STAT_INFLIGHT_FULL);
	return 1;
}

SEC("cgroup/connect4")
int on_connect4(struct bpf_sock_addr *ctx)
{
	return connect_hook(ctx);
}

SEC("cgroup/connect6")
int on_connect6(struct bpf_sock_addr *ctx)
{
	return connect_hook(ctx);
}

/* UDP send to an address: the autobind has already happened here. */
static __always_inline int sendmsg_hook(struct bpf_sock_addr *ctx, __u8 family)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u8 peer[16] = {};
	struct inflight *in;
	__u64 now;

	in = bpf_map_lookup_elem(&inflight, &tid);
	if (!in || in->via != EP_VIA_SENDMSG || !in->sk)
		return 1;
	now = bpf_ktime_get_ns();
	user_addr(ctx, family, peer);
	udp_assigned(in, bpf_get_socket_cookie(ctx), now, now - in->start_ns, peer,
		     bpf_ntohs(ctx->user_port));
	bpf_map_delete_elem(&inflight, &tid);
	return 1;
}

SEC("cgroup/sendmsg4")
int on_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sendmsg_hook(ctx, 4);
}

SEC("cgroup/sendmsg6")
int on_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sendmsg_hook(ctx, 6);
}

/* Only processes that made a UDP socket while traced can autobind on send:
 * every other send on the host returns after one lookup. */
static __always_inline void send_enter(long fd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (bpf_map_lookup_elem(&udp_procs, &tgid))
		udp_enter(fd, EP_VIA_SENDMSG, true);
}

SEC("cgroup/sock_create")
int on_sock_create(struct bpf_sock *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u8 one = 1;

	/* A lookup first: a hit takes no lock, an LRU update does. */
	if (ctx->protocol == IPPROTO_UDP && trace_udp &&
	    !bpf_map_lookup_elem(&udp_procs, &tgid))
		bpf_map_update_elem(&udp_procs, &tgid, &one, BPF_ANY);
	return 1;
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int on_enter_sendto(struct syscall_trace_enter *ctx)
{
	send_enter(ctx->args[0]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int on_exit_sendto(struct syscall_trace_exit *ctx)
{
	udp_exit(ctx->ret, EP_VIA_SENDMSG);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int on_enter_sendmsg(struct syscall_trace_enter *ctx)
{
	send_enter(ctx->args[0]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int on_exit_sendmsg(struct syscall_trace_exit *ctx)
{
	udp_exit(ctx->ret, EP_VIA_SENDMSG);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int on_enter_sendmmsg(struct syscall_trace_enter *ctx)
{
	send_enter(ctx->args[0]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int on_exit_sendmmsg(struct syscall_trace_exit *ctx)
{
	udp_exit(ctx->ret, EP_VIA_SENDMSG);
	return 0;
}

/* ---------- UDP release ---------- */

SEC("cgroup/sock_release")
int on_sock_release(struct bpf_sock *ctx)
{
	struct sock_state *st;
	__u64 cookie;

	if (ctx->protocol != IPPROTO_UDP)
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	st = bpf_map_lookup_elem(&socks, &cookie);
	if (st && st->phase == PH_ASSIGNED)
		released(cookie, st, bpf_ktime_get_ns(), EP_REL_UDP_CLOSE, 0);
	return 1;
}
