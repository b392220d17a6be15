/* Keeps many network namespaces busy: N children, each in a namespace of its
 * own, take a UDP port with bind(0) and give it back every 100 ms. Prints
 * one JSON line once every child has taken its first port, then runs until
 * its standard input closes; the children die with it.
 *
 *   busy_namespaces N
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void take_and_give_back(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)))
		_exit(1);
	close(fd);
}

static void child(int ready_fd)
{
	prctl(PR_SET_NAME, "ep-busy-ns");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() == 1 || unshare(CLONE_NEWNET))
		_exit(1);
	take_and_give_back();
	if (write(ready_fd, "x", 1) != 1)
		_exit(1);
	close(ready_fd);
	for (;;) {
		nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
		take_and_give_back();
	}
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0, ready[2], got = 0;
	char c;

	if (n <= 0 || pipe(ready)) {
		fprintf(stderr, "usage: busy_namespaces N (N > 0)\n");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			close(ready[0]);
			child(ready[1]);
		}
	}
	close(ready[1]);
	/* EOF before n bytes: a child failed (and exited) */
	while (got < n && read(ready[0], &c, 1) == 1)
		got++;
	printf("{\"kind\":\"ready\",\"namespaces\":%d}\n", got);
	fflush(stdout);
	if (got < n)
		return 1;
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
