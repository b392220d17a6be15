"""Analytics against ground truth: exhaustion of a narrow range, TIME_WAIT
reuse, bind conflicts, range conflicts, the startup snapshot, histogram
percentiles against the raw events, how often namespaces are re-read and
how often an idle tracer wakes."""
import math
import re
import subprocess
import sys

from conftest import EPTRACE, SCENARIO, facts, read_until, readline, wait_until, wait_banner

PY = "/usr/bin/python3"


def ss_ports(netns, lo, hi):
    """Distinct local TCP ports in [lo, hi] the kernel has sockets on."""
    out = netns.run("ss", "-Htan").stdout
    ports = set()
    for line in out.splitlines():
        local = line.split()[3]
        port = int(local.rsplit(":", 1)[1])
        if lo <= port <= hi:
            ports.add(port)
    return ports


def netstat(netns, field):
    lines = netns.run("cat", "/proc/net/netstat").stdout.splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        names, values = names.split(), values.split()
        if names[0] == "TcpExt:":
            return int(values[names.index(field)])
    raise KeyError(field)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def test_exhausting_a_range(netns, tracer_factory):
    lo, hi = 40000, 41023
    netns.sysctl("net.ipv4.ip_local_port_range", f"{lo} {hi}")
    tr = tracer_factory("--netns", netns.path, "-t", "--interval", "0.5")
    proc = netns.popen(PY, SCENARIO, "fill", "3")
    try:
        truth = read_until(proc, "full")
        kernel_ports = ss_ports(netns, lo, hi)
        wait_until(lambda: len(tr.of("fail")) >= 3 and tr.of("occupancy", netns=netns.inode)
                   and tr.of("occupancy", netns=netns.inode)[-1]["ts_ns"]
                   > tr.of("fail")[-1]["ts_ns"], 20, "failures and an occupancy report")
        # The report while the ports are held: one after the holder closes
        # them (a slow machine gets one in) rightly says 0.
        occ = tr.of("occupancy", netns=netns.inode)[-1]
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    allocs = [f for f in truth if f["kind"] == "alloc"]
    fails = [f for f in truth if f["kind"] == "fail"]
    assert len(allocs) == hi - lo + 1 and len(fails) == 3
    assert {f["errno"] for f in fails} == {"EADDRNOTAVAIL"}
    assert kernel_ports == {f["lport"] for f in allocs}

    got = [e for e in tr.of("alloc") if e["via"] == "connect"]
    assert sorted(e["lport"] for e in got) == sorted(f["lport"] for f in allocs)
    got_fail = tr.of("fail")
    assert len(got_fail) == 3 and all(e["errno"] == "EADDRNOTAVAIL" for e in got_fail)

    assert occ["range"] == [lo, hi]
    assert occ["tcp"]["capacity"] == hi - lo + 1
    assert occ["tcp"]["in_use"] == len(kernel_ports) == hi - lo + 1
    assert occ["tcp"]["fraction"] == 1.0
    assert occ["tcp"]["top_holders"][0]["pid"] == allocs[0]["pid"]
    assert occ["tcp"]["top_holders"][0]["ports"] == hi - lo + 1

    coll = tr.of("collision", type="exhausted")
    assert coll, "no exhaustion report"
    c = coll[0]
    assert c["errno"] == "EADDRNOTAVAIL" and c["pid"] == allocs[0]["pid"]
    assert c["occupancy"]["tcp"]["in_use"] == hi - lo + 1
    assert c["occupancy"]["tcp"]["fraction"] == 1.0
    assert sum(1 + x["suppressed"] for x in coll) <= 3

    warn = tr.of("warning", netns=netns.inode, proto="tcp")
    assert len(warn) == 1 and warn[0]["fraction"] >= 0.8
    assert warn[0]["netns_name"] == netns.name

    # The search scans more occupied ports as the range fills up.
    by_order = [e["latency_ns"] for e in sorted(got, key=lambda e: e["ts_ns"])]
    early, late = by_order[:100], by_order[-20:]
    assert median(late) > 2 * median(early), (median(early), median(late))
    assert tr.stop() == 0
    assert tr.summary()["lost"] == 0


