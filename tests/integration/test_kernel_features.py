"""A kernel feature missing: eptrace runs with what remains and says what it
cannot see, or refuses with a clear message when it could see nothing."""
import json
import os
import subprocess

from conftest import EPTRACE, Tracer, facts, preempting_kernel, refuse, wait_until, wait_banner

PY = "/usr/bin/python3"


def tcp_udp_bind(netns):
    code = ("import socket, json\n"
            "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()\n"
            "c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,"
            " b'\\1\\0\\0\\0\\0\\0\\0\\0'); c.connect(l.getsockname())\n"
            "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.connect(('127.0.0.1', 53))\n"
            "b = socket.socket(); b.bind(('127.0.0.1', 0))\n"
            "print(json.dumps({'tcp': c.getsockname()[1], 'udp': u.getsockname()[1],"
            " 'bind': b.getsockname()[1]}))\n"
            "c.close(); u.close(); b.close()\n")
    return json.loads(netns.run(PY, "-c", code).stdout)


def run_refused(netns, what):
    tr = Tracer("--netns", netns.path, env=refuse(what))
    ports = tcp_udp_bind(netns)
    wait_until(lambda: tr.of("release", lport=ports["tcp"]), 10, "the TCP release")
    assert tr.stop() == 0
    return tr, ports


def test_sockops_refused_reports_tcp_at_the_handshake(netns):
    tr, ports = run_refused(netns, "sockops")
    assert "without the sockops hook" in tr.stderr
    # a kernel with bpf_rdonly_cast (6.2+) takes the direct loads
    assert ("read through helpers" in tr.stderr) == (not kernel_has_rdonly_cast())
    (tcp,) = tr.of("alloc", lport=ports["tcp"])
    assert tcp["latency_ns"] is None and tcp["via"] == "connect"
    # the rest is unaffected
    assert tr.of("alloc", lport=ports["udp"])[0]["latency_ns"] > 0
    assert tr.of("alloc", lport=ports["bind"])[0]["via"] == "bind"


def test_socket_hooks_refused_leave_tcp(netns):
    tr, ports = run_refused(netns, "sock_hooks")
    assert "bind() (assignments and conflicts) and UDP" in tr.stderr
    assert tr.of("alloc", lport=ports["tcp"])[0]["latency_ns"] > 0
    assert not tr.of("alloc", lport=ports["udp"]) and not tr.of("alloc", lport=ports["bind"])
    assert tr.summary()["lost"] == 0


def kernel_has_rdonly_cast():
    with open("/proc/kallsyms") as f:
        return any(line.rstrip().endswith(" bpf_rdonly_cast") for line in f)


def test_auto_backend_passes_trampoline_over_where_programs_are_preempted(netns):
    """auto takes the trampoline backend wherever it loads, but not on a
    kernel that preempts tasks inside its programs (RT, preempt=full or
    lazy): there the kernel skips a program for the other tasks on a CPU
    while one is preempted in it. Asked by name, it loads and says so."""
    env = {"EPTRACE_REFUSE": ""}  # this test plays no refusal
    asked = subprocess.run([EPTRACE, "--backend", "trampoline", "--json", "-q", "-d", "1",
                            "--netns", netns.path], capture_output=True, text=True, timeout=120,
                           env={**os.environ, **env})
    loads = asked.returncode == 0
    if not loads:
        assert "--backend trampoline:" in asked.stderr, asked.stderr
    auto = Tracer("--netns", netns.path, env=env)
    assert auto.stop() == 0
    preempts = preempting_kernel()
    assert auto.backend == ("trampoline" if loads and not preempts else "tracepoint")
    assert ("preempts tasks inside fentry programs" in auto.stderr) == preempts, auto.stderr
    assert ("preempts tasks inside these programs" in asked.stderr) == (loads and preempts), \
        asked.stderr
    # Where the tracepoint backend cannot start, auto takes the trampoline one
    # even there, and says what it will miss.
    fallback = subprocess.run([EPTRACE, "--json", "-q", "-d", "1", "--netns", netns.path],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "EPTRACE_REFUSE": "tracepoint_backend"})
    assert (fallback.returncode == 0) == loads, fallback.stderr
    assert ("backend trampoline" in fallback.stderr) == loads, fallback.stderr
    assert ("preempts tasks inside these programs" in fallback.stderr) == (loads and preempts), \
        fallback.stderr


def test_syscall_tracepoints_refused_leave_the_socket_hooks(netns):
    # A kernel that refuses them (a hardened one, say); the knob plays it anywhere.
    tr, ports = run_refused(netns, "syscalls")
    assert tr.stderr.count("without the syscall tracepoints") == 1, tr.stderr
    assert "UDP autobind in connect()" in tr.stderr
    assert tr.of("alloc", lport=ports["tcp"])[0]["latency_ns"] > 0
    (b,) = tr.of("alloc", lport=ports["bind"])
    assert b["via"] == "bind" and b["latency_ns"] > 0
    assert tr.of("release", lport=ports["bind"])  # drained at the stop
    # the UDP connect's port unseen until its close: a release held since a
    # time not known, counted as never seen assigned; no stale bracket
    assert not tr.of("alloc", lport=ports["udp"])
    (u,) = tr.of("release", lport=ports["udp"])
    assert u["held_ns"] is None and u["proto"] == "udp", u
    s = tr.summary()
    assert s["lost"] == 0 and s["inflight_full"] == 0 and s["untracked_releases"] == 1


