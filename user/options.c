#include <argp.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include "options.h"

int ep_parse_duration(const char *s, double *out, const char **err)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || isnan(v) || isinf(v)) {
		*err = "not a number of seconds";
		return -1;
	}
	if (v <= 0 || v > 365.0 * 86400) {
		*err = "must be more than 0 and at most a year";
		return -1;
	}
	*out = v;
	return 0;
}

int ep_parse_pid(const char *s, uint32_t *out, const char **err)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (!*s || *s == '-' || *s == '+') {
		*err = "not a positive integer";
		return -1;
	}
	v = strtoul(s, &end, 10);
	if (*end || errno) {
		*err = "not a positive integer";
		return -1;
	}
	if (v == 0 || v > 4194304) {
		*err = "out of range (1..4194304)";
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int ep_parse_comm(const char *s, char out[EP_COMM_LEN], const char **err)
{
	size_t n = strlen(s);

	if (!n) {
		*err = "empty";
		return -1;
	}
	if (n >= EP_COMM_LEN) {
		*err = "longer than 15 characters (the kernel keeps 15)";
		return -1;
	}
	memset(out, 0, EP_COMM_LEN);
	memcpy(out, s, n);
	return 0;
}

int ep_resolve_netns(const char *s, uint32_t *out, const char **err)
{
	struct statfs sfs;
	struct stat st;
	char *end;
	unsigned long v;

	if (!*s) {
		*err = "empty";
		return -1;
	}
	if (strchr(s, '/') == NULL) {
		errno = 0;
		v = strtoul(s, &end, 10);
		if (*end || errno || v == 0 || v > UINT32_MAX || *s == '-') {
			*err = "neither a namespace path nor an inode number";
			return -1;
		}
		*out = (uint32_t)v;
		return 0;
	}
	if (stat(s, &st)) {
		*err = "cannot be read (no such file?)";
		return -1;
	}
	if (statfs(s, &sfs) || (sfs.f_type != NSFS_MAGIC && sfs.f_type != PROC_SUPER_MAGIC)) {
		*err = "is not a namespace file (expected /proc/PID/ns/net or /run/netns/NAME)";
		return -1;
	}
	*out = (uint32_t)st.st_ino;
	return 0;
}

int ep_resolve_cgroup(const char *s, uint64_t *out, const char **err)
{
	struct statfs sfs;
	struct stat st;

	if (!*s) {
		*err = "empty";
		return -1;
	}
	if (stat(s, &st) || !S_ISDIR(st.st_mode)) {
		*err = "is not a directory";
		return -1;
	}
	if (statfs(s, &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		*err = "is not in a cgroup v2 hierarchy";
		return -1;
	}
	*out = st.st_ino;
	return 0;
}

const char *argp_program_version = "eptrace 0.1";
const char *argp_program_bug_address = NULL;

static const char doc[] =
	"Trace ephemeral port assignments, releases and failures.\n"
	"\n"
	"USAGE: eptrace [OPTIONS]\n"
	"\n"
	"EXAMPLES:\n"
	"  eptrace                         # live table of every assignment and release\n"
	"  eptrace --json -d 10            # JSON lines for 10 seconds\n"
	"  eptrace -p 1234 -t              # TCP ports of process 1234 only\n"
	"  eptrace --netns /run/netns/lb   # one network namespace\n"
	"  eptrace -c haproxy -4           # IPv4 ports taken by processes named haproxy\n"
	"  eptrace --cgroup /sys/fs/cgroup/unified/system.slice/nginx.service";

enum { OPT_JSON = 1000, OPT_NETNS, OPT_CGROUP };

static const struct argp_option options[] = {
	{ "duration", 'd', "SECS", 0, "Stop after SECS seconds", 0 },
	{ "pid", 'p', "PID", 0, "Only sockets whose port was taken by this process", 0 },
	{ "comm", 'c', "COMM", 0, "Only processes with this name", 0 },
	{ "netns", OPT_NETNS, "PATH|INODE", 0, "Only this network namespace", 0 },
	{ "cgroup", OPT_CGROUP, "PATH", 0, "Only processes in this cgroup v2 directory", 0 },
	{ "tcp", 't', NULL, 0, "TCP only", 0 },
	{ "udp", 'u', NULL, 0, "UDP only", 0 },
	{ "ipv4", '4', NULL, 0, "IPv4 only", 0 },
	{ "ipv6", '6', NULL, 0, "IPv6 only (v4-mapped included)", 0 },
	{ "json", OPT_JSON, NULL, 0, "One JSON object per line", 0 },
	{ "verbose", 'v', NULL, 0, "Show libbpf debug output", 0 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, "Show this help", 0 },
	{},
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct ep_opts *o = state->input;
	const char *err = NULL;

	switch (key) {
	case 'd':
		if (ep_parse_duration(arg, &o->duration_s, &err))
			argp_error(state, "invalid --duration '%s': %s", arg, err);
		break;
	case 'p':
		if (ep_parse_pid(arg, &o->pid, &err))
			argp_error(state, "invalid --pid '%s': %s", arg, err);
		break;
	case 'c':
		if (ep_parse_comm(arg, o->comm, &err))
			argp_error(state, "invalid --comm '%s': %s", arg, err);
		o->comm_set = true;
		break;
	case OPT_NETNS:
		if (ep_resolve_netns(arg, &o->netns, &err))
			argp_error(state, "invalid --netns '%s': %s", arg, err);
		break;
	case OPT_CGROUP:
		if (ep_resolve_cgroup(arg, &o->cgroup, &err))
			argp_error(state, "invalid --cgroup '%s': %s", arg, err);
		break;
	case 't': o->tcp = true; break;
	case 'u': o->udp = true; break;
	case '4': o->ipv4 = true; break;
	case '6': o->ipv6 = true; break;
	case OPT_JSON: o->json = true; break;
	case 'v': o->verbose = true; break;
	case 'h': argp_state_help(state, stdout, ARGP_HELP_STD_HELP); break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

void ep_parse_args(int argc, char **argv, struct ep_opts *o)
{
	static const struct argp argp = { options, parse_opt, NULL, doc, NULL, NULL, NULL };

	memset(o, 0, sizeof(*o));
	argp_err_exit_status = 2;
	argp_parse(&argp, argc, argv, 0, NULL, o);
	/* Neither or both of a pair means both. */
	if (!o->tcp && !o->udp)
		o->tcp = o->udp = true;
	if (!o->ipv4 && !o->ipv6)
		o->ipv4 = o->ipv6 = true;
}
