#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "format.h"
#include "metrics.h"

static int pi(int proto) { return ep_proto_index(proto) < 0 ? 0 : ep_proto_index(proto); }
static int fi(int family) { return family == 6; }
static int vi(int via) { return via >= 0 && via < EP_M_VIAS ? via : 0; }

static int errno_idx(int err)
{
	switch (err) {
	case EADDRNOTAVAIL: return 0;
	case EADDRINUSE: return 1;
	case EAGAIN: return 2;
	default: return 3;
	}
}

static const int errno_of[EP_M_ERRNOS] = { EADDRNOTAVAIL, EADDRINUSE, EAGAIN, 0 };

int ep_metrics_init(struct ep_metrics *m, int by, int max)
{
	memset(m, 0, sizeof(*m));
	m->owner_by = by;
	m->owner_max = max;
	return by ? ep_hash_init(&m->owners, EP_BY_KEY_LEN, sizeof(uint64_t), (size_t)max) : 0;
}

void ep_metrics_free(struct ep_metrics *m)
{
	if (m->owner_by)
		ep_hash_free(&m->owners);
}

static void count_owner(struct ep_metrics *m, const struct ep_identity *id)
{
	char key[EP_BY_KEY_LEN];
	uint64_t *c;

	ep_owner_key(m->owner_by, id, "", key); /* "": no unit or container */
	c = ep_hash_put(&m->owners, key, NULL); /* NULL once owner_max are counted */
	if (c)
		(*c)++;
	else
		m->owners_other++;
}

void ep_metrics_event(void *ctx, const struct ep_event *ev, const struct ep_alloc_info *info)
{
	struct ep_metrics *m = ctx;
	const struct ep_record *r = ev->rec;

	if (r->flags & EP_F_FIXED)
		return;
	switch (r->kind) {
	case EP_ALLOC:
		m->allocs[pi(r->proto)][fi(r->family)][vi(r->via)]++;
		if (m->owner_by)
			count_owner(m, ev->ident);
		break;
	case EP_RELEASE:
		m->releases[pi(r->proto)][fi(r->family)][vi(r->via)][r->reason & (EP_M_REASONS - 1)]++;
		break;
	case EP_FAIL:
		m->fails[pi(r->proto)][fi(r->family)][vi(r->via)][errno_idx(r->err)]++;
		break;
	}
}

