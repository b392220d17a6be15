#include <inttypes.h>
#include <string.h>
#include "format.h"
#include "format_agg.h"

#define BAR_WIDTH 40

void ep_fmt_duration(char *buf, size_t len, uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, len, "%" PRIu64 "ns", ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.1fus", ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.2fms", ns / 1e6);
	else
		snprintf(buf, len, "%.3fs", ns / 1e9);
}

const char *ep_by_name(int by)
{
	switch (by) {
	case EP_BY_COMM: return "comm";
	case EP_BY_NETNS: return "netns";
	case EP_BY_CGROUP: return "cgroup";
	case EP_BY_UNIT: return "unit";
	case EP_BY_CONTAINER: return "container";
	default: return NULL;
	}
}

static void series_title(FILE *f, const struct ep_series *s, int by)
{
	char key[EP_BY_KEY_LEN * 4 + 1];

	fprintf(f, "%s %s/ipv%u %s", ep_metric_name(s->metric), ep_proto_name(s->proto),
		s->family, ep_via_name(s->via));
	if (ep_by_name(by)) {
		ep_table_escape(key, sizeof(key), s->key, sizeof(s->key));
		fprintf(f, " %s=%s", ep_by_name(by), key);
	}
	fputc('\n', f);
}

static void star_bar(FILE *f, uint64_t v, uint64_t max)
{
	int stars = max ? (int)(v * BAR_WIDTH / max) : 0;

	fputc('|', f);
	for (int i = 0; i < BAR_WIDTH; i++)
		fputc(i < stars ? '*' : ' ', f);
	fputc('|', f);
}

/* Power-of-two rows in the display unit, as operators know them from
 * biolatency; each fine bucket goes to the row of its middle value. */
void ep_table_series(FILE *f, const struct ep_series *s, int by)
{
	const struct ep_hist *h = s->h;
	bool us = h->max < 100000000ULL; /* below 100 ms: microseconds */
	uint64_t unit = us ? 1000 : 1000000, rows[64] = {}, max = 0;
	int first = -1, last = -1;
	char p[5][24];

	for (unsigned i = 0; i < EP_HIST_BUCKETS; i++) {
		uint64_t x, mid;
		int row;

		if (!h->b[i])
			continue;
		mid = ep_hist_bucket_lo(i) + (ep_hist_bucket_width(i) - 1) / 2;
		x = mid / unit;
		row = x < 2 ? 0 : 63 - __builtin_clzll(x);
		rows[row] += h->b[i];
	}
	for (int r = 0; r < 64; r++) {
		if (!rows[r])
			continue;
		if (first < 0)
			first = r;
		last = r;
		if (rows[r] > max)
			max = rows[r];
	}
	series_title(f, s, by);
	fprintf(f, "%20s : count     distribution\n", us ? "usecs" : "msecs");
	for (int r = first; r >= 0 && r <= last; r++) {
		uint64_t lo = r ? 1ULL << r : 0, hi = r ? (2ULL << r) - 1 : 1;
		char range[48];

		snprintf(range, sizeof(range), "%" PRIu64 " -> %" PRIu64, lo, hi);
		fprintf(f, "%20s : %-9" PRIu64 " ", range, rows[r]);
		star_bar(f, rows[r], max);
		fputc('\n', f);
	}
	ep_fmt_duration(p[0], sizeof(p[0]), ep_hist_percentile(h, 50));
	ep_fmt_duration(p[1], sizeof(p[1]), ep_hist_percentile(h, 90));
	ep_fmt_duration(p[2], sizeof(p[2]), ep_hist_percentile(h, 99));
	ep_fmt_duration(p[3], sizeof(p[3]), ep_hist_percentile(h, 99.9));
	ep_fmt_duration(p[4], sizeof(p[4]), h->max);
	fprintf(f, "count %" PRIu64 "  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n\n", h->count,
		p[0], p[1], p[2], p[3], p[4]);
}

