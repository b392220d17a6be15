#!/usr/bin/python3
"""make bench: churn workloads untraced and traced, interleaved over rounds in
one run, with bpftrace as the peer; then a soak with every core busy. Writes
the results to BENCHMARKS.md. Not a test: nothing fails on a slow machine.

make bench VM=1 runs it with --vm inside Debian 12's kernel under qemu
-icount (one vCPU, the guest clock counting instructions), with libbpf-tools
and a kfunc counter as further peers; its JSON lines come back to the host,
which renders them (--render LOG --section guest) into their own section of
BENCHMARKS.md, next to the host's."""
import argparse
import ctypes
import json
import mmap
import os
import platform
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import http_load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPTRACE = os.environ.get("EPTRACE_BIN") or os.path.join(ROOT, "build", "eptrace")
CHURN = os.path.join(ROOT, "build", "bench", "churn")
FLOOR = os.path.join(ROOT, "build", "bench", "floor-{}")
BT = os.path.join(ROOT, "bench", "count.bt")
BT_KFUNC = os.path.join(ROOT, "bench", "count_kfunc.bt")
NS = "eptrace-bench"
WORKLOADS = ["tcp4", "tcp6", "udp_connect4", "udp_connect6", "udp_sendto4", "udp_sendto6",
             "bind4", "bind6", "syscalls", "http_keepalive", "http_close"]
MODES = ["untraced", "floor", "hist", "json", "record", "bpftrace"]
# floor, hist and json take the backend auto picks (the floor: the tracepoint
# one); a _trampoline or _tracepoint suffix names it.
# In the guest: the peers users know (libbpf-tools, on kprobes) and the
# cheapest possible counter (fentry on the three searches).
VM_WORKLOADS = ["tcp4", "udp_connect4", "bind4", "syscalls", "http_keepalive", "http_close"]
VM_MODES = ["untraced", "floor_trampoline", "ceiling_trampoline", "hist", "json", "floor",
            "hist_tracepoint",
            "bpftrace", "bpftrace_kfunc", "bindsnoop", "tcpconnect", "tcplife"]
LIBBPF_TOOLS = ("bindsnoop", "tcpconnect", "tcplife")
PEERS = ("bpftrace", "bpftrace_kfunc") + LIBBPF_TOOLS
HZ = os.sysconf("SC_CLK_TCK")


