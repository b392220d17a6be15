#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "format.h"

size_t ep_utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

#define JSON_ESCAPE_MAX 6 /* bytes out per byte in, at most: \u00XX */

/* A byte JSON takes as it is. */
static bool json_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* The JSON string body for str into dst (at least JSON_ESCAPE_MAX * maxlen + 1
 * bytes); returns its length. */
static size_t json_escape_buf(char *dst, const char *str, size_t maxlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strnlen(str, maxlen), o = 0;

	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t l;

		if (json_plain(c)) {
			/* the common case: a run copied as it is */
			for (l = i + 1; l < n && json_plain(s[l]); l++)
				;
			memcpy(dst + o, s + i, l - i);
			o += l - i;
			i = l;
		} else if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(dst + o, "\\u00", 4);
			dst[o + 4] = hex[c >> 4];
			dst[o + 5] = hex[c & 15];
			o += 6;
			i++;
		} else if ((l = ep_utf8_len(s + i, n - i))) {
			memcpy(dst + o, s + i, l);
			o += l;
			i += l;
		} else {
			memcpy(dst + o, "\\ufffd", 6);
			o += 6;
			i++;
		}
	}
	dst[o] = 0;
	return o;
}

void ep_json_escape(FILE *f, const char *str, size_t maxlen)
{
	char stack[JSON_ESCAPE_MAX * 64 + 1],
	     *buf = maxlen <= 64 ? stack : malloc(JSON_ESCAPE_MAX * maxlen + 1);

	if (!buf)
		return;
	fwrite(buf, 1, json_escape_buf(buf, str, maxlen), f);
	if (buf != stack)
		free(buf);
}

void ep_table_escape(char *dst, size_t dstlen, const char *str, size_t maxlen)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strnlen(str, maxlen), o = 0;

	for (size_t i = 0; i < n && o + 5 < dstlen; i++) {
		if (s[i] < 0x20 || s[i] >= 0x7f || s[i] == '\\')
			o += snprintf(dst + o, dstlen - o, "\\x%02x", s[i]);
		else
			dst[o++] = (char)s[i];
	}
	dst[o] = 0;
}

static void fmt_endpoint(char *buf, size_t len, int family, const char *addr, unsigned port)
{
	if (family == 6)
		snprintf(buf, len, "[%s]:%u", addr, port);
	else
		snprintf(buf, len, "%s:%u", addr, port);
}

void ep_table_header(FILE *f)
{
	fprintf(f, "%-12s %-7s %-7s %-16s %-12s %-24s %-5s %-28s %-28s %-8s %10s %s\n", "TIME",
		"EVENT", "PID", "COMM", "NETNS", "UNIT/CONTAINER", "PROTO", "LOCAL", "REMOTE", "VIA",
		"LAT(us)", "DETAIL");
}

static void fmt_release_detail(char *buf, size_t len, const struct ep_event *ev)
{
	const struct ep_record *r = ev->rec;
	char held[32];

	if (ev->has_held)
		snprintf(held, sizeof(held), "%.3fs", ev->held_ns / 1e9);
	else
		snprintf(held, sizeof(held), "since before the trace");
	if (r->flags & EP_F_TIMEWAIT)
		snprintf(buf, len, "held %s timewait %.3fs", held, ev->timewait_ns / 1e9);
	else
		snprintf(buf, len, "held %s %s", held, ep_reason_name(r->reason));
}

static void fmt_alloc_detail(char *buf, size_t len, const struct ep_alloc_info *info)
{
	size_t o = 0;

	buf[0] = 0;
	if (!info)
		return;
	if (info->reuse_ns != EP_NONE)
		o += snprintf(buf + o, len - o, "reuse %.3fs ", info->reuse_ns / 1e9);
	if (info->tuple_reuse_ns != EP_NONE && o < len)
		o += snprintf(buf + o, len - o, "tuple-reuse %.3fs ", info->tuple_reuse_ns / 1e9);
	if (info->timewait_reuse && o < len)
		snprintf(buf + o, len - o, "timewait-reuse");
}

