/* Network namespaces: entering one by inode, listing them, reading port sysctls. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/nsfs.h>
#include "netns.h"

#define SELF_NET "/proc/thread-self/ns/net"
#define SYSCTL_RANGE "/proc/sys/net/ipv4/ip_local_port_range"
#define SYSCTL_RESERVED "/proc/sys/net/ipv4/ip_local_reserved_ports"
#define SYSCTL_MAX (1 << 20)

/* ---- pure parsers ---- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *skip_blanks(const char *p)
{
	while (is_blank(*p))
		p++;
	return p;
}

/* Digits only (no sign, no blanks), at most 65535; NULL on failure. */
static const char *parse_port(const char *p, uint16_t *out)
{
	uint32_t v = 0;

	if (*p < '0' || *p > '9')
		return NULL;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (uint32_t)(*p++ - '0');
		if (v > 65535)
			return NULL;
	}
	*out = (uint16_t)v;
	return p;
}

int ep_parse_port_range(const char *text, uint16_t *lo, uint16_t *hi)
{
	const char *p = skip_blanks(text);
	uint16_t a, b;

	p = parse_port(p, &a);
	if (!p || !is_blank(*p))
		return -EINVAL;
	p = parse_port(skip_blanks(p), &b);
	if (!p || *skip_blanks(p) || a > b)
		return -EINVAL;
	*lo = a;
	*hi = b;
	return 0;
}

static void set_port_bits(uint8_t *bitmap, uint32_t a, uint32_t b)
{
	for (uint32_t p = a; p <= b; p++)
		bitmap[p >> 3] |= (uint8_t)(1u << (p & 7));
}

/* One "a" or "a-b" item; returns the text after it or NULL. */
static const char *parse_reserved_item(const char *p, uint8_t *bitmap)
{
	uint16_t a, b;

	p = parse_port(skip_blanks(p), &a);
	if (!p)
		return NULL;
	b = a;
	if (*p == '-') {
		p = parse_port(p + 1, &b);
		if (!p || b < a)
			return NULL;
	}
	set_port_bits(bitmap, a, b);
	return skip_blanks(p);
}

int ep_parse_reserved_ports(const char *text, uint8_t bitmap[EP_PORT_BITMAP_BYTES], bool *any)
{
	const char *p = skip_blanks(text);

	memset(bitmap, 0, EP_PORT_BITMAP_BYTES);
	*any = false;
	if (!*p)
		return 0;
	for (;;) {
		p = parse_reserved_item(p, bitmap);
		if (!p || (*p && *p != ','))
			goto bad;
		if (!*p++)
			break;
	}
	*any = true;
	return 0;
bad:
	memset(bitmap, 0, EP_PORT_BITMAP_BYTES);
	return -EINVAL;
}

/* ---- sysctl readers ---- */

/* Whole file into a NUL-terminated malloc'd buffer; 0 or -errno. */
static int read_text(const char *path, char **out)
{
	size_t cap = 4096, len = 0;
	char *buf = NULL, *nb;
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (!buf || len + 1 >= cap) {
			if (buf)
				cap *= 2;
			if (cap > SYSCTL_MAX) {
				err = -EFBIG;
				break;
			}
			nb = realloc(buf, cap);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = -errno;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

int ep_read_port_range(uint16_t *lo, uint16_t *hi)
{
	char *text;
	int err = read_text(SYSCTL_RANGE, &text);

	if (err)
		return err;
	err = ep_parse_port_range(text, lo, hi);
	free(text);
	return err;
}

int ep_read_reserved_ports(uint8_t bitmap[EP_PORT_BITMAP_BYTES], bool *any)
{
	char *text;
	int err = read_text(SYSCTL_RESERVED, &text);

	if (err)
		return err;
	err = ep_parse_reserved_ports(text, bitmap, any);
	free(text);
	return err;
}

/* ---- walking namespace files ---- */

/* Returns nonzero to stop the walk; that value is then the walk's result. */
typedef int (*ns_visit_fn)(const char *path, uint32_t pid, void *arg);

static bool parse_pid(const char *s, uint32_t *pid)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*pid = (uint32_t)v;
	return v != 0;
}

/* Visits dir/NAME (procfs: dir/PID/ns/net for numeric names only). */
static int walk_ns(const char *dir, bool procfs, ns_visit_fn visit, void *arg)
{
	char path[PATH_MAX];
	struct dirent *de;
	uint32_t pid = 0;
	DIR *d;
	int r = 0, n;

	d = opendir(dir);
	if (!d)
		return -errno;
	while (!r && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (procfs && !parse_pid(de->d_name, &pid))
			continue;
		n = snprintf(path, sizeof(path), "%s/%s%s", dir, de->d_name,
			     procfs ? "/ns/net" : "");
		if (n < 0 || (size_t)n >= sizeof(path))
			continue;
		r = visit(path, pid, arg);
	}
	closedir(d);
	return r;
}

/* An fd on path if it is a net namespace with inode netns, else -1. */
static int open_ns_if(const char *path, uint32_t netns)
{
	struct stat st;
	int fd;

	/* stat first: cheap, and most candidates are rejected without an fd */
	if (stat(path, &st) || st.st_ino != netns)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || st.st_ino != netns ||
	    ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
		close(fd);
		return -1;
	}
	return fd;
}

