/* `eptrace report FILE`: replay a recording through the live pipeline. */
#ifndef EPTRACE_REPORT_H
#define EPTRACE_REPORT_H

#include "config/options.h"

/* Exit status: 0, or 1 after a message naming what is wrong with the file. */
int ep_report(const struct ep_opts *opts);

#endif