def test_only_udp_asked_and_unseeable_is_refused():
    r = subprocess.run([EPTRACE, "--udp", "-d", "1"],
                       env={**os.environ, **refuse("sock_hooks")},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "nothing to trace" in r.stderr, r.stderr


def test_no_cgroup_v2_runs_on_tracepoints(netns):
    # A mount namespace with no cgroup v2 anywhere and no room to mount one.
    script = ("umount -l /sys/fs/cgroup 2>/dev/null; "
              "for m in $(awk '$3==\"cgroup2\"{print $2}' /proc/mounts); do umount -l $m; done; "
              "mount -t tmpfs -o ro,size=1m none /run && "
              f"exec {EPTRACE} --json --backend tracepoint --netns {netns.inode}")
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        err = wait_banner(proc)
        assert "no cgroup v2 hierarchy and mounting one" in err
        assert "without the cgroup socket hooks" in err and "without the sockops hook" in err
        ports = tcp_udp_bind(netns)
    finally:
        proc.send_signal(2)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    ev = facts(out)
    tcp = [e for e in ev if e["event"] == "alloc" and e["lport"] == ports["tcp"]]
    assert len(tcp) == 1 and tcp[0]["latency_ns"] is None
    assert [e for e in ev if e["event"] == "release" and e["lport"] == ports["tcp"]]
    assert not [e for e in ev if e["event"] == "alloc" and e["lport"] == ports["udp"]]


def test_no_kernel_btf_is_refused_clearly():
    script = f"mount --bind /dev/null /sys/kernel/btf/vmlinux && exec {EPTRACE} -d 1"
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "this kernel has no BTF" in r.stderr, r.stderr
    assert "Segmentation" not in r.stderr


def test_one_socket_hook_refused_takes_the_others_out(netns):
    # Refusing the last of them (the UDP release) must undo the ones already
    # attached: assignments without releases would be worse than nothing.
    tr, ports = run_refused(netns, "on_sock_release")
    assert "without the cgroup socket hooks" in tr.stderr
    assert not tr.of("alloc", lport=ports["udp"]) and not tr.of("alloc", lport=ports["bind"])
    assert tr.of("alloc", lport=ports["tcp"])[0]["latency_ns"] > 0


def test_without_direct_loads_the_helper_reads_give_the_same_facts(netns):
    # A kernel before 6.2 has no bpf_rdonly_cast and refuses the first load:
    # the loader loads again with helper reads, which must report the same.
    # (the tracepoint backend's: the trampoline one reads its arguments directly)
    tr = Tracer("--netns", netns.path, env=refuse("direct_loads"))
    ports = tcp_udp_bind(netns)
    code6 = ("import socket\n"
             "u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.connect(('::1', 53))\n"
             "b = socket.socket(socket.AF_INET6); b.bind(('::1', 0))\n"
             "l = socket.socket(socket.AF_INET6); l.bind(('::1', 0)); l.listen()\n"
             "c = socket.socket(socket.AF_INET6); c.setsockopt(socket.SOL_SOCKET,"
             " socket.SO_LINGER, b'\\1\\0\\0\\0\\0\\0\\0\\0'); c.connect(l.getsockname()[:2])\n"
             # a peer at another address than the source: the two cannot be mixed up
             "l2 = socket.socket(); l2.bind(('127.0.0.2', 0)); l2.listen()\n"
             "c2 = socket.socket(); c2.setsockopt(socket.SOL_SOCKET,"
             " socket.SO_LINGER, b'\\1\\0\\0\\0\\0\\0\\0\\0'); c2.connect(l2.getsockname())\n"
             "u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u2.connect(('127.0.0.2', 53))\n"
             "print(u.getsockname()[1], b.getsockname()[1], c.getsockname()[1],"
             " l.getsockname()[1], c2.getsockname()[1], l2.getsockname()[1],"
             " u2.getsockname()[1]); u.close(); b.close(); c.close(); c2.close(); u2.close()\n")
    udp6, bind6, tcp6, listen6, tcp2, listen2, udp2 = map(
        int, netns.run(PY, "-c", code6).stdout.split())
    wait_until(lambda: all(tr.of("release", lport=p)
                           for p in (udp6, ports["tcp"], ports["bind"], bind6, tcp6, tcp2, udp2)),
               10, "the releases")
    assert tr.stop() == 0
    assert "read through helpers" in tr.stderr
    for port, proto, addr in [(ports["tcp"], "tcp", "127.0.0.1"), (ports["udp"], "udp", "127.0.0.1"),
                              (ports["bind"], "tcp", "127.0.0.1"), (udp6, "udp", "::1"),
                              (bind6, "tcp", "::1"), (tcp6, "tcp", "::1")]:
        (a,) = tr.of("alloc", lport=port, proto=proto)
        assert a["laddr"] == addr and a["netns"] == netns.inode and a["comm"] == "python3", a
        assert a["latency_ns"] > 0 and a["cookie"] > 0, a
        (r,) = tr.of("release", lport=port, proto=proto)
        assert r["cookie"] == a["cookie"] and r["pid"] == a["pid"], r
    (tcp,) = tr.of("alloc", lport=ports["tcp"])
    assert tcp["raddr"] == "127.0.0.1" and tcp["rport"] > 0, tcp
    # the peers, as each connect's record has them
    for port, proto, laddr, raddr, rport in [
            (ports["udp"], "udp", "127.0.0.1", "127.0.0.1", 53), (udp6, "udp", "::1", "::1", 53),
            (tcp6, "tcp", "::1", "::1", listen6), (tcp2, "tcp", "127.0.0.1", "127.0.0.2", listen2),
            (udp2, "udp", "127.0.0.1", "127.0.0.2", 53)]:
        (a,) = tr.of("alloc", lport=port, proto=proto)
        assert (a["laddr"], a["raddr"], a["rport"], a["via"]) == (laddr, raddr, rport, "connect"), a
