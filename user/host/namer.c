#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "agg/identity.h"
#include "namer.h"

#define FILEID_KERNFS 0xfe
#define SCAN_GAP_NS 1000000000ULL
#define NETNS_NAME_MAX 256
#define WAITING_MAX 65536

/* A namespace waiting for a walk of /proc, and what the walk found. */
struct ep_netns_verdict {
	bool done;  /* the walk has been */
	bool named;
	char name[NETNS_NAME_MAX];
};

/* The first cgroup2 mount of the whole hierarchy, from mountinfo: on hybrid
 * hosts (v1 controllers beside it) it is not at /sys/fs/cgroup. *v1: a v1
 * hierarchy is mounted too. */
static int cgroup2_mount(char *out, size_t len, bool *v1)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], root[PATH_MAX], point[PATH_MAX], fstype[64];
	int found = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		const char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", root, point) != 2 ||
		    sscanf(dash + 3, "%63s", fstype) != 1)
			continue;
		if (!strcmp(fstype, "cgroup"))
			*v1 = true;
		/* mountinfo escapes blanks as \040: such a mount point is left alone */
		if (found && !strcmp(fstype, "cgroup2") && !strcmp(root, "/") &&
		    !strchr(point, '\\') && strlen(point) < len) {
			snprintf(out, len, "%s", point);
			found = 0;
		}
	}
	fclose(f);
	return found;
}

static uint32_t inode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (uint32_t)st.st_ino;
}

void ep_namer_init(struct ep_namer *nm)
{
	char point[PATH_MAX];

	memset(nm, 0, sizeof(*nm));
	nm->cg_fd = -1;
	/* failing, namespaces that need a walk of /proc are left unnamed */
	if (ep_hash_init(&nm->waiting, sizeof(uint32_t), sizeof(struct ep_netns_verdict),
			 WAITING_MAX))
		ep_hash_free(&nm->waiting);
	if (!cgroup2_mount(point, sizeof(point), &nm->hybrid)) {
		struct stat st;

		nm->cg_fd = open(point, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		nm->cg_mount_len = strcmp(point, "/") ? strlen(point) : 0;
		if (nm->cg_fd >= 0 && !fstat(nm->cg_fd, &st)) {
			nm->cg_root_id = st.st_ino;
			nm->cg_dev = st.st_dev;
		}
	} else if (nm->hybrid) {
		/* cgroup v1 only (the trampoline backend mounts no v2): processes
		 * sit in the v2 root, whose id is its kernfs inode, 1 on 64-bit
		 * kernels; their v1 paths tell them apart. */
		nm->cg_root_id = 1;
	}
	nm->host_netns = inode_of("/proc/1/ns/net");
}

void ep_namer_free(struct ep_namer *nm)
{
	ep_hash_free(&nm->waiting);
	if (nm->cg_fd >= 0)
		close(nm->cg_fd);
	nm->cg_fd = -1;
}

/* A path relative to the hierarchy's root that leads to a directory of it:
 * a process outside eptrace's cgroup namespace shows "/../..", which must not
 * lead anywhere else. */
static bool in_hierarchy(const struct ep_namer *nm, const char *rel, struct stat *st)
{
	return !fstatat(nm->cg_fd, rel, st, AT_SYMLINK_NOFOLLOW) && st->st_dev == nm->cg_dev &&
	       S_ISDIR(st->st_mode);
}

int ep_namer_cgroup(struct ep_namer *nm, uint64_t id, char *buf, size_t len)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh = { .handle_bytes = sizeof(uint64_t), .handle_type = FILEID_KERNFS } };
	char link[64], path[PATH_MAX];
	const char *rel;
	struct stat st;
	ssize_t n;
	int fd;

	if (!id)
		return 0;
	if (id == nm->cg_root_id) {
		snprintf(buf, len, "/");
		return len > 1;
	}
	if (nm->cg_fd < 0)
		return 0;
	memcpy(h.fh.f_handle, &id, sizeof(id));
	fd = open_by_handle_at(nm->cg_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == EMFILE || errno == ENFILE || errno == ENOMEM ? -1 : 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	close(fd);
	if (n <= 0 || (size_t)n <= nm->cg_mount_len)
		return 0;
	path[n] = 0;
	rel = path + nm->cg_mount_len;
	/* Removed between the open and the read, the link ends in " (deleted)",
	 * and a live cgroup may have such a name: the path must lead to the id
	 * (a cgroup v2 id is its kernfs inode). */
	if (!in_hierarchy(nm, rel + 1, &st) || st.st_ino != id)
		return 0;
	snprintf(buf, len, "%s", rel);
	return rel[0] == '/' && strlen(rel) < len;
}

/* The next line of f without its newline: 1; 0 at the end; -1 for a line
 * longer than buf, read to its end and not to be used (its tail must not
 * pass for a line of its own). */
static int next_line(FILE *f, char *buf, size_t len)
{
	int c;

	if (!fgets(buf, (int)len, f))
		return 0;
	if (strchr(buf, '\n') || feof(f)) {
		buf[strcspn(buf, "\n")] = 0;
		return 1;
	}
	while ((c = fgetc(f)) != EOF && c != '\n')
		;
	return -1;
}

/* A process's paths from /proc/PID/cgroup ("ID:CONTROLLERS:PATH", ID 0 for
 * v2): the v2 path into v2 (false without one), or, with v2 NULL, into v1
 * the v1 path that tells it apart (name=systemd first, else the first that
 * is not the root; "/" when none is). false when the process is gone. */
