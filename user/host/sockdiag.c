/* Socket table of the current network namespace via NETLINK_SOCK_DIAG. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
#include "sockdiag.h"

/* The kernel never builds a dump message larger than 32 KiB. */
#define RECV_BUF 32768
#define RECV_TIMEOUT_S 5
/* Far more than any real table needs; only a guard against endless input. */
#define MAX_BATCHES (1 << 20)

struct dump_req {
	uint8_t family, proto;
	uint32_t seq;
	void (*cb)(const struct ep_diag_sock *s, void *ctx);
	void *ctx;
	int count;
};

static int diag_open(void)
{
	struct timeval tv = { .tv_sec = RECV_TIMEOUT_S };
	int fd;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	/* a dump that stops without NLMSG_DONE must not block us forever */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int send_req(int fd, const struct dump_req *d)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	ssize_t n;

	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nlh.nlmsg_seq = d->seq;
	req.r.sdiag_family = d->family;
	req.r.sdiag_protocol = d->proto;
	req.r.idiag_states = ~0U;
	do {
		n = sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(req) ? 0 : -EIO;
}

/* One datagram from the kernel: its length, 0 to ignore it, or -errno. */
static int recv_batch(int fd, void *buf, size_t len)
{
	struct sockaddr_nl sa;
	struct iovec iov = { buf, len };
	struct msghdr msg = {
		.msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov, .msg_iovlen = 1,
	};
	ssize_t n;

	do {
		n = recvmsg(fd, &msg, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
	if (n == 0)
		return -EIO;
	if (msg.msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	if (msg.msg_namelen < sizeof(sa) || sa.nl_pid != 0)
		return 0;
	return (int)n;
}

static void emit_sock(struct dump_req *d, const struct inet_diag_msg *m)
{
	struct ep_diag_sock s = {
		.proto = d->proto,
		.family = m->idiag_family == AF_INET6 ? 6 : 4,
		.state = m->idiag_state,
		.lport = ntohs(m->id.idiag_sport),
		.cookie = m->id.idiag_cookie[0] | (uint64_t)m->id.idiag_cookie[1] << 32,
		.inode = m->idiag_inode,
		.uid = m->idiag_uid,
		.rport = ntohs(m->id.idiag_dport),
	};

	memcpy(s.laddr, m->id.idiag_src, s.family == 6 ? 16 : 4);
	memcpy(s.raddr, m->id.idiag_dst, s.family == 6 ? 16 : 4);

	if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
		return;
	d->cb(&s, d->ctx);
	d->count++;
}

/* 1 once the dump is complete, 0 to read on, or -errno. */
static int handle_batch(struct dump_req *d, void *buf, int len)
{
	struct nlmsghdr *nlh;

	for (nlh = buf; NLMSG_OK(nlh, len); nlh = NLMSG_NEXT(nlh, len)) {
		if (nlh->nlmsg_seq != d->seq)
			continue;
		if (nlh->nlmsg_type == NLMSG_DONE) {
			int err = 0;

			if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(err)))
				memcpy(&err, NLMSG_DATA(nlh), sizeof(err));
			return err < 0 ? err : 1;
		}
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr e;

			if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(e)))
				return -EIO;
			memcpy(&e, NLMSG_DATA(nlh), sizeof(e));
			return e.error < 0 ? e.error : 1;
		}
		if (nlh->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
		    nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
			emit_sock(d, NLMSG_DATA(nlh));
	}
	return 0;
}

static int dump_one(int fd, struct dump_req *d)
{
	/* long-aligned, as nlmsghdr access needs */
	long buf[RECV_BUF / sizeof(long)];
	int n, r;

	r = send_req(fd, d);
	if (r)
		return r;
	for (int i = 0; i < MAX_BATCHES; i++) {
		n = recv_batch(fd, buf, sizeof(buf));
		if (n < 0)
			return n;
		r = handle_batch(d, buf, n);
		if (r)
			return r < 0 ? r : 0;
	}
	return -E2BIG;
}

int ep_sockdiag_dump(void (*cb)(const struct ep_diag_sock *s, void *ctx), void *ctx)
{
	static const uint8_t families[] = { AF_INET, AF_INET6 };
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	struct dump_req d = { .cb = cb, .ctx = ctx };
	int fd, err = 0;

	fd = diag_open();
	if (fd < 0)
		return fd;
	for (size_t f = 0; f < 2 && !err; f++) {
		for (size_t p = 0; p < 2 && !err; p++) {
			d.family = families[f];
			d.proto = protos[p];
			d.seq++;
			err = dump_one(fd, &d);
			/* ENOENT: no diag handler for this protocol (module missing) */
			if (err == -ENOENT)
				err = 0;
		}
	}
	close(fd);
	return err ? err : d.count;
}
