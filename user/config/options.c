#include <argp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include "agg/agg.h"
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

int ep_parse_by(const char *s, int *out, const char **err)
{
	if (!strcmp(s, "comm"))
		*out = EP_BY_COMM;
	else if (!strcmp(s, "netns"))
		*out = EP_BY_NETNS;
	else if (!strcmp(s, "cgroup"))
		*out = EP_BY_CGROUP;
	else if (!strcmp(s, "unit"))
		*out = EP_BY_UNIT;
	else if (!strcmp(s, "container"))
		*out = EP_BY_CONTAINER;
	else {
		*err = "expected comm, netns, cgroup, unit or container";
		return -1;
	}
	return 0;
}

int ep_parse_unit(const char *s, const char **err)
{
	size_t n = strlen(s);

	if (!n) {
		*err = "empty";
		return -1;
	}
	if (n > 255 || strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, "..")) {
		*err = "expected a unit name such as nginx.service";
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
			*err = "has a blank or a character that is not printable";
			return -1;
		}
	return 0;
}

int ep_parse_container(const char *s, const char **err)
{
	size_t n = strlen(s);

	if (!n) {
		*err = "empty";
		return -1;
	}
	if (n > 64 || strspn(s, "0123456789abcdef") != n) {
		*err = "expected a container id or its prefix (lowercase hex, at most 64 digits)";
		return -1;
	}
	return 0;
}

int ep_parse_top(const char *s, int *out, const char **err)
{
	uint32_t v;

	if (ep_parse_pid(s, &v, err) || v > 100) {
		*err = "expected an integer from 1 to 100";
		return -1;
	}
	*out = (int)v;
	return 0;
}

int ep_parse_threshold(const char *s, double *out, const char **err)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*end == '%')
		end++;
	if (!*s || *end || errno || isnan(v) || v < 1 || v > 100) {
		*err = "expected a percentage from 1 to 100";
		return -1;
	}
	*out = v / 100;
	return 0;
}

int ep_parse_backend(const char *s, int *out, const char **err)
{
	static const char *const names[] = {
		[EP_BACKEND_AUTO] = "auto", [EP_BACKEND_TRAMPOLINE] = "trampoline",
		[EP_BACKEND_TRACEPOINT] = "tracepoint",
	};

	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	}
	*err = "expected auto, trampoline or tracepoint";
	return -1;
}

static int port_number(const char *s, const char **end_out, unsigned long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoul(s, &end, 10);
	*end_out = end;
	return errno || *v == 0 || *v > 65535 ? -1 : 0;
}

