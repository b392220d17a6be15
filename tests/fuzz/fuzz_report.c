/* libFuzzer target: `eptrace report` on damaged recordings. The first byte
 * picks the views and options, the rest is the file. Any crash, sanitizer
 * report, leak, hang (-timeout) or runaway memory (-rss_limit_mb) fails. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "agg/agg.h"
#include "config/options.h"
#include "report.h"

static char path[64];

/* Run with -close_fd_mask=3: the report's output and its error messages are
 * not the point, libFuzzer's and the sanitizers' reports still get out. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(path, sizeof(path), "/dev/shm/eptrace-fuzz-%d.db", (int)getpid());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ep_opts o = { .mode = EP_MODE_REPORT, .file = path, .top_n = 10, .threshold = 0.8,
			     .tcp = true, .udp = true, .ipv4 = true, .ipv6 = true };
	FILE *f;

	if (size < 1)
		return 0;
	o.json = data[0] & 1;
	o.hist = data[0] & 2;
	o.collisions = data[0] & 4;
	o.occupancy = data[0] & 8;
	o.interval_s = data[0] & 16 ? 0.001 : 0;
	o.by = data[0] & 32 ? EP_BY_COMM : EP_BY_NONE;
	o.quiet = data[0] & 64;
	f = fopen(path, "wb");
	if (!f)
		abort();
	fwrite(data + 1, 1, size - 1, f);
	fclose(f);
	ep_report(&o);
	fflush(stdout);
	unlink(path);
	return 0;
}
