/* Ground-truth workload: performs every kind of ephemeral port assignment,
 * failure and release, and prints one JSON line per fact it observed itself
 * (getsockname, errno). Run inside a fresh network namespace.
 *
 *   workload all       every case below
 *   workload tw        one TCP connection closed actively (TIME_WAIT)
 *   workload uring     one UDP connect made through io_uring (no connect()
 *                      syscall): prints kind "unsupported" where the
 *                      kernel has no io_uring
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

static int tcp_port4, tcp_port6, udp_port4, udp_port6;
static int lst4, lst6;

static void die(const char *what)
{
	fprintf(stderr, "workload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		die("getsockname");
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void fact(const char *kind, const char *cas, const char *proto, int family,
		 const char *via, int port, const char *extra)
{
	char comm[17] = {};

	prctl(PR_GET_NAME, comm);
	printf("{\"kind\":\"%s\",\"case\":\"%s\",\"proto\":\"%s\",\"family\":%d,\"via\":\"%s\","
	       "\"lport\":%d,\"pid\":%d,\"tid\":%ld,\"comm\":\"%s\"%s%s}\n",
	       kind, cas, proto, family, via, port, getpid(), (long)syscall(SYS_gettid), comm,
	       extra ? "," : "", extra ? extra : "");
	fflush(stdout);
}

static socklen_t addr_of(int family, int mapped, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == 4) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*a);
	}
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	if (mapped)
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &a->sin6_addr);
	else
		a->sin6_addr = in6addr_loopback;
	return sizeof(*a);
}

static int sock(int family, int type)
{
	int fd = socket(family == 4 ? AF_INET : AF_INET6, type, 0);

	if (fd < 0)
		die("socket");
	return fd;
}

static void set_range(int fd, int lo, int hi)
{
	unsigned int range = (unsigned int)lo | ((unsigned int)hi << 16);

	if (setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range, sizeof(range)))
		die("IP_LOCAL_PORT_RANGE");
}

static void drain_accept(void)
{
	int lst[2] = { lst4, lst6 };

	for (int i = 0; i < 2; i++) {
		int a;

		while ((a = accept4(lst[i], NULL, NULL, SOCK_NONBLOCK)) >= 0)
			close(a); /* accepted sockets are never assignments */
	}
}

static void setup_servers(void)
{
	struct sockaddr_storage ss;
	int one = 1;

	/* Fixed ports outside the ephemeral range: not assignments. */
	tcp_port4 = 2000, tcp_port6 = 2001, udp_port4 = 2002, udp_port6 = 2003;
	lst4 = sock(4, SOCK_STREAM | SOCK_NONBLOCK);
	setsockopt(lst4, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lst4, (struct sockaddr *)&ss, addr_of(4, 0, tcp_port4, &ss)) || listen(lst4, 512))
		die("listen4");
	lst6 = sock(6, SOCK_STREAM | SOCK_NONBLOCK);
	setsockopt(lst6, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lst6, (struct sockaddr *)&ss, addr_of(6, 0, tcp_port6, &ss)) || listen(lst6, 512))
		die("listen6");
	int u4 = sock(4, SOCK_DGRAM), u6 = sock(6, SOCK_DGRAM);

	if (bind(u4, (struct sockaddr *)&ss, addr_of(4, 0, udp_port4, &ss)) ||
	    bind(u6, (struct sockaddr *)&ss, addr_of(6, 0, udp_port6, &ss)))
		die("udp servers");
	fact("fixed", "servers", "tcp", 4, "bind", tcp_port4, NULL);
	fact("fixed", "servers", "tcp", 6, "bind", tcp_port6, NULL);
	fact("fixed", "servers", "udp", 4, "bind", udp_port4, NULL);
	fact("fixed", "servers", "udp", 6, "bind", udp_port6, NULL);
}

/* TCP connect; close_first selects who closes: the client (TIME_WAIT on the
 * client's port) or the server (the client's close is passive). */
