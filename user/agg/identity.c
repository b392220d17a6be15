#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "identity.h"

struct ep_name_slot {
	struct ep_identity *id; /* NULL: known to have no path */
	uint32_t pins;
	int flags;              /* EP_NAMES_PER_PROCESS */
};

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && !memcmp(s + n - k, suffix, k);
}

static bool starts_with(const char *s, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && !memcmp(s, prefix, k);
}

static bool lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* A pod uid as the path writes it (8-4-4-4-12 hex; sep is '-' in cgroupfs
 * paths, '_' in systemd slice names) into out, with dashes. */
static bool pod_uid(const char *s, size_t n, char sep, char out[EP_POD_UID_LEN + 1])
{
	if (n != EP_POD_UID_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != sep : !lower_hex(s + i, 1))
			return false;
		out[i] = dash ? '-' : s[i];
	}
	out[n] = 0;
	return true;
}

/* "docker-<id>.scope" and the like (systemd cgroup driver); the scope
 * suffix is optional for podman's cgroupfs "libpod-<id>". */
static const char *scoped_container(const char *c, size_t n, char id[EP_CONTAINER_ID_LEN + 1])
{
	static const struct { const char *prefix, *runtime; } kinds[] = {
		{ "docker-", "docker" }, { "cri-containerd-", "containerd" },
		{ "crio-", "cri-o" },    { "libpod-", "podman" },
	};

	if (ends_with(c, n, ".scope"))
		n -= strlen(".scope");
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		size_t p = strlen(kinds[k].prefix);

		if (starts_with(c, n, kinds[k].prefix) && n - p == EP_CONTAINER_ID_LEN &&
		    lower_hex(c + p, EP_CONTAINER_ID_LEN)) {
			memcpy(id, c + p, EP_CONTAINER_ID_LEN);
			id[EP_CONTAINER_ID_LEN] = 0;
			return kinds[k].runtime;
		}
	}
	return NULL;
}

static const char *qos_of(const char *s, size_t n)
{
	if (n == strlen("burstable") && !memcmp(s, "burstable", n))
		return "burstable";
	if (n == strlen("besteffort") && !memcmp(s, "besteffort", n))
		return "besteffort";
	return NULL;
}

/* "kubepods-burstable-pod<uid_>.slice", "kubepods-pod<uid_>.slice"; under a
 * kubelet --cgroup-root (kind, say) systemd prefixes them: "kubelet-kubepods-...". */
static bool pod_slice(const char *c, size_t n, bool kubepods, struct ep_identity *out)
{
	const char *pod;

	if (!starts_with(c, n, "kubepods-")) {
		const char *at = kubepods ? memmem(c, n, "-kubepods-", strlen("-kubepods-")) : NULL;

		if (!at)
			return false;
		n -= (size_t)(at + 1 - c);
		c = at + 1;
	}
	if (!ends_with(c, n, ".slice"))
		return false;
	n -= strlen(".slice");
	if (n < EP_POD_UID_LEN + strlen("-pod"))
		return false;
	pod = c + n - EP_POD_UID_LEN - strlen("-pod");
	if (memcmp(pod, "-pod", 4) || !pod_uid(pod + 4, EP_POD_UID_LEN, '_', out->pod_uid))
		return false;
	if (pod == c + strlen("kubepods"))
		out->qos = "guaranteed";
	else
		out->qos = qos_of(c + strlen("kubepods-"), (size_t)(pod - c) - strlen("kubepods-"));
	if (!out->qos)
		out->pod_uid[0] = 0;
	return out->qos != NULL;
}

static void component(struct ep_identity *out, const char *c, size_t n, const char *parent,
		      size_t pn, bool kubepods)
{
	const char *runtime;
	char id[EP_CONTAINER_ID_LEN + 1];

	if (ends_with(c, n, ".service") || ends_with(c, n, ".scope")) {
		free(out->unit);
		out->unit = strndup(c, n);
	}
	if (pod_slice(c, n, kubepods, out))
		return;
	if (kubepods && starts_with(c, n, "pod") && pod_uid(c + 3, n - 3, '-', out->pod_uid)) {
		/* cgroupfs driver: /kubepods[/burstable|/besteffort]/pod<uid> */
		out->qos = qos_of(parent, pn);
		if (!out->qos)
			out->qos = "guaranteed";
		return;
	}
	runtime = scoped_container(c, n, id);
	if (!runtime && n == EP_CONTAINER_ID_LEN && lower_hex(c, n)) {
		/* cgroupfs drivers: the bare id, under a parent that names its runtime */
		if (pn == strlen("docker") && !memcmp(parent, "docker", pn))
			runtime = "docker";
		else if (kubepods && out->pod_uid[0])
			runtime = "cri"; /* the path does not say which CRI runtime */
		if (runtime) {
			memcpy(id, c, EP_CONTAINER_ID_LEN);
			id[EP_CONTAINER_ID_LEN] = 0;
		}
	}
	if (runtime) {
		memcpy(out->container_id, id, sizeof(id));
		out->runtime = runtime;
	}
}

