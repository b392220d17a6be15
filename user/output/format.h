/* Output of decoded events: the live table and JSON lines. */
#ifndef EPTRACE_FORMAT_H
#define EPTRACE_FORMAT_H

#include <stdio.h>
#include "agg/agg.h"
#include "agg/decode.h"
#include "agg/summary.h"


/* Length of a valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
size_t ep_utf8_len(const unsigned char *s, size_t n);

/* comm escaping: JSON string body (no quotes) and table text. */
void ep_json_escape(FILE *f, const char *s, size_t maxlen);
void ep_table_escape(char *dst, size_t dstlen, const char *s, size_t maxlen);

/* ,"cgroup":..,"unit":..,"container":.. of an owner, and ,"netns_name":..
 * when asked: JSON null where unknown. */
void ep_json_identity(FILE *f, const struct ep_identity *id, bool with_netns,
		      const char *netns_name);
/* The owner's container, pod or unit for a table, escaped; NULL: none. */
const char *ep_owner_label(const struct ep_identity *id, char *buf, size_t len);

void ep_table_header(FILE *f);
/* info: what the aggregation learnt from an alloc, or NULL. */
void ep_table_event(FILE *f, const struct ep_event *ev, const struct ep_alloc_info *info);
void ep_json_event(FILE *f, const struct ep_event *ev, const struct ep_alloc_info *info);
void ep_json_summary(FILE *f, const struct ep_summary *s);
void ep_table_summary(FILE *f, const struct ep_summary *s);

#endif
