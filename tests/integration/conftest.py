"""Fixtures: a fresh network namespace per test and a running tracer."""
import gzip
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# make sanitize points this at the AddressSanitizer+UBSan build.
EPTRACE = os.environ.get("EPTRACE_BIN", os.path.join(ROOT, "build", "eptrace"))
WORKLOAD = os.path.join(ROOT, "build", "tests", "workload")
CHURN = os.path.join(ROOT, "build", "bench", "churn")
BUSY_NAMESPACES = os.path.join(ROOT, "build", "tests", "busy_namespaces")
SCENARIO = os.path.join(ROOT, "tests", "integration", "scenario.py")

# The backend every eptrace these tests start must load: the suite runs once
# per backend (tests/vm/suite.sh). "tracepoint" plays a kernel that refuses
# the trampoline backend, so that auto falls back; unset, auto decides.
BACKEND = os.environ.get("EPTRACE_TEST_BACKEND", "")
if BACKEND == "tracepoint":
    os.environ["EPTRACE_REFUSE"] = "trampoline"


def kernel_config():
    """The running kernel's build config lines, or none."""
    try:
        with open(f"/boot/config-{os.uname().release}") as f:
            return f.read().splitlines()
    except OSError:
        pass
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            return f.read().splitlines()
    except OSError:
        return []


def preempting_kernel():
    """Whether this kernel preempts tasks inside BPF programs that run with
    preemption on (fentry/fexit): PREEMPT_RT, a built-in PREEMPT, or a
    PREEMPT_DYNAMIC kernel in full or lazy mode: debugfs says which, else
    the last valid preempt= before "--" on the command line, else the
    config's default."""
    words = os.uname().version.split()
    if "PREEMPT_RT" in words or "PREEMPT_LAZY" in words:
        return True
    config = kernel_config()
    if "PREEMPT_DYNAMIC" not in words and "CONFIG_PREEMPT_DYNAMIC=y" not in config:
        return "PREEMPT" in words
    try:
        with open("/sys/kernel/debug/sched/preempt") as f:
            mode = f.read()
        if "(" in mode:
            return "(full)" in mode or "(lazy)" in mode
    except OSError:
        pass
    with open("/proc/cmdline") as f:
        args = f.read().split()
    asked = [a[8:] for a in args[:args.index("--") if "--" in args else len(args)]
             if a.startswith("preempt=") and a[8:] in ("none", "voluntary", "full", "lazy")]
    if asked:
        return asked[-1] in ("full", "lazy")
    return "CONFIG_PREEMPT=y" in config or "CONFIG_PREEMPT_LAZY=y" in config


def refuse(*what):
    """EPTRACE_REFUSE for a test of the tracepoint backend's fallbacks."""
    return {"EPTRACE_REFUSE": ",".join(("trampoline",) + what)}


def tracepoint_only():
    return pytest.mark.skipif(BACKEND == "trampoline",
                              reason="plays a hook of the tracepoint backend refused")


