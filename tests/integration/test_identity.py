"""Owners and namespaces named as operators know them: real cgroups shaped like
a systemd service, docker containers (both drivers) and Kubernetes pods (both
drivers), each taking ports in a named network namespace; the events name
them, filters select exactly them, a removed cgroup keeps its name for the
releases still to come, and a recording replays the names."""
import json
import os
import subprocess
import time
import tempfile
import uuid

import pytest

from conftest import BACKEND, EPTRACE, Tracer, free_port, readline, wait_banner, wait_until

PY = "/usr/bin/python3"
CID = "c0ffee" + "0123456789abcdef" * 3 + "0123456789"  # 64 hex digits
POD = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

# What a UDP connect prints: the port the kernel chose (getsockname).
UDP_CONNECT = ("import socket\n"
               "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
               "s.connect(('127.0.0.1', 53)); print(s.getsockname()[1]); s.close()\n")
# The same, holding the port until stdin closes.
UDP_HOLD = ("import socket, sys\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.connect(('127.0.0.1', 53)); print(s.getsockname()[1], flush=True)\n"
            "sys.stdin.read()\n")


def cgroup2_root():
    for line in open("/proc/self/mountinfo"):
        f = line.split()
        sep = f.index("-")
        if f[sep + 1] == "cgroup2" and f[3] == "/":
            return f[4], False
    where = tempfile.mkdtemp(prefix="eptrace-cg2-")
    subprocess.run(["mount", "-t", "cgroup2", "none", where], check=True)
    return where, True


@pytest.fixture
def cgroups():
    """Makes cgroups under a test-owned top (its path: relative to the
    hierarchy's root, as eptrace reports it) and removes them after."""
    root, mounted = cgroup2_root()
    top = "/eptest-" + uuid.uuid4().hex[:8]
    made = []

    class Cgroups:
        mount = root  # where the hierarchy is mounted

        def make(self, rel):
            path = top + rel
            os.makedirs(root + path, exist_ok=True)
            made.append(path)
            return path

        def procs(self, path):
            return f"{root}{path}/cgroup.procs"

        def exec_argv(self, path, argv):
            """argv run inside cgroup path, in the caller's namespaces."""
            return ["sh", "-c", f'echo $$ > "{self.procs(path)}" && exec "$@"', "sh", *argv]

        def argv(self, path, netns, code):
            """python3 -c code inside cgroup path and namespace netns."""
            return self.exec_argv(path, ["ip", "netns", "exec", netns.name, PY, "-c", code])

        def run(self, path, netns, code):
            return subprocess.run(self.argv(path, netns, code), capture_output=True, text=True,
                                  check=True, timeout=60).stdout

        def spawn(self, path, netns, code):
            """The same in the background, talking through stdin and stdout."""
            return subprocess.Popen(self.argv(path, netns, code), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)

        def id(self, path):
            """The cgroup's id: its directory's inode."""
            return os.stat(root + path).st_ino

        def remove(self, path):
            for dirpath, dirs, _ in sorted(os.walk(root + path), key=lambda w: -len(w[0])):
                os.rmdir(dirpath)

    yield Cgroups()
    if os.path.isdir(root + top):
        Cgroups().remove(top)
    if mounted:
        subprocess.run(["umount", root], check=False)
        os.rmdir(root)


SHAPES = {
    # name: (path below the top, unit, container id, runtime, pod uid, qos)
    "service": ("/demo.slice/web.service", "web.service", None, None, None, None),
    "docker_systemd": (f"/system.slice/docker-{CID}.scope", f"docker-{CID}.scope", CID,
                       "docker", None, None),
    "docker_cgroupfs": (f"/docker/{CID}", None, CID, "docker", None, None),
    "kube_systemd": ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
                     f"{POD.replace('-', '_')}.slice/cri-containerd-{CID}.scope",
                     f"cri-containerd-{CID}.scope", CID, "containerd", POD, "burstable"),
    "kube_cgroupfs": (f"/kubepods/besteffort/pod{POD}/{CID}", None, CID, "cri", POD,
                      "besteffort"),
}


def test_every_owner_is_named(netns, cgroups):
    paths = {k: cgroups.make(v[0]) for k, v in SHAPES.items()}
    tr = Tracer("--netns", netns.path, "-u")
    ports = {k: int(cgroups.run(p, netns, UDP_CONNECT)) for k, p in paths.items()}
    wait_until(lambda: all(tr.of("release", lport=p) for p in ports.values()), 20,
               "the releases")
    assert tr.stop() == 0
    for k, (_, unit, cid, runtime, pod, qos) in SHAPES.items():
        for kind in ("alloc", "release"):
            (e,) = tr.of(kind, lport=ports[k])
            assert e["cgroup"] == paths[k], (k, e)
            assert e["unit"] == unit, (k, e)
            assert e["netns_name"] == netns.name, (k, e)
            if cid or pod:
                assert e["container"] == {"id": cid, "runtime": runtime, "pod_uid": pod,
                                          "qos": qos}, (k, e)
            else:
                assert e["container"] is None, (k, e)