static void tcp_connect_case(const char *cas, int family, int mapped, int nonblock,
			     int no_port, int client_closes_first)
{
	struct sockaddr_storage ss;
	int port = family == 4 || mapped ? tcp_port4 : tcp_port6;
	int fd = sock(family, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0));
	socklen_t len = addr_of(mapped ? 6 : family, mapped, port, &ss);

	if (no_port) {
		struct sockaddr_storage b;
		int one = 1;

		if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) ||
		    bind(fd, (struct sockaddr *)&b, addr_of(family, mapped, 0, &b)))
			die("bind no_port");
	}
	if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS)
		die("connect");
	if (nonblock) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		poll(&p, 1, 5000);
	}
	fact("alloc", cas, "tcp", family, "connect", local_port(fd),
	     client_closes_first ? "\"release\":\"timewait\"" : "\"release\":\"close\"");
	if (client_closes_first) {
		close(fd);
		drain_accept();
	} else {
		int lst = family == 4 || mapped ? lst4 : lst6;
		struct pollfd p = { .fd = lst, .events = POLLIN };
		int a;

		poll(&p, 1, 5000);
		a = accept(lst, NULL, NULL);
		close(a); /* server closes first: no TIME_WAIT on the client */
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		poll(&p, 1, 5000);
		close(fd);
	}
}

static void bind0_case(const char *cas, const char *proto, int family)
{
	struct sockaddr_storage ss;
	int fd = sock(family, !strcmp(proto, "tcp") ? SOCK_STREAM : SOCK_DGRAM);

	if (bind(fd, (struct sockaddr *)&ss, addr_of(family, 0, 0, &ss)))
		die("bind0");
	fact("alloc", cas, proto, family, "bind", local_port(fd), "\"release\":\"close\"");
	close(fd);
}

static void listen_case(const char *cas, int family)
{
	int fd = sock(family, SOCK_STREAM);

	if (listen(fd, 4))
		die("listen");
	fact("alloc", cas, "tcp", family, "listen", local_port(fd), "\"release\":\"close\"");
	close(fd);
}

static void udp_connect_case(const char *cas, int family, int mapped, int disconnect)
{
	struct sockaddr_storage ss;
	int fd = sock(mapped ? 6 : family, SOCK_DGRAM);
	socklen_t len = addr_of(mapped ? 6 : family, mapped,
				family == 4 || mapped ? udp_port4 : udp_port6, &ss);

	if (connect(fd, (struct sockaddr *)&ss, len))
		die("udp connect");
	fact("alloc", cas, "udp", mapped ? 6 : family, "connect", local_port(fd),
	     disconnect ? "\"release\":\"disconnect\"" : "\"release\":\"close\"");
	if (disconnect) {
		struct sockaddr un = { .sa_family = AF_UNSPEC };

		if (connect(fd, &un, sizeof(un)))
			die("disconnect");
	}
	if (disconnect == 2) {
		/* without its port again: the next send autobinds anew */
		if (sendto(fd, "x", 1, 0, (struct sockaddr *)&ss, len) < 0)
			die("send after disconnect");
		fact("alloc", "udp4_send_after_disconnect", "udp", family, "sendmsg",
		     local_port(fd), "\"release\":\"close\"");
	}
	close(fd);
}

/* One IORING_OP_CONNECT on a ring of one entry, waited for: its result
 * (-errno), or the io_uring call's failure as -errno. */
static int uring_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct io_uring_params p = { 0 };
	int ring = (int)syscall(__NR_io_uring_setup, 1, &p), res;
	size_t sq_len, cq_len, sqe_len;
	uint8_t *sq, *cq;
	struct io_uring_sqe *sqe;
	unsigned tail, idx;

	if (ring < 0)
		return -errno;
	sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	sqe_len = p.sq_entries * sizeof(struct io_uring_sqe);
	sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED, ring, IORING_OFF_SQ_RING);
	cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED, ring, IORING_OFF_CQ_RING);
	sqe = mmap(NULL, sqe_len, PROT_READ | PROT_WRITE, MAP_SHARED, ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqe == MAP_FAILED)
		die("io_uring mmap");
	tail = *(unsigned *)(sq + p.sq_off.tail);
	idx = tail & *(unsigned *)(sq + p.sq_off.ring_mask);
	memset(&sqe[idx], 0, sizeof(sqe[idx]));
	sqe[idx].opcode = IORING_OP_CONNECT;
	sqe[idx].fd = fd;
	sqe[idx].addr = (uint64_t)(uintptr_t)sa;
	sqe[idx].off = len; /* the address length (addr2) */
	((unsigned *)(sq + p.sq_off.array))[idx] = idx;
	__atomic_store_n((unsigned *)(sq + p.sq_off.tail), tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		res = -errno;
	else
		res = ((struct io_uring_cqe *)(cq + p.cq_off.cqes))
			[*(unsigned *)(cq + p.cq_off.head) & *(unsigned *)(cq + p.cq_off.ring_mask)].res;
	munmap(sq, sq_len);
	munmap(cq, cq_len);
	munmap(sqe, sqe_len);
	close(ring);
	return res;
}