def wait_until(pred, timeout, what):
    """Poll a condition; fail with a message naming it on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Netns:
    def __init__(self):
        self.name = "ept-" + uuid.uuid4().hex[:8]
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)
        self.path = f"/run/netns/{self.name}"
        self.inode = os.stat(self.path).st_ino
        self.alive = True

    def run(self, *argv, **kw):
        return subprocess.run(["ip", "netns", "exec", self.name, *argv],
                              capture_output=True, text=True, check=True, timeout=120, **kw)

    def popen(self, *argv):
        """A long-running process in the namespace, talking JSON lines."""
        return subprocess.Popen(["ip", "netns", "exec", self.name, *argv], text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def sysctl(self, key, value):
        self.run("sysctl", "-qw", f"{key}={value}")

    def delete(self):
        if self.alive:
            subprocess.run(["ip", "netns", "del", self.name], check=False)
            self.alive = False


class Tracer:
    """eptrace --json in the background; events collected as they arrive."""

    def __init__(self, *args, env=None, wrap=(), start_timeout=30):
        # a subcommand (record) goes first
        sub = [args[0]] if args and args[0] == "record" else []
        # The trampoline backend is asked by name: auto passes it over on a
        # kernel that preempts inside its programs (test_auto_backend).
        if BACKEND == "trampoline" and not (env and "EPTRACE_REFUSE" in env) \
                and "--backend" not in args:
            args = (*args, "--backend", "trampoline")
        # wrap: a command that ends by exec'ing its arguments (eptrace)
        self.proc = subprocess.Popen([*wrap, EPTRACE, *sub, "--json", *args[len(sub):]],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **env} if env else None)
        self.events = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        try:
            wait_until(lambda: self.of("start") or self.proc.poll() is not None, start_timeout,
                       "the start event")
        except AssertionError:
            self.proc.kill()
            raise
        if not self.of("start"):
            raise AssertionError("eptrace exited before starting: " + self.proc.stderr.read())
        self.backend = self.of("start")[0]["backend"]
        if BACKEND and not (env and "EPTRACE_REFUSE" in env):
            assert self.backend == BACKEND, f"the {BACKEND} backend was asked, {self.backend} loaded"

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "bad_json", "line": line}
            with self.lock:
                self.events.append(ev)

    def of(self, kind, **match):
        with self.lock:
            return [e for e in self.events if e["event"] == kind
                    and all(e.get(k) == v for k, v in match.items())]

    def stop(self, sig=signal.SIGINT):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=30)
        self.reader.join(timeout=10)
        bad = self.of("bad_json")
        assert not bad, f"eptrace printed lines that are not JSON: {bad[:3]}"
        self.stderr = self.proc.stderr.read()
        assert_no_sanitizer_report(self.stderr)
        return rc

    def summary(self):
        s = self.of("summary")
        assert len(s) == 1, "exactly one summary expected"
        return s[0]


@pytest.fixture
def netns():
    ns = Netns()
    yield ns
    ns.delete()


@pytest.fixture
def tracer_factory():
    started = []

    def start(*args):
        t = Tracer(*args)
        started.append(t)
        return t

    yield start
    for t in started:
        if t.proc.poll() is None:
            t.proc.kill()
            t.proc.wait()


def read_until(proc, kind, timeout=60):
    """Facts a scenario printed, up to and including the first of this kind."""
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = readline(proc.stdout, max(deadline - time.monotonic(), 0.01), kind)
        if not line:
            raise AssertionError(f"scenario ended before printing {kind}")
        out.append(json.loads(line))
        if out[-1]["kind"] == kind:
            return out
    raise AssertionError(f"timed out waiting for {kind}")


def readline(stream, timeout, what):
    """One line from a pipe, or an AssertionError naming what was awaited:
    every read of a child's output is bounded (a guest has no one to press
    Ctrl-C). The reader thread ends when the child dies."""
    box = []
    t = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    t.start()
    t.join(timeout)
    if not box:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")
    return box[0]


def wait_banner(proc, timeout=30):
    """Stderr up to eptrace's "Tracing" banner. Notices about the kernel
    (helper reads, refused hooks) may come before it; a tracer that neither
    prints it nor exits in time is killed."""
    lines = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = readline(proc.stderr, max(deadline - time.monotonic(), 0.01), "the banner")
        except AssertionError:
            proc.kill()
            raise AssertionError(f"no banner within {timeout}s: {lines!r}")
        lines.append(line)
        if not line:
            proc.wait(timeout=10)
            raise AssertionError(f"eptrace exited before its banner: {lines!r}")
        if ("Tracing" if isinstance(line, str) else b"Tracing") in line:
            return line[:0].join(lines)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_no_sanitizer_report(stderr):
    for needle in ("Sanitizer", "runtime error:"):
        assert needle not in stderr, stderr[-3000:]


def facts(output):
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]