def test_timewait_reuse(netns, tracer_factory):
    netns.sysctl("net.ipv4.ip_local_port_range", "40000 40001")
    netns.sysctl("net.ipv4.tcp_tw_reuse", "1")
    try:
        delay_ms = int(netns.run("sysctl", "-n", "net.ipv4.tcp_tw_reuse_delay").stdout)
    except subprocess.CalledProcessError:
        # Before 6.13 the kernel compares whole seconds (time_after32 on
        # ktime_get_seconds()): a reuse may come a few ms after the close.
        delay_ms = 0
    tr = tracer_factory("--netns", netns.path, "-t")
    recycled_before = netstat(netns, "TWRecycled")
    truth = facts(netns.run(PY, SCENARIO, "tw_reuse", "6").stdout)
    recycled = netstat(netns, "TWRecycled") - recycled_before
    assert len(truth) == 6
    wait_until(lambda: len([e for e in tr.of("alloc") if e["via"] == "connect"]) >= 6, 20,
               "six connects")
    got = sorted([e for e in tr.of("alloc") if e["via"] == "connect"], key=lambda e: e["ts_ns"])
    assert [e["lport"] for e in got] == [f["lport"] for f in truth]
    flagged = [e for e in got if e["timewait_reuse"]]
    # Two ports: the first two connections are fresh, the others reuse a tuple
    # whose TIME_WAIT socket still lived, as the kernel counts them.
    assert recycled >= 1
    assert len(flagged) == recycled
    for e in flagged:
        assert e["tuple_reuse_ns"] > 0 and e["tuple_reuse_ns"] >= delay_ms * 1e6, e
        assert e["reuse_ns"] is None  # the port never went free
    assert all(not e["timewait_reuse"] for e in got[:2])
    # The TIME_WAIT sockets the reuse killed are released as such.
    wait_until(lambda: len([e for e in tr.of("release") if e["reason"] == "timewait_killed"])
               >= recycled, 10, "releases of the recycled TIME_WAIT sockets")
    assert tr.stop() == 0


def test_bind_conflict_names_the_holder(netns, tracer_factory):
    # One holder from before the trace (found by the startup snapshot), one
    # fixed bind and one bind(0) while traced.
    early = netns.popen(PY, SCENARIO, "hold", "5555", "listen")
    fixed = eph = None
    try:
        early_port = read_until(early, "holding")[-1]["lport"]
        tr = tracer_factory("--netns", netns.path, "--collisions")
        # One after the other: on a kernel that preempts inside the trampoline
        # backend's programs, two binds at once can cost one its hook run
        # (test_concurrent_churn_is_reported_or_counted covers that).
        fixed = netns.popen(PY, SCENARIO, "hold", "6666", "listen")
        fixed_port = read_until(fixed, "holding")[-1]["lport"]
        eph = netns.popen(PY, SCENARIO, "hold", "0", "bind")
        eph_port = read_until(eph, "holding")[-1]["lport"]
        results = {}
        for name, port, holder in (("early", early_port, early), ("fixed", fixed_port, fixed),
                                   ("eph", eph_port, eph)):
            (f,) = facts(netns.run(PY, SCENARIO, "bind", str(port)).stdout)
            assert f["errno"] == "EADDRINUSE"
            results[name] = (f, holder.pid)
        wait_until(lambda: len(tr.of("collision", type="bind_in_use")) >= 3, 20,
                   "three bind conflicts")
    finally:
        for p in (early, fixed, eph):
            if p:
                p.stdin.close()
                p.wait(timeout=30)
    assert tr.stop() == 0
    for name, (f, holder_pid) in results.items():
        (c,) = tr.of("collision", type="bind_in_use", port=f["lport"])
        assert c["pid"] == f["pid"] and c["errno"] == "EADDRINUSE"
        h = c["holder"]
        assert h is not None, f"{name}: holder unknown"
        assert h["comm"] == "python3"
        assert h["pid"] == holder_pid != f["pid"]
        if name == "early":
            assert h["untracked"] is True and h["since_ns"] is None
        elif name == "fixed":
            assert h["fixed"] is True and h["since_ns"] is not None
        else:
            assert c["holder_ephemeral"] is True and h["fixed"] is False


