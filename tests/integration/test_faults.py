"""Faults around the tracer: a paused reader, SIGKILL, a second instance,
namespaces that come and go, misbehaving scrapers, hostile process names."""
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections import Counter

import pytest

from bpfmap import ArrayMap
from conftest import (BUSY_NAMESPACES, CHURN, EPTRACE, SCENARIO, WORKLOAD, Netns, Tracer, assert_no_sanitizer_report,
                      facts, free_port, preempting_kernel, read_until, readline, wait_until,
                      wait_banner)

PY = "/usr/bin/python3"


def start_quiet(*args):
    """eptrace --json -q: no start event, so wait for the banner instead."""
    proc = subprocess.Popen([EPTRACE, "--json", "-q", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_banner(proc)
    return proc


def stop_quiet(proc, sig=signal.SIGINT):
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert_no_sanitizer_report(err)
    (summary,) = [e for e in facts(out) if e["event"] == "summary"]
    return summary


def test_paused_reader_accounts_for_every_record(netns):
    """SIGSTOP under full churn: what it reports plus what it lost is exactly
    what the workload did."""
    proc = start_quiet("--netns", netns.path)
    os.kill(proc.pid, signal.SIGSTOP)
    # 2 records (alloc, release) per connect+close: churn until that is far
    # more than the 8 MiB ring buffer holds (136 bytes a record) while nobody
    # reads it, however slow the machine (a PREEMPT_RT guest under emulation
    # does about 6,000 a second).
    runs = []
    try:
        deadline = time.monotonic() + 120
        while sum(r["ops"] for r in runs) < 50000 and time.monotonic() < deadline:
            runs.append(json.loads(netns.run(CHURN, "udp_connect4", "2", "1").stdout))
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    assert all(r["errors"] == 0 for r in runs)
    ops = sum(r["ops"] for r in runs)
    s = stop_quiet(proc)
    assert s["lost"] > 0, (s, ops)
    assert s["fail"] == 0 and s["bad_records"] == 0
    # Two records per connect+close, and two per run for the generator's own
    # server (a fixed bind and its release, which are not assignments).
    assert s["records_received"] + s["lost"] == 2 * ops + 2 * len(runs), (s, runs)
    assert 0 <= s["records_received"] - s["alloc"] - s["release"] <= 2 * len(runs), s


def our_bpf_objects():
    """Program ids, links, cgroup attachments and pins that look like eptrace's."""
    progs = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True,
                                      text=True, check=True).stdout)
    ids = {p["id"] for p in progs if p.get("name", "").startswith("on_")}
    links = json.loads(subprocess.run(["bpftool", "-j", "link", "show"], capture_output=True,
                                      text=True, check=True).stdout)
    link_ids = {l["id"] for l in links if l.get("prog_id") in ids}
    pins = [n for n in os.listdir("/sys/fs/bpf")] if os.path.isdir("/sys/fs/bpf") else []
    return ids, link_ids, [p for p in pins if "eptrace" in p]


def test_sigkill_leaves_nothing_attached_and_the_next_run_is_clean(netns):
    before, before_links, _ = our_bpf_objects()
    proc = start_quiet("--netns", netns.path)
    now, links, pins = our_bpf_objects()
    mine, my_links = now - before, links - before_links
    assert len(mine) >= 10 and my_links and not pins
    proc.kill()
    proc.wait()
    # The kernel releases programs when their last reference (our fds) goes.
    wait_until(lambda: not (mine & our_bpf_objects()[0]), 10, "the programs to be released")
    assert not (my_links & our_bpf_objects()[1])
    cg = subprocess.run(["bpftool", "-j", "cgroup", "tree"], capture_output=True, text=True)
    assert not any(f'"id":{i},' in cg.stdout.replace(" ", "") for i in mine)
    tr = Tracer("--netns", netns.path)
    truth = facts(netns.run(PY, SCENARIO, "connect_many", "20").stdout)
    wait_until(lambda: len(tr.of("alloc")) >= 20, 20, "assignments after a SIGKILLed run")
    assert tr.stop() == 0
    assert sorted(e["lport"] for e in tr.of("alloc")) == sorted(f["lport"] for f in truth)