def backend_of(mode):
    return mode.split("_", 1)[1] if "_" in mode else "tracepoint"


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def cpu_split(pid):
    """The process's user and system CPU seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) / HZ, int(fields[12]) / HZ


def cpu_seconds(pid):
    return sum(cpu_split(pid))


def peak_rss_mb(pid):
    m = re.search(r"VmHWM:\s+(\d+) kB", open(f"/proc/{pid}/status").read())
    return int(m.group(1)) / 1024 if m else 0


def cgroup2_root():
    for line in open("/proc/mounts"):
        f = line.split()
        if f[2] == "cgroup2":
            return f[1]
    return None


def attached_of(pid):
    """BPF programs a process has attached: to tracepoints and kprobes
    through perf events, and through BPF links (fentry)."""
    n = 0
    try:
        perf = json.loads(sh("bpftool", "-j", "perf", "show").stdout or "[]")
        n += sum(1 for e in perf if e.get("pid") == pid)
    except (subprocess.CalledProcessError, ValueError):
        pass
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            n += "link_type:\ttracing" in open(f"/proc/{pid}/fdinfo/{fd}").read()
        except OSError:
            continue
    return n


def prog_ids(pid):
    """IDs of the BPF programs a process holds open."""
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            m = re.search(r"^prog_id:\s+(\d+)", open(f"/proc/{pid}/fdinfo/{fd}").read(), re.M)
        except OSError:
            continue
        if m:
            ids.add(int(m.group(1)))
    return ids


def prog_run_ns(ids):
    """Summed run time of these programs (with kernel.bpf_stats_enabled)."""
    progs = json.loads(sh("bpftool", "-j", "prog", "show").stdout)
    return sum(p.get("run_time_ns", 0) for p in progs if p["id"] in ids)


STAT_MAX = 5  # bpf/record.h: enum ep_stat
RECORD_IN_RING = 136  # a struct ep_record (128 bytes) behind the ring's 8-byte header
BPF_MAP_GET_FD_BY_ID = 14
SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine(), 321)
RINGBUF = 27  # BPF_MAP_TYPE_RINGBUF


def ring_records(pid):
    """Records a process's ring buffer has taken so far: the ring's producer
    position (its second page) over the room a record takes. None: no ring."""
    libc = ctypes.CDLL(None, use_errno=True)
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            info = open(f"/proc/{pid}/fdinfo/{fd}").read()
        except OSError:
            continue
        if not re.search(rf"^map_type:\s+{RINGBUF}$", info, re.M):
            continue
        attr = ctypes.create_string_buffer(struct.pack("III", int(
            re.search(r"^map_id:\s+(\d+)", info, re.M).group(1)), 0, 0), 12)
        mfd = libc.syscall(SYS_BPF, BPF_MAP_GET_FD_BY_ID, attr, 12)
        if mfd < 0:
            raise OSError(ctypes.get_errno(), "BPF_MAP_GET_FD_BY_ID")
        try:
            page = mmap.PAGESIZE
            with mmap.mmap(mfd, page, mmap.MAP_SHARED, mmap.PROT_READ, offset=page) as m:
                return struct.unpack_from("Q", m, 0)[0] // RECORD_IN_RING
        finally:
            os.close(mfd)
    return None


def kernel_stats(pid):
    """lost records of the running eptrace (its stats map) and the records
    its programs submitted (its ring: the programs count none)."""
    out = subprocess.run(["bpftool", "-j", "map", "dump", "name", "stats"], capture_output=True,
                         text=True).stdout
    try:
        entries = json.loads(out)
    except ValueError:
        return None
    tot = {}
    # one map: a list of elements; several maps of that name: a list of maps
    elements = [e for m in entries for e in m["elements"]] if entries and "elements" in \
        entries[0] else entries
    # a row of STAT_MAX counters per CPU (bpf/lib/maps.bpf.h); builds before
    # it kept them in a per-CPU map
    for e in elements:
        f = e["formatted"]
        v = f["value"] if "value" in f else sum(c["value"] for c in f["values"])
        tot[f["key"] % STAT_MAX] = tot.get(f["key"] % STAT_MAX, 0) + v
    return {"lost": tot.get(0, 0), "submitted": ring_records(pid)}


class Tracer:
    def __init__(self, mode, tmp, pin=None):
        self.mode = mode
        if mode in ("bpftrace", "bpftrace_kfunc"):
            argv = ["bpftrace", BT if mode == "bpftrace" else BT_KFUNC]
        elif mode in LIBBPF_TOOLS:
            argv = [f"/usr/sbin/{mode}"]
        elif mode.startswith("floor"):
            argv = [FLOOR.format(backend_of(mode)), cgroup2_root()]
        elif mode == "ceiling_trampoline":
            argv = [FLOOR.format("trampoline-ceiling"), cgroup2_root()]
        elif mode.startswith(("hist", "json")):
            argv = [EPTRACE, "--" + mode.split("_")[0], "--netns", f"/run/netns/{NS}"]
            if "_" in mode:
                argv += ["--backend", backend_of(mode)]
        else:
            self.db = os.path.join(tmp, f"rec-{time.monotonic_ns()}.db")
            argv = [EPTRACE, "record", "-o", self.db, "--netns", f"/run/netns/{NS}"]
        if pin is not None:
            argv = ["taskset", "-c", str(pin)] + argv
        t0 = time.monotonic()
        peer = mode in PEERS
        # libbpf-tools print a line per event: to a file, fully buffered, as
        # eptrace --json writes to /dev/null (no reader taking the CPU)
        out = open(os.path.join(tmp, f"{mode}.out"), "w") if mode in LIBBPF_TOOLS else \
            subprocess.PIPE if peer else subprocess.DEVNULL
        self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, text=True)
        if mode in LIBBPF_TOOLS:
            out.close()
            self.wait_attached()
            self.startup = time.monotonic() - t0
            return
        stream = self.proc.stdout if peer else self.proc.stderr
        said = []
        # notices (a kernel feature missing, say) may come before the start
        while not said or not re.search(r"Attach|Tracing", said[-1]):
            line = stream.readline()
            if not line:
                raise RuntimeError(f"{mode} did not start: {''.join(said)!r} "
                                   f"{self.proc.stderr.read()}")
            said.append(line)
        m = re.search(r"Attaching (\d+)", said[-1])
        if peer and m:
            # bpftrace 0.17 says "Attaching N probes..." before it attaches
            # them (and may lose a SIGINT that comes meanwhile): wait for them.
            want = int(m.group(1))
            deadline = time.monotonic() + 60
            while attached_of(self.proc.pid) < want:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{mode} did not attach its {want} probes")
                time.sleep(0.01)
        self.startup = time.monotonic() - t0

    def wait_attached(self, timeout=60):
        """Until its probes are attached: some, and no more for 0.5 s (their
        header, which comes after, sits in a full stdio buffer)."""
        deadline = time.monotonic() + timeout
        last, since = 0, time.monotonic()
        while time.monotonic() < deadline and self.proc.poll() is None:
            n = attached_of(self.proc.pid)
            if n != last:
                last, since = n, time.monotonic()
            elif n and time.monotonic() - since >= 0.5:
                return
            time.sleep(0.05)
        err = self.stop()
        raise RuntimeError(f"{self.mode} did not attach: {err}")

    def stop(self, res=None):
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        try:
            # record may take a while to close; the others exit at once
            _, err = self.proc.communicate(timeout=600 if self.mode == "record" else 30)
        except subprocess.TimeoutExpired:
            # Never leave a tracer attached behind: it would weigh on every
            # later trial.
            self.proc.kill()
            _, err = self.proc.communicate()
            print(f"warning: {self.mode} ignored SIGINT and was killed", file=sys.stderr)
        if self.mode == "record":
            if res is not None:
                res["close_s"] = time.monotonic() - t0
                res["file_mb"] = os.path.getsize(self.db) / 1e6
            os.unlink(self.db)
        return err


def tracer_cpu(procs):
    """One generator gets CPU 0 and the tracer the last CPU, so that the
    scheduler's placement does not add its own noise; None: no pinning."""
    return os.cpu_count() - 1 if procs == 1 and os.cpu_count() > 1 else None


