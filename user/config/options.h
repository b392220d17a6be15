/* Layer config/: the command line, parsed and checked into struct ep_opts,
 * which the layers above read (never write). May call agg/ only.
 *
 * Command line: values, parsing and validation. */
#ifndef EPTRACE_OPTIONS_H
#define EPTRACE_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include "record.h"

#define EP_OWNER_SERIES_MAX 1000 /* --prometheus-max at most */

enum ep_mode { EP_MODE_LIVE = 0, EP_MODE_RECORD, EP_MODE_REPORT };
/* Which set of BPF programs: auto takes the trampoline backend where the
 * kernel attaches all of it. Stored in recordings: values are fixed. */
enum ep_backend { EP_BACKEND_AUTO = 0, EP_BACKEND_TRAMPOLINE = 1, EP_BACKEND_TRACEPOINT = 2 };

struct ep_opts {
	int mode;          /* enum ep_mode */
	const char *file;  /* record: -o FILE; report: FILE */
	const char *prometheus; /* [ADDR:]PORT, NULL: no exporter */
	char prometheus_addr[64]; /* ... parsed */
	uint16_t prometheus_port;
	int prometheus_by;  /* EP_BY_UNIT or EP_BY_CONTAINER: per-owner counter; 0: none */
	int prometheus_max; /* its series before "other", 1..EP_OWNER_SERIES_MAX */
	bool quiet;        /* no per-event output */
	double duration_s; /* 0: until interrupted */
	uint32_t pid;
	char comm[EP_COMM_LEN];
	bool comm_set;
	uint32_t netns;    /* inode, 0: all */
	uint64_t cgroup;   /* cgroup v2 id, 0: all */
	const char *unit;      /* --unit: a cgroup path component, NULL: all */
	const char *container; /* --container: an id prefix, NULL: all */
	uint16_t port_lo, port_hi; /* local ports, 0: all */
	bool tcp, udp, sctp, ipv4, ipv6;
	bool json;
	bool verbose;
	int backend;       /* enum ep_backend */
	/* views: none given means every event */
	bool hist, collisions, occupancy;
	double interval_s; /* report period; 0: --hist reports at exit only */
	int by;            /* enum ep_by */
	int top_n;
	double threshold;  /* occupancy warning, fraction 0..1 */
};

/* Pure value parsers: 0 on success, -1 with a reason in err. */
int ep_parse_duration(const char *s, double *out, const char **err);
int ep_parse_pid(const char *s, uint32_t *out, const char **err);
int ep_parse_comm(const char *s, char out[EP_COMM_LEN], const char **err);
int ep_parse_by(const char *s, int *out, const char **err);
int ep_parse_top(const char *s, int *out, const char **err);
/* [ADDR:]PORT (IPv4; ADDR defaults to 127.0.0.1); addr needs 64 bytes. */
int ep_parse_listen(const char *s, char *addr, uint16_t *port, const char **err);
/* PORT or LO-HI, 1..65535. */
int ep_parse_ports(const char *s, uint16_t *lo, uint16_t *hi, const char **err);
/* A percentage 1..100 -> fraction. */
int ep_parse_threshold(const char *s, double *out, const char **err);
/* auto, trampoline or tracepoint. */
int ep_parse_backend(const char *s, int *out, const char **err);
/* PATH of a namespace file (/proc/PID/ns/net, /run/netns/NAME) or an inode. */
int ep_resolve_netns(const char *s, uint32_t *out, const char **err);
/* A systemd unit name (no '/', printable) and a container id prefix (hex,
 * at most 64 digits), as --unit and --container take them. */
int ep_parse_unit(const char *s, const char **err);
int ep_parse_container(const char *s, const char **err);
/* A directory in the cgroup v2 hierarchy. */
int ep_resolve_cgroup(const char *s, uint64_t *out, const char **err);

/* The filters the kernel side applies (pid, comm, netns, cgroup, protocol,
 * family), on a record made elsewhere: a recording, a socket found at start. */
bool ep_opts_want(const struct ep_opts *o, const struct ep_record *rec);

/* Exits with status 2 and a message naming the problem on bad input. */
void ep_parse_args(int argc, char **argv, struct ep_opts *o);

#endif