void ep_table_event(FILE *f, const struct ep_event *ev, const struct ep_alloc_info *info)
{
	const struct ep_record *r = ev->rec;
	char when[16], local[64], remote[64], comm[EP_COMM_LEN * 4 + 1], lat[24], detail[80],
		ns[256], who[512];
	struct ep_addrs a;
	time_t secs = (time_t)(ev->ts_unix_ns / 1000000000ULL);
	struct tm tm;

	localtime_r(&secs, &tm);
	snprintf(when, sizeof(when), "%02d:%02d:%02d.%03u", tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (unsigned)(ev->ts_unix_ns / 1000000ULL % 1000));
	ep_event_addrs(ev, &a);
	fmt_endpoint(local, sizeof(local), r->family, a.laddr, r->lport);
	if (ev->has_remote)
		fmt_endpoint(remote, sizeof(remote), r->family, a.raddr, r->rport);
	else
		snprintf(remote, sizeof(remote), "-");
	ep_table_escape(comm, sizeof(comm), r->comm, EP_COMM_LEN);
	if (ev->has_latency)
		snprintf(lat, sizeof(lat), "%.1f", r->latency_ns / 1000.0);
	else
		snprintf(lat, sizeof(lat), "-");
	detail[0] = 0;
	if (r->kind == EP_ALLOC)
		fmt_alloc_detail(detail, sizeof(detail), info);
	else if (r->kind == EP_FAIL)
		snprintf(detail, sizeof(detail), "%s", ep_errno_name(r->err));
	else if (r->kind == EP_RELEASE)
		fmt_release_detail(detail, sizeof(detail), ev);
	if (ev->netns_name)
		ep_table_escape(ns, sizeof(ns), ev->netns_name, strlen(ev->netns_name));
	else
		snprintf(ns, sizeof(ns), "%u", r->netns);
	if (!ep_owner_label(ev->ident, who, sizeof(who)))
		snprintf(who, sizeof(who), "-");
	fprintf(f, "%-12s %-7s %-7u %-16s %-12s %-24s %-5s %-28s %-28s %-8s %10s %s\n", when,
		ep_kind_name(r->kind), r->pid, comm, ns, who, ep_proto_name(r->proto), local, remote,
		ep_via_name(r->via), lat, detail);
}

/* One event line is built in memory and written once: printf per field
 * was most of the tracer's time in --json mode. An event needs well under
 * half of it; what would not fit is cut rather than written past the end. */
#define LINE_MAX_BYTES 16384 /* a cgroup path, escaped, fits */

struct line {
	char b[LINE_MAX_BYTES];
	size_t n;
};

/* The writers below are inlined into each call: a literal's copy is then a
 * few moves of known size. */
#define PUT static inline __attribute__((always_inline)) void

/* The room is checked before the copy rather than by shortening it, which
 * would leave its size unknown. */
PUT put_n(struct line *l, const char *s, size_t len)
{
	size_t room = sizeof(l->b) - l->n;

	if (len <= room) {
		memcpy(l->b + l->n, s, len);
		l->n += len;
	} else {
		memcpy(l->b + l->n, s, room);
		l->n += room;
	}
}

PUT put(struct line *l, const char *s)
{
	put_n(l, s, strlen(s));
}

static const char pairs[] = "00010203040506070809101112131415161718192021222324"
			   "25262728293031323334353637383940414243444546474849"
			   "50515253545556575859606162636465666768697071727374"
			   "75767778798081828384858687888990919293949596979899";

/* v < 10^8 as eight digits, zero-padded, in 32-bit arithmetic. */
static inline __attribute__((always_inline)) void eight_digits(char *p, uint32_t v)
{
	uint32_t hi = v / 10000, lo = v % 10000;

	memcpy(p, pairs + 2 * (hi / 100), 2);
	memcpy(p + 2, pairs + 2 * (hi % 100), 2);
	memcpy(p + 4, pairs + 2 * (lo / 100), 2);
	memcpy(p + 6, pairs + 2 * (lo % 100), 2);
}

/* Decimal digits of v > 0: log10 from the bit length (1233/4096 ~ log10 2),
 * one compare to correct it. */
static inline __attribute__((always_inline)) int digits(uint64_t v)
{
	static const uint64_t pow10[20] = {
		1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
		100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
		10000000000000ULL, 100000000000000ULL, 1000000000000000ULL,
		10000000000000000ULL, 100000000000000000ULL, 1000000000000000000ULL,
		10000000000000000000ULL
	};
	int t = ((64 - __builtin_clzll(v)) * 1233) >> 12;

	return t + (v >= pow10[t]);
}

/* Eight digits at a time, 64-bit division only to split them: every event
 * has a dozen numbers, the clock's 19 digits among them. */
