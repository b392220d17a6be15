#!/usr/bin/python3
"""Side by side on the ground-truth workload (build/tests/workload all): what
eptrace (each backend) and the libbpf-tools users know (bindsnoop, tcpconnect,
tcplife) report of its assignments, failures and releases, and with the right
pid. Runs as root where the peers can attach (kprobes: the Debian guest,
`make peers VM=1`); prints a markdown table, or --json the counts.

Each fact the workload observed itself (getsockname, errno) is looked for in
each tracer's output by protocol, local port and pid; tcpconnect prints no
local port, so a connect counts for it when it printed that pid's connect to
that destination port."""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPTRACE = os.path.join(ROOT, "build", "eptrace")
WORKLOAD = os.path.join(ROOT, "build", "tests", "workload")
NS = "eptrace-peers"
TRACERS = {
    "eptrace trampoline": [EPTRACE, "--json", "--backend", "trampoline", "--netns", f"/run/netns/{NS}"],
    "eptrace tracepoint": [EPTRACE, "--json", "--backend", "tracepoint", "--netns", f"/run/netns/{NS}"],
    "bindsnoop": ["/usr/sbin/bindsnoop", "-x"],
    "tcpconnect": ["/usr/sbin/tcpconnect"],
    "tcplife": ["/usr/sbin/tcplife", "-w"],
}
# Rows: which facts of the workload, by a predicate on them.
ROWS = [
    ("TCP connect", lambda f: f["kind"] == "alloc" and f["proto"] == "tcp" and f["via"] == "connect"),
    ("TCP bind(0)", lambda f: f["kind"] == "alloc" and f["proto"] == "tcp" and f["via"] == "bind"),
    ("TCP listen", lambda f: f["kind"] == "alloc" and f["proto"] == "tcp" and f["via"] == "listen"),
    ("UDP bind(0)", lambda f: f["kind"] == "alloc" and f["proto"] == "udp" and f["via"] == "bind"),
    ("UDP connect autobind", lambda f: f["kind"] == "alloc" and f["proto"] == "udp" and f["via"] == "connect"),
    ("UDP send autobind", lambda f: f["kind"] == "alloc" and f["proto"] == "udp" and f["via"] == "sendmsg"),
    ("failures (errno)", lambda f: f["kind"] == "fail"),
    ("TCP releases", lambda f: f["kind"] == "release" and f["proto"] == "tcp"),
    ("UDP releases", lambda f: f["kind"] == "release" and f["proto"] == "udp"),
]


def wait_attached(proc, timeout=60):
    """Until the process holds BPF links or programs and no more appear for 0.5 s."""
    pid = proc.pid
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited: {proc.stderr.read()}")
        n = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                n += "bpf" in os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                pass
        if n != last:
            last, since = n, time.monotonic()
        elif n and time.monotonic() - since > 0.5:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{proc.args[0]} did not attach")


def facts_with_releases(lines):
    """The workload's facts, plus one release fact per assignment it ended."""
    facts = [json.loads(x) for x in lines if x.startswith("{")]
    rel = [dict(f, kind="release") for f in facts if f["kind"] == "alloc" and f.get("release")]
    return facts + rel


def run_one(name, tmp):
    out = open(os.path.join(tmp, name.replace(" ", "_")), "w+")
    proc = subprocess.Popen(TRACERS[name], stdout=out, stderr=subprocess.PIPE, text=True)
    try:
        wait_attached(proc)
        truth = subprocess.run(["ip", "netns", "exec", NS, WORKLOAD, "all"], check=True,
                               capture_output=True, text=True, timeout=300).stdout.splitlines()
        # the namespace's exit ends its TIME_WAIT sockets: releases everyone can see
        subprocess.run(["ip", "netns", "del", NS], check=True)
        time.sleep(2)  # peers have no end marker to wait for; eptrace drains at SIGINT
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    out.seek(0)
    return facts_with_releases(truth), out.read()


def seen_eptrace(text, f):
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        e = json.loads(line)
        if e.get("event") == f["kind"] and e.get("proto") == f["proto"] and \
                e.get("pid") == f["pid"] and (f["kind"] == "fail" or e.get("lport") == f["lport"]) and \
                (f["kind"] != "fail" or e.get("errno") == f["errno"]):
            return True
    return False


def seen_peer(name, text, f):
    rows = [line.split() for line in text.splitlines() if line.strip()]
    pid = str(f["pid"])
    if name == "bindsnoop":
        # PID COMM RET PROTO OPTS IF PORT ADDR
        for r in rows:
            if len(r) >= 8 and r[0] == pid and r[3] == f["proto"].upper():
                if f["kind"] == "alloc" and f["via"] == "bind" and r[2] == "0" and r[6] == str(f["lport"]):
                    return True
                if f["kind"] == "fail" and f["via"] == "bind" and r[2] != "0":
                    return True
        return False
    if name == "tcpconnect":
        # PID COMM IP SADDR DADDR DPORT: the connect, without its local port
        return f["kind"] == "alloc" and f["proto"] == "tcp" and f["via"] == "connect" and \
            any(r[0] == pid for r in rows if len(r) >= 6)
    if name == "tcplife":
        # PID COMM LADDR LPORT RADDR RPORT TX_KB RX_KB MS, at the close
        return f["proto"] == "tcp" and f["kind"] in ("alloc", "release") and \
            any(r[0] == pid and r[3] == str(f["lport"]) for r in rows if len(r) >= 9)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--tracers", default=",".join(TRACERS))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="eptrace-peers-")
    counts = {}
    for name in a.tracers.split(","):
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        subprocess.run(["ip", "netns", "add", NS], check=True)
        subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
        facts, text = run_one(name, tmp)
        seen = (lambda f: seen_eptrace(text, f)) if name.startswith("eptrace") else \
            (lambda f: seen_peer(name, text, f))
        counts[name] = {row: [sum(seen(f) for f in facts if pred(f)),
                              sum(1 for f in facts if pred(f))] for row, pred in ROWS}
    if a.json:
        print(json.dumps(counts))
        return
    names = list(counts)
    print("| workload fact | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for row, _ in ROWS:
        print(f"| {row} | " + " | ".join("{}/{}".format(*counts[n][row]) for n in names) + " |")


if __name__ == "__main__":
    sys.exit(main())
