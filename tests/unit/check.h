/* Minimal unit-test harness: CHECK records, check_done prints the closing
 * "N passed, N failed" line and gives the exit status. */
#ifndef EPTRACE_CHECK_H
#define EPTRACE_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (cond) {                                                          \
			check_passed++;                                              \
		} else {                                                             \
			check_failed++;                                              \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
				#cond);                                              \
		}                                                                    \
	} while (0)

#define CHECK_STR(got, want)                                                         \
	do {                                                                         \
		const char *g_ = (got), *w_ = (want);                                \
		if (!strcmp(g_, w_)) {                                               \
			check_passed++;                                              \
		} else {                                                             \
			check_failed++;                                              \
			fprintf(stderr, "%s:%d: got '%s', want '%s'\n", __FILE__,    \
				__LINE__, g_, w_);                                   \
		}                                                                    \
	} while (0)

static inline int check_done(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
	return check_failed ? 1 : 0;
}

/* Run fn writing to a memory stream; returns the text (static buffer). */
static inline const char *capture(void (*fn)(FILE *, const void *), const void *arg)
{
	static char buf[4096];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	fn(f, arg);
	fclose(f);
	return buf;
}

#endif