def churn(workload, seconds, procs, pin):
    if workload in http_load.WORKLOADS:
        return http_load.load(NS, workload, seconds, 0 if pin is not None else None)
    gen = ["taskset", "-c", "0"] if pin is not None else []
    return json.loads(sh("ip", "netns", "exec", NS, *gen, CHURN, workload, str(seconds),
                         str(procs)).stdout)


def kernel_cost(workload, seconds, tmp, mode="hist"):
    """Run time of eptrace's programs per operation, from the kernel's own
    accounting: far less moved than throughput by what else runs on the
    machine, though the hooks are host-wide and count others' calls too (the
    accounting adds two clock reads to each program run)."""
    pin = tracer_cpu(1)
    tr = Tracer(mode, tmp, pin)
    was = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    try:
        ids = prog_ids(tr.proc.pid)
        sh("sysctl", "-qw", "kernel.bpf_stats_enabled=1")
        t0 = prog_run_ns(ids)
        out = churn(workload, seconds, 1, pin)
        t1 = prog_run_ns(ids)
    finally:
        sh("sysctl", "-qw", f"kernel.bpf_stats_enabled={was}")
        tr.stop()
    return {"workload": workload, "mode": "kernel_cost" + mode[4:], "procs": 1,
            "ns_per_op": (t1 - t0) / max(out["ops"], 1)}


def trial(workload, mode, seconds, procs, tmp):
    pin = tracer_cpu(procs)
    tr = None if mode == "untraced" else Tracer(mode, tmp, pin)
    res = {"workload": workload, "mode": mode}
    try:
        if tr:
            cpu0 = cpu_seconds(tr.proc.pid)
            k0 = kernel_stats(tr.proc.pid) if mode not in PEERS and not mode.startswith(("floor", "ceiling")) else None
        res.update(churn(workload, seconds, procs, pin))
        if tr:
            # let the reader catch up before reading its counters
            time.sleep(0.3)
            res["cpu_s"] = cpu_seconds(tr.proc.pid) - cpu0
            res["rss_mb"] = peak_rss_mb(tr.proc.pid)
            res["startup_s"] = tr.startup
            if k0:
                k1 = kernel_stats(tr.proc.pid)
                res["events"] = k1["submitted"] - k0["submitted"]
                res["lost"] = k1["lost"]
    finally:
        if tr:
            tr.stop(res)
    return res