void ep_json_series(FILE *f, const struct ep_series *s, int by, uint64_t ts_unix_ns)
{
	const struct ep_hist *h = s->h;
	bool first = true;

	fprintf(f, "{\"event\":\"hist\",\"ts_ns\":%" PRIu64 ",\"metric\":\"%s\",\"proto\":\"%s\","
		   "\"family\":%u,\"via\":\"%s\"",
		ts_unix_ns, ep_metric_name(s->metric), ep_proto_name(s->proto), s->family,
		ep_via_name(s->via));
	if (ep_by_name(by)) {
		fprintf(f, ",\"by\":\"%s\",\"key\":\"", ep_by_name(by));
		ep_json_escape(f, s->key, sizeof(s->key));
		fputc('"', f);
	}
	fprintf(f, ",\"count\":%" PRIu64 ",\"sum_ns\":%" PRIu64 ",\"min_ns\":%" PRIu64
		   ",\"max_ns\":%" PRIu64,
		h->count, h->sum, h->min, h->max);
	fprintf(f, ",\"p50_ns\":%" PRIu64 ",\"p90_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64
		   ",\"p999_ns\":%" PRIu64,
		ep_hist_percentile(h, 50), ep_hist_percentile(h, 90), ep_hist_percentile(h, 99),
		ep_hist_percentile(h, 99.9));
	fputs(",\"buckets\":[", f);
	for (unsigned i = 0; i < EP_HIST_BUCKETS; i++) {
		if (!h->b[i])
			continue;
		fprintf(f, "%s[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]", first ? "" : ",",
			ep_hist_bucket_lo(i), ep_hist_bucket_width(i), h->b[i]);
		first = false;
	}
	fputs("]}\n", f);
}

static const char *collision_name(int type)
{
	switch (type) {
	case EP_COLL_BIND_IN_USE: return "bind_in_use";
	case EP_COLL_EXHAUSTED: return "exhausted";
	case EP_COLL_RANGE_CONFLICT: return "range_conflict";
	default: return "unknown";
	}
}

static void json_holder(FILE *f, const struct ep_holder *h, int64_t mono_to_unix)
{
	fprintf(f, "{\"pid\":%u,\"comm\":\"", h->pid);
	ep_json_escape(f, h->comm, EP_COMM_LEN);
	fputc('"', f);
	if (h->since_ns)
		fprintf(f, ",\"since_ns\":%" PRIu64, ep_mono_to_unix(h->since_ns, mono_to_unix));
	else
		fputs(",\"since_ns\":null", f);
	fprintf(f, ",\"ports\":%u,\"fixed\":%s,\"untracked\":%s", h->ports,
		h->fixed ? "true" : "false", h->untracked ? "true" : "false");
	ep_json_identity(f, h->ident, false, NULL);
	if (h->group[0]) {
		fputs(",\"group\":\"", f);
		ep_json_escape(f, h->group, sizeof(h->group));
		fputc('"', f);
	}
	fputc('}', f);
}

static void json_proto_occ(FILE *f, const char *name, const struct ep_proto_occ *p)
{
	fprintf(f, ",\"%s\":{\"in_use\":%u,\"timewait\":%u,\"capacity\":%u,\"fraction\":%.4f,"
		   "\"allocs\":%" PRIu64 ",\"fails\":%" PRIu64 ",\"alloc_rate\":%.2f,"
		   "\"fail_rate\":%.2f",
		name, p->in_use, p->timewait, p->capacity, p->fraction, p->allocs, p->fails,
		p->alloc_rate, p->fail_rate);
	fprintf(f, ",\"parity\":{\"connect_even\":%" PRIu64 ",\"connect_odd\":%" PRIu64
		   ",\"other_even\":%" PRIu64 ",\"other_odd\":%" PRIu64 "}",
		p->even, p->odd, p->bind_even, p->bind_odd);
	fprintf(f, ",\"spread\":{\"distinct\":%u,\"deciles\":[", p->distinct);
	for (int i = 0; i < 10; i++)
		fprintf(f, "%s%" PRIu64, i ? "," : "", p->deciles[i]);
	fprintf(f, "]},\"predictability\":{\"pairs\":%" PRIu64 ",\"repeat_step\":%" PRIu64
		   ",\"median_step\":%" PRIu64 "}",
		p->pairs, p->repeat_delta, p->median_step);
	fputs(",\"top_holders\":[", f);
	for (int i = 0; i < p->ntop; i++) {
		if (i)
			fputc(',', f);
		json_holder(f, &p->top[i], 0);
	}
	fputs("]}", f);
}

static void json_netns_name(FILE *f, const char *name)
{
	if (name) {
		fputs(",\"netns_name\":\"", f);
		ep_json_escape(f, name, strlen(name));
		fputc('"', f);
	} else {
		fputs(",\"netns_name\":null", f);
	}
}

static void json_occ_body(FILE *f, const struct ep_occupancy *o)
{
	fprintf(f, "\"netns\":%u", o->netns);
	json_netns_name(f, o->netns_name);
	if (o->range_known)
		fprintf(f, ",\"range\":[%u,%u]", o->lo, o->hi);
	else
		fputs(",\"range\":null", f);
	fprintf(f, ",\"reserved_in_range\":%u", o->reserved_in_range);
	json_proto_occ(f, "tcp", &o->tcp);
	json_proto_occ(f, "udp", &o->udp);
	/* only where SCTP was seen: most hosts never load it */
	if (o->sctp.in_use || o->sctp.allocs || o->sctp.fails)
		json_proto_occ(f, "sctp", &o->sctp);
}

