"""The exporter: valid exposition (promtool), a real Prometheus server scraping
it, bounded labels, and a stuck scraper that does not stall the tracer."""
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

from conftest import (EPTRACE, ROOT, SCENARIO, facts, free_port, read_until, wait_until,
                      wait_banner)

PY = "/usr/bin/python3"


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def metric(text, name, **labels):
    total = None
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total = (total or 0) + float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_pass_promtool_and_keep_labels_bounded(netns, tracer_factory):
    port = free_port()
    tr = tracer_factory("--netns", netns.path, "--prometheus", str(port))
    truth = facts(netns.run(PY, SCENARIO, "connect_many", "100").stdout)
    wait_until(lambda: (metric(scrape(port), "eptrace_assignments_total", via="connect") or 0)
               >= len(truth), 20, "the counters to reach the workload")
    text = scrape(port)
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert metric(text, "eptrace_allocation_latency_seconds_count", via="connect") == 100
    assert metric(text, "eptrace_netns_port_range_size", netns=netns.inode, proto="tcp") == 28232
    assert metric(text, "eptrace_lost_events_total") == 0
    assert metric(text, "eptrace_up") == 1
    assert metric(text, "eptrace_info", backend=tr.backend) == 1
    for bad in ("pid=", "port=", "comm=", "cookie="):
        assert bad not in text
    assert tr.stop() == 0


def test_first_page_counts_the_sockets_from_before_the_start(netns, tracer_factory):
    """Once the banner is out the tracing is whole: the exporter's first page
    already counts the ports that sockets held before the start."""
    netns.sysctl("net.ipv4.ip_local_port_range", "40000 40015")
    proc = netns.popen(PY, SCENARIO, "fill", "1")
    try:
        read_until(proc, "full")
        port = free_port()
        tr = tracer_factory("--netns", netns.path, "--prometheus", str(port))
        wait_banner(tr.proc)
        text = scrape(port)  # once, at the banner: no waiting for a refresh
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert metric(text, "eptrace_netns_ports_in_use", netns=netns.inode, proto="tcp") == 16, text
    assert tr.stop() == 0


def test_prometheus_server_answers_p99(netns, tracer_factory, tmp_path):
    exp_port, prom_port = free_port(), free_port()
    tr = tracer_factory("--netns", netns.path, "--prometheus", f"127.0.0.1:{exp_port}", "--hist")
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: eptrace
    static_configs:
      - targets: ['127.0.0.1:{exp_port}']
""")
    prom = subprocess.Popen(["prometheus", f"--config.file={cfg}",
                             f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def query(q):
            url = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    res = json.load(r)["data"]["result"]
            except OSError:
                return None
            return float(res[0]["value"][1]) if res else None

        netns.run(PY, SCENARIO, "connect_many", "400")
        count = 'sum(eptrace_allocation_latency_seconds_count{via="connect"})'
        wait_until(lambda: query(count) == 400, 60, "Prometheus to scrape 400 connects")
        p99 = query('histogram_quantile(0.99, sum by (le) '
                    '(eptrace_allocation_latency_seconds_bucket{via="connect"}))')
    finally:
        prom.terminate()
        prom.wait(timeout=30)
    assert tr.stop() == 0
    (h,) = [e for e in tr.of("hist") if e["metric"] == "latency" and e["via"] == "connect"]
    assert h["count"] == 400
    ours = h["p99_ns"] / 1e9
    # Prometheus interpolates inside a bucket; the tracer's p99 and its answer
    # must fall in the same one (bounds: two per octave).
    bounds = [b / 1e9 for k in range(10, 38) for b in (1 << k, 3 << (k - 1))]
    lo = max([0.0] + [b for b in bounds if b < ours])
    hi = min(b for b in bounds if b >= ours)
    assert lo <= p99 <= hi, (p99, ours, lo, hi)


def test_stuck_scraper_does_not_stall_the_tracer(netns, tracer_factory):
    port = free_port()
    tr = tracer_factory("--netns", netns.path, "--prometheus", str(port))
    # Connections that send half a request and never read.
    stuck = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        stuck.append(s)
    try:
        t0 = time.monotonic()
        netns.run(PY, SCENARIO, "connect_many", "300")
        wait_until(lambda: len(tr.of("alloc")) >= 300, 10, "events while scrapers hang")
        assert time.monotonic() - t0 < 10
        # the page is rendered at most once a second
        wait_until(lambda: (metric(scrape(port), "eptrace_assignments_total") or 0) >= 300, 10,
                   "a scrape that counts them")
    finally:
        for s in stuck:
            s.close()
    assert tr.stop() == 0 and tr.summary()["lost"] == 0


def test_exporter_with_record(netns, tmp_path):
    port, db = free_port(), str(tmp_path / "exp.db")
    proc = subprocess.Popen([EPTRACE, "record", "-o", db, "--netns", netns.path, "--prometheus",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_banner(proc)
    netns.run(PY, SCENARIO, "connect_many", "20")
    wait_until(lambda: metric(scrape(port), "eptrace_assignments_total") == 20, 20,
               "the exporter to count 20")
    proc.send_signal(2)
    assert proc.wait(timeout=30) == 0
    r = subprocess.run([EPTRACE, "report", db, "--json"], capture_output=True, text=True)
    assert len([e for e in facts(r.stdout) if e["event"] == "alloc"]) == 20


def test_bad_listen_address():
    for arg, needle in (("99999", "the port must be 1..65535"),
                        ("nohost:80", "expected [ADDR:]PORT")):
        r = subprocess.run([EPTRACE, "--prometheus", arg], capture_output=True, text=True)
        assert r.returncode == 2 and needle in r.stderr, r.stderr


def install(*args):
    """make install of the binary under test, never rebuilt here (a guest or a
    benchmark may be running the build directory's)."""
    out = os.path.dirname(os.path.abspath(EPTRACE))
    return subprocess.run(["make", "-s", "-o", f"{out}/eptrace", "install", f"OUT={out}",
                           *args], capture_output=True, text=True, cwd=ROOT)


def test_make_install_puts_binary_and_unit(tmp_path):
    root = str(tmp_path / "root")
    r = install(f"DESTDIR={root}")
    assert r.returncode == 0, r.stderr
    unit = open(f"{root}/etc/systemd/system/eptrace.service").read()
    assert "ExecStart=/usr/local/sbin/eptrace --prometheus 127.0.0.1:9435" in unit
    r = subprocess.run([f"{root}/usr/local/sbin/eptrace", "--help"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and "--prometheus" in r.stdout
    if shutil.which("systemd-analyze"):
        # A unit whose ExecStart exists here, so that systemd checks it all.
        units = tmp_path / "units"
        r = install(f"PREFIX={root}/opt", f"UNITDIR={units}")
        assert r.returncode == 0, r.stderr
        r = subprocess.run(["systemd-analyze", "verify", str(units / "eptrace.service")],
                           capture_output=True, text=True)
        assert r.returncode == 0 and "eptrace.service" not in r.stderr, r.stderr
