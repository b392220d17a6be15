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

/* A mode that preempts tasks in kernel code, by its name, or NULL. */
static const char *preempting(const char *mode, size_t len)
{
	if (len == 4 && !strncmp(mode, "full", 4))
		return "full";
	if (len == 4 && !strncmp(mode, "lazy", 4))
		return "lazy";
	return NULL;
}

/* The compiled-in mode a PREEMPT_DYNAMIC kernel starts in when no preempt=
 * is given, or a static PREEMPT kernel's. */
static const char *config_mode(const char *config, const char *otherwise)
{
	if (has_word(config, "CONFIG_PREEMPT_LAZY=y", "\n"))
		return "lazy";
	if (has_word(config, "CONFIG_PREEMPT=y", "\n"))
		return "full";
	return otherwise;
}

const char *ep_preempt_model_of(const char *uts_version, const char *sched_preempt,
				const char *cmdline, const char *config)
{
	const char *p, *e;

	if (has_word(uts_version, "PREEMPT_RT", " "))
		return "PREEMPT_RT";
	if (has_word(uts_version, "PREEMPT_LAZY", " "))
		return "lazy";
	if (has_word(uts_version, "PREEMPT", " "))
		return config_mode(config, "full");
	if (!has_word(uts_version, "PREEMPT_DYNAMIC", " "))
		return NULL; /* none or voluntary, built in */
	/* the mode in use is the one in brackets: "none voluntary (full) lazy" */
	if (sched_preempt && (p = strchr(sched_preempt, '(')) && (e = strchr(p, ')')))
		return preempting(p + 1, e - p - 1);
	for (p = cmdline; p && (p = strstr(p, "preempt=")); p += 8) {
		if (p != cmdline && p[-1] != ' ')
			continue;
		return preempting(p + 8, strcspn(p + 8, " \n"));
	}
	return config_mode(config, NULL);
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
	const char *dyn = NULL, *cmd = NULL, *model;
	char *config = NULL;
	bool dynamic, built_in;
	struct utsname u;

	if (uname(&u))
		return NULL;
	dynamic = has_word(u.version, "PREEMPT_DYNAMIC", " ");
	built_in = has_word(u.version, "PREEMPT", " ");
	if (dynamic) {
		dyn = read_text("/sys/kernel/debug/sched/preempt", sched, sizeof(sched));
		cmd = dyn ? NULL : read_text("/proc/cmdline", cmdline, sizeof(cmdline));
	}
	if (built_in || (dynamic && !dyn && !(cmd && strstr(cmd, "preempt="))))
		config = read_config(u.release);
	model = ep_preempt_model_of(u.version, dyn, cmd, config);
	free(config);
	return model;
}