void ep_json_occupancy(FILE *f, const struct ep_occupancy *o, uint64_t ts_unix_ns)
{
	fprintf(f, "{\"event\":\"occupancy\",\"ts_ns\":%" PRIu64 ",", ts_unix_ns);
	json_occ_body(f, o);
	fputs("}\n", f);
}

static void json_party(FILE *f, const struct ep_event *ev)
{
	const struct ep_record *r = ev->rec;
	struct ep_addrs a;

	ep_event_addrs(ev, &a);
	fprintf(f, ",\"pid\":%u,\"tid\":%u,\"comm\":\"", r->pid, r->tid);
	ep_json_escape(f, r->comm, EP_COMM_LEN);
	fprintf(f, "\",\"netns\":%u,\"proto\":\"%s\",\"family\":%u,\"laddr\":\"%s\",\"port\":%u,"
		   "\"via\":\"%s\"",
		r->netns, ep_proto_name(r->proto), r->family, a.laddr, r->lport,
		ep_via_name(r->via));
	ep_json_identity(f, ev->ident, true, ev->netns_name);
}

void ep_json_collision(FILE *f, const struct ep_collision *c, int64_t mono_to_unix)
{
	const struct ep_record *r = c->ev->rec;

	fprintf(f, "{\"event\":\"collision\",\"type\":\"%s\",\"ts_ns\":%" PRIu64,
		collision_name(c->type), c->ev->ts_unix_ns);
	json_party(f, c->ev);
	if (c->type == EP_COLL_BIND_IN_USE || c->type == EP_COLL_EXHAUSTED)
		fprintf(f, ",\"errno\":\"%s\"", ep_errno_name(r->err));
	if (c->type == EP_COLL_BIND_IN_USE) {
		fputs(",\"holder\":", f);
		if (c->holder_known)
			json_holder(f, &c->holder, mono_to_unix);
		else
			fputs("null", f);
		fprintf(f, ",\"holder_ephemeral\":%s", c->holder_ephemeral ? "true" : "false");
	}
	if (c->type == EP_COLL_RANGE_CONFLICT)
		fprintf(f, ",\"range\":[%u,%u],\"reserved\":%s", c->lo, c->hi,
			c->reserved ? "true" : "false");
	if (c->type == EP_COLL_EXHAUSTED) {
		fprintf(f, ",\"suppressed\":%" PRIu64 ",\"occupancy\":{", c->suppressed);
		json_occ_body(f, c->occ);
		fputc('}', f);
	}
	fputs("}\n", f);
}

/* comm(pid), and [container, pod or unit] where its cgroup names one. */
static void holder_text(char *buf, size_t len, const struct ep_holder *h)
{
	char comm[EP_COMM_LEN * 4 + 1], label[512];
	const char *who = ep_owner_label(h->ident, label, sizeof(label));
	int n;

	if (h->group[0]) { /* --by unit|container: the group is the holder */
		ep_table_escape(buf, len, h->group, sizeof(h->group));
		return;
	}
	ep_table_escape(comm, sizeof(comm), h->comm, EP_COMM_LEN);
	if (h->pid)
		n = snprintf(buf, len, "%s(%u)", comm, h->pid);
	else
		n = snprintf(buf, len, "%s", comm[0] ? comm : "(unknown)");
	if (who && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "[%s]", who);
}

/* The namespace's name where known, else its inode. */
static const char *netns_text(char *buf, size_t len, uint32_t netns, const char *name)
{
	if (name)
		ep_table_escape(buf, len, name, strlen(name));
	else
		snprintf(buf, len, "%u", netns);
	return buf;
}

void ep_table_collision(FILE *f, const struct ep_collision *c, int64_t mono_to_unix)
{
	const struct ep_record *r = c->ev->rec;
	struct ep_holder me = { .pid = r->pid, .ident = c->ev->ident };
	char who[600], ns[256];

	memcpy(me.comm, r->comm, EP_COMM_LEN);
	holder_text(who, sizeof(who), &me);
	fprintf(f, "%-14s netns %s %s port %u: %s", collision_name(c->type),
		netns_text(ns, sizeof(ns), r->netns, c->ev->netns_name), ep_proto_name(r->proto),
		r->lport, who);
	if (c->type == EP_COLL_BIND_IN_USE) {
		fprintf(f, " got %s; ", ep_errno_name(r->err));
		if (c->holder_known) {
			holder_text(who, sizeof(who), &c->holder);
			fprintf(f, "held by %s", who);
			if (c->holder.since_ns && c->ts_ns >= c->holder.since_ns)
				fprintf(f, " for %.3fs", (c->ts_ns - c->holder.since_ns) / 1e9);
			fprintf(f, " (%s)", c->holder.fixed ? "fixed bind" :
					    c->holder.untracked ? "before the trace" : "ephemeral");
		} else {
			fputs("holder unknown", f);
		}
	} else if (c->type == EP_COLL_RANGE_CONFLICT) {
		fprintf(f, " bound a fixed port %s range %u-%u%s", c->reserved ? "outside" : "inside",
			c->lo, c->hi, c->reserved ? " that is reserved" : "");
	} else {
		const struct ep_proto_occ *p = ep_occ_proto_c(c->occ, r->proto);

		fprintf(f, " got %s; %u/%u ports in use (%.1f%%), %u in TIME_WAIT", ep_errno_name(r->err),
			p->in_use, p->capacity, p->fraction * 100, p->timewait);
		if (c->suppressed)
			fprintf(f, "; %" PRIu64 " more failures", c->suppressed);
		for (int i = 0; i < p->ntop; i++) {
			holder_text(who, sizeof(who), &p->top[i]);
			fprintf(f, "%s%s:%u", i ? " " : "; top holders ", who, p->top[i].ports);
		}
	}
	fputc('\n', f);
}

