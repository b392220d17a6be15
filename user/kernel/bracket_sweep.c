#include <stdbool.h>
#include <bpf/bpf.h>
#include "record.h"
#include "bracket_sweep.h"

#define MAX_OLD 256
/* Live brackets last microseconds: a walk often restarts from the first key
 * when the one it stands on goes; bounded by twice the table. */
#define MAX_STEPS (2 * EP_INFLIGHT_MAX)

static bool old_bracket(int fd, uint32_t tid, uint64_t now, uint64_t *start)
{
	struct inflight in;

	if (bpf_map_lookup_elem(fd, &tid, &in) || in.start_ns + EP_BRACKET_MAX_NS >= now)
		return false;
	*start = in.start_ns;
	return true;
}

size_t ep_sweep_brackets(int inflight_fd, uint64_t now)
{
	uint32_t key = 0, next, old[MAX_OLD]; /* no thread making syscalls has tid 0 */
	uint64_t start[MAX_OLD], s;
	size_t n = 0, removed = 0, steps = 0;

	while (steps++ < MAX_STEPS && n < MAX_OLD &&
	       !bpf_map_get_next_key(inflight_fd, &key, &next)) {
		bool seen = false;

		key = next;
		for (size_t i = 0; i < n && !seen; i++)
			seen = old[i] == key;
		if (!seen && old_bracket(inflight_fd, key, now, &start[n]))
			old[n++] = key;
	}
	/* The thread may have opened a new bracket since: only the old one goes. */
	for (size_t i = 0; i < n; i++)
		if (old_bracket(inflight_fd, old[i], now, &s) && s == start[i])
			removed += !bpf_map_delete_elem(inflight_fd, &old[i]);
	return removed;
}