def setup_netns():
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    sh("ip", "netns", "add", NS)
    sh("ip", "-n", NS, "link", "set", "lo", "up")
    sh("ip", "netns", "exec", NS, "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000")


def machine():
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1)) // 1024
    return (f"{os.cpu_count()} x {cpu}, {mem // 1024} GiB, Linux {platform.release()}, "
            f"{platform.freedesktop_os_release().get('PRETTY_NAME', '?')}")


def table(results, rounds):
    present = {r["mode"] for r in results}
    modes = [m for m in VM_MODES + MODES if m in present and m != "untraced"]
    modes = list(dict.fromkeys(modes))
    cpu_modes = [m for m in ("hist", "json", "record", "hist_tracepoint") if m in present]
    kernel_cols = [k for k in ("kernel_cost", "kernel_cost_tracepoint") if k in present]
    lines = ["| workload | untraced ops/s | " + " | ".join(modes) + " | "
             + "".join(f"{'hist' + k[11:]} kernel us/op | " for k in kernel_cols)
             + "".join(f"{m} us/event | " for m in cpu_modes)
             + f"lost {'/'.join(cpu_modes)} |",
             "|---|---|" + "---|" * len(modes) + "---|" * (len(cpu_modes) + len(kernel_cols) + 1)]
    for w in list(dict.fromkeys(r["workload"] for r in results)):
        rs = [r for r in results if r["workload"] == w]
        ratios = {}
        for m in modes:
            per_round = []
            for rnd in range(rounds):
                base = [r for r in rs if r["mode"] == "untraced" and r.get("round") == rnd]
                got = [r for r in rs if r["mode"] == m and r.get("round") == rnd]
                if base and got:
                    per_round.append(got[0]["ops_per_s"] / base[0]["ops_per_s"])
            ratios[m] = (statistics.median(per_round), min(per_round), max(per_round)) \
                if per_round else None
        us = {}
        for m in cpu_modes:
            xs = [r["cpu_s"] / r["events"] * 1e6 for r in rs if r["mode"] == m and r.get("events")]
            us[m] = statistics.median(xs) if xs else None
        for k in kernel_cols:
            kc = [r["ns_per_op"] / 1000 for r in rs if r["mode"] == k]
            us[k] = statistics.median(kc) if kc else None
        base = statistics.median(r["ops_per_s"] for r in rs if r["mode"] == "untraced")
        lost = "/".join(str(sum(r.get("lost", 0) for r in rs if r["mode"] == m))
                        for m in cpu_modes)
        fmt = lambda x, f: "-" if x is None else f.format(x)
        # median, and the spread over the rounds: the machine is noisy
        rfmt = lambda r: "-" if r is None else f"{r[0]:.3f} ({r[1]:.2f}-{r[2]:.2f})"
        lines.append(f"| {w} | {base:,.0f} | " + " | ".join(rfmt(ratios[m]) for m in modes)
                     + " | " + " | ".join(fmt(us[m], "{:.2f}") for m in kernel_cols + cpu_modes)
                     + f" | {lost} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vm", action="store_true",
                    help="inside the -icount guest (make bench VM=1): its peers and defaults")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--soak", type=float, help="seconds, 0 to skip")
    ap.add_argument("--workloads")
    ap.add_argument("--modes")
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--log", help="also append the JSON lines to this file")
    ap.add_argument("--no-write", action="store_true", help="leave --out alone")
    ap.add_argument("--render", metavar="LOG",
                    help="only rewrite --out from the JSON lines of an earlier run")
    ap.add_argument("--section", choices=("host", "guest"),
                    help="the part of --out to rewrite (default: guest with --vm, else host)")
    a = ap.parse_args()
    # Under -icount a run repeats to about 1%: fewer, shorter rounds do.
    defaults = dict(rounds=2, seconds=0.5, soak=0, workloads=VM_WORKLOADS, modes=VM_MODES) \
        if a.vm else dict(rounds=5, seconds=2, soak=60, workloads=WORKLOADS, modes=MODES)
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, ",".join(v) if isinstance(v, list) else v)
    a.section = a.section or ("guest" if a.vm else "host")
    workloads = a.workloads.split(",")
    modes = a.modes.split(",")
    if "floor" in modes and not a.render and not cgroup2_root():
        print("no cgroup v2 mounted: the tracepoint floor (cgroup hooks among them) is left out",
              file=sys.stderr)
        modes.remove("floor")
    results, soak = [], []
    log = open(a.log, "a") if a.log else None

    def emit(r):
        print(json.dumps(r), flush=True)
        if log:
            log.write(json.dumps(r) + "\n")
            log.flush()
    if a.render:
        info = {}
        for line in open(a.render):
            if line.startswith("{"):
                r = json.loads(line)
                if "machine" in r:
                    info = r
                    continue
                (soak if r["procs"] > 1 else results).append(r)
        a.rounds = 1 + max(r.get("round", 0) for r in results)
        a.seconds = info.get("seconds", a.seconds)
        write(a, results, soak, info.get("machine"))
        return
    emit({"machine": machine(), "seconds": a.seconds, "rounds": a.rounds})
    setup_netns()
    tmp = tempfile.mkdtemp(prefix="eptrace-bench-")
    server = None
    if any(w in http_load.WORKLOADS for w in workloads):
        if http_load.available():
            # on the generators' CPU, as the churn generator's own work is
            server = http_load.Server(NS, tmp, 0 if tracer_cpu(1) is not None else None)
        else:
            print("nginx or wrk missing (scripts/setup.sh --bench): the HTTP workloads are "
                  "left out", file=sys.stderr)
            workloads = [w for w in workloads if w not in http_load.WORKLOADS]
    try:
        for rnd in range(a.rounds):
            for i, w in enumerate(workloads):
                # rotate the order so that no mode always runs first
                k = (rnd + i) % len(modes)
                order = modes[k:] + modes[:k]
                for m in order:
                    r = trial(w, m, a.seconds, 1, tmp)
                    r["round"] = rnd
                    results.append(r)
                    emit(r)
        for m in [m for m in ("hist", "hist_tracepoint") if m in modes]:
            for w in workloads:
                r = kernel_cost(w, a.seconds, tmp, m)
                results.append(r)
                emit(r)
        if a.soak:
            for w in ("tcp4", "udp_connect4"):
                for m in [m for m in ("hist", "json", "record") if m in modes]:
                    r = trial(w, m, a.soak, os.cpu_count(), tmp)
                    soak.append(r)
                    emit(r)
    finally:
        if server:
            server.stop()
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    if not a.no_write:
        write(a, results, soak, machine())