int ep_parse_ports(const char *s, uint16_t *lo, uint16_t *hi, const char **err)
{
	unsigned long a = 0, b;
	const char *end = s;
	bool ok = !port_number(s, &end, &a);

	b = a;
	if (ok && *end == '-')
		ok = !port_number(end + 1, &end, &b);
	if (!ok || *end) {
		*err = "expected PORT or LO-HI, ports 1..65535";
		return -1;
	}
	if (b < a) {
		*err = "LO is above HI";
		return -1;
	}
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

int ep_parse_listen(const char *s, char *addr, uint16_t *port, const char **err)
{
	const char *colon = strrchr(s, ':');
	const char *p = colon ? colon + 1 : s;
	char a[64] = "127.0.0.1", *end;
	unsigned long v;
	struct in_addr in;

	if (colon) {
		size_t n = (size_t)(colon - s);

		if (n == 0 || n >= sizeof(a)) {
			*err = "expected [ADDR:]PORT with an IPv4 address";
			return -1;
		}
		memcpy(a, s, n);
		a[n] = 0;
	}
	errno = 0;
	v = strtoul(p, &end, 10);
	if (!*p || *end || errno || v == 0 || v > 65535 || *p == '-' || *p == '+') {
		*err = "the port must be 1..65535";
		return -1;
	}
	if (inet_pton(AF_INET, a, &in) != 1) {
		*err = "expected [ADDR:]PORT with an IPv4 address";
		return -1;
	}
	if (addr)
		strcpy(addr, a);
	if (port)
		*port = (uint16_t)v;
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
	"       eptrace record -o FILE [OPTIONS]   write every event to an SQLite file\n"
	"       eptrace report FILE [OPTIONS]      replay a recording through the same views\n"
	"\n"
	"EXAMPLES:\n"
	"  eptrace                         # live table of every assignment and release\n"
	"  eptrace --json -d 10            # JSON lines for 10 seconds\n"
	"  eptrace -p 1234 -t              # TCP ports of process 1234 only\n"
	"  eptrace --netns /run/netns/lb   # one network namespace\n"
	"  eptrace -c haproxy -4           # IPv4 ports taken by processes named haproxy\n"
	"  eptrace --cgroup /sys/fs/cgroup/unified/system.slice/nginx.service\n"
	"  eptrace --hist -i 10            # latency and reuse histograms every 10 s\n"
	"  eptrace --hist --by comm        # one histogram per process name (top 10)\n"
	"  eptrace --hist --by container   # per container (docker, containerd, cri-o, podman)\n"
	"  eptrace --unit nginx.service    # one systemd unit (and its sub-cgroups)\n"
	"  eptrace --container 3f2a9c      # one container, by id prefix\n"
	"  eptrace --collisions            # who failed, and who held the port\n"
	"  eptrace --occupancy -i 1        # ports in use per namespace, every second\n"
	"  eptrace --json --threshold 90   # events, collisions, occupancy; warn at 90%\n"
	"  eptrace record -o ports.db -d 60  # record a minute\n"
	"  eptrace report ports.db --hist  # its histograms, as the live run showed them\n"
	"  eptrace --prometheus 9435 -q    # serve /metrics on 127.0.0.1:9435, print nothing\n"
	"  eptrace --sctp                  # SCTP only (sctp module loaded)\n"
	"  eptrace --backend tracepoint    # the fallback even where fentry works\n"
	"\n"
	"Without --hist, --collisions or --occupancy every event is printed; with\n"
	"--json the stream also carries collisions, warnings, periodic occupancy and,\n"
	"at exit, histograms.";

enum { OPT_JSON = 1000, OPT_NETNS, OPT_CGROUP, OPT_HIST, OPT_COLLISIONS, OPT_OCCUPANCY,
       OPT_BY, OPT_TOP, OPT_THRESHOLD, OPT_PROMETHEUS, OPT_PORTS, OPT_BACKEND,
       OPT_SCTP, OPT_UNIT, OPT_CONTAINER, OPT_PROMETHEUS_BY, OPT_PROMETHEUS_MAX };

static const struct argp_option options[] = {
	{ "duration", 'd', "SECS", 0, "Stop after SECS seconds", 0 },
	{ "pid", 'p', "PID", 0, "Only sockets whose port was taken by this process", 0 },
	{ "comm", 'c', "COMM", 0, "Only processes with this name", 0 },
	{ "netns", OPT_NETNS, "PATH|INODE", 0, "Only this network namespace", 0 },
	{ "cgroup", OPT_CGROUP, "PATH", 0, "Only processes in this cgroup v2 directory", 0 },
	{ "unit", OPT_UNIT, "NAME", 0,
	  "Only processes in this systemd unit or slice, and cgroups below it", 0 },
	{ "container", OPT_CONTAINER, "ID", 0,
	  "Only processes of this container (an id or its prefix, as docker ps shows)", 0 },
	{ "ports", OPT_PORTS, "LO[-HI]", 0, "Only events on local ports in this range", 0 },
	{ "tcp", 't', NULL, 0, "TCP only", 0 },
	{ "udp", 'u', NULL, 0, "UDP only", 0 },
	{ "sctp", OPT_SCTP, NULL, 0,
	  "SCTP only (trampoline backend, sctp module loaded); -t, -u and --sctp add up", 0 },
	{ "ipv4", '4', NULL, 0, "IPv4 only", 0 },
	{ "ipv6", '6', NULL, 0, "IPv6 only (v4-mapped included)", 0 },
	{ "json", OPT_JSON, NULL, 0, "One JSON object per line", 0 },
	{ "hist", OPT_HIST, NULL, 0, "Histograms of latency, reuse and hold times", 1 },
	{ "collisions", OPT_COLLISIONS, NULL, 0,
	  "Failures and conflicts with both parties", 1 },
	{ "occupancy", OPT_OCCUPANCY, NULL, 0, "Ports in use per network namespace", 1 },
	{ "interval", 'i', "SECS", 0,
	  "Report every SECS seconds (default: --hist at exit, occupancy every 5)", 1 },
	{ "by", OPT_BY, "KEY", 0, "Histograms per comm, netns, cgroup, unit or container", 1 },
	{ "top", OPT_TOP, "N", 0, "Keys shown by --by before the rest is 'other' (default 10)", 1 },
	{ "threshold", OPT_THRESHOLD, "PCT", 0,
	  "Warn when a namespace uses PCT% of its range (default 80)", 1 },
	{ "backend", OPT_BACKEND, "NAME", 0,
	  "auto (default), trampoline (fentry/fexit: exact latency) or tracepoint", 0 },
	{ "verbose", 'v', NULL, 0, "Show libbpf debug output", 0 },
	{ "quiet", 'q', NULL, 0, "No per-event output (summary and errors only)", 0 },
	{ "output", 'o', "FILE", 0, "record: the SQLite file to write", 2 },
	{ "prometheus", OPT_PROMETHEUS, "[ADDR:]PORT", 0,
	  "Serve Prometheus metrics on /metrics (ADDR defaults to 127.0.0.1)", 2 },
	{ "prometheus-by", OPT_PROMETHEUS_BY, "KEY", 0,
	  "Also count assignments per unit or container (bounded: --prometheus-max)", 2 },
	{ "prometheus-max", OPT_PROMETHEUS_MAX, "N", 0,
	  "Series of that counter before the rest is 'other' (default 50, at most 1000)", 2 },
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
	case OPT_UNIT:
		if (ep_parse_unit(arg, &err))
			argp_error(state, "invalid --unit '%s': %s", arg, err);
		o->unit = arg;
		break;
	case OPT_CONTAINER:
		if (ep_parse_container(arg, &err))
			argp_error(state, "invalid --container '%s': %s", arg, err);
		o->container = arg;
		break;
	case OPT_PORTS:
		if (ep_parse_ports(arg, &o->port_lo, &o->port_hi, &err))
			argp_error(state, "invalid --ports '%s': %s", arg, err);
		break;
	case 't': o->tcp = true; break;
	case 'u': o->udp = true; break;
	case OPT_SCTP: o->sctp = true; break;
	case '4': o->ipv4 = true; break;
	case '6': o->ipv6 = true; break;
	case OPT_JSON: o->json = true; break;
	case OPT_HIST: o->hist = true; break;
	case OPT_COLLISIONS: o->collisions = true; break;
	case OPT_OCCUPANCY: o->occupancy = true; break;
	case 'i':
		if (ep_parse_duration(arg, &o->interval_s, &err))
			argp_error(state, "invalid --interval '%s': %s", arg, err);
		break;
	case OPT_BY:
		if (ep_parse_by(arg, &o->by, &err))
			argp_error(state, "invalid --by '%s': %s", arg, err);
		break;
	case OPT_TOP:
		if (ep_parse_top(arg, &o->top_n, &err))
			argp_error(state, "invalid --top '%s': %s", arg, err);
		break;
	case OPT_THRESHOLD:
		if (ep_parse_threshold(arg, &o->threshold, &err))
			argp_error(state, "invalid --threshold '%s': %s", arg, err);
		break;
	case OPT_BACKEND:
		if (ep_parse_backend(arg, &o->backend, &err))
			argp_error(state, "invalid --backend '%s': %s", arg, err);
		break;
	case 'v': o->verbose = true; break;
	case 'q': o->quiet = true; break;
	case 'o':
		if (o->mode != EP_MODE_RECORD)
			argp_error(state, "-o/--output only goes with 'record'");
		o->file = arg;
		break;
	case OPT_PROMETHEUS:
		if (ep_parse_listen(arg, o->prometheus_addr, &o->prometheus_port, &err))
			argp_error(state, "invalid --prometheus '%s': %s", arg, err);
		o->prometheus = arg;
		break;
	case OPT_PROMETHEUS_BY:
		if (ep_parse_by(arg, &o->prometheus_by, &err) ||
		    (o->prometheus_by != EP_BY_UNIT && o->prometheus_by != EP_BY_CONTAINER))
			argp_error(state, "invalid --prometheus-by '%s': expected unit or container", arg);
		break;
	case OPT_PROMETHEUS_MAX: {
		uint32_t v;

		if (ep_parse_pid(arg, &v, &err) || v < 1 || v > EP_OWNER_SERIES_MAX)
			argp_error(state, "invalid --prometheus-max '%s': expected 1 to %d", arg,
				   EP_OWNER_SERIES_MAX);
		o->prometheus_max = (int)v;
		break;
	}
	case 'h': argp_state_help(state, stdout, ARGP_HELP_STD_HELP); break;
	case ARGP_KEY_ARG:
		if (o->mode == EP_MODE_REPORT && !o->file)
			o->file = arg;
		else
			argp_error(state, "unexpected argument '%s'", arg);
		break;
	case ARGP_KEY_END:
		if (o->mode == EP_MODE_RECORD && !o->file)
			argp_error(state, "record needs -o FILE");
		if (o->mode == EP_MODE_REPORT && !o->file)
			argp_error(state, "report needs the FILE to read");
		if ((o->prometheus_by || o->prometheus_max) && !o->prometheus)
			argp_error(state, "--prometheus-by and --prometheus-max go with --prometheus");
		if (o->mode == EP_MODE_REPORT && (o->duration_s > 0 || o->prometheus || o->backend))
			argp_error(state, "--duration, --prometheus and --backend do not apply to report");
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
	o->top_n = 10;
	o->threshold = 0.8;
	argp_err_exit_status = 2;
	if (argc > 1 && !strcmp(argv[1], "record"))
		o->mode = EP_MODE_RECORD;
	else if (argc > 1 && !strcmp(argv[1], "report"))
		o->mode = EP_MODE_REPORT;
	if (o->mode) {
		/* the subcommand stands in for the program name */
		argv[1] = argv[0];
		argc--;
		argv++;
	}
	argp_parse(&argp, argc, argv, 0, NULL, o);
	/* A recording prints nothing unless a view asks for it. */
	if (o->mode == EP_MODE_RECORD && !o->json && !o->hist && !o->collisions && !o->occupancy)
		o->quiet = true;
	if (!o->prometheus_max)
		o->prometheus_max = 50;
	/* No protocol named means all of them; no family, both. */
	if (!o->tcp && !o->udp && !o->sctp)
		o->tcp = o->udp = o->sctp = true;
	if (!o->ipv4 && !o->ipv6)
		o->ipv4 = o->ipv6 = true;
}

bool ep_opts_want(const struct ep_opts *o, const struct ep_record *rec)
{
	if ((rec->proto == EP_TCP && !o->tcp) || (rec->proto == EP_UDP && !o->udp) ||
	    (rec->proto == EP_SCTP && !o->sctp))
		return false;
	if ((rec->family == 4 && !o->ipv4) || (rec->family == 6 && !o->ipv6))
		return false;
	if (o->pid && rec->pid != o->pid)
		return false;
	if (o->comm_set && strncmp(rec->comm, o->comm, EP_COMM_LEN))
		return false;
	if (o->netns && rec->netns != o->netns)
		return false;
	return !o->cgroup || rec->cgroup_id == o->cgroup;
}
