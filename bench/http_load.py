"""The HTTP workloads of make bench: nginx (Debian's nginx-light) answering
a fixed 200 from memory, loaded by wrk, both in the bench's namespace.
http_keepalive takes no port after its first connections: what it loses
under a tracer is the syscall tax and nothing else. http_close sends
`Connection: close`, so every request takes and frees a port."""
import math
import os
import re
import shutil
import subprocess
import time

PORT = 18080
CONNECTIONS = 8
# wrk counts whole seconds; one-second rounds of a mode spread by 0.7% in
# the -icount guest, three-second ones by 0.3% (bench/NOTES.md)
MIN_SECONDS = 3
WORKLOADS = {"http_keepalive": [], "http_close": ["-H", "Connection: close"]}

CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def available():
    return bool(shutil.which("nginx") and shutil.which("wrk"))


class Server:
    """nginx in netns ns, on CPU cpu (None: anywhere), until stop()."""

    def __init__(self, ns, tmp, cpu):
        self.tmp = os.path.join(tmp, "nginx")
        os.makedirs(self.tmp, exist_ok=True)
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(tmp=self.tmp, port=PORT))
        pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, *pin, "nginx", "-p", self.tmp,
                                      "-e", os.path.join(self.tmp, "nginx-early.log"),
                                      "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.ns = ns
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited: " + self.proc.stderr.read())
            probe = subprocess.run(["ip", "netns", "exec", ns, "wrk", "-t1", "-c1", "-d1s",
                                    f"http://127.0.0.1:{PORT}/"], capture_output=True, text=True)
            if probe.returncode == 0 and "Requests/sec" in probe.stdout \
                    and "Socket errors" not in probe.stdout:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("nginx did not answer within 10 s")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def load(ns, workload, seconds, cpu):
    """wrk against the server for seconds (whole ones, wrk takes no
    fractions; MIN_SECONDS at least): requests done, as the churn generator
    reports its operations."""
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    out = subprocess.run(["ip", "netns", "exec", ns, *pin, "wrk", "-t1", f"-c{CONNECTIONS}",
                          f"-d{max(MIN_SECONDS, math.ceil(seconds))}s", *WORKLOADS[workload], f"http://127.0.0.1:{PORT}/"],
                         check=True, capture_output=True, text=True).stdout
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if not m:
        raise RuntimeError("wrk printed no request count: " + out)
    ops = int(m.group(1))
    took = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"workload": workload, "procs": 1, "ops": ops,
            "errors": (sum(map(int, errors.groups())) if errors else 0)
            + (int(non2xx.group(1)) if non2xx else 0),
            "seconds": took, "ops_per_s": round(ops / took) if took else 0}
