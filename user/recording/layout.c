#include <string.h>
#include "layout.h"

static const char *const control_names[] = {
	[EP_CTL_RANGE] = "range",         [EP_CTL_SNAPSHOT] = "snapshot",
	[EP_CTL_GONE] = "gone",           [EP_CTL_RECONCILE] = "reconcile",
	[EP_CTL_STATS] = "stats",         [EP_CTL_TICK] = "tick",
	[EP_CTL_CGROUP] = "cgroup",       [EP_CTL_NETNS_NAME] = "netns_name",
};

const char *ep_control_name(int type)
{
	if (type <= 0 || type > EP_CTL_LAST)
		return "unknown";
	return control_names[type];
}

int ep_control_type(const char *name)
{
	if (!name)
		return -1;
	for (int t = EP_CTL_RANGE; t <= EP_CTL_LAST; t++)
		if (!strcmp(name, control_names[t]))
			return t;
	return -1;
}