static void labels(FILE *f, int p, int fam, int via)
{
	fprintf(f, "proto=\"%s\",family=\"%d\",via=\"%s\"", ep_proto_name(ep_proto_of_index(p)), fam ? 6 : 4,
		ep_via_name(via));
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counters(FILE *f, const struct ep_metrics *m)
{
	head(f, "eptrace_assignments_total", "counter", "Ephemeral ports the kernel assigned.");
	for (int p = 0; p < EP_M_PROTOS; p++)
		for (int fam = 0; fam < EP_M_FAMILIES; fam++)
			for (int v = 0; v < EP_M_VIAS; v++) {
				if (!m->allocs[p][fam][v])
					continue;
				fprintf(f, "eptrace_assignments_total{");
				labels(f, p, fam, v);
				fprintf(f, "} %" PRIu64 "\n", m->allocs[p][fam][v]);
			}
	head(f, "eptrace_releases_total", "counter", "Ephemeral ports given back, by reason.");
	for (int p = 0; p < EP_M_PROTOS; p++)
		for (int fam = 0; fam < EP_M_FAMILIES; fam++)
			for (int v = 0; v < EP_M_VIAS; v++)
				for (int r = 0; r < EP_M_REASONS; r++) {
					if (!m->releases[p][fam][v][r])
						continue;
					fprintf(f, "eptrace_releases_total{");
					labels(f, p, fam, v);
					fprintf(f, ",reason=\"%s\"} %" PRIu64 "\n", ep_reason_name(r),
						m->releases[p][fam][v][r]);
				}
	head(f, "eptrace_failures_total", "counter", "Port requests the kernel refused, by errno.");
	for (int p = 0; p < EP_M_PROTOS; p++)
		for (int fam = 0; fam < EP_M_FAMILIES; fam++)
			for (int v = 0; v < EP_M_VIAS; v++)
				for (int e = 0; e < EP_M_ERRNOS; e++) {
					if (!m->fails[p][fam][v][e])
						continue;
					fprintf(f, "eptrace_failures_total{");
					labels(f, p, fam, v);
					fprintf(f, ",errno=\"%s\"} %" PRIu64 "\n",
						ep_errno_name(errno_of[e]), m->fails[p][fam][v][e]);
				}
}

size_t ep_metrics_bounds(uint64_t *out, size_t max)
{
	size_t n = 0;

	for (int k = 10; k <= 37 && n + 2 <= max; k++) {
		out[n++] = 1ULL << k;
		out[n++] = 3ULL << (k - 1);
	}
	return n;
}

/* The start of a sample line: name, suffix and the series' labels. */
static void series_head(FILE *f, const char *name, const char *suffix, const struct ep_series *s)
{
	fprintf(f, "%s%s{", name, suffix);
	labels(f, pi(s->proto), fi(s->family), vi(s->via));
}

/* le bounds sit on bucket edges of the log-linear histogram: exact counts. */
static void histogram(FILE *f, const char *name, const struct ep_series *s)
{
	uint64_t bounds[64], cum = 0;
	size_t nb = ep_metrics_bounds(bounds, 64), b = 0;
	const struct ep_hist *h = s->h;

	for (unsigned i = 0; i < EP_HIST_BUCKETS && b < nb; i++) {
		for (; b < nb && ep_hist_bucket_lo(i) >= bounds[b]; b++) {
			series_head(f, name, "_bucket", s);
			fprintf(f, ",le=\"%.9g\"} %" PRIu64 "\n", bounds[b] / 1e9, cum);
		}
		cum += h->b[i];
	}
	for (; b < nb; b++) {
		series_head(f, name, "_bucket", s);
		fprintf(f, ",le=\"%.9g\"} %" PRIu64 "\n", bounds[b] / 1e9, cum);
	}
	series_head(f, name, "_bucket", s);
	fprintf(f, ",le=\"+Inf\"} %" PRIu64 "\n", h->count);
	series_head(f, name, "_sum", s);
	fprintf(f, "} %.9f\n", h->sum / 1e9);
	series_head(f, name, "_count", s);
	fprintf(f, "} %" PRIu64 "\n", h->count);
}

/* One histogram per metric x proto x family x via: --by keys folded. */
static void histograms(FILE *f, struct ep_agg *agg)
{
	static const struct { int metric; const char *name, *help; } hs[] = {
		{ EP_M_LATENCY, "eptrace_allocation_latency_seconds",
		  "Time the kernel took to select a port." },
		{ EP_M_REUSE, "eptrace_port_reuse_seconds",
		  "Release of a port to its next assignment." },
		{ EP_M_REASSIGN, "eptrace_port_reassign_seconds",
		  "Assignment of a port to its next assignment." },
		{ EP_M_TUPLE_REUSE, "eptrace_tuple_reuse_seconds",
		  "End of a TCP connection to the next use of its 4-tuple." },
		{ EP_M_HOLD, "eptrace_port_hold_seconds", "Assignment of a port to its release." },
	};
	struct ep_series *sv;
	size_t n = ep_agg_series(agg, &sv);

	for (size_t i = 0; i < n; i++)
		memset(sv[i].key, 0, sizeof(sv[i].key));
	for (size_t k = 0; k < sizeof(hs) / sizeof(hs[0]); k++) {
		head(f, hs[k].name, "histogram", hs[k].help);
		for (size_t i = 0; i < n; i++) {
			if (sv[i].metric != hs[k].metric || !sv[i].h)
				continue;
			for (size_t j = i + 1; j < n; j++)
				if (sv[j].h && sv[j].metric == sv[i].metric && sv[j].proto == sv[i].proto &&
				    sv[j].family == sv[i].family && sv[j].via == sv[i].via) {
					ep_hist_merge(sv[i].h, sv[j].h);
					free(sv[j].h);
					sv[j].h = NULL;
				}
			histogram(f, hs[k].name, &sv[i]);
		}
	}
	ep_agg_series_free(sv, n);
}

static void gauges(FILE *f, struct ep_agg *agg)
{
	static const char *names[] = { "eptrace_netns_port_range_size", "eptrace_netns_ports_in_use",
				       "eptrace_netns_ports_timewait" };
	static const char *help[] = {
		"Ephemeral ports a namespace can assign (range minus reserved ports).",
		"Ports of the ephemeral range with at least one socket.",
		"Ports of the ephemeral range held by TIME_WAIT sockets." };
	size_t n = ep_agg_netns_count(agg);
	struct ep_occupancy *occ = calloc(n ? n : 1, sizeof(*occ));
	bool *ok = calloc(n ? n : 1, sizeof(*ok));

	if (!occ || !ok)
		goto out;
	for (size_t i = 0; i < n; i++)
		ok[i] = ep_agg_occupancy_peek(agg, i, &occ[i]) && occ[i].range_known;
	for (int g = 0; g < 3; g++) {
		head(f, names[g], "gauge", help[g]);
		for (size_t i = 0; i < n; i++) {
			for (int pr = 0; ok[i] && pr < EP_M_PROTOS; pr++) {
				const struct ep_proto_occ *o = ep_occ_proto(&occ[i], pr);

				/* SCTP only where it was seen: most hosts never load it */
				if (ep_proto_of_index(pr) == EP_SCTP && !o->in_use && !o->allocs &&
				    !o->fails)
					continue;
				uint32_t v = g == 0 ? o->capacity : g == 1 ? o->in_use : o->timewait;

				fprintf(f, "%s{netns=\"%u\",proto=\"%s\"} %u\n", names[g], occ[i].netns,
					ep_proto_name(ep_proto_of_index(pr)), v);
			}
		}
	}
out:
	free(occ);
	free(ok);
}

/* A label value: backslash, quote and newline escaped, as the format asks,
 * and bytes that are not UTF-8 (a name cut inside a character, or a cgroup
 * named so on purpose) replaced by U+FFFD: Prometheus refuses a whole
 * scrape for one invalid label. */
static void label_value(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), l;

	for (size_t i = 0; i < n; i += l) {
		l = ep_utf8_len(s + i, n - i);
		if (!l) {
			fputs("\xef\xbf\xbd", f);
			l = 1;
		} else if (s[i] == '\\' || s[i] == '"') {
			fputc('\\', f);
			fputc(s[i], f);
		} else if (s[i] == '\n') {
			fputs("\\n", f);
		} else {
			fwrite(s + i, 1, l, f);
		}
	}
}

