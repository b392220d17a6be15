/* Histogram series keyed by metric x proto x family x via [x by-key], with
 * the by-dimension bounded: keys past 4 x top-N go to "other" at once, and
 * output keeps the top-N by events and folds the rest into "other". */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agg_internal.h"

struct series_key {
	uint8_t metric, proto, family, via;
	char key[EP_BY_KEY_LEN];
	uint32_t pad;
};
_Static_assert(sizeof(struct series_key) == EP_SERIES_KEY_SIZE, "the series table's key");

static const char OTHER[] = "other";

static void by_key(const struct ep_agg *a, const struct ep_event *ev, char out[EP_BY_KEY_LEN])
{
	const struct ep_record *r = ev->rec;

	memset(out, 0, EP_BY_KEY_LEN);
	switch (a->o.by) {
	case EP_BY_COMM:
		memcpy(out, r->comm, EP_COMM_LEN);
		out[EP_COMM_LEN] = 0;
		break;
	case EP_BY_NETNS:
		snprintf(out, EP_BY_KEY_LEN, "%" PRIu32, r->netns);
		break;
	case EP_BY_CGROUP:
		snprintf(out, EP_BY_KEY_LEN, "%" PRIu64, (uint64_t)r->cgroup_id);
		break;
	case EP_BY_UNIT:
	case EP_BY_CONTAINER:
		ep_owner_key(a->o.by, ev->ident, "-", out);
		break;
	default:
		break;
	}
}

void ep_owner_key(int by, const struct ep_identity *id, const char *none,
		  char out[EP_BY_KEY_LEN])
{
	char label[EP_BY_KEY_LEN + 32];
	const char *l = NULL;

	if (by == EP_BY_UNIT)
		l = id ? id->unit : NULL;
	else if (id && (id->runtime || id->pod_uid[0]))
		l = ep_identity_label(id, label, sizeof(label));
	memset(out, 0, EP_BY_KEY_LEN);
	snprintf(out, EP_BY_KEY_LEN, "%s", l ? l : none);
}

static struct ep_hist *series_hist(struct ep_agg *a, const struct series_key *k)
{
	uint32_t *idx;
	bool created;
	struct ep_series *s;

	idx = ep_hash_put(&a->series, k, &created);
	if (!idx)
		return NULL;
	if (!created)
		return a->sv[*idx].h;
	if (a->nseries == a->capseries) {
		size_t cap = a->capseries ? a->capseries * 2 : 32;
		struct ep_series *sv = realloc(a->sv, cap * sizeof(*sv));

		if (!sv) {
			ep_hash_del(&a->series, k);
			return NULL;
		}
		a->sv = sv;
		a->capseries = cap;
	}
	s = &a->sv[a->nseries];
	memset(s, 0, sizeof(*s));
	s->metric = k->metric;
	s->proto = k->proto;
	s->family = k->family;
	s->via = k->via;
	memcpy(s->key, k->key, sizeof(s->key));
	s->h = malloc(sizeof(*s->h));
	if (!s->h) {
		ep_hash_del(&a->series, k);
		return NULL;
	}
	ep_hist_init(s->h);
	*idx = (uint32_t)a->nseries++;
	return s->h;
}

void ep_series_row(struct ep_agg *a, const struct ep_record *r)
{
	int pi = ep_proto_index(r->proto);

	a->row = a->o.by == EP_BY_NONE && pi >= 0 && r->via <= EP_VIA_SENDMSG
			 ? a->plain[pi][r->family == 6][r->via] : NULL;
}

void ep_series_add(struct ep_agg *a, int metric, const struct ep_event *ev, uint64_t v)
{
	const struct ep_record *r = ev->rec;
	struct series_key k;
	struct ep_hist *h;

	memset(&k, 0, sizeof(k));
	k.metric = metric;
	k.proto = r->proto;
	k.family = r->family;
	k.via = r->via;
	if (a->o.by != EP_BY_NONE) {
		uint64_t *events;

		by_key(a, ev, k.key);
		events = ep_hash_put(&a->bykeys, k.key, NULL);
		if (events) {
			if (metric == EP_M_LATENCY || metric == EP_M_HOLD)
				(*events)++;
		} else {
			memset(k.key, 0, sizeof(k.key));
			memcpy(k.key, OTHER, sizeof(OTHER));
		}
	}
	h = series_hist(a, &k);
	if (a->row) /* series_add finds it there from now on */
		a->row[metric] = h;
	if (!h && a->o.by != EP_BY_NONE) {
		/* the series table is full: fold into other */
		memset(k.key, 0, sizeof(k.key));
		memcpy(k.key, OTHER, sizeof(OTHER));
		h = series_hist(a, &k);
	}
	if (h)
		ep_hist_add(h, v);
	else
		a->dropped++;
}

static uint64_t key_events(const struct ep_agg *a, const char *key)
{
	uint64_t *e = ep_hash_get(&a->bykeys, key); /* key: EP_BY_KEY_LEN bytes, zero padded */

	return e ? *e : 0;
}

/* Whether key is among the top-N by events (ties broken by key text). */
static bool in_top(const struct ep_agg *a, const char *key)
{
	uint64_t mine = key_events(a, key);
	const char *k;
	size_t pos = 0;
	uint64_t *e;
	int better = 0;

	if (!strcmp(key, OTHER) || !ep_hash_get(&a->bykeys, key))
		return false;
	while ((k = ep_hash_next(&a->bykeys, &pos, (void **)&e)))
		if (*e > mine || (*e == mine && strncmp(k, key, EP_BY_KEY_LEN) < 0))
			better++;
	return better < a->o.top_n;
}

size_t ep_agg_series(struct ep_agg *a, struct ep_series **out)
{
	struct ep_series *v = calloc(a->nseries ? a->nseries : 1, sizeof(*v));
	size_t n = 0;

	*out = v;
	if (!v)
		return 0;
	for (size_t i = 0; i < a->nseries; i++) {
		struct ep_series s = a->sv[i];
		size_t j;

		if (a->o.by != EP_BY_NONE && !in_top(a, s.key)) {
			memset(s.key, 0, sizeof(s.key));
			memcpy(s.key, OTHER, sizeof(OTHER));
		}
		for (j = 0; j < n; j++)
			if (v[j].metric == s.metric && v[j].proto == s.proto &&
			    v[j].family == s.family && v[j].via == s.via &&
			    !strncmp(v[j].key, s.key, sizeof(s.key)))
				break;
		if (j == n) {
			v[n] = s;
			v[n].h = malloc(sizeof(*v[n].h));
			if (!v[n].h)
				continue;
			ep_hist_init(v[n].h);
			n++;
		}
		ep_hist_merge(v[j].h, s.h);
		v[j].weight = a->o.by != EP_BY_NONE ? key_events(a, v[j].key) : v[j].h->count;
	}
	return n;
}

void ep_agg_series_free(struct ep_series *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].h);
	free(s);
}

void ep_series_free_all(struct ep_agg *a)
{
	for (size_t i = 0; i < a->nseries; i++)
		free(a->sv[i].h);
	free(a->sv);
	a->sv = NULL;
	a->nseries = a->capseries = 0;
}