PUT put_u64(struct line *l, uint64_t v)
{
	char tmp[48]; /* 24 digits zero-padded; 24 bytes from any start can be read */
	int n;

	if (v < 10) {
		char c = (char)('0' + v);

		put_n(l, &c, 1);
		return;
	}
	n = digits(v);
	eight_digits(tmp + 16, (uint32_t)(v % 100000000));
	if (n > 8) {
		v /= 100000000;
		eight_digits(tmp + 8, (uint32_t)(v % 100000000));
		if (n > 16)
			eight_digits(tmp, (uint32_t)(v / 100000000));
	}
	if (sizeof(l->b) - l->n >= 24) {
		/* a copy of fixed size; what follows the digits is written over */
		memcpy(l->b + l->n, tmp + 24 - n, 24);
		l->n += n;
	} else {
		put_n(l, tmp + 24 - n, n);
	}
}

static void put_json_string(struct line *l, const char *s, size_t maxlen)
{
	if (sizeof(l->b) - l->n >= JSON_ESCAPE_MAX * maxlen)
		l->n += json_escape_buf(l->b + l->n, s, maxlen);
}

PUT put_field(struct line *l, const char *name, uint64_t v)
{
	put(l, name);
	put_u64(l, v);
}

PUT put_interval(struct line *l, const char *name, uint64_t v)
{
	put(l, name);
	if (v == EP_NONE)
		put(l, "null");
	else
		put_u64(l, v);
}

PUT put_string_or_null(struct line *l, const char *name, const char *s)
{
	put(l, name);
	if (!s) {
		put(l, "null");
		return;
	}
	put(l, "\"");
	put_json_string(l, s, strlen(s));
	put(l, "\"");
}

/* ,"cgroup":...,"unit":...,"container":{...}: null where unknown. */
static void put_identity(struct line *l, const struct ep_identity *id)
{
	put_string_or_null(l, ",\"cgroup\":", id ? id->cgroup : NULL);
	put_string_or_null(l, ",\"unit\":", id ? id->unit : NULL);
	if (!id || (!id->runtime && !id->pod_uid[0])) {
		put(l, ",\"container\":null");
		return;
	}
	put_string_or_null(l, ",\"container\":{\"id\":", id->runtime ? id->container_id : NULL);
	put_string_or_null(l, ",\"runtime\":", id->runtime);
	put_string_or_null(l, ",\"pod_uid\":", id->pod_uid[0] ? id->pod_uid : NULL);
	put_string_or_null(l, ",\"qos\":", id->qos);
	put(l, "}");
}

void ep_json_identity(FILE *f, const struct ep_identity *id, bool with_netns,
		      const char *netns_name)
{
	struct line l;

	l.n = 0; /* not "= { 0 }": that would clear the whole buffer per event */

	put_identity(&l, id);
	if (with_netns)
		put_string_or_null(&l, ",\"netns_name\":", netns_name);
	fwrite(l.b, 1, l.n, f);
}

const char *ep_owner_label(const struct ep_identity *id, char *buf, size_t len)
{
	char raw[EP_CONTAINER_ID_LEN + 64];
	const char *l = ep_identity_label(id, raw, sizeof(raw));

	if (!l)
		return NULL;
	ep_table_escape(buf, len, l, strlen(l));
	return buf;
}

/* The owner's names as JSON: escaped once per run of one owner's events
 * (ep_event.owner_seq), not per event. Only the main thread prints events. */
static void put_owner_names(struct line *l, const struct ep_event *ev)
{
	static struct {
		uint64_t seq;
		size_t n;
		char b[2048];
	} last;
	size_t start = l->n;

	if (ev->owner_seq && ev->owner_seq == last.seq) {
		put_n(l, last.b, last.n);
		return;
	}
	put_identity(l, ev->ident);
	put_string_or_null(l, ",\"netns_name\":", ev->netns_name);
	last.seq = 0;
	if (ev->owner_seq && l->n - start <= sizeof(last.b) && l->n < sizeof(l->b)) {
		memcpy(last.b, l->b + start, l->n - start);
		last.n = l->n - start;
		last.seq = ev->owner_seq;
	}
}

