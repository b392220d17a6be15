#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "agg/identity.h"

#define ID64 "3f2a9c0b1d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"
#define UID "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define UID_ "0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0"

/* One real-world shape: the path, and what it must say ("" for none). */
struct row {
	const char *path;
	const char *unit, *container, *runtime, *pod, *qos;
};

static const struct row rows[] = {
	{ "/", "", "", "", "", "" },
	{ "/system.slice/nginx.service", "nginx.service", "", "", "", "" },
	{ "/system.slice/haproxy.service/worker", "haproxy.service", "", "", "", "" },
	{ "/user.slice/user-1000.slice/session-4.scope", "session-4.scope", "", "", "", "" },
	{ "/user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox.scope",
	  "app-firefox.scope", "", "", "", "" },
	/* docker: systemd and cgroupfs drivers */
	{ "/system.slice/docker-" ID64 ".scope", "docker-" ID64 ".scope", ID64, "docker", "", "" },
	{ "/docker/" ID64, "", ID64, "docker", "", "" },
	{ "/docker/" ID64 "/nested", "", ID64, "docker", "", "" },
	/* podman */
	{ "/machine.slice/libpod-" ID64 ".scope", "libpod-" ID64 ".scope", ID64, "podman", "", "" },
	{ "/libpod_parent/libpod-" ID64, "", ID64, "podman", "", "" },
	/* kubernetes, systemd driver: containerd and cri-o, each QoS class */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	  ".slice/cri-containerd-" ID64 ".scope",
	  "cri-containerd-" ID64 ".scope", ID64, "containerd", UID, "burstable" },
	{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	  ".slice/crio-" ID64 ".scope",
	  "crio-" ID64 ".scope", ID64, "cri-o", UID, "besteffort" },
	{ "/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" ID64 ".scope",
	  "cri-containerd-" ID64 ".scope", ID64, "containerd", UID, "guaranteed" },
	/* the pod's own cgroup: a pod, no container */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice", "", "",
	  "", UID, "burstable" },
	/* cri-o's monitor is not the container */
	{ "/kubepods.slice/kubepods-pod" UID_ ".slice/crio-conmon-" ID64 ".scope",
	  "crio-conmon-" ID64 ".scope", "", "", UID, "guaranteed" },
	/* under a kubelet --cgroup-root (kind): both drivers */
	{ "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
	  "kubelet-kubepods-besteffort-pod" UID_ ".slice/cri-containerd-" ID64 ".scope",
	  "cri-containerd-" ID64 ".scope", ID64, "containerd", UID, "besteffort" },
	{ "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" UID_ ".slice/crio-" ID64
	  ".scope", "crio-" ID64 ".scope", ID64, "cri-o", UID, "guaranteed" },
	{ "/kubelet/kubepods/burstable/pod" UID "/" ID64, "", ID64, "cri", UID, "burstable" },
	{ "/system.slice/kubelet-kubepods-weird-pod" UID_ ".slice", "", "", "", "", "" },
	/* a prefixed pod slice names a pod only below a kubepods slice */
	{ "/system.slice/x-kubepods-besteffort-pod" UID_ ".slice", "", "", "", "", "" },
	/* kubernetes, cgroupfs driver */
	{ "/kubepods/burstable/pod" UID "/" ID64, "", ID64, "cri", UID, "burstable" },
	{ "/kubepods/besteffort/pod" UID "/" ID64, "", ID64, "cri", UID, "besteffort" },
	{ "/kubepods/pod" UID "/" ID64, "", ID64, "cri", UID, "guaranteed" },
	/* a pod written into a unit name, not a slice of its own: the unit only */
	{ "/system.slice/containerd.service/kubepods-burstable-pod" UID_ ".slice:cri-containerd:" ID64,
	  "containerd.service", "", "", "", "" },
	/* look-alikes that name nothing */
	{ "/docker/" "3F2A9C0B1D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8", "", "", "", "",
	  "" },
	{ "/system.slice/docker-" "3f2a9c" ".scope", "docker-3f2a9c.scope", "", "", "", "" },
	{ "/elsewhere/" ID64, "", "", "", "", "" },
	{ "/kubepods/burstable/podnot-a-uid/" ID64, "", "", "", "", "" },
	{ "/kubepods-burstable-pod" UID_ ".slice", "", "", "", UID, "burstable" },
	{ "/kubepods.slice/kubepods-weird-pod" UID_ ".slice", "", "", "", "", "" },
	/* hostile but legal: odd bytes are kept (outputs escape them) */
	{ "/system.slice/we\"ird\\\n\x01.service", "we\"ird\\\n\x01.service", "", "", "", "" },
};

