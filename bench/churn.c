/* Port churn for the benchmark: the loops a busy proxy or client library runs,
 * as fast as the kernel allows, for a fixed time. Prints one JSON line:
 * {"workload":...,"procs":N,"ops":N,"seconds":S,"ops_per_s":R,"errors":N}.
 *
 * usage: churn WORKLOAD SECONDS PROCS
 * WORKLOAD: tcp4 tcp6 udp_connect4 udp_connect6 udp_sendto4 udp_sendto6 bind4 bind6,
 * and syscalls: no port at all, a read of /dev/zero and a write to /dev/null
 * per op (what every syscall-heavy process on a traced host pays). */
#include <fcntl.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SERVER_PORT 7777

struct counts {
	unsigned long ops, errors;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static socklen_t server_addr(int family, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(SERVER_PORT);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*a);
	}
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

	a->sin6_family = AF_INET6;
	a->sin6_port = htons(SERVER_PORT);
	a->sin6_addr = in6addr_loopback;
	return sizeof(*a);
}

static socklen_t any_addr(int family, struct sockaddr_storage *ss)
{
	socklen_t len = server_addr(family, ss);

	if (family == AF_INET) {
		((struct sockaddr_in *)ss)->sin_port = 0;
		((struct sockaddr_in *)ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		((struct sockaddr_in6 *)ss)->sin6_port = 0;
	}
	return len;
}

/* TCP: connect, let the server accept, close with RST so that no TIME_WAIT
 * piles up over a long run (the range would run out, not the tracer). */
static void tcp_once(int family, struct counts *c)
{
	struct sockaddr_storage ss;
	socklen_t len = server_addr(family, &ss);
	struct linger lg = { 1, 0 };
	int s = socket(family, SOCK_STREAM, 0);

	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) ||
	    connect(s, (struct sockaddr *)&ss, len))
		c->errors++;
	else
		c->ops++;
	if (s >= 0)
		close(s);
}

static void udp_connect_once(int family, struct counts *c)
{
	struct sockaddr_storage ss;
	socklen_t len = server_addr(family, &ss);
	int s = socket(family, SOCK_DGRAM, 0);

	if (s < 0 || connect(s, (struct sockaddr *)&ss, len))
		c->errors++;
	else
		c->ops++;
	if (s >= 0)
		close(s);
}

static void udp_sendto_once(int family, struct counts *c)
{
	struct sockaddr_storage ss;
	socklen_t len = server_addr(family, &ss);
	int s = socket(family, SOCK_DGRAM, 0);

	if (s < 0 || sendto(s, "x", 1, 0, (struct sockaddr *)&ss, len) != 1)
		c->errors++;
	else
		c->ops++;
	if (s >= 0)
		close(s);
}

static void bind_once(int family, struct counts *c)
{
	struct sockaddr_storage ss;
	socklen_t len = any_addr(family, &ss);
	int s = socket(family, SOCK_STREAM, 0);

	if (s < 0 || bind(s, (struct sockaddr *)&ss, len))
		c->errors++;
	else
		c->ops++;
	if (s >= 0)
		close(s);
}

static int zero_fd = -1, null_fd = -1;

static void syscalls_once(int family, struct counts *c)
{
	char buf[64];

	if (read(zero_fd, buf, sizeof(buf)) != sizeof(buf) ||
	    write(null_fd, buf, sizeof(buf)) != sizeof(buf))
		c->errors++;
	else
		c->ops++;
}

/* Accepts and drops TCP connections; drains UDP datagrams. */
static pid_t start_server(int family, int type)
{
	struct sockaddr_storage ss;
	socklen_t len = server_addr(family, &ss);
	int one = 1, s = socket(family, type, 0);
	pid_t pid;
	char buf[64];

	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(s, (struct sockaddr *)&ss, len) || (type == SOCK_STREAM && listen(s, 4096))) {
		perror("churn: server");
		exit(1);
	}
	pid = fork();
	if (pid)
		return pid;
	for (;;) {
		if (type == SOCK_STREAM) {
			int a = accept(s, NULL, NULL);

			if (a >= 0)
				close(a);
		} else if (recv(s, buf, sizeof(buf), 0) < 0 && errno != EINTR) {
			_exit(0);
		}
	}
}

int main(int argc, char **argv)
{
	void (*once)(int, struct counts *) = NULL;
	int family = AF_INET, type = SOCK_STREAM, procs;
	double secs, t0, t1;
	struct counts *shared, total = {};
	pid_t server = 0;
	const char *w;

	if (argc != 4) {
		fprintf(stderr, "usage: churn WORKLOAD SECONDS PROCS\n");
		return 2;
	}
	w = argv[1];
	secs = atof(argv[2]);
	procs = atoi(argv[3]);
	if (secs <= 0 || procs < 1 || procs > 64) {
		fprintf(stderr, "churn: bad SECONDS or PROCS\n");
		return 2;
	}
	if (strchr(w, '6'))
		family = AF_INET6;
	if (!strncmp(w, "tcp", 3)) {
		once = tcp_once;
	} else if (!strncmp(w, "udp_connect", 11)) {
		once = udp_connect_once;
		type = SOCK_DGRAM;
	} else if (!strncmp(w, "udp_sendto", 10)) {
		once = udp_sendto_once;
		type = SOCK_DGRAM;
	} else if (!strncmp(w, "bind", 4)) {
		once = bind_once;
	} else if (!strcmp(w, "syscalls")) {
		once = syscalls_once;
		zero_fd = open("/dev/zero", O_RDONLY);
		null_fd = open("/dev/null", O_WRONLY);
		if (zero_fd < 0 || null_fd < 0) {
			perror("churn: /dev/zero, /dev/null");
			return 1;
		}
	}
	if (!once) {
		fprintf(stderr, "churn: unknown workload %s\n", w);
		return 2;
	}
	if (once != bind_once && once != syscalls_once)
		server = start_server(family, type);
	shared = mmap(NULL, procs * sizeof(*shared), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		perror("churn: mmap");
		return 1;
	}
	memset(shared, 0, procs * sizeof(*shared));
	t0 = now();
	for (int p = 0; p < procs; p++) {
		if (fork() == 0) {
			struct counts c = {};
			unsigned long n = 0;

			while ((n++ & 63) || now() - t0 < secs)
				once(family, &c);
			shared[p] = c;
			_exit(0);
		}
	}
	for (int p = 0; p < procs; p++)
		wait(NULL);
	t1 = now();
	if (server) {
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
	}
	for (int p = 0; p < procs; p++) {
		total.ops += shared[p].ops;
		total.errors += shared[p].errors;
	}
	printf("{\"workload\":\"%s\",\"procs\":%d,\"ops\":%lu,\"errors\":%lu,\"seconds\":%.3f,"
	       "\"ops_per_s\":%.0f}\n",
	       w, procs, total.ops, total.errors, t1 - t0, total.ops / (t1 - t0));
	return 0;
}