void ep_json_event(FILE *f, const struct ep_event *ev, const struct ep_alloc_info *info)
{
	const struct ep_record *r = ev->rec;
	struct ep_addrs a;
	struct line l;

	l.n = 0; /* not "= { 0 }": that would clear the whole buffer per event */

	ep_event_addrs(ev, &a);
	put(&l, "{\"event\":\"");
	put(&l, ep_kind_name(r->kind));
	put_field(&l, "\",\"ts_ns\":", ev->ts_unix_ns);
	put(&l, ",\"proto\":\"");
	put(&l, ep_proto_name(r->proto));
	put_field(&l, "\",\"family\":", r->family);
	put(&l, ",\"laddr\":\"");
	put(&l, a.laddr);
	put_field(&l, "\",\"lport\":", r->lport);
	if (ev->has_remote) {
		put(&l, ",\"raddr\":\"");
		put(&l, a.raddr);
		put_field(&l, "\",\"rport\":", r->rport);
	} else {
		put(&l, ",\"raddr\":null,\"rport\":null");
	}
	put(&l, ",\"via\":\"");
	put(&l, ep_via_name(r->via));
	put(&l, "\"");
	if (r->kind == EP_ALLOC) {
		put_interval(&l, ",\"latency_ns\":", ev->has_latency ? r->latency_ns : EP_NONE);
		if (info) {
			put_interval(&l, ",\"reuse_ns\":", info->reuse_ns);
			put_interval(&l, ",\"reassign_ns\":", info->reassign_ns);
			put_interval(&l, ",\"tuple_reuse_ns\":", info->tuple_reuse_ns);
			put(&l, info->timewait_reuse ? ",\"timewait_reuse\":true"
						     : ",\"timewait_reuse\":false");
		}
	}
	put_field(&l, ",\"pid\":", r->pid);
	put_field(&l, ",\"tid\":", r->tid);
	put(&l, ",\"comm\":\"");
	put_json_string(&l, r->comm, EP_COMM_LEN);
	put_field(&l, "\",\"netns\":", r->netns);
	put_field(&l, ",\"cgroup_id\":", r->cgroup_id);
	put_owner_names(&l, ev);
	put_field(&l, ",\"cookie\":", r->cookie);
	if (r->kind == EP_RELEASE) {
		put_interval(&l, ",\"held_ns\":", ev->has_held ? ev->held_ns : EP_NONE);
		put(&l, r->flags & EP_F_PRESTART ? ",\"prestart\":true" : ",\"prestart\":false");
		put(&l, ",\"reason\":\"");
		put(&l, ep_reason_name(r->reason));
		put(&l, "\"");
		if (r->flags & EP_F_TIMEWAIT)
			put_field(&l, ",\"timewait\":true,\"timewait_ns\":", ev->timewait_ns);
		else
			put(&l, ",\"timewait\":false,\"timewait_ns\":null");
	}
	if (r->kind == EP_FAIL) {
		put(&l, ",\"errno\":\"");
		put(&l, ep_errno_name(r->err));
		put(&l, "\"");
	}
	put(&l, "}\n");
	fwrite(l.b, 1, l.n, f);
}

static void summary_fields(FILE *f, const struct ep_summary *s, const char *sep, const char *q)
{
	fprintf(f, "%sevents%s%s%" PRIu64, q, q, sep, s->events);
	fprintf(f, ",%salloc%s%s%" PRIu64, q, q, sep, s->allocs);
	fprintf(f, ",%srelease%s%s%" PRIu64, q, q, sep, s->releases);
	fprintf(f, ",%sfail%s%s%" PRIu64, q, q, sep, s->fails);
	fprintf(f, ",%slost%s%s%" PRIu64, q, q, sep, s->lost);
	fprintf(f, ",%ssocks_full%s%s%" PRIu64, q, q, sep, s->socks_full);
	fprintf(f, ",%sinflight_full%s%s%" PRIu64, q, q, sep, s->inflight_full);
	fprintf(f, ",%shook_misses%s%s%" PRIu64, q, q, sep, s->hook_misses);
	fprintf(f, ",%sbad_records%s%s%" PRIu64, q, q, sep, s->bad_records);
	fprintf(f, ",%srecords_submitted%s%s%" PRIu64, q, q, sep, s->submitted);
	fprintf(f, ",%srecords_received%s%s%" PRIu64, q, q, sep, s->received);
	fprintf(f, ",%sagg_dropped%s%s%" PRIu64, q, q, sep, s->agg_dropped);
	fprintf(f, ",%suntracked_releases%s%s%" PRIu64, q, q, sep, s->untracked_releases);
	fprintf(f, ",%sreconciled%s%s%" PRIu64, q, q, sep, s->reconciled);
	fprintf(f, ",%sduration_s%s%s%.3f", q, q, sep, s->duration_s);
}

void ep_json_summary(FILE *f, const struct ep_summary *s)
{
	fputs("{\"event\":\"summary\",", f);
	summary_fields(f, s, ":", "\"");
	fputs("}\n", f);
}

void ep_table_summary(FILE *f, const struct ep_summary *s)
{
	fputs("summary: ", f);
	summary_fields(f, s, "=", "");
	fputs("\n", f);
}