def test_range_conflict_warning(netns, tracer_factory):
    netns.sysctl("net.ipv4.ip_local_port_range", "40000 40100")
    netns.sysctl("net.ipv4.ip_local_reserved_ports", "20000,40060")
    tr = tracer_factory("--netns", netns.path, "--collisions")
    binds = {}
    for port in (40050, 30000, 20000, 40060):
        (f,) = facts(netns.run(PY, SCENARIO, "bind", str(port)).stdout)
        assert f["kind"] == "bound"
        binds[port] = f
    wait_until(lambda: len(tr.of("collision", type="range_conflict")) >= 2, 20,
               "two range conflicts")
    assert tr.stop() == 0
    got = {c["port"]: c for c in tr.of("collision", type="range_conflict")}
    assert set(got) == {40050, 20000}
    assert got[40050]["reserved"] is False and got[40050]["range"] == [40000, 40100]
    assert got[20000]["reserved"] is True
    assert got[40050]["pid"] == binds[40050]["pid"] and got[40050]["via"] == "bind"


def test_occupancy_counts_sockets_from_before_the_start(netns, tracer_factory):
    netns.sysctl("net.ipv4.ip_local_port_range", "40000 40015")
    proc = netns.popen(PY, SCENARIO, "fill", "1")
    try:
        read_until(proc, "full")
        kernel = ss_ports(netns, 40000, 40015)
        tr = tracer_factory("--netns", netns.path, "--occupancy", "--interval", "0.2")
        wait_until(lambda: tr.of("occupancy", netns=netns.inode), 20, "an occupancy report")
        occ = tr.of("occupancy", netns=netns.inode)[0]
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert len(kernel) == 16
    assert occ["tcp"]["in_use"] == 16 and occ["tcp"]["fraction"] == 1.0
    assert occ["tcp"]["top_holders"][0]["ports"] == 16
    assert occ["tcp"]["top_holders"][0]["comm"] == "python3"
    assert tr.stop() == 0


def test_histogram_percentiles_match_raw_events(netns, tracer_factory):
    tr = tracer_factory("--netns", netns.path, "-t")
    netns.run(PY, SCENARIO, "connect_many", "300")
    wait_until(lambda: len(tr.of("alloc", via="connect")) >= 300, 20, "300 connects")
    assert tr.stop() == 0
    raw = sorted(e["latency_ns"] for e in tr.of("alloc", via="connect"))
    (h,) = tr.of("hist", metric="latency", via="connect")
    assert h["count"] == len(raw) and h["max_ns"] == raw[-1] and h["min_ns"] == raw[0]
    assert sum(b[2] for b in h["buckets"]) == len(raw)
    for p, key in ((50, "p50_ns"), (90, "p90_ns"), (99, "p99_ns"), (99.9, "p999_ns")):
        want = raw[max(1, math.ceil(p / 100 * len(raw))) - 1]
        assert abs(h[key] - want) <= want / 64 + 1, (p, h[key], want)
    holds = [e["held_ns"] for e in tr.of("release")]
    (hh,) = tr.of("hist", metric="hold", via="connect")
    assert hh["count"] == len(holds)