def test_two_instances_both_see_every_event(netns, tracer_factory):
    a = tracer_factory("--netns", netns.path)
    b = tracer_factory("--netns", netns.path, "--interval", "0.5")
    truth = sorted(f["lport"] for f in facts(
        netns.run(PY, SCENARIO, "connect_many", "200").stdout))
    for tr in (a, b):
        wait_until(lambda: len(tr.of("alloc")) >= 200, 20, "both instances' assignments")
        assert sorted(e["lport"] for e in tr.of("alloc")) == truth
    assert a.stop() == 0 and a.summary()["lost"] == 0
    # The other one goes on, undisturbed by the first one's exit.
    more = sorted(f["lport"] for f in facts(
        netns.run(PY, SCENARIO, "connect_many", "50").stdout))
    wait_until(lambda: len(b.of("alloc")) >= 250, 20, "assignments after the first one left")
    assert sorted(e["lport"] for e in b.of("alloc")[200:]) == more
    assert b.stop() == 0 and b.summary()["lost"] == 0


def test_namespace_created_and_destroyed_while_tracing(tracer_factory):
    tr = tracer_factory("--interval", "0.2")
    ns = Netns()
    try:
        truth = sorted(f["lport"] for f in facts(
            ns.run(PY, SCENARIO, "connect_many", "30").stdout))
        wait_until(lambda: len(tr.of("alloc", netns=ns.inode)) >= 30, 20,
                   "the new namespace's assignments")
        assert sorted(e["lport"] for e in tr.of("alloc", netns=ns.inode)) == truth
        assert all(e["comm"] == "python3" for e in tr.of("alloc", netns=ns.inode))
        wait_until(lambda: tr.of("occupancy", netns=ns.inode), 10, "its occupancy report")
    finally:
        ns.delete()
    # Gone: later reports stop listing it, once the kernel has torn it down
    # (its TIME_WAIT sockets go with it, asynchronously) and a probe noticed.
    n = len(tr.of("occupancy"))
    wait_until(lambda: len(tr.of("occupancy")) > n + 60
               and not [o for o in tr.of("occupancy")[-20:] if o["netns"] == ns.inode], 30,
               "reports that no longer list it")
    assert tr.stop() == 0
    assert tr.summary()["lost"] == 0


def good_scrape(port):
    """A scrape from another client address than the misbehaving ones."""
    s = socket.socket()
    s.settimeout(10)
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    return data.decode(errors="replace")


GARBAGE = [
    b"\x00\xff" * 4096,
    b"GET /" + b"A" * 200000 + b" HTTP/1.1\r\n\r\n",
    b"POST /metrics HTTP/1.1\r\nContent-Length: 99999999\r\n\r\nxx",
    b"GET /metrics HTTP/9.9\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 20000 + b"\r\n",
    b"\r\n\r\n\r\n",
]


def test_exporter_survives_silent_garbage_and_hundreds_of_clients(netns, tracer_factory):
    port = free_port()
    tr = tracer_factory("--netns", netns.path, "--prometheus", str(port))
    wait_until(lambda: "eptrace_up" in good_scrape(port), 10, "a first page")
    held = []
    try:
        for payload in GARBAGE:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                s.sendall(payload)
                s.recv(4096)
            except OSError:
                pass  # reset or refused: fine, as long as the tracer stays up
            s.close()
        # Hundreds that connect and never send, some after half a request.
        for i in range(300):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                if i % 2:
                    s.sendall(b"GET /metrics HTTP/1.1\r\n")
                held.append(s)
            except OSError:
                pass
        t0 = time.monotonic()
        truth = facts(netns.run(PY, SCENARIO, "connect_many", "300").stdout)
        wait_until(lambda: len(tr.of("alloc")) >= len(truth), 10, "events while clients hang")
        page = good_scrape(port)
        assert "200 OK" in page.split("\r\n", 1)[0], page[:200]
        assert "eptrace_assignments_total" in page
        assert time.monotonic() - t0 < 20
    finally:
        for s in held:
            s.close()
    assert tr.proc.poll() is None
    assert tr.stop() == 0 and tr.summary()["lost"] == 0


HOSTILE = b'q"\\\x01\n\x1b[31m\xff\xfe'  # 15 bytes at most: quote, backslash, controls, bad UTF-8


def named_connect(netns):
    code = ("import ctypes, socket\n"
            f"ctypes.CDLL(None).prctl(15, {HOSTILE!r})\n"
            "s = socket.socket(); l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()\n"
            "s.connect(l.getsockname()); print(s.getsockname()[1])\n")
    return int(netns.run(PY, "-c", code).stdout)