static bool proc_cgroup(uint32_t pid, char *v2, char *v1, size_t len)
{
	char file[64], line[EP_CGROUP_PATH_MAX + 64];
	bool done = false, any = false;
	FILE *f;
	int got;

	snprintf(file, sizeof(file), "/proc/%u/cgroup", pid);
	if (!(f = fopen(file, "re")))
		return false;
	if (v1)
		snprintf(v1, len, "/");
	while (!done && (got = next_line(f, line, sizeof(line)))) {
		char *ctl = got > 0 ? strchr(line, ':') : NULL,
		     *path = ctl ? strchr(ctl + 1, ':') : NULL;

		if (!path || strlen(path + 1) >= len)
			continue;
		if (v2) {
			if ((done = !strncmp(line, "0::", 3)))
				snprintf(v2, len, "%s", path + 1);
			continue;
		}
		if (!strncmp(line, "0:", 2) || !strcmp(path + 1, "/"))
			continue;
		done = !strncmp(ctl + 1, "name=systemd:", 13);
		if (done || !any)
			snprintf(v1, len, "%s", path + 1);
		any = true;
	}
	fclose(f);
	return v1 || done;
}

bool ep_namer_v1_path(uint32_t pid, char *buf, size_t len)
{
	return proc_cgroup(pid, NULL, buf, len);
}

uint64_t ep_namer_cgroup_of(struct ep_namer *nm, uint32_t pid)
{
	char path[EP_CGROUP_PATH_MAX];
	struct stat st;

	if (nm->cg_fd < 0) /* cgroup v1 alone: every process in the v2 root */
		return nm->hybrid ? nm->cg_root_id : 0;
	if (!proc_cgroup(pid, path, NULL, sizeof(path)) || path[0] != '/')
		return 0;
	if (!path[1])
		return nm->cg_root_id;
	return in_hierarchy(nm, path + 1, &st) ? st.st_ino : 0;
}

/* What a process living in the namespace says of it: its pod, else its
 * container, else its unit. */
static bool name_by_pid(uint32_t pid, char *buf, size_t len)
{
	char path[EP_CGROUP_PATH_MAX], label[128];
	struct ep_identity id;
	int n = -1;

	if (!proc_cgroup(pid, path, NULL, sizeof(path)) || ep_identity_parse(path, &id))
		return false;
	if (id.pod_uid[0])
		n = snprintf(buf, len, "pod:%s", id.pod_uid);
	else if (id.runtime)
		n = snprintf(buf, len, "%s", ep_identity_label(&id, label, sizeof(label)));
	else if (id.unit)
		n = snprintf(buf, len, "unit:%s", id.unit);
	ep_identity_clear(&id);
	return n >= 0 && (size_t)n < len;
}

static bool pid_in(uint32_t pid, uint32_t netns)
{
	char file[64];

	snprintf(file, sizeof(file), "/proc/%u/ns/net", pid);
	return pid && inode_of(file) == netns;
}

static bool by_run_netns(uint32_t netns, char *buf, size_t len)
{
	DIR *d = opendir("/run/netns");
	struct dirent *e;
	char file[PATH_MAX];
	bool ok = false;

	if (!d)
		return false;
	while (!ok && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "/run/netns/%s", e->d_name);
		if (inode_of(file) == netns && strlen(e->d_name) < len) {
			snprintf(buf, len, "%s", e->d_name);
			ok = true;
		}
	}
	closedir(d);
	return ok;
}

/* Names every waiting namespace by the first of its processes that names
 * it; those none names get their verdict too. */
static void name_waiting(struct ep_namer *nm)
{
	DIR *d = opendir("/proc");
	struct ep_netns_verdict *v;
	struct dirent *e;
	char file[64];
	size_t pos = 0;

	while (d && (e = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(e->d_name, &end, 10);
		uint32_t netns;

		if (*end || !pid || pid > UINT32_MAX)
			continue;
		snprintf(file, sizeof(file), "/proc/%lu/ns/net", pid);
		netns = inode_of(file);
		v = netns ? ep_hash_get(&nm->waiting, &netns) : NULL;
		if (v && !v->named)
			v->named = name_by_pid((uint32_t)pid, v->name, sizeof(v->name));
	}
	if (d)
		closedir(d);
	while (ep_hash_next(&nm->waiting, &pos, (void **)&v))
		v->done = true;
}

/* The verdict of a namespace's walk, given once. */
static int deliver(struct ep_namer *nm, struct ep_netns_verdict *v, char *buf, size_t len)
{
	int n = v->named ? snprintf(buf, len, "%s", v->name) : -1;

	ep_hash_del_value(&nm->waiting, v);
	return n >= 0 && (size_t)n < len;
}

int ep_namer_netns(struct ep_namer *nm, uint32_t netns, uint32_t hint_pid, uint64_t now,
		   char *buf, size_t len)
{
	struct ep_netns_verdict *v;

	if (!netns)
		return 0;
	v = nm->waiting.slots ? ep_hash_get(&nm->waiting, &netns) : NULL;
	if (!v) {
		if (by_run_netns(netns, buf, len))
			return 1;
		if (netns == nm->host_netns) {
			snprintf(buf, len, "host");
			return len > 4;
		}
		if (pid_in(hint_pid, netns) && name_by_pid(hint_pid, buf, len))
			return 1;
		/* the hint is gone or names nothing: another process of it may */
		if (!nm->waiting.slots || !(v = ep_hash_put(&nm->waiting, &netns, NULL)))
			return 0; /* no room to wait (65,536 waiting): left unnamed */
	}
	if (v->done)
		return deliver(nm, v, buf, len);
	if (nm->last_scan && now - nm->last_scan < SCAN_GAP_NS)
		return -1;
	nm->last_scan = now;
	name_waiting(nm);
	return deliver(nm, ep_hash_get(&nm->waiting, &netns), buf, len);
}
