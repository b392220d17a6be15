#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "mapped.h"

/* The highest possible CPU id plus one: ids can skip numbers ("0-3,8-11"),
 * and a program's row is its CPU's id. */
static int cpu_rows(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	char buf[256] = "";
	const char *last = buf;
	int n = 0;

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	for (const char *p = buf; *p; p++)
		if (*p == '-' || *p == ',')
			last = p + 1;
	if (sscanf(last, "%d", &n) == 1 && n >= 0)
		return n + 1;
	return libbpf_num_possible_cpus();
}

void ep_mapped_size(struct bpf_object *obj)
{
	struct bpf_map *stats = bpf_object__find_map_by_name(obj, "stats");
	int ncpus = cpu_rows();

	if (stats && ncpus > 0)
		bpf_map__set_max_entries(stats, (uint32_t)ncpus * EP_STAT_MAX);
}

/* A read-only mapping of len bytes of the map at offset; len 0: all its
 * values, rounded up to pages (set in *len). */
static const void *map_view(struct bpf_object *obj, const char *name, size_t offset, size_t *len)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *p;

	if (!m) {
		errno = ENOENT;
		return NULL;
	}
	if (!*len)
		*len = ((size_t)bpf_map__value_size(m) * bpf_map__max_entries(m) + page - 1) /
		       page * page;
	p = mmap(NULL, *len, PROT_READ, MAP_SHARED, bpf_map__fd(m), (off_t)offset);
	return p == MAP_FAILED ? NULL : p;
}

int ep_mapped_open(struct ep_mapped *m, struct bpf_object *obj)
{
	struct bpf_map *stats = bpf_object__find_map_by_name(obj, "stats");

	memset(m, 0, sizeof(*m));
	m->socks = map_view(obj, "socks", 0, &m->socks_len);
	if (!m->socks) {
		fprintf(stderr, "eptrace: cannot map the socket table: %s\n", strerror(errno));
		return -1;
	}
	m->stats = map_view(obj, "stats", 0, &m->stats_len);
	if (!m->stats) {
		fprintf(stderr, "eptrace: cannot map the counters: %s\n", strerror(errno));
		ep_mapped_close(m);
		return -1;
	}
	m->ncpus = (int)(bpf_map__max_entries(stats) / EP_STAT_MAX);
	/* the ring's second page, read-only to userspace: its producer position */
	m->ring_len = (size_t)sysconf(_SC_PAGESIZE);
	m->ring_prod = map_view(obj, "events", m->ring_len, &m->ring_len);
	if (!m->ring_prod) {
		fprintf(stderr, "eptrace: cannot map the ring buffer's position: %s\n",
			strerror(errno));
		ep_mapped_close(m);
		return -1;
	}
	return 0;
}

uint64_t ep_mapped_ring_records(const struct ep_mapped *m)
{
	/* each record behind an 8-byte header, rounded up to 8 bytes */
	const uint64_t size = (sizeof(struct ep_record) + 8 + 7) / 8 * 8;
	/* the kernel's unsigned long producer_pos opens the page */
	unsigned long pos = m->ring_prod ? __atomic_load_n((const unsigned long *)m->ring_prod,
							   __ATOMIC_ACQUIRE) : 0;

	return pos / size;
}

void ep_mapped_close(struct ep_mapped *m)
{
	if (m->socks)
		munmap((void *)m->socks, m->socks_len);
	if (m->stats)
		munmap((void *)m->stats, m->stats_len);
	if (m->ring_prod)
		munmap((void *)m->ring_prod, m->ring_len);
	memset(m, 0, sizeof(*m));
}