def test_hostile_process_names_are_escaped(netns, tracer_factory, tmp_path):
    tr = tracer_factory("--netns", netns.path)
    port = named_connect(netns)
    wait_until(lambda: tr.of("alloc", lport=port), 10, "the renamed process's connect")
    (ev,) = tr.of("alloc", lport=port)
    # JSON: quote and backslash escaped, controls as \\u00XX, bad bytes as U+FFFD.
    assert ev["comm"] == 'q"\\\x01\n\x1b[31m\ufffd\ufffd', ev["comm"]
    assert tr.stop() == 0
    # The table: one line per event, no raw control bytes.
    proc = subprocess.Popen([EPTRACE, "--netns", netns.path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    wait_banner(proc)
    port = named_connect(netns)
    # No wait needed: on SIGINT it detaches, then drains the ring buffer.
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    lines = [l for l in out.splitlines() if str(port).encode() in l]
    assert lines, out[-2000:]
    for l in lines:
        assert not any(c < 0x20 or c == 0x7f for c in l), l
        assert b"\\x01" in l and b"\\x0a" in l and b"\\xff" in l, l


# A UDP socket from before the start can also give its port back by
# connect(AF_UNSPEC) and be closed later.
@pytest.mark.parametrize("udp_end", ["close", "disconnect"])
def test_socket_from_before_the_start_is_released_to_its_owner(netns, tracer_factory, udp_end):
    holder = netns.popen(PY, SCENARIO, "hold_conns", udp_end)
    try:
        held = read_until(holder, "holding")
        held += [json.loads(readline(holder.stdout, 30, "the holder's sockets"))]
        tr = tracer_factory("--netns", netns.path, "--interval", "0.2")
        ports = {(h["proto"], h["lport"]) for h in held}
        wait_until(lambda: any(o["netns"] == netns.inode and o["tcp"]["in_use"] >= 1
                               for o in tr.of("occupancy")), 10, "the startup snapshot")
        holder.stdin.write("\n")
        holder.stdin.flush()
        read_until(holder, "closed")
        wait_until(lambda: len(tr.of("release", prestart=True)) >= 2, 10,
                   "the releases of sockets from before the start")
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    rel = tr.of("release", prestart=True)
    assert {(e["proto"], e["lport"]) for e in rel} == ports
    for e in rel:
        assert e["pid"] == held[0]["pid"] and e["comm"] == "python3", e
        assert e["held_ns"] is None and e["netns"] == netns.inode
    (udp,) = [e for e in rel if e["proto"] == "udp"]
    assert udp["reason"] == udp_end, udp
    # No port of the namespace stays counted as held once both are gone.
    n = len(tr.of("occupancy"))
    wait_until(lambda: len(tr.of("occupancy")) > n, 10, "the next report")
    last = tr.of("occupancy", netns=netns.inode)[-1]
    assert last["tcp"]["in_use"] == 0 and last["udp"]["in_use"] == 0, last
    assert tr.stop() == 0
    s = tr.summary()
    assert s["untracked_releases"] == 0 and s["lost"] == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("mode", [[], ["--json"], ["--hist"], ["--collisions"], ["--occupancy"],
                                  ["-q"], ["--json", "--prometheus", "0"], ["record"]])
def test_every_mode_exits_cleanly_with_a_summary(netns, tmp_path, mode, sig):
    argv = [EPTRACE, *mode, "--netns", netns.path]
    if mode == ["record"]:
        argv += ["-o", str(tmp_path / "sig.db")]
    if "--prometheus" in mode:
        argv[argv.index("0")] = str(free_port())
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_banner(proc)
    truth = facts(netns.run(PY, SCENARIO, "connect_many", "20").stdout)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert_no_sanitizer_report(err)
    assert "summary" in out or "summary" in err, (out[-500:], err[-500:])
    if mode == ["record"]:
        r = subprocess.run([EPTRACE, "report", str(tmp_path / "sig.db"), "--json"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "not closed cleanly" not in r.stderr, r.stderr
        got = sorted(e["lport"] for e in facts(r.stdout) if e["event"] == "alloc")
        assert got == sorted(f["lport"] for f in truth)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="reads epoll_wait's registers")
def test_a_signal_just_before_the_wait_ends_the_wait(netns):
    """A signal that lands after the loop's last look at it and before it
    waits (here put there by gdb: at the entry of an idle wait, one of a
    hundred milliseconds or more) must end that wait at once, not after it."""
    proc = subprocess.Popen([EPTRACE, "--netns", netns.path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_banner(proc)
    # epoll_wait(epfd, events, maxevents, timeout): timeout in rcx at entry
    script = ["set pagination off", "handle SIGINT nostop noprint pass",
              "break epoll_wait if $rcx >= 100", "continue", "delete",
              "printf \"waits %d ms\\n\", $rcx", "queue-signal SIGINT", "finish",
              "printf \"returned %d\\n\", $rax", "detach"]
    gdb = subprocess.run(["gdb", "-q", "-batch", "-p", str(proc.pid),
                          *[a for line in script for a in ("-ex", line)]],
                         capture_output=True, text=True, timeout=120)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "summary" in out or "summary" in err, (out[-500:], err[-500:])
    assert re.search(r"^waits \d+ ms$", gdb.stdout, re.M), gdb.stdout + gdb.stderr
    # 1: something in the set is ready (0: the wait ran out its time)
    assert re.search(r"^returned 1$", gdb.stdout, re.M), gdb.stdout + gdb.stderr


def socks_map_id():
    maps = json.loads(subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True,
                                     text=True, check=True).stdout)
    return max(m["id"] for m in maps if m.get("name") == "socks")


SOCKS_BITS, SOCK_WINDOW = 18, 8  # bpf/record.h
SOCKS_MAX = 1 << SOCKS_BITS


def socks_probes(cookie):
    """ep_sock_slot(cookie, 0..15): bpf/record.h's two windows of a cookie."""
    h = (cookie * 0x9E3779B97F4A7C15) % (1 << 64)
    bases = (h >> (64 - SOCKS_BITS), (h >> (64 - 2 * SOCKS_BITS)) % SOCKS_MAX)
    return [(b + i) % SOCKS_MAX for b in bases for i in range(SOCK_WINDOW)]


def socks_slot(map_id, idx):
    """The 168 bytes of one slot of the kernel table (struct sock_slot)."""
    key = " ".join(str(b) for b in idx.to_bytes(4, "little"))
    r = subprocess.run(f"bpftool -j map lookup id {map_id} key {key}".split(),
                       capture_output=True, text=True, check=True)
    return bytes(int(b, 16) for b in json.loads(r.stdout)["value"])


def socks_has(map_id, cookie):
    """An entry of cookie in either window (a second window's key has bit 62
    set, EP_SOCK_FAR)."""
    return any(int.from_bytes(socks_slot(map_id, idx)[160:168], "little")
               == (cookie if i < SOCK_WINDOW else cookie | 1 << 62)
               for i, idx in enumerate(socks_probes(cookie)))


def test_entry_of_a_socket_gone_without_release_is_swept(netns, tracer_factory):
    """A release the kernel hooks never reported (a skipped hook run) must not
    leave the socket table holding a dead socket forever."""
    tr = tracer_factory("--netns", netns.path, "--interval", "0.2")
    map_id = socks_map_id()
    # a cookie no socket has, whose first slot is free
    cookie = next(c for c in range((1 << 60) + 1, (1 << 60) + 1000)
                  if not any(socks_slot(map_id, socks_probes(c)[0])[160:168]))
    idx = socks_probes(cookie)[0]
    value = bytearray(168)
    # assign_ns now (CLOCK_MONOTONIC, as the kernel's): the sweep leaves an
    # entry younger than a second alone, so the lookup below cannot race it
    value[16:24] = time.monotonic_ns().to_bytes(8, "little")
    value[32:40] = cookie.to_bytes(8, "little")
    value[48:52] = netns.inode.to_bytes(4, "little")
    value[96:98] = (40000).to_bytes(2, "little")          # lport
    value[100:104] = bytes([1, 17, 4, 1])                 # alloc, udp, v4, connect
    value[152:156] = (3).to_bytes(4, "little")            # PH_ASSIGNED
    value[160:168] = cookie.to_bytes(8, "little")         # the slot's key
    key = " ".join(str(b) for b in idx.to_bytes(4, "little"))
    subprocess.run(f"bpftool map update id {map_id} key {key} value ".split()
                   + [str(b) for b in value], check=True)
    assert socks_has(map_id, cookie)
    # the sweep looks at a sixteenth of the table per refresh (0.2 s here)
    wait_until(lambda: not socks_has(map_id, cookie), 30, "the sweep to remove the dead entry")
    assert tr.stop() == 0


BIND_ONE = ("import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
            "print(s.getsockname()[1]); s.close()")


def test_a_full_socket_table_is_counted_not_silent(netns, tracer_factory):
    """Every slot of the kernel table taken: an assignment is still reported,
    and the socket that could not be followed to its release is counted
    (socks_full); slots free again, sockets are followed as before."""
    tr = tracer_factory("--netns", netns.path)
    map_id = socks_map_id()
    slot = 168
    filler = bytearray(slot * SOCKS_MAX)
    for i in range(SOCKS_MAX):
        filler[i * slot + 152:i * slot + 156] = (1).to_bytes(4, "little")  # PH_PENDING_CONNECT
        filler[i * slot + 160:i * slot + 168] = ((1 << 60) + i).to_bytes(8, "little")
    with ArrayMap(map_id, slot, SOCKS_MAX) as m:
        m.write(0, bytes(filler))
        try:
            full = int(netns.run(PY, "-c", BIND_ONE).stdout)
            wait_until(lambda: tr.of("alloc", lport=full), 15, "the untracked assignment")
        finally:
            m.write(0, bytes(slot * SOCKS_MAX))
    again = int(netns.run(PY, "-c", BIND_ONE).stdout)
    wait_until(lambda: tr.of("release", lport=again), 15, "the release of the next socket")
    assert tr.stop() == 0
    s = tr.summary()
    assert s["socks_full"] >= 1, s
    assert not tr.of("release", lport=full) or full == again
    assert s["lost"] == 0


CONCURRENT = """
import json, socket, sys
out = []
for i in range(int(sys.argv[1])):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.connect(('127.0.0.1', 9))
    out.append(['udp', u.getsockname()[1]]); u.close()
    b = socket.socket()
    b.bind(('127.0.0.1', 0))
    out.append(['tcp', b.getsockname()[1]]); b.close()
print(json.dumps(out))
"""


def test_many_busy_namespaces_lose_nothing_at_start_or_refresh(netns):
    """Every namespace is read at the start, and every 5 s each one an event
    came from: a socket dump apiece, which walks the kernel's whole TCP table
    (milliseconds on a large host). With hundreds of busy namespaces and
    churn beside them the ring filled while the dumps ran one after another
    (on the development machine, 40,000 records lost per refresh of 200, and
    47,000 to 94,000 at a start among 300 in four starts of five); the reader
    now reads it between two namespaces."""
    # One CPU (an emulated guest) is far slower at the dumps and the churn
    # alike: fewer there, and the test does not claim to fail on them.
    many, procs = (300, "2") if os.cpu_count() >= 2 else (60, "1")
    busy = subprocess.Popen([BUSY_NAMESPACES, str(many)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(readline(busy.stdout, 120, f"{many} busy namespaces"))
        assert ready["namespaces"] == many, ready
        # churn through the start, in a process group of its own (its
        # workers go with it)
        early = subprocess.Popen(["ip", "netns", "exec", netns.name, CHURN, "udp_connect4",
                                  "600", procs], stdout=subprocess.DEVNULL, start_new_session=True)
        try:
            proc = subprocess.Popen([EPTRACE, "--json", "-q"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            # hundreds of namespaces under churn: a slow start
            wait_banner(proc, timeout=180)
        finally:
            os.killpg(early.pid, signal.SIGKILL)
            early.wait(timeout=30)
        # then 11 s of it: two refreshes at least
        run = json.loads(netns.run(CHURN, "udp_connect4", "11", "1").stdout)
        s = stop_quiet(proc)
    finally:
        busy.stdin.close()
        busy.wait(timeout=60)
    assert run["errors"] == 0 and run["ops"] > 0, run
    assert s["lost"] == 0, (s, run)
    assert s["records_received"] == s["records_submitted"], s
    assert s["alloc"] >= run["ops"], (s, run)


def test_events_during_the_first_probe_keep_the_table_whole():
    """Events read while the first probe runs are printed before the banner
    (on stderr): the table's header still comes before every row, and the
    banner, printed into the same stream, splits no line."""
    many = 100 if os.cpu_count() >= 2 else 20
    busy = subprocess.Popen([BUSY_NAMESPACES, str(many)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        readline(busy.stdout, 120, f"{many} busy namespaces")
        proc = subprocess.Popen([EPTRACE, "-u"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        lines = []
        while not any("Tracing" in l for l in lines):
            line = readline(proc.stdout, 180, "the banner")
            assert line, lines
            lines.append(line)
        # rows after the banner too, then the end
        for _ in range(5):
            lines.append(readline(proc.stdout, 60, "events after the banner"))
        proc.send_signal(signal.SIGINT)
        while lines[-1]:
            lines.append(readline(proc.stdout, 60, "the end"))
        lines.pop()
        assert proc.wait(timeout=60) == 0
    finally:
        busy.stdin.close()
        busy.wait(timeout=60)
    banner = "Tracing ephemeral ports... Hit Ctrl-C to end.\n"
    table = [l for l in lines
             if l != banner and not l.startswith(("eptrace:", "summary:", "WARNING:"))]
    assert lines.count(banner) == 1, lines[:5]
    assert table[0].split()[:2] == ["TIME", "EVENT"], table[:3]
    row = re.compile(r"\d\d:\d\d:\d\d\.\d{3} (alloc|release|fail) .*\n")
    split = [l for l in table[1:] if not row.fullmatch(l)]
    assert len(table) > 6 and not split, split[:4]


def test_concurrent_churn_is_reported_or_counted(netns):
    """Processes taking ports at once on one CPU: every assignment is
    reported, and one the kernel kept from the hooks (where the kernel
    preempts inside fentry programs, one preempted mid-run is skipped for the
    next task on that CPU) is counted in hook_misses, never silently gone."""
    tr = Tracer("--netns", netns.path)
    procs = [netns.popen(PY, "-c", CONCURRENT, "300") for _ in range(4)]
    truth = Counter()
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        truth.update(tuple(x) for x in json.loads(out))
    total = sum(truth.values())
    wait_until(lambda: len(tr.of("alloc")) >= total or tr.of("lost"), 20,
               "every assignment, or a count of what was missed")
    assert tr.stop() == 0
    s = tr.summary()
    seen = Counter((e["proto"], e["lport"]) for e in tr.of("alloc"))
    missing = truth - seen
    assert not missing or s["hook_misses"] > 0 or s["lost"] > 0, (missing, s)
    assert not seen - truth, seen - truth
    # Where that happens under churn, the start says so.
    said = "preempts tasks inside these programs" in tr.stderr
    assert said == (preempting_kernel() and tr.backend == "trampoline"), tr.stderr


def test_no_map_syscalls_while_tracing(netns, tmp_path):
    # A map syscall holds bpf_prog_active on its CPU; where the kernel may
    # preempt it there (PREEMPT_RT, preempt=full), every tracepoint program
    # of the tasks that run meanwhile is skipped, uncounted on 6.1 (the RT
    # CI lost a workload's UDP connects so). Once started, the tracer
    # reads its table and counters through their mappings, with reports and
    # table sweeps every 0.1 s here.
    log = tmp_path / "bpf.log"
    # (LeakSanitizer cannot run under ptrace: the sanitized build's leak
    # check is left to the other tests)
    asan = os.environ.get("ASAN_OPTIONS", "")
    tr = Tracer("--netns", netns.path, "--interval", "0.1",
                env={"ASAN_OPTIONS": f"{asan}:detect_leaks=0" if asan else "detect_leaks=0"},
                # only bpf() stops the tracer (a seccomp filter), and its
                # start may take longer than the others' in a slow guest
                wrap=["strace", "-f", "--seccomp-bpf", "-qq", "-e", "trace=bpf", "-o", str(log)],
                start_timeout=120)
    started = log.stat().st_size
    truth = facts(netns.run(WORKLOAD, "all").stdout)
    allocs = [f for f in truth if f["kind"] == "alloc"]
    wait_until(lambda: len(tr.of("alloc")) >= len(allocs), 20, "the workload's assignments")
    wait_until(lambda: len(tr.of("occupancy")) >= 3, 20, "three periodic reports")
    # strace passes on the exit status of eptrace, to which the signal goes
    (child,) = open(f"/proc/{tr.proc.pid}/task/{tr.proc.pid}/children").read().split()
    os.kill(int(child), signal.SIGINT)
    assert tr.stop(sig=0) == 0
    with open(log) as f:
        f.seek(started)
        calls = [line for line in f if "bpf(BPF_MAP_" in line]
    assert not calls, calls[:5]
    # and the counters still arrive: every record submitted was received
    s = tr.summary()
    assert s["records_submitted"] == s["records_received"] > 0
