/* Socket inode -> owning process, found by scanning /proc/<pid>/fd like `ss -p`. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "owners.h"

struct scan {
	const uint32_t *want;
	size_t n;
	struct ep_owner *out;
	size_t found;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Digits only, nonzero, fits in 32 bits; end is the character expected after. */
static bool parse_u32(const char *s, char end, uint32_t *out)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return false;
	}
	if (*s != end || (end && s[1]))
		return false;
	*out = (uint32_t)v;
	return v != 0;
}

static bool parse_socket_link(const char *link, uint32_t *ino)
{
	static const char prefix[] = "socket:[";

	if (strncmp(link, prefix, sizeof(prefix) - 1))
		return false;
	return parse_u32(link + sizeof(prefix) - 1, ']', ino);
}

static void read_comm(uint32_t pid, char comm[16])
{
	char path[32], buf[64];
	size_t len;
	ssize_t n;
	int fd;

	comm[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	do {
		n = read(fd, buf, sizeof(buf) - 1);
	} while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	len = strcspn(buf, "\n");
	if (len > 15)
		len = 15;
	memcpy(comm, buf, len);
	comm[len] = '\0';
}

/* Records pid as the owner of every wanted inode among its fds not yet owned. */
static void scan_pid(struct scan *s, uint32_t pid)
{
	char path[32], link[64], comm[16];
	bool have_comm = false;
	struct dirent *de;
	const uint32_t *hit;
	uint32_t ino;
	ssize_t len;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%u/fd", pid);
	d = opendir(path);
	if (!d)
		return;
	while (s->found < s->n && (de = readdir(d))) {
		len = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (!parse_socket_link(link, &ino))
			continue;
		hit = bsearch(&ino, s->want, s->n, sizeof(*s->want), cmp_u32);
		if (!hit || s->out[hit - s->want].pid)
			continue;
		if (!have_comm) {
			read_comm(pid, comm);
			have_comm = true;
		}
		s->out[hit - s->want].pid = pid;
		memcpy(s->out[hit - s->want].comm, comm, sizeof(comm));
		s->found++;
	}
	closedir(d);
}

int ep_owners_find(const uint32_t *want, size_t n, struct ep_owner *out)
{
	struct scan s = { want, n, out, 0 };
	struct dirent *de;
	uint32_t pid;
	DIR *d;

	if (!n)
		return 0;
	memset(out, 0, n * sizeof(*out));
	d = opendir("/proc");
	if (!d)
		return -errno;
	while (s.found < n && (de = readdir(d)))
		if (parse_u32(de->d_name, '\0', &pid))
			scan_pid(&s, pid);
	closedir(d);
	return (int)s.found;
}