/* A UDP connect with no connect() syscall, hence no syscall exit. */
static void uring_connect_case(const char *cas)
{
	struct sockaddr_storage ss;
	int fd = sock(4, SOCK_DGRAM);
	socklen_t len = addr_of(4, 0, udp_port4, &ss);
	int res = uring_connect(fd, (struct sockaddr *)&ss, len);

	if (res == -ENOSYS || res == -EPERM || res == -EINVAL) {
		fact("unsupported", cas, "udp", 4, "connect", 0, NULL);
		close(fd);
		return;
	}
	if (res) {
		errno = -res;
		die("io_uring connect");
	}
	fact("alloc", cas, "udp", 4, "connect", local_port(fd), "\"release\":\"close\"");
	close(fd);
}

/* send() with no address on an unconnected socket fails (EDESTADDRREQ), but
 * only after the autobind: the port is held until close. */
static void udp_unaddressed_send_case(const char *cas)
{
	int fd = sock(4, SOCK_DGRAM);

	if (send(fd, "x", 1, 0) == 0 || errno != EDESTADDRREQ)
		die("unaddressed send");
	fact("alloc", cas, "udp", 4, "sendmsg", local_port(fd), "\"release\":\"close\"");
	close(fd);
}

static void udp_send_case(const char *cas, int family, int how)
{
	struct sockaddr_storage ss;
	int fd = sock(family, SOCK_DGRAM);
	socklen_t len = addr_of(family, 0, family == 4 ? udp_port4 : udp_port6, &ss);
	char b = 'x';
	struct iovec iov = { &b, 1 };
	struct msghdr mh = { .msg_name = &ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1 };
	struct mmsghdr mm[2] = { { .msg_hdr = mh }, { .msg_hdr = mh } };
	int r;

	if (how == 0)
		r = sendto(fd, &b, 1, 0, (struct sockaddr *)&ss, len);
	else if (how == 1)
		r = sendmsg(fd, &mh, 0);
	else
		r = sendmmsg(fd, mm, 2, 0);
	if (r < 0)
		die("udp send");
	fact("alloc", cas, "udp", family, "sendmsg", local_port(fd), "\"release\":\"close\"");
	close(fd);
}

/* bind(0) narrowed to one port: the socket that then holds it. */
static int hold_port(int type, int port, const char *cas, const char *proto, int *held)
{
	struct sockaddr_storage ss;
	int fd = sock(4, type);

	set_range(fd, port, port);
	if (bind(fd, (struct sockaddr *)&ss, addr_of(4, 0, 0, &ss)))
		die("holder bind");
	*held = local_port(fd);
	fact("alloc", cas, proto, 4, "bind", *held, "\"release\":\"close\"");
	return fd;
}

/* The call must fail with want; then the refusal is a fact. */
static void expect_refused(int rc, int want, const char *cas, const char *proto,
			   const char *via, int port, const char *extra)
{
	if (rc == 0 || errno != want) {
		fprintf(stderr, "workload: %s: expected %s, got %s\n", cas, strerrorname_np(want),
			rc == 0 ? "success" : strerror(errno));
		exit(1);
	}
	fact("fail", cas, proto, 4, via, port, extra);
}