int ep_identity_parse(const char *path, struct ep_identity *out)
{
	size_t len = path ? strnlen(path, EP_CGROUP_PATH_MAX) : 0;
	const char *c, *parent = "";
	size_t pn = 0;
	bool kubepods = false;

	memset(out, 0, sizeof(*out));
	if (!len || len >= EP_CGROUP_PATH_MAX || path[0] != '/')
		return -1;
	if (!(out->cgroup = strndup(path, len)))
		return -1;
	for (c = path + 1; *c;) {
		const char *end = strchr(c, '/');
		size_t n = end ? (size_t)(end - c) : strlen(c);

		if (!n) {
			if (!end || end[1]) { /* "//" inside: not a path the kernel gives */
				ep_identity_clear(out);
				return -1;
			}
			break;
		}
		if ((n == 8 && !memcmp(c, "kubepods", 8)) || starts_with(c, n, "kubepods.slice") ||
		    ends_with(c, n, "-kubepods.slice"))
			kubepods = true;
		component(out, c, n, parent, pn, kubepods);
		parent = c;
		pn = n;
		c += n + (end ? 1 : 0);
	}
	return 0;
}

void ep_identity_clear(struct ep_identity *id)
{
	free(id->cgroup);
	free(id->unit);
	memset(id, 0, sizeof(*id));
}

bool ep_identity_under(const struct ep_identity *id, const char *name)
{
	size_t k = strlen(name);
	const char *c;

	if (!id || !id->cgroup || !k)
		return false;
	for (c = id->cgroup; (c = strstr(c, name)); c++)
		if (c > id->cgroup && c[-1] == '/' && (c[k] == '/' || !c[k]))
			return true;
	return false;
}

bool ep_identity_container_is(const struct ep_identity *id, const char *prefix)
{
	size_t k = strlen(prefix);

	return id && id->runtime && k && k <= EP_CONTAINER_ID_LEN &&
	       !strncmp(id->container_id, prefix, k);
}

const char *ep_identity_label(const struct ep_identity *id, char *buf, size_t len)
{
	if (!id)
		return NULL;
	if (id->runtime) {
		/* 12 characters, as docker ps shows them */
		snprintf(buf, len, "%s:%.12s", id->runtime, id->container_id);
		return buf;
	}
	if (id->pod_uid[0]) {
		snprintf(buf, len, "pod:%s", id->pod_uid);
		return buf;
	}
	return id->unit;
}

int ep_names_init(struct ep_names *n, size_t max_cgroups, size_t max_netns)
{
	memset(n, 0, sizeof(*n));
	if (ep_hash_init(&n->cgroups, sizeof(uint64_t), sizeof(struct ep_name_slot *), max_cgroups) ||
	    ep_hash_init(&n->netns, sizeof(uint32_t), sizeof(char *), max_netns)) {
		ep_names_free(n);
		return -1;
	}
	return 0;
}

static void slot_free(struct ep_name_slot *s)
{
	if (s && s->id) {
		ep_identity_clear(s->id);
		free(s->id);
	}
	free(s);
}

/* The caches, after the table lost entries or an entry changed. */
static void forget_last(struct ep_names *n)
{
	n->last_slot[0] = n->last_slot[1] = NULL;
	n->gen++;
}

void ep_names_free(struct ep_names *n)
{
	size_t pos = 0;
	void *v;

	while (n->cgroups.slots && ep_hash_next(&n->cgroups, &pos, &v))
		slot_free(*(struct ep_name_slot **)v);
	pos = 0;
	while (n->netns.slots && ep_hash_next(&n->netns, &pos, &v))
		free(*(char **)v);
	ep_hash_free(&n->cgroups);
	ep_hash_free(&n->netns);
	free(n->forgotten_netns_name);
	n->forgotten_netns_name = NULL;
	forget_last(n);
	n->last_netns_known = false;
}

static struct ep_name_slot *slot_of(const struct ep_names *n, uint64_t id)
{
	struct ep_names *m = (struct ep_names *)n; /* the cache is not the table */
	struct ep_name_slot **s;

	for (int i = 0; i < 2; i++)
		if (n->last_slot[i] && n->last_cgroup[i] == id)
			return n->last_slot[i];
	s = ep_hash_get(&n->cgroups, &id);
	if (s) {
		m->last_cgroup[m->last_next] = id;
		m->last_slot[m->last_next] = *s;
		m->last_next ^= 1;
	}
	return s ? *s : NULL;
}

bool ep_names_knows_cgroup(const struct ep_names *n, uint64_t id)
{
	return slot_of(n, id) != NULL;
}