static void owners(FILE *f, const struct ep_metrics *m)
{
	const char *label = m->owner_by == EP_BY_UNIT ? "unit" : "container";
	const uint64_t *c;
	const char *key;
	size_t pos = 0;

	if (!m->owner_by)
		return;
	fprintf(f, "# HELP eptrace_owner_assignments_total Ephemeral ports assigned, per %s "
		   "(\"\" for none; past %d %ss, \"other\").\n"
		   "# TYPE eptrace_owner_assignments_total counter\n", label, m->owner_max, label);
	while ((key = ep_hash_next(&m->owners, &pos, (void **)&c))) {
		fprintf(f, "eptrace_owner_assignments_total{%s=\"", label);
		label_value(f, key);
		fprintf(f, "\"} %" PRIu64 "\n", *c);
	}
	if (m->owners_other)
		fprintf(f, "eptrace_owner_assignments_total{%s=\"other\"} %" PRIu64 "\n", label,
			m->owners_other);
}

/* Names through an info metric: a name appearing starts no new series of
 * the gauges. */
static void netns_info(FILE *f, struct ep_agg *agg)
{
	size_t n = ep_agg_netns_count(agg);

	head(f, "eptrace_netns_info", "gauge",
	     "Names of the network namespaces: /run/netns, host, or a pod, container or unit in it.");
	for (size_t i = 0; i < n; i++) {
		struct ep_occupancy o;

		ep_agg_occupancy_peek(agg, i, &o);
		if (!o.netns_name)
			continue;
		fprintf(f, "eptrace_netns_info{netns=\"%u\",netns_name=\"", o.netns);
		label_value(f, o.netns_name);
		fputs("\"} 1\n", f);
	}
}

static void health(FILE *f, const struct ep_agg *agg, const struct ep_summary *s,
		   bool timewait_tracking)
{
	const struct { const char *name, *type, *help; uint64_t v; } hs[] = {
		{ "eptrace_lost_events_total", "counter",
		  "Records the kernel could not put in the ring buffer.", s->lost },
		{ "eptrace_records_submitted_total", "counter",
		  "Records the kernel put in the ring buffer.", s->submitted },
		{ "eptrace_records_received_total", "counter",
		  "Records read from the ring buffer.", s->received },
		{ "eptrace_socket_table_full_total", "counter",
		  "Sockets the kernel socket table could not hold.", s->socks_full },
		{ "eptrace_inflight_table_full_total", "counter",
		  "Port searches the per-thread table could not hold.", s->inflight_full },
		{ "eptrace_hook_misses_total", "counter",
		  "Hook runs the kernel skipped (nested in themselves): their events are missing.",
		  s->hook_misses },
		{ "eptrace_aggregate_dropped_total", "counter",
		  "State the userspace tables could not keep.", agg->dropped },
		{ "eptrace_timewait_tracking", "gauge",
		  "1 if ends of TIME_WAIT are seen.", timewait_tracking },
		{ "eptrace_up", "gauge", "1 while the tracer runs.", 1 },
	};

	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		head(f, hs[i].name, hs[i].type, hs[i].help);
		fprintf(f, "%s %" PRIu64 "\n", hs[i].name, hs[i].v);
	}
}

void ep_metrics_render(FILE *f, const struct ep_metrics *m, struct ep_agg *agg,
		       const struct ep_summary *sum, const struct ep_start *start)
{
	counters(f, m);
	owners(f, m);
	histograms(f, agg);
	gauges(f, agg);
	netns_info(f, agg);
	health(f, agg, sum, start->timewait_tracking);
	head(f, "eptrace_info", "gauge", "The tracer's configuration: which set of BPF programs "
	     "it loaded (backend).");
	fprintf(f, "eptrace_info{backend=\"%s\"} 1\n", start->backend);
}