/* A port held by one socket, then asked for by narrowed ranges. */
static void failure_cases(void)
{
	struct sockaddr_storage ss;
	int port, uport, fd;
	int holder = hold_port(SOCK_STREAM, 45000, "holder_tcp", "tcp", &port);
	int uholder = hold_port(SOCK_DGRAM, 45010, "holder_udp", "udp", &uport);

	fd = sock(4, SOCK_STREAM);
	set_range(fd, port, port);
	addr_of(4, 0, tcp_port4, &ss);
	expect_refused(connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)),
		       EADDRNOTAVAIL, "connect_exhausted", "tcp", "connect", 0,
		       "\"errno\":\"EADDRNOTAVAIL\"");
	close(fd);

	fd = sock(4, SOCK_STREAM);
	set_range(fd, port, port);
	expect_refused(bind(fd, (struct sockaddr *)&ss, addr_of(4, 0, 0, &ss)), EADDRINUSE,
		       "bind0_exhausted", "tcp", "bind", 0, "\"errno\":\"EADDRINUSE\"");
	close(fd);

	fd = sock(4, SOCK_STREAM);
	expect_refused(bind(fd, (struct sockaddr *)&ss, addr_of(4, 0, port, &ss)), EADDRINUSE,
		       "bind_fixed_in_use", "tcp", "bind", port, "\"errno\":\"EADDRINUSE\"");
	close(fd);

	fd = sock(4, SOCK_DGRAM);
	set_range(fd, uport, uport);
	addr_of(4, 0, udp_port4, &ss);
	expect_refused(connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), EAGAIN,
		       "udp_autobind_exhausted", "udp", "connect", 0, "\"errno\":\"EAGAIN\"");
	close(fd);

	fd = sock(4, SOCK_DGRAM);
	set_range(fd, uport, uport);
	addr_of(4, 0, udp_port4, &ss);
	expect_refused(sendto(fd, "x", 1, 0, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)),
		       EAGAIN, "udp_send_autobind_exhausted", "udp", "sendmsg", 0,
		       "\"errno\":\"EAGAIN\"");
	close(fd);
	close(holder);
	close(uholder);
}

static void child_case(void)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		prctl(PR_SET_NAME, "ep-child");
		tcp_connect_case("child_tcp4", 4, 0, 0, 0, 0);
		udp_connect_case("child_udp4", 4, 0, 0);
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "all";

	prctl(PR_SET_NAME, "ep-workload");
	setup_servers();
	if (!strcmp(what, "uring")) {
		uring_connect_case("udp4_uring_connect");
		return 0;
	}
	if (!strcmp(what, "tw")) {
		tcp_connect_case("tw_tcp4", 4, 0, 0, 0, 1);
		return 0;
	}
	tcp_connect_case("tcp4_block", 4, 0, 0, 0, 0);
	tcp_connect_case("tcp6_block", 6, 0, 0, 0, 0);
	tcp_connect_case("tcp4_nonblock", 4, 0, 1, 0, 0);
	tcp_connect_case("tcp6_nonblock", 6, 0, 1, 0, 0);
	tcp_connect_case("tcp_mapped", 6, 1, 0, 0, 0);
	tcp_connect_case("tcp4_no_port", 4, 0, 0, 1, 0);
	tcp_connect_case("tcp6_no_port", 6, 0, 0, 1, 0);
	tcp_connect_case("tcp4_timewait", 4, 0, 0, 0, 1);
	tcp_connect_case("tcp6_timewait", 6, 0, 1, 0, 1);
	bind0_case("tcp4_bind0", "tcp", 4);
	bind0_case("tcp6_bind0", "tcp", 6);
	bind0_case("udp4_bind0", "udp", 4);
	bind0_case("udp6_bind0", "udp", 6);
	listen_case("tcp4_listen", 4);
	listen_case("tcp6_listen", 6);
	udp_connect_case("udp4_connect", 4, 0, 0);
	udp_connect_case("udp6_connect", 6, 0, 0);
	udp_connect_case("udp_mapped_connect", 6, 1, 0);
	udp_connect_case("udp4_disconnect", 4, 0, 1);
	udp_connect_case("udp4_disconnect_resend", 4, 0, 2);
	udp_unaddressed_send_case("udp4_unaddressed_send");
	udp_send_case("udp4_sendto", 4, 0);
	udp_send_case("udp6_sendto", 6, 0);
	udp_send_case("udp4_sendmsg", 4, 1);
	udp_send_case("udp6_sendmmsg", 6, 2);
	failure_cases();
	child_case();
	drain_accept();
	return 0;
}