struct find_arg {
	uint32_t netns;
	int fd;
};

static int visit_find(const char *path, uint32_t pid, void *arg)
{
	struct find_arg *fa = arg;

	fa->fd = open_ns_if(path, fa->netns);
	return fa->fd >= 0;
}

static int find_ns_fd(uint32_t netns, uint32_t hint_pid)
{
	struct find_arg fa = { netns, -1 };
	char path[64];

	if (hint_pid) {
		snprintf(path, sizeof(path), "/proc/%u/ns/net", hint_pid);
		fa.fd = open_ns_if(path, netns);
		if (fa.fd >= 0)
			return fa.fd;
	}
	if (walk_ns("/run/netns", false, visit_find, &fa) > 0)
		return fa.fd;
	if (walk_ns("/proc", true, visit_find, &fa) > 0)
		return fa.fd;
	return -1;
}

static int cookie_inside(void *ctx)
{
	uint64_t *out = ctx;
	socklen_t len = sizeof(*out);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret;

	if (fd < 0)
		return -errno;
	ret = getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, out, &len) ? -errno : 0;
	close(fd);
	return ret;
}

uint64_t ep_netns_cookie(uint32_t netns)
{
	uint64_t cookie = 0;

	return ep_in_netns(netns, 0, cookie_inside, &cookie) ? 0 : cookie;
}

uint32_t ep_self_netns(void)
{
	struct stat st;

	if (stat(SELF_NET, &st))
		return 0;
	return (uint32_t)st.st_ino;
}

int ep_in_netns(uint32_t netns, uint32_t hint_pid, int (*fn)(void *ctx), void *ctx)
{
	struct stat st;
	int self_fd, fd, ret;

	if (!netns)
		return -ENOENT;
	self_fd = open(SELF_NET, O_RDONLY | O_CLOEXEC);
	if (self_fd < 0)
		return -errno;
	if (!fstat(self_fd, &st) && (uint32_t)st.st_ino == netns) {
		close(self_fd);
		return fn(ctx);
	}
	fd = find_ns_fd(netns, hint_pid);
	if (fd < 0) {
		close(self_fd);
		return -ENOENT;
	}
	ret = setns(fd, CLONE_NEWNET) ? -errno : 0;
	close(fd);
	if (ret) {
		close(self_fd);
		return ret;
	}
	ret = fn(ctx);
	if (setns(self_fd, CLONE_NEWNET))
		ret = -errno;
	close(self_fd);
	return ret;
}

/* ---- listing ---- */

/* Open-addressing set of nonzero inodes. */
struct ino_set {
	uint32_t *v;
	size_t cap, len;
};

static size_t ino_slot(const uint32_t *v, size_t cap, uint32_t ino)
{
	size_t i = (ino * 2654435761u) & (cap - 1);

	while (v[i] && v[i] != ino)
		i = (i + 1) & (cap - 1);
	return i;
}

static int ino_set_grow(struct ino_set *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	uint32_t *v = calloc(cap, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++)
		if (s->v[i])
			v[ino_slot(v, cap, s->v[i])] = s->v[i];
	free(s->v);
	s->v = v;
	s->cap = cap;
	return 0;
}

/* 1 if added, 0 if already present, -ENOMEM. */
static int ino_set_add(struct ino_set *s, uint32_t ino)
{
	size_t i;

	if ((s->len + 1) * 2 > s->cap && ino_set_grow(s))
		return -ENOMEM;
	i = ino_slot(s->v, s->cap, ino);
	if (s->v[i])
		return 0;
	s->v[i] = ino;
	s->len++;
	return 1;
}

struct list_arg {
	struct ino_set set;
	void (*cb)(uint32_t netns, uint32_t pid, void *ctx);
	void *ctx;
};

/* Inode of a net namespace file, 0 if path is not one. /run/netns may hold
 * plain files (a failed or stale "ip netns add"), so those are opened and checked. */
static uint32_t netns_ino(const char *path, bool check_type)
{
	struct stat st;
	int fd, type;

	if (!check_type)
		return stat(path, &st) ? 0 : (uint32_t)st.st_ino;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	type = ioctl(fd, NS_GET_NSTYPE);
	if (fstat(fd, &st))
		type = -1;
	close(fd);
	return type == CLONE_NEWNET ? (uint32_t)st.st_ino : 0;
}

static int visit_list(const char *path, uint32_t pid, void *arg)
{
	struct list_arg *la = arg;
	uint32_t ino = netns_ino(path, pid == 0);
	int r;

	if (!ino)
		return 0;
	r = ino_set_add(&la->set, ino);
	if (r < 0)
		return r;
	if (r)
		la->cb(ino, pid, la->ctx);
	return 0;
}

int ep_list_netns(void (*cb)(uint32_t netns, uint32_t pid, void *ctx), void *ctx)
{
	struct list_arg la = { { NULL, 0, 0 }, cb, ctx };
	int r;

	r = walk_ns("/run/netns", false, visit_list, &la);
	if (r == -ENOENT)
		r = 0;
	if (!r)
		r = walk_ns("/proc", true, visit_list, &la);
	free(la.set.v);
	return r < 0 ? r : (int)la.set.len;
}