void ep_table_warning(FILE *f, const struct ep_warning *w)
{
	char ns[256];

	fprintf(f, "WARNING: netns %s %s: %u of %u ephemeral ports in use (%.1f%%, threshold %.0f%%)\n",
		netns_text(ns, sizeof(ns), w->netns, w->netns_name), ep_proto_name(w->proto),
		w->in_use, w->capacity, w->fraction * 100, w->threshold * 100);
}

void ep_json_warning(FILE *f, const struct ep_warning *w, int64_t mono_to_unix)
{
	fprintf(f, "{\"event\":\"warning\",\"type\":\"occupancy\",\"ts_ns\":%" PRIu64
		   ",\"netns\":%u",
		ep_mono_to_unix(w->ts_ns, mono_to_unix), w->netns);
	json_netns_name(f, w->netns_name);
	fprintf(f, ",\"proto\":\"%s\",\"in_use\":%u,\"capacity\":%u,\"fraction\":%.4f,"
		   "\"threshold\":%.4f}\n",
		ep_proto_name(w->proto), w->in_use, w->capacity, w->fraction, w->threshold);
}

void ep_table_occupancy_header(FILE *f)
{
	fprintf(f, "%-11s %-5s %-11s %7s %6s %7s %7s %9s %8s %s\n", "NETNS", "PROTO", "RANGE",
		"IN-USE", "TW", "CAP", "USED%", "ALLOC/s", "FAIL/s", "TOP HOLDERS");
}

static void occ_row(FILE *f, const struct ep_occupancy *o, int proto)
{
	const struct ep_proto_occ *p = ep_occ_proto_c(o, proto);
	char range[24], who[600], ns[256];

	if (o->range_known)
		snprintf(range, sizeof(range), "%u-%u", o->lo, o->hi);
	else
		snprintf(range, sizeof(range), "?");
	fprintf(f, "%-11s %-5s %-11s %7u %6u %7u %6.1f%% %9.1f %8.1f",
		netns_text(ns, sizeof(ns), o->netns, o->netns_name),
		ep_proto_name(proto), range, p->in_use, p->timewait, p->capacity, p->fraction * 100,
		p->alloc_rate, p->fail_rate);
	for (int i = 0; i < p->ntop; i++) {
		holder_text(who, sizeof(who), &p->top[i]);
		fprintf(f, " %s:%u", who, p->top[i].ports);
	}
	fputc('\n', f);
}

/* Selection diagnostics, when there were assignments to judge. */
static void diag_row(FILE *f, const struct ep_occupancy *o, int proto)
{
	const struct ep_proto_occ *p = ep_occ_proto_c(o, proto);

	if (!p->allocs)
		return;
	fprintf(f, "%-11s %-5s parity connect %" PRIu64 " even/%" PRIu64 " odd, other %" PRIu64
		   " even/%" PRIu64 " odd; %u distinct ports",
		"", ep_proto_name(proto), p->even, p->odd, p->bind_even, p->bind_odd, p->distinct);
	if (p->pairs)
		fprintf(f, "; same destination: %" PRIu64 " pairs, %.0f%% repeat the step, median step %" PRIu64,
			p->pairs, 100.0 * p->repeat_delta / p->pairs, p->median_step);
	fputc('\n', f);
}

void ep_table_occupancy(FILE *f, const struct ep_occupancy *o)
{
	occ_row(f, o, EP_TCP);
	diag_row(f, o, EP_TCP);
	occ_row(f, o, EP_UDP);
	diag_row(f, o, EP_UDP);
	if (o->sctp.in_use || o->sctp.allocs || o->sctp.fails) {
		occ_row(f, o, EP_SCTP);
		diag_row(f, o, EP_SCTP);
	}
}