def test_collision_names_both_parties(netns, cgroups):
    svc = cgroups.make("/demo.slice/holder.service")
    ctr = cgroups.make(f"/docker/{CID}")
    tr = Tracer("--netns", netns.path, "--collisions", "-t")
    port = free_port()
    hold = ("import socket, sys\n"
            "s = socket.socket(); s.bind(('127.0.0.1', %d)); s.listen()\n"
            "print('held', flush=True); sys.stdin.read()\n" % port)
    holder = cgroups.spawn(svc, netns, hold)
    try:
        assert holder.stdout.readline().strip() == "held"
        clash = ("import socket, errno\n"
                 "s = socket.socket()\n"
                 "try:\n    s.bind(('127.0.0.1', %d))\n"
                 "except OSError as e:\n    print(errno.errorcode[e.errno])\n" % port)
        assert cgroups.run(ctr, netns, clash).strip() == "EADDRINUSE"
        wait_until(lambda: tr.of("collision", type="bind_in_use"), 20, "the collision")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert tr.stop() == 0
    (c,) = tr.of("collision", type="bind_in_use")
    assert c["port"] == port
    assert c["container"]["id"] == CID and c["container"]["runtime"] == "docker"
    assert c["netns_name"] == netns.name
    assert c["holder"]["unit"] == "holder.service" and c["holder"]["cgroup"] == svc


def test_filters_select_the_subtree(netns, cgroups):
    svc = cgroups.make("/demo.slice/pick.service")
    other = cgroups.make("/demo.slice/other.service")
    ctr = cgroups.make(f"/system.slice/docker-{CID}.scope")
    by_unit = Tracer("--netns", netns.path, "-u", "--unit", "pick.service")
    by_ctr = Tracer("--netns", netns.path, "-u", "--container", CID[:12])
    # a cgroup made below the unit after the start belongs to it
    sub = cgroups.make("/demo.slice/pick.service/worker")
    ports = {"svc": int(cgroups.run(svc, netns, UDP_CONNECT)),
             "sub": int(cgroups.run(sub, netns, UDP_CONNECT)),
             "other": int(cgroups.run(other, netns, UDP_CONNECT)),
             "ctr": int(cgroups.run(ctr, netns, UDP_CONNECT))}
    # the last one each tracer should see, then nothing more can come
    wait_until(lambda: by_unit.of("release", lport=ports["sub"])
               and by_ctr.of("release", lport=ports["ctr"]), 20, "the releases")
    assert by_unit.stop() == 0 and by_ctr.stop() == 0
    assert {e["lport"] for e in by_unit.of("alloc")} == {ports["svc"], ports["sub"]}
    assert {e["lport"] for e in by_ctr.of("alloc")} == {ports["ctr"]}


def excluded_cgroups():
    """The cgroup ids in the newest tracer's cg_excluded map (empty: none)."""
    maps = json.loads(subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True,
                                     text=True, check=True).stdout)
    ids = [m["id"] for m in maps if m.get("name") == "cg_excluded"]
    if not ids:
        return set()
    dump = json.loads(subprocess.run(["bpftool", "-j", "map", "dump", "id", str(max(ids))],
                                     capture_output=True, text=True, check=True).stdout)
    return {int.from_bytes(bytes(int(b, 16) for b in e["key"]), "little") for e in dump}


@pytest.mark.parametrize("flag,value,picked", [
    ("--unit", "pick.service", "/demo.slice/pick.service"),
    ("--container", CID[:12], f"/system.slice/docker-{CID}.scope")])
