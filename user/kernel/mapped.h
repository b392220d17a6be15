/* The maps userspace reads through a mapping of their memory instead of map
 * syscalls (why: bpf/lib/maps.bpf.h): the socket table, the counters and
 * the ring's producer position. */
#ifndef EPTRACE_MAPPED_H
#define EPTRACE_MAPPED_H

#include <stddef.h>
#include <stdint.h>
#include "record.h"

struct bpf_object;

struct ep_mapped {
	const struct sock_slot *socks; /* EP_SOCKS_MAX slots, read-only */
	const uint64_t *stats;         /* ncpus rows of EP_STAT_MAX counters */
	const void *ring_prod;         /* the ring's producer page */
	size_t socks_len, stats_len, ring_len;
	int ncpus;
};

/* Between open and load: a row of counters for every possible CPU. */
void ep_mapped_size(struct bpf_object *obj);
/* Once loaded: 0, or -1 after saying on stderr what could not be mapped. */
int ep_mapped_open(struct ep_mapped *m, struct bpf_object *obj);
void ep_mapped_close(struct ep_mapped *m);
/* Records the programs have reserved in the ring since it was made: its
 * producer position over the fixed size a record takes there. */
uint64_t ep_mapped_ring_records(const struct ep_mapped *m);

#endif
