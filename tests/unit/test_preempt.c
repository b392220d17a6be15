/* The preemption model, from the kernel's version string, debugfs, the
 * command line and the build config. */
#include <stddef.h>
#include "check.h"
#include "kernel/preempt.h"

#define MODEL(...) ep_preempt_model_of(__VA_ARGS__)
#define IS(got, want) CHECK_STR((got) ? (got) : "(none)", want)

static const char *DYN = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-26)";

int main(void)
{
	/* built in: the version string says all */
	IS(MODEL("#1 SMP PREEMPT_RT Debian 6.1.192-3 (2026-11-26)", NULL, NULL, NULL),
	   "PREEMPT_RT");
	IS(MODEL("#1 SMP Debian 6.1.192-3", NULL, "preempt=full", "CONFIG_PREEMPT=y\n"), "(none)");
	IS(MODEL("#1 SMP PREEMPT Thu Jan 1", NULL, NULL, NULL), "full");
	IS(MODEL("#1 SMP PREEMPT Thu Jan 1", NULL, NULL, "X=1\nCONFIG_PREEMPT_LAZY=y\n"), "lazy");
	IS(MODEL("#1 SMP PREEMPT_LAZY Thu Jan 1", NULL, NULL, NULL), "lazy");
	IS(MODEL(NULL, NULL, NULL, NULL), "(none)");

	/* dynamic: debugfs names the mode in use, in brackets */
	IS(MODEL(DYN, "none voluntary (full)\n", "preempt=none", NULL), "full");
	IS(MODEL(DYN, "none (voluntary) full\n", "preempt=full", "CONFIG_PREEMPT=y\n"), "(none)");
	IS(MODEL(DYN, "(none) voluntary full lazy\n", NULL, NULL), "(none)");
	IS(MODEL(DYN, "none voluntary full (lazy)\n", NULL, NULL), "lazy");

	/* without debugfs: the command line, then the compiled-in default */
	IS(MODEL(DYN, NULL, "BOOT_IMAGE=/vmlinuz ro preempt=full quiet", NULL), "full");
	IS(MODEL(DYN, NULL, "ro preempt=voluntary", "CONFIG_PREEMPT=y\n"), "(none)");
	IS(MODEL(DYN, NULL, "ro nopreempt=full\n", NULL), "(none)");
	IS(MODEL(DYN, NULL, "ro quiet\n", "CONFIG_PREEMPT_VOLUNTARY=y\n# CONFIG_PREEMPT is not set\n"),
	   "(none)");
	IS(MODEL(DYN, NULL, "ro quiet\n", "CONFIG_PREEMPT_BUILD=y\nCONFIG_PREEMPT=y\n"), "full");
	/* a line that only begins with the option is not the option */
	IS(MODEL(DYN, NULL, NULL, "CONFIG_PREEMPT=yes\n"), "(none)");
	/* debugfs with no mode in brackets: as if unreadable */
	IS(MODEL(DYN, "none voluntary full\n", "ro preempt=full", NULL), "full");

	/* the command line as the kernel reads it: the last valid preempt=
	 * counts, an invalid one is ignored, words after "--" are init's */
	IS(MODEL(DYN, NULL, "preempt=full ro preempt=none", "CONFIG_PREEMPT=y\n"), "(none)");
	IS(MODEL(DYN, NULL, "preempt=full\tpreempt=bogus", NULL), "full");
	IS(MODEL(DYN, NULL, "preempt=bogus", "CONFIG_PREEMPT=y\n"), "full");
	IS(MODEL(DYN, NULL, "preempt=voluntary -- preempt=full", NULL), "(none)");
	IS(MODEL(DYN, NULL, "preempt=", "CONFIG_PREEMPT=y\n"), "full");

	/* before 5.18 a dynamic kernel's version said PREEMPT: its config tells */
	IS(MODEL("#1 SMP PREEMPT Fri Mar 4", "none (voluntary) full\n", NULL,
		 "CONFIG_PREEMPT_DYNAMIC=y\nCONFIG_PREEMPT=y\n"), "(none)");
	IS(MODEL("#1 SMP PREEMPT Fri Mar 4", NULL, "preempt=none",
		 "CONFIG_PREEMPT_DYNAMIC=y\nCONFIG_PREEMPT=y\n"), "(none)");
	IS(MODEL("#1 SMP PREEMPT Fri Mar 4", NULL, NULL,
		 "CONFIG_PREEMPT_DYNAMIC=y\nCONFIG_PREEMPT=y\n"), "full");
	return check_done("preempt");
}