static void check_row(const struct row *r)
{
	struct ep_identity id;

	CHECK(ep_identity_parse(r->path, &id) == 0);
	CHECK_STR(id.cgroup ? id.cgroup : "", r->path);
	CHECK_STR(id.unit ? id.unit : "", r->unit);
	CHECK_STR(id.container_id, r->container);
	CHECK_STR(id.runtime ? id.runtime : "", r->runtime);
	CHECK_STR(id.pod_uid, r->pod);
	CHECK_STR(id.qos ? id.qos : "", r->qos);
	ep_identity_clear(&id);
}

static void refused(void)
{
	struct ep_identity id;
	char *longp = malloc(EP_CGROUP_PATH_MAX + 2);

	CHECK(ep_identity_parse(NULL, &id) == -1 && !id.cgroup);
	CHECK(ep_identity_parse("", &id) == -1);
	CHECK(ep_identity_parse("system.slice/x.service", &id) == -1);
	CHECK(ep_identity_parse("/a//b", &id) == -1 && !id.cgroup && !id.unit);
	memset(longp, 'a', EP_CGROUP_PATH_MAX + 1);
	longp[0] = '/';
	longp[EP_CGROUP_PATH_MAX + 1] = 0;
	CHECK(ep_identity_parse(longp, &id) == -1 && !id.cgroup);
	longp[EP_CGROUP_PATH_MAX - 1] = 0; /* the longest accepted */
	CHECK(ep_identity_parse(longp, &id) == 0 && strlen(id.cgroup) == EP_CGROUP_PATH_MAX - 1);
	ep_identity_clear(&id);
	free(longp);
}

static void filters_and_labels(void)
{
	struct ep_identity id;
	char buf[128];

	CHECK(ep_identity_parse("/system.slice/nginx.service/worker", &id) == 0);
	CHECK(ep_identity_under(&id, "nginx.service"));
	CHECK(ep_identity_under(&id, "system.slice"));
	CHECK(ep_identity_under(&id, "worker"));
	CHECK(!ep_identity_under(&id, "nginx"));
	CHECK(!ep_identity_under(&id, "ginx.service"));
	CHECK(!ep_identity_under(&id, ""));
	CHECK_STR(ep_identity_label(&id, buf, sizeof(buf)), "nginx.service");
	CHECK(!ep_identity_container_is(&id, "a"));
	ep_identity_clear(&id);
	CHECK(!ep_identity_under(NULL, "x"));
	CHECK(!ep_identity_label(NULL, buf, sizeof(buf)));

	CHECK(ep_identity_parse("/docker/" ID64, &id) == 0);
	CHECK(ep_identity_container_is(&id, "3f2a9c"));
	CHECK(ep_identity_container_is(&id, ID64));
	CHECK(!ep_identity_container_is(&id, "3f2a9d"));
	CHECK(!ep_identity_container_is(&id, ""));
	CHECK_STR(ep_identity_label(&id, buf, sizeof(buf)), "docker:3f2a9c0b1d4e");
	ep_identity_clear(&id);

	CHECK(ep_identity_parse("/kubepods/pod" UID, &id) == 0);
	CHECK_STR(ep_identity_label(&id, buf, sizeof(buf)), "pod:" UID);
	ep_identity_clear(&id);
}