def test_filters_leave_other_cgroups_in_the_kernel(netns, cgroups, flag, value, picked):
    """A cgroup the filter rejects is judged once, by its first event; the
    kernel drops its later events before the ring buffer."""
    pick = cgroups.make(picked)
    noisy = cgroups.make("/demo.slice/noisy.service")
    tr = Tracer("--netns", netns.path, "-u", flag, value)
    cgroups.run(noisy, netns, UDP_CONNECT)
    wait_until(lambda: cgroups.id(noisy) in excluded_cgroups(), 20,
               "the rejected cgroup entered in the kernel's list")
    loop = ("import socket\n"
            "for _ in range(40):\n"
            "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "    s.connect(('127.0.0.1', 53)); s.close()\n")
    cgroups.run(noisy, netns, loop)
    mine = int(cgroups.run(pick, netns, UDP_CONNECT))
    wait_until(lambda: tr.of("release", lport=mine), 20, "the selected cgroup's release")
    assert cgroups.id(pick) not in excluded_cgroups()
    assert tr.stop() == 0
    assert [e["lport"] for e in tr.of("alloc")] == [mine]
    # the rejected cgroup's first socket (its assignment and release) and the
    # selected one's: none of the 40 after the judgement reached userspace
    assert tr.summary()["records_submitted"] == 4, tr.summary()


def test_a_live_cgroup_named_like_a_removed_one_keeps_its_name(netns, cgroups):
    """The kernel marks a removed directory's path " (deleted)"; a cgroup may
    be named so and still be there."""
    odd = cgroups.make("/demo.slice/odd (deleted)")
    tr = Tracer("--netns", netns.path, "-u")
    port = int(cgroups.run(odd, netns, UDP_CONNECT))
    wait_until(lambda: tr.of("release", lport=port), 20, "the release")
    assert tr.stop() == 0
    assert tr.of("alloc", lport=port)[0]["cgroup"] == odd


def test_sockets_from_before_the_start_are_named(netns, cgroups):
    """A port held when the tracer starts is named by its process's cgroup:
    as a holder in the occupancy report and on its release."""
    pre = cgroups.make("/demo.slice/early.service")
    holder = cgroups.spawn(pre, netns, UDP_HOLD)
    port = int(holder.stdout.readline())
    try:
        tr = Tracer("--netns", netns.path, "-u", "-i", "0.3")
        by_unit = Tracer("--netns", netns.path, "-u", "-i", "0.3", "--unit", "early.service")

        def named_holder(t):
            return any(h["unit"] == "early.service" and h["cgroup"] == pre
                       for o in t.of("occupancy") for h in o["udp"]["top_holders"])
        # each has found the socket at its start once it reports it
        wait_until(lambda: named_holder(tr) and named_holder(by_unit), 20,
                   "the holder named in an occupancy report")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    wait_until(lambda: tr.of("release", lport=port) and by_unit.of("release", lport=port), 20,
               "the release")
    assert tr.stop() == 0 and by_unit.stop() == 0
    (rel,) = tr.of("release", lport=port)
    assert rel["unit"] == "early.service" and rel["cgroup"] == pre and rel["pid"] == holder.pid


def test_unnamed_namespaces_are_named_by_who_lives_in_them(cgroups):
    """No /run/netns name: the initial namespace is "host", another one is
    named by the container (or pod, or unit) of a process living in it."""
    ctr = cgroups.make(f"/system.slice/docker-{CID}.scope")
    svc = cgroups.make("/demo.slice/hostside.service")
    plain = cgroups.make("/plain")
    label = f"docker:{CID[:12]}"
    tr = Tracer("-u")
    # The process taking ports is in a cgroup that names nothing; its
    # parent, in the same namespace, is the container's. It takes one port
    # after another: a namespace is named at most once a second by a walk of
    # /proc, and an event before that has no name yet.
    churn = (f"import os, select, socket, sys\n"
             f"open({cgroups.procs(plain)!r}, 'w').write(str(os.getpid()))\n"
             "while not select.select([sys.stdin], [], [], 0.05)[0]:\n"
             "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
             "    s.connect(('127.0.0.1', 53)); s.close()\n")
    inside = ["unshare", "-n", "sh", "-c", f'ip link set lo up && {PY} -c "$1"; :', "sh",
              churn]
    procs = [subprocess.Popen(cgroups.exec_argv(path, argv), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
             for path, argv in ((ctr, inside), (svc, [PY, "-c", UDP_HOLD]))]
    try:
        port = int(procs[1].stdout.readline())
        wait_until(lambda: any(e["netns_name"] == label for e in tr.of("alloc", cgroup=plain))
                   and tr.of("alloc", lport=port, pid=procs[1].pid), 20,
                   "the unshared namespace named, and the host side's assignment")
    finally:
        for p in procs:
            p.stdin.close()
            p.wait(timeout=30)
    assert tr.stop() == 0
    inner = tr.of("alloc", cgroup=plain)
    assert {e["netns_name"] for e in inner} <= {label, None}  # never another name
    (b,) = tr.of("alloc", lport=port, pid=procs[1].pid)
    assert b["unit"] == "hostside.service" and b["netns"] != inner[0]["netns"]
    # "host" is pid 1's namespace (a sandbox may run the tests in another,
    # or hide pid 1's: then whoever named it first did)
    try:
        initial = os.stat("/proc/1/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino
    except PermissionError:
        initial = False
    if initial:
        assert b["netns_name"] == "host"


def test_removed_cgroup_names_its_timewait_release(netns, cgroups):
    gone = cgroups.make("/demo.slice/shortlived.service")
    tr = Tracer("--netns", netns.path, "-t")
    # the client closes first: its port stays in TIME_WAIT after it exits
    code = ("import socket\n"
            "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()\n"
            "c = socket.create_connection(l.getsockname()); a, _ = l.accept()\n"
            "print(c.getsockname()[1]); c.close(); a.close(); l.close()\n")
    port = int(cgroups.run(gone, netns, code))
    assert f":{port} " in netns.run("ss", "-Htan", "state", "time-wait").stdout
    wait_until(lambda: tr.of("alloc", lport=port), 20, "the assignment")
    cgroups.remove(gone)
    netns.delete()  # kills the TIME_WAIT socket: its release comes now
    wait_until(lambda: tr.of("release", lport=port), 30, "the release")
    assert tr.stop() == 0
    (rel,) = tr.of("release", lport=port)
    assert rel["timewait"] is True
    assert rel["cgroup"] == gone and rel["unit"] == "shortlived.service"


def test_report_names_what_the_live_run_named(netns, cgroups, tmp_path):
    path = cgroups.make(SHAPES["kube_systemd"][0])
    db = str(tmp_path / "ids.db")
    tr = Tracer("record", "-o", db, "--netns", netns.path, "-u")
    port = int(cgroups.run(path, netns, UDP_CONNECT))
    wait_until(lambda: tr.of("release", lport=port), 20, "the release")
    assert tr.stop() == 0
    live = tr.of("alloc", lport=port)
    r = subprocess.run([EPTRACE, "report", db, "--json"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    replayed = [e for e in map(json.loads, r.stdout.splitlines())
                if e["event"] == "alloc" and e["lport"] == port]
    assert replayed == live and live[0]["container"]["pod_uid"] == POD
    r = subprocess.run([EPTRACE, "report", db, "--hist", "--by", "container"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and f"container=containerd:{CID[:12]}" in r.stdout, r.stdout


def test_occupancy_table_names_namespace_and_holders(netns, cgroups):
    svc = cgroups.make("/demo.slice/keeper.service")
    proc = subprocess.Popen([EPTRACE, "--occupancy", "-i", "0.3", "--netns", netns.path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    holder = None
    try:
        wait_banner(proc)
        holder = cgroups.spawn(svc, netns, UDP_HOLD)
        holder.stdout.readline()
        lines, deadline = [], time.monotonic() + 30
        while not any("keeper.service" in ln for ln in lines):
            ln = readline(proc.stdout, max(deadline - time.monotonic(), 0.01), "the holder")
            assert ln, "eptrace ended before naming the holder"
            lines.append(ln)
    finally:
        if holder:
            holder.stdin.close()
            holder.wait(timeout=30)
        proc.send_signal(2)
        proc.communicate(timeout=30)
    row = [ln for ln in lines if "keeper.service" in ln][-1]
    assert row.startswith(netns.name) and "python3(" in row and "[keeper.service]" in row


def test_metrics_name_namespaces_and_keep_owner_series_bounded(netns, cgroups):
    import urllib.request
    from test_prometheus import metric

    port = free_port()
    tr = Tracer("--netns", netns.path, "-u", "--prometheus", str(port),
                "--prometheus-by", "container", "--prometheus-max", "2")
    paths = [cgroups.make(f"/docker/{i:x}" + CID[1:]) for i in range(4)]
    for p in paths:
        cgroups.run(p, netns, UDP_CONNECT)
    cgroups.run(cgroups.make("/demo.slice/plain.service"), netns, UDP_CONNECT)

    def scrape():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            return r.read().decode()
    wait_until(lambda: (metric(scrape(), "eptrace_owner_assignments_total") or 0) >= 5, 20,
               "the owner counter")
    text = scrape()
    assert tr.stop() == 0
    assert metric(text, "eptrace_netns_info", netns=netns.inode, netns_name=netns.name) == 1
    series = [ln for ln in text.splitlines() if ln.startswith("eptrace_owner_assignments_total{")]
    # two owners counted by name, the other three (3 containers, 1 with none) in "other"
    assert len(series) == 3, series
    assert metric(text, "eptrace_owner_assignments_total", container="other") == 3
    assert metric(text, "eptrace_owner_assignments_total") == 5
    # the gauges keep their labels: the name is only on the info metric
    assert "netns_name" not in "".join(ln for ln in text.splitlines()
                                       if ln.startswith("eptrace_netns_ports_in_use"))


def test_top_holders_by_unit_add_up_its_processes(netns, cgroups):
    svc = cgroups.make("/demo.slice/pool.service")
    tr = Tracer("--netns", netns.path, "--occupancy", "-i", "0.3", "--by", "unit")
    # One after the other: started at once, the RT guest's trampoline backend
    # missed one of the two UDP connects 2 runs in 6 (the snapshot found the
    # port), with or without task storage; what it is about is in the
    # notes of issue 14. Grouping is what this test is about.
    holders = []
    seen = []

    def pool():
        occ = tr.of("occupancy", netns=netns.inode)
        seen[:] = [t for t in (occ[-1]["udp"]["top_holders"] if occ else [])
                   if t.get("group") == "pool.service" and t["ports"] == 2]
        return seen
    try:
        for _ in range(2):
            holders.append(cgroups.spawn(svc, netns, UDP_HOLD))
            holders[-1].stdout.readline()
        wait_until(pool, 20, "one top holder for the unit's two processes")
    finally:
        for h in holders:
            h.stdin.close()
            h.wait(timeout=30)
    assert tr.stop() == 0
    (t,) = seen
    assert t["pid"] == 0 and t["unit"] == "pool.service"


@pytest.fixture
def v1_service():
    """A cgroup v1 directory in systemd's named hierarchy (mounted for the
    test where the host has none): its path below the mount, the mount."""
    v1, mounted = None, False
    for line in open("/proc/self/mountinfo"):
        f = line.split()
        sep = f.index("-")
        if f[sep + 1] == "cgroup" and "name=systemd" in f[-1].split(","):
            v1 = f[4]
    if not v1:
        v1, mounted = tempfile.mkdtemp(prefix="eptrace-v1-"), True
        subprocess.run(["mount", "-t", "cgroup", "-o", "none,name=systemd", "cgroup", v1],
                       check=True)
    rel = "/eptest-" + uuid.uuid4().hex[:8] + "/legacy.service"
    os.makedirs(v1 + rel)
    yield rel, v1
    os.rmdir(v1 + rel)
    os.rmdir(v1 + os.path.dirname(rel))
    if mounted:
        subprocess.run(["umount", v1], check=False)
        os.rmdir(v1)


def v1_named(tr, netns, v1, rel, v2_root=None):
    """A port taken by a process in the v1 cgroup rel (and, given v2_root,
    moved into the cgroup v2 root first): both its events name it by rel."""
    into_v2 = f'echo $$ > "{v2_root}/cgroup.procs" && ' if v2_root else ""
    # alive until its port is seen: a process is named by its /proc entry
    holder = subprocess.Popen(
        ["sh", "-c", into_v2 + f'echo $$ > "{v1}{rel}/cgroup.procs" && '
         f'exec ip netns exec {netns.name} {PY} -c "$0"', UDP_HOLD],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(holder.stdout.readline())
    try:
        wait_until(lambda: tr.of("alloc", lport=port), 20, "the assignment")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    wait_until(lambda: tr.of("release", lport=port), 20, "the release")
    assert tr.stop() == 0
    for kind in ("alloc", "release"):
        (e,) = tr.of(kind, lport=port)
        assert e["cgroup"] == rel and e["unit"] == "legacy.service", e


def test_hybrid_host_names_processes_of_the_v2_root_by_their_v1_path(netns, v1_service):
    # The development machine's layout: every process in the v2 root, the
    # paths that tell them apart in a v1 hierarchy (systemd's named one).
    if "0::/\n" not in open("/proc/self/cgroup").read():
        pytest.skip("this test runs in a v2 cgroup of its own, not in the v2 root")
    rel, v1 = v1_service
    v1_named(Tracer("--netns", netns.path, "-u"), netns, v1, rel)


@pytest.mark.skipif(BACKEND != "trampoline", reason="the tracepoint backend mounts cgroup v2")
def test_v1_only_host_names_processes_by_their_v1_path(netns, cgroups, v1_service):
    # Amazon Linux 2's layout: no cgroup v2 mounted, every process in its
    # root; eptrace runs where it sees no cgroup2 mount
    rel, v1 = v1_service
    no_v2 = ["unshare", "-m", "--propagation", "private", "sh", "-c",
             "for m in $(grep ' - cgroup2 ' /proc/self/mountinfo | cut -d' ' -f5); do "
             'umount -l "$m"; done; exec "$@"', "sh"]
    tr = Tracer("--netns", netns.path, "-u", wrap=no_v2)
    v1_named(tr, netns, v1, rel, v2_root=cgroups.mount)
