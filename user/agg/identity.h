/* Who owns a port, in words an operator recognises: the cgroup v2 path of the
 * owner, and what the path says (systemd unit, container, Kubernetes pod);
 * and the name of each network namespace. Parsing is pure; the names table
 * is filled by whoever knows the facts (the host live, a recording on
 * replay) and read by the aggregate and the outputs. */
#ifndef EPTRACE_IDENTITY_H
#define EPTRACE_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "hash.h"

/* Longer paths are refused (unknown), not cut: a cut path names nothing. */
#define EP_CGROUP_PATH_MAX 1024
#define EP_CONTAINER_ID_LEN 64
#define EP_POD_UID_LEN 36

struct ep_identity {
	char *cgroup;  /* relative to the hierarchy's root, "/..." */
	char *unit;    /* innermost *.service or *.scope, NULL: none */
	/* A container's cgroup, or a pod's: "" where the path does not say. */
	char container_id[EP_CONTAINER_ID_LEN + 1];
	const char *runtime; /* docker, containerd, cri-o, podman, cri; NULL: no container */
	char pod_uid[EP_POD_UID_LEN + 1];
	const char *qos;     /* guaranteed, burstable, besteffort; NULL: not a pod */
};

/* Fills out from a cgroup path (its strings allocated: ep_identity_clear);
 * -1 for a path that is not one (relative, too long, empty component). */
int ep_identity_parse(const char *path, struct ep_identity *out);
void ep_identity_clear(struct ep_identity *id);
/* The path has a component equal to name: the cgroup is in its subtree. */
bool ep_identity_under(const struct ep_identity *id, const char *name);
/* The container id starts with prefix (as docker accepts short ids). */
bool ep_identity_container_is(const struct ep_identity *id, const char *prefix);
/* Short label for tables and --by: "runtime:id12", "pod:uid", the unit, or
 * NULL when the path names none of them. */
const char *ep_identity_label(const struct ep_identity *id, char *buf, size_t len);

/* cgroup id -> identity and netns inode -> name. Bounded: when full, entries
 * no live holder pins are forgotten (a later event resolves them again).
 * A cgroup or namespace known to have no name is remembered as such. */
struct ep_name_slot;

struct ep_names {
	struct ep_hash cgroups; /* uint64_t id -> struct ep_name_slot * */
	struct ep_hash netns;   /* uint32_t inode -> char * (NULL: none) */
	/* The last of each found: events come in runs from one owner. Two
	 * cgroups: on a hybrid host each event asks for the v2 root and for
	 * its process's key. */
	uint64_t last_cgroup[2];
	struct ep_name_slot *last_slot[2]; /* NULL: none */
	unsigned last_next;                /* the one to replace */
	uint32_t last_netns;
	bool last_netns_known;
	const char *last_netns_name;
	/* The last name forgotten, freed at the next forget: the event whose
	 * release let its namespace go still prints it. */
	char *forgotten_netns_name;
	unsigned gen; /* changes whenever an answer of the table may change */
};

/* Owners are looked up by key: the cgroup id, or, for a cgroup marked
 * EP_NAMES_PER_PROCESS (the v2 root of a hybrid host, whose processes have
 * their paths in a v1 hierarchy), a key of the process (pid and comm, so
 * that a reused pid of another program is asked again). */
#define EP_NAMES_PER_PROCESS 0x01
uint64_t ep_names_key(const struct ep_names *n, uint64_t cgroup_id, uint32_t pid,
		      const char comm[16]); /* NUL-ended if shorter */

int ep_names_init(struct ep_names *n, size_t max_cgroups, size_t max_netns);
void ep_names_free(struct ep_names *n);
bool ep_names_knows_cgroup(const struct ep_names *n, uint64_t id);
/* path NULL: the cgroup is gone or has no path; kept as unknown. id: a
 * key; flags: EP_NAMES_PER_PROCESS or 0. */
void ep_names_set_cgroup(struct ep_names *n, uint64_t id, const char *path, int flags);
const struct ep_identity *ep_names_cgroup(const struct ep_names *n, uint64_t id);
/* A holder took (+1) or let go of (-1) a port from this cgroup; how many
 * hold one now. */
void ep_names_pin(struct ep_names *n, uint64_t id, int delta);
uint32_t ep_names_pins(const struct ep_names *n, uint64_t id);
bool ep_names_knows_netns(const struct ep_names *n, uint32_t netns);
void ep_names_set_netns(struct ep_names *n, uint32_t netns, const char *name);
const char *ep_names_netns(const struct ep_names *n, uint32_t netns);
/* The namespace is gone: its inode may number a new one, to be named again. */
void ep_names_forget_netns(struct ep_names *n, uint32_t netns);

#endif