def test_table_views(netns):
    """--hist, --collisions and --occupancy together, as an operator reads them."""
    netns.sysctl("net.ipv4.ip_local_port_range", "40000 40100")
    proc = subprocess.Popen([EPTRACE, "--hist", "--collisions", "--occupancy", "--netns",
                             netns.path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    wait_banner(proc)
    netns.run(PY, SCENARIO, "connect_many", "50")
    netns.run(PY, SCENARIO, "bind", "40050")
    proc.send_signal(2)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "latency tcp/ipv4 connect" in out and "usecs" in out and "|*" in out
    assert "count 50" in out and "p99" in out
    assert "range_conflict" in out and "inside range 40000-40100" in out
    # the namespace by its name (ip netns), where the occupancy table and the
    # collision line show it
    assert "NETNS" in out and f"\n{netns.name} " in out and "40000-40100" in out
    assert f"netns {netns.name} tcp port 40050" in out


def probes_during(tr, seconds):
    """How many times eptrace entered a namespace (two setns per probe of
    one) while strace watched it for this long."""
    r = subprocess.run(["timeout", "-s", "INT", str(seconds), "strace", "-f", "-c", "-e",
                        "trace=setns", "-p", str(tr.proc.pid)], capture_output=True, text=True)
    calls = [line.split() for line in r.stderr.splitlines() if line.endswith(" setns")]
    return int(calls[0][3]) // 2 if calls else 0


def test_an_idle_namespace_is_probed_at_growing_gaps(netns, tracer_factory):
    """A TCP dump walks the kernel's whole connection table, whichever
    namespace asks: one that nothing happens in is read again ever less
    often (up to one refresh in twelve), one with events at every refresh."""
    tr = tracer_factory("--netns", netns.path, "--interval", "0.1")
    wait_banner(tr.proc)
    idle = probes_during(tr, 3)
    busy = netns.popen(PY, "-c", "import socket, time\n"
                       "end = time.monotonic() + 4\n"
                       "while time.monotonic() < end:\n"
                       "    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.close()\n"
                       "    time.sleep(0.01)\n")
    try:
        wait_until(lambda: tr.of("alloc"), 10, "the first bind")
        active = probes_during(tr, 3)
    finally:
        busy.wait(timeout=30)
    # about 30 refreshes in each window: an idle namespace is probed at the
    # 1st, 3rd, 7th, 15th and 27th, a busy one at every one
    assert 1 <= idle <= 8 and active > 2 * idle, (idle, active)
    assert tr.stop() == 0


def ring_waits(path):
    """(timeout ms, result) of every epoll_wait strace saw return."""
    with open(path) as f:
        return [(int(m[1]), int(m[2])) for m in
                re.finditer(r"epoll_wait\(\d+, .*, \d+, (\d+)\) += (-?\d+)", f.read())]


def test_an_idle_tracer_sleeps_until_a_record_wakes_it(netns, tracer_factory, tmp_path):
    """With nothing to read, the tracer waits for its next periodic work (a
    second at most) instead of its 50 ms pace, and the first record wakes
    it: the one bind(0) ends a long wait and is reported."""
    tr = tracer_factory("--netns", netns.path)
    wait_banner(tr.proc)
    log = tmp_path / "strace.txt"
    st = subprocess.Popen(["strace", "-e", "trace=epoll_wait", "-o", str(log), "-p",
                           str(tr.proc.pid)], stderr=subprocess.PIPE, text=True)
    try:
        assert "attached" in readline(st.stderr, 30, "strace attaching")
        wait_until(lambda: sum(1 for t, r in ring_waits(log) if t > 50 and r == 0) >= 2, 30,
                   "two long waits that nothing ended")
        idle = ring_waits(log)
        port = int(netns.run(PY, "-c", "import socket\n"
                             "s = socket.socket(); s.bind(('127.0.0.1', 0))\n"
                             "print(s.getsockname()[1]); s.close()").stdout)
        wait_until(lambda: tr.of("alloc", lport=port), 30, f"the bind of port {port}")
        wait_until(lambda: len(ring_waits(log)) > len(idle), 30, "the wait the bind ended")
    finally:
        st.send_signal(2)
        st.wait(timeout=30)
    after = ring_waits(log)[len(idle):]
    # over two idle seconds or more: a handful of waits, not 20 a second
    assert len(idle) <= 8, idle
    assert any(t > 50 and r == 1 for t, r in after), after
    assert tr.stop() == 0
