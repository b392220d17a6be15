#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <zlib.h>
#include "preempt.h"

/* w appears in s as a whole word: seps on both sides, or an end. */
static bool has_word(const char *s, const char *w, const char *seps)
{
	size_t n = strlen(w);

	for (const char *p = s; s && (p = strstr(p, w)); p += n)
		if ((p == s || strchr(seps, p[-1])) && (!p[n] || strchr(seps, p[n])))
			return true;
	return false;
}

enum mode { MODE_UNSET, MODE_NOT_PREEMPTING, MODE_FULL, MODE_LAZY };

static enum mode mode_of(const char *word, size_t len)
{
	static const struct { const char *name; enum mode mode; } modes[] = {
		{ "none", MODE_NOT_PREEMPTING }, { "voluntary", MODE_NOT_PREEMPTING },
		{ "full", MODE_FULL }, { "lazy", MODE_LAZY },
	};

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strlen(modes[i].name) == len && !strncmp(word, modes[i].name, len))
			return modes[i].mode;
	return MODE_UNSET;
}

static const char *name_of(enum mode m)
{
	return m == MODE_FULL ? "full" : m == MODE_LAZY ? "lazy" : NULL;
}

/* The preempt= the kernel took: each valid one in turn, so the last; an
 * invalid one is ignored, and words after "--" are init's. */
static enum mode cmdline_mode(const char *cmdline)
{
	static const char *const space = " \t\n";
	enum mode last = MODE_UNSET, m;
	size_t n;

	for (const char *p = cmdline; p && *p; p += n) {
		p += strspn(p, space);
		n = strcspn(p, space);
		if (n == 2 && !strncmp(p, "--", 2))
			break;
		if (n > 8 && !strncmp(p, "preempt=", 8) && (m = mode_of(p + 8, n - 8)) != MODE_UNSET)
			last = m;
	}
	return last;
}

/* The compiled-in mode a PREEMPT_DYNAMIC kernel starts in when no preempt=
 * is given, or a static PREEMPT kernel's. */
static enum mode config_mode(const char *config, enum mode otherwise)
{
	if (has_word(config, "CONFIG_PREEMPT_LAZY=y", "\n"))
		return MODE_LAZY;
	if (has_word(config, "CONFIG_PREEMPT=y", "\n"))
		return MODE_FULL;
	return otherwise;
}

const char *ep_preempt_model_of(const char *uts_version, const char *sched_preempt,
				const char *cmdline, const char *config)
{
	const char *p, *e;
	enum mode m = MODE_UNSET;

	if (has_word(uts_version, "PREEMPT_RT", " "))
		return "PREEMPT_RT";
	if (has_word(uts_version, "PREEMPT_LAZY", " "))
		return "lazy";
	/* before 5.18 a PREEMPT_DYNAMIC kernel's version said only PREEMPT */
	if (!has_word(uts_version, "PREEMPT_DYNAMIC", " ") &&
	    !has_word(config, "CONFIG_PREEMPT_DYNAMIC=y", "\n"))
		return has_word(uts_version, "PREEMPT", " ") ? name_of(config_mode(config, MODE_FULL))
							     : NULL;
	/* the mode in use is the one in brackets: "none voluntary (full) lazy" */
	if (sched_preempt && (p = strchr(sched_preempt, '(')) && (e = strchr(p, ')')))
		m = mode_of(p + 1, e - p - 1);
	if (m == MODE_UNSET)
		m = cmdline_mode(cmdline);
	if (m == MODE_UNSET)
		m = config_mode(config, MODE_NOT_PREEMPTING);
	return name_of(m);
}

/* A small file's text (NUL-ended, at most cap - 1 bytes), or NULL. */
static char *read_text(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = 0;
	return n ? buf : NULL;
}

/* The build config: /boot/config-RELEASE, or /proc/config.gz; malloc'd. */
static char *read_config(const char *release)
{
	enum { CAP = 1 << 20 };
	char path[320], *buf = malloc(CAP);
	gzFile gz;
	int n;

	if (!buf)
		return NULL;
	snprintf(path, sizeof(path), "/boot/config-%s", release);
	if (read_text(path, buf, CAP))
		return buf;
	gz = gzopen("/proc/config.gz", "rb");
	n = gz ? gzread(gz, buf, CAP - 1) : -1;
	if (gz)
		gzclose(gz);
	if (n <= 0) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	return buf;
}

const char *ep_preempt_model(void)
{
	char sched[128], cmdline[4096];
	const char *dyn, *cmd, *model;
	struct utsname u;
	char *config;

	if (uname(&u))
		return NULL;
	dyn = read_text("/sys/kernel/debug/sched/preempt", sched, sizeof(sched));
	cmd = read_text("/proc/cmdline", cmdline, sizeof(cmdline));
	config = read_config(u.release);
	model = ep_preempt_model_of(u.version, dyn, cmd, config);
	free(config);
	return model;
}
