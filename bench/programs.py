"""Where a traced operation's kernel time goes: the run time of each of
eptrace's BPF programs per operation (bpf_stats), the throughput against
untraced, and the tracer's CPU per record, one workload and mode at a time.

usage: bench/programs.py [WORKLOADS [MODES]]   (comma lists; default
bind4,udp_connect4,tcp4 and hist; an HTTP workload starts nginx). In the
-icount guest, where run time counts instructions:
  tests/vm/vmtest.sh --icount -- /usr/bin/python3 bench/programs.py bind4
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_load  # noqa: E402
import run as R  # noqa: E402

SECONDS = 0.5


def programs(ids):
    return {p["id"]: p for p in json.loads(R.sh("bpftool", "-j", "prog", "show").stdout)
            if p["id"] in ids}


def switches(pid):
    """The tracer's voluntary (it waited) and involuntary context switches."""
    st = dict(line.split(":\t") for line in open(f"/proc/{pid}/status").read().splitlines()
              if ":\t" in line)
    return int(st["voluntary_ctxt_switches"]), int(st["nonvoluntary_ctxt_switches"])


def one(workload, mode, base, tmp):
    tr = R.Tracer(mode, tmp, None)
    try:
        ids = R.prog_ids(tr.proc.pid)
        st0, c0, w0 = R.kernel_stats(tr.proc.pid), R.cpu_split(tr.proc.pid), switches(tr.proc.pid)
        out = R.churn(workload, SECONDS, 1, None)
        st1, c1, w1 = R.kernel_stats(tr.proc.pid), R.cpu_split(tr.proc.pid), switches(tr.proc.pid)
        R.sh("sysctl", "-qw", "kernel.bpf_stats_enabled=1")
        try:
            p0 = programs(ids)
            ops = R.churn(workload, SECONDS, 1, None)["ops"]
            p1 = programs(ids)
        finally:
            R.sh("sysctl", "-qw", "kernel.bpf_stats_enabled=0")
    finally:
        tr.stop()
    # the floor's empty programs keep no counters
    recs = st1["submitted"] - st0["submitted"] if st0 and st1 else 0
    print(json.dumps({"workload": workload, "mode": mode,
                      "ratio": round(out["ops_per_s"] / base, 3),
                      "records_per_op": round(recs / max(out["ops"], 1), 2),
                      "tracer_ns_per_record": round((sum(c1) - sum(c0)) * 1e9 / max(recs, 1)),
                      "of_which_sys": round((c1[1] - c0[1]) * 1e9 / max(recs, 1)),
                      "records_per_wakeup": round(recs / max(w1[0] - w0[0], 1)),
                      "records_per_preemption": round(recs / max(w1[1] - w0[1], 1))}))
    rows = []
    for i, p in p1.items():
        runs = p.get("run_cnt", 0) - p0[i].get("run_cnt", 0)
        ns = p.get("run_time_ns", 0) - p0[i].get("run_time_ns", 0)
        if runs:
            rows.append((ns / ops, runs / ops, ns / runs, p.get("name", "?")))
    for per_op, runs, per_run, name in sorted(rows, reverse=True):
        print(f"  {per_op:8.0f} ns/op {runs:6.2f} runs/op {per_run:7.0f} ns/run  {name}")
    print(f"  {sum(r[0] for r in rows):8.0f} ns/op in all")


def main():
    workloads = (sys.argv[1] if len(sys.argv) > 1 else "bind4,udp_connect4,tcp4").split(",")
    modes = (sys.argv[2] if len(sys.argv) > 2 else "hist").split(",")
    R.setup_netns()
    tmp = tempfile.mkdtemp()
    server = http_load.Server(R.NS, tmp, None) \
        if any(w in http_load.WORKLOADS for w in workloads) else None
    try:
        for w in workloads:
            base = R.churn(w, SECONDS, 1, None)["ops_per_s"]
            for m in modes:
                one(w, m, base, tmp)
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