SECTION = "<!-- {} section: written by make bench{} -->"
TITLES = {"host": ("## On the development machine", ""),
          "guest": ("## In the -icount guest", " VM=1")}


def section_text(a, results, soak, mach):
    startup = [r["startup_s"] for r in results
               if r.get("startup_s") and r["mode"] in ("hist", "json", "record")]
    rss = max([r["rss_mb"] for r in results + soak
               if r.get("rss_mb") and r["mode"] in ("hist", "json", "record")], default=0)
    title, _ = TITLES[a.section]
    guest = a.section == "guest"
    text = [f"{title}\n\nMachine: {mach}.\n",
            f"`make bench{TITLES[a.section][1]}` ({a.rounds} rounds of {a.seconds:g} s per "
            "workload and mode, one generator process, modes interleaved; ratios are medians of "
            "traced/untraced throughput within a round, with their range over the rounds in "
            "brackets; `floor` and `floor_trampoline` are the tracepoint and the trampoline "
            "backend's attach points with programs that return at once (bench/floor.c): what "
            "the hooks alone cost here, the best any tracer on them could do; "
            + ("`ceiling_trampoline` the trampoline floor with a bare record per assignment and "
               "release of the churn loops, read every 50 ms and kept by cookie until the "
               "release (bench/ceiling.bpf.h): the best any tracer reporting each event could "
               "do; " if any(r["mode"] == "ceiling_trampoline" for r in results) else "")
            + "`hist` and `json` "
            "run the backend eptrace picks by itself (trampoline where the kernel allows it), "
            "`hist_tracepoint` the other; `kernel us/op` is the run time of eptrace's programs "
            "per operation in `--hist` mode, from the kernel's bpf_stats (it includes the "
            "accounting's own clock reads; the syscall tracepoints' slow path is not in it); "
            "the `syscalls` workload takes no port (a read of /dev/zero and a write to "
            "/dev/null per op): what every other process pays; `http_keepalive` is nginx "
            "answering wrk over 8 kept-alive connections (one op per request, no port "
            "taken: anything above the syscall tax is waste), `http_close` the same with "
            "`Connection: close` (a port taken and freed per request), timed by wrk over "
            f"{http_load.MIN_SECONDS} s at least; "
            "CPU is the tracer's user+sys time per kernel record).\n"
            + ("\nIn the guest (qemu `-icount shift=0,sleep=off`, one vCPU) a guest second is "
               "10^9 executed instructions, so ratios count instructions and the tracer's "
               "userspace shares the workload's CPU: peers are the bpftrace counter on "
               "tracepoints (`bpftrace`), a bpftrace counter on fentry of the three port "
               "searches (`bpftrace_kfunc`, bench/count_kfunc.bt) and libbpf-tools' "
               "`bindsnoop`, `tcpconnect` and `tcplife` printing to a file. A peer's ratio says what it costs, not whether it sees the "
               "workload's events: bindsnoop sees only bind(), tcpconnect and tcplife only "
               "TCP.\n" if guest else ""),
            table(results, a.rounds), "",
            # the guest's clock leaps over idle time (sleep=off): no start times there
            (f"Exec to start: median {statistics.median(startup):.3f} s, max {max(startup):.3f} s. "
             if startup and not guest else "") + (f"Peak RSS over the whole run: {rss:.1f} MB.\n"
                                                  if rss else "")]
    if soak:
        text.append(f"Soak, one generator per core ({os.cpu_count()}), {a.soak:g} s each:\n")
        text.append("| workload | mode | ops/s | events | lost | tracer us/event | peak RSS MB "
                    "| close s | file MB |")
        text.append("|---|---|---|---|---|---|---|---|---|")
        for r in soak:
            close = f"{r['close_s']:.1f} | {r['file_mb']:,.0f}" if "close_s" in r else "- | -"
            text.append(f"| {r['workload']} | {r['mode']} | {r['ops_per_s']:,.0f} | "
                        f"{r.get('events', 0):,} | {r.get('lost', '-')} | "
                        f"{r['cpu_s'] / max(r.get('events', 1), 1) * 1e6:.2f} | {r['rss_mb']:.1f} "
                        f"| {close} |")
        text.append("\nFor `record`, tracer CPU is counted until the workload ends; `close s` is "
                    "the time from SIGINT to exit, which includes filling the readable `events` "
                    "table for what the writer could only store as chunks during the churn.\n")
    return "\n".join(text)


def old_section(path, name):
    """The text of one section of an earlier BENCHMARKS.md, or None."""
    try:
        old = open(path).read()
    except OSError:
        return None
    begin, end = SECTION.format(name, TITLES[name][1]), f"<!-- end of {name} section -->"
    if begin in old and end in old:
        return old.split(begin, 1)[1].split(end, 1)[0].strip("\n")
    return None


def write(a, results, soak, mach):
    """Rewrite this run's section of --out and keep the other one."""
    parts = ["# Benchmarks\n"]
    for name in ("host", "guest"):
        body = section_text(a, results, soak, mach) if name == a.section \
            else old_section(a.out, name)
        if body is None:
            body = f"{TITLES[name][0]}\n\nNot run yet: `make bench{TITLES[name][1]}`.\n"
        parts += [SECTION.format(name, TITLES[name][1]), body,
                  f"<!-- end of {name} section -->\n"]
    notes = os.path.join(ROOT, "bench", "NOTES.md")
    if os.path.exists(notes):
        parts.append(open(notes).read())
    open(a.out, "w").write("\n".join(parts) + "\n")
    print("\n".join(parts))


if __name__ == "__main__":
    main()