static void names_table(void)
{
	struct ep_names n;

	CHECK(ep_names_init(&n, 4, 2) == 0);
	CHECK(!ep_names_knows_cgroup(&n, 7) && !ep_names_cgroup(&n, 7));
	ep_names_set_cgroup(&n, 7, "/system.slice/a.service", 0);
	ep_names_set_cgroup(&n, 8, NULL, 0); /* gone before its first event */
	CHECK(ep_names_knows_cgroup(&n, 7) && ep_names_knows_cgroup(&n, 8));
	CHECK_STR(ep_names_cgroup(&n, 7)->unit, "a.service");
	CHECK(!ep_names_cgroup(&n, 8));
	/* full: the pinned one stays, the others go */
	ep_names_pin(&n, 7, 1);
	ep_names_set_cgroup(&n, 9, "/b", 0);
	ep_names_set_cgroup(&n, 10, "/c", 0);
	ep_names_set_cgroup(&n, 11, "/d", 0);
	CHECK(ep_names_cgroup(&n, 7) && !strcmp(ep_names_cgroup(&n, 7)->cgroup, "/system.slice/a.service"));
	CHECK(ep_names_cgroup(&n, 11) && !ep_names_knows_cgroup(&n, 8));
	ep_names_pin(&n, 7, -1);
	ep_names_pin(&n, 7, -1); /* never below zero */
	/* as records carry it: 16 bytes, zero-padded */
	const char COMM_WEB[16] = "web", COMM_CRON[16] = "cron";

	/* the v2 root of a hybrid host: owners by process */
	CHECK(ep_names_key(&n, 7, 5, COMM_WEB) == 7);
	CHECK(ep_names_key(&n, 42, 5, COMM_WEB) == 42); /* unknown yet: its id */
	CHECK(ep_names_key(&n, 1, 5, COMM_WEB) == 1);
	ep_names_set_cgroup(&n, 1, "/", EP_NAMES_PER_PROCESS); /* not the key remembered */
	uint64_t k = ep_names_key(&n, 1, 5, COMM_WEB);
	CHECK(k != 1 && (k >> 63) && (uint32_t)k == 5);
	CHECK(ep_names_key(&n, 1, 5, COMM_WEB) == k);
	CHECK(ep_names_key(&n, 1, 5, COMM_CRON) != k);  /* a reused pid is asked again */
	CHECK(ep_names_key(&n, 1, 6, COMM_WEB) != k);
	ep_names_set_cgroup(&n, k, "/legacy/web.service", 0);
	CHECK_STR(ep_names_cgroup(&n, k)->unit, "web.service");
	/* the root and a process's key, asked in turns, each answered right */
	for (int i = 0; i < 3; i++)
		CHECK(ep_names_key(&n, 1, 5, COMM_WEB) == k && ep_names_knows_cgroup(&n, 1) &&
		      !ep_names_cgroup(&n, 1)->unit && ep_names_cgroup(&n, k) &&
		      !strcmp(ep_names_cgroup(&n, k)->unit, "web.service"));
	ep_names_set_cgroup(&n, 1, "/", 0); /* no longer told apart by process */
	CHECK(ep_names_key(&n, 1, 5, COMM_WEB) == 1);
	ep_names_set_cgroup(&n, 1, "/", EP_NAMES_PER_PROCESS);
	CHECK(ep_names_key(&n, 1, 5, COMM_WEB) == k);
	ep_names_set_netns(&n, 1, "host");
	ep_names_set_netns(&n, 2, NULL);
	CHECK_STR(ep_names_netns(&n, 1), "host");
	CHECK(ep_names_knows_netns(&n, 2) && !ep_names_netns(&n, 2));
	ep_names_set_netns(&n, 3, "lb"); /* full: starts over */
	CHECK_STR(ep_names_netns(&n, 3), "lb");
	ep_names_free(&n);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_row(&rows[i]);
	refused();
	filters_and_labels();
	names_table();
	return check_done("identity");
}