/* Room for one more: the entries no holder pins go. */
static void cgroups_make_room(struct ep_names *n)
{
	uint64_t *victims = malloc(n->cgroups.count * sizeof(*victims));
	struct ep_name_slot **s;
	size_t pos = 0, k = 0;
	const uint64_t *key;

	if (!victims)
		return;
	/* a per-process cgroup stays: its owners' keys depend on it */
	while ((key = ep_hash_next(&n->cgroups, &pos, (void **)&s)))
		if (!(*s)->pins && !((*s)->flags & EP_NAMES_PER_PROCESS))
			victims[k++] = *key;
	for (size_t i = 0; i < k; i++) {
		s = ep_hash_get(&n->cgroups, &victims[i]);
		slot_free(*s);
		ep_hash_del(&n->cgroups, &victims[i]);
	}
	forget_last(n);
	free(victims);
}

uint64_t ep_names_key(const struct ep_names *n, uint64_t cgroup_id, uint32_t pid,
		      const char comm[16])
{
	const struct ep_name_slot *s = slot_of(n, cgroup_id);
	uint32_t h = 2166136261u;

	if (!s || !(s->flags & EP_NAMES_PER_PROCESS))
		return cgroup_id;
	for (size_t i = 0; i < 16 && comm[i]; i++)
		h = (h ^ (uint8_t)comm[i]) * 16777619u;
	/* cgroup v2 ids are kernfs ids: the top bit is never theirs */
	return 1ULL << 63 | (uint64_t)(h & 0x7fffffffu) << 32 | pid;
}

void ep_names_set_cgroup(struct ep_names *n, uint64_t id, const char *path, int flags)
{
	struct ep_name_slot *s = slot_of(n, id), **v;
	struct ep_identity *ident = NULL;

	if (!s) {
		if (n->cgroups.count >= n->cgroups.max_entries)
			cgroups_make_room(n);
		if (!(s = calloc(1, sizeof(*s))))
			return;
		if (!(v = ep_hash_put(&n->cgroups, &id, NULL))) {
			free(s);
			return;
		}
		*v = s;
	}
	if (s->id) {
		ep_identity_clear(s->id);
		free(s->id);
	}
	if (path && (ident = malloc(sizeof(*ident))) && ep_identity_parse(path, ident)) {
		free(ident);
		ident = NULL;
	}
	s->id = ident;
	s->flags = flags;
	n->gen++; /* its flags decide the keys */
}

const struct ep_identity *ep_names_cgroup(const struct ep_names *n, uint64_t id)
{
	const struct ep_name_slot *s = slot_of(n, id);

	return s ? s->id : NULL;
}

void ep_names_pin(struct ep_names *n, uint64_t id, int delta)
{
	struct ep_name_slot *s = slot_of(n, id);

	if (s && (delta > 0 || s->pins))
		s->pins += delta;
}

static bool netns_find(const struct ep_names *n, uint32_t netns, const char **name)
{
	struct ep_names *m = (struct ep_names *)n; /* the cache is not the table */
	char *const *v;

	if (n->last_netns_known && n->last_netns == netns) {
		*name = n->last_netns_name;
		return true;
	}
	v = ep_hash_get(&n->netns, &netns);
	if (!v)
		return false;
	m->last_netns = netns;
	m->last_netns_known = true;
	m->last_netns_name = *name = *v;
	return true;
}

uint32_t ep_names_pins(const struct ep_names *n, uint64_t id)
{
	const struct ep_name_slot *s = slot_of(n, id);

	return s ? s->pins : 0;
}

bool ep_names_knows_netns(const struct ep_names *n, uint32_t netns)
{
	const char *name;

	return netns_find(n, netns, &name);
}

void ep_names_set_netns(struct ep_names *n, uint32_t netns, const char *name)
{
	char **v = ep_hash_get(&n->netns, &netns);

	n->last_netns_known = false;
	n->gen++;
	if (!v) {
		if (n->netns.count >= n->netns.max_entries) {
			size_t pos = 0;
			void *old;

			while (ep_hash_next(&n->netns, &pos, &old))
				free(*(char **)old);
			ep_hash_clear(&n->netns);
		}
		if (!(v = ep_hash_put(&n->netns, &netns, NULL)))
			return;
	}
	free(*v);
	*v = name ? strdup(name) : NULL;
}

const char *ep_names_netns(const struct ep_names *n, uint32_t netns)
{
	const char *name = NULL;

	return netns_find(n, netns, &name) ? name : NULL;
}

void ep_names_forget_netns(struct ep_names *n, uint32_t netns)
{
	char **v = ep_hash_get(&n->netns, &netns);

	if (!v)
		return;
	free(n->forgotten_netns_name);
	n->forgotten_netns_name = *v;
	ep_hash_del(&n->netns, &netns);
	n->last_netns_known = false;
	n->gen++;
}
