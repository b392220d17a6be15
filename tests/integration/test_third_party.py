"""A workload we did not write: socat clients, each logging the local address
its own getsockname() returned, must all be reported, and nothing else,
and the UDP ones released to them."""
import re
import subprocess

from conftest import wait_until

LOCAL = re.compile(r"socat\[(\d+)\] N successfully connected from local address "
                   r"AF=2 127\.0\.0\.1:(\d+)")


def test_socat_clients_match_their_own_getsockname(netns, tracer_factory):
    server = subprocess.Popen(["ip", "netns", "exec", netns.name, "socat", "-u",
                               "TCP-LISTEN:2000,fork,reuseaddr", "OPEN:/dev/null"])
    userver = subprocess.Popen(["ip", "netns", "exec", netns.name, "socat", "-u",
                                "UDP-RECV:2002", "OPEN:/dev/null"])
    try:
        wait_until(lambda: ":2000 " in netns.run("ss", "-Htln").stdout
                   and ":2002 " in netns.run("ss", "-Huln").stdout, 10, "socat listening")
        tr = tracer_factory("--netns", netns.path)
        seen = []
        for i in range(10):
            for target, proto in (("TCP:127.0.0.1:2000", "tcp"), ("UDP:127.0.0.1:2002", "udp")):
                r = netns.run("socat", "-d", "-d", "-", target, input="x\n")
                (m,) = LOCAL.findall(r.stderr)
                seen.append((proto, int(m[0]), int(m[1])))
        wait_until(lambda: len(tr.of("alloc")) >= len(seen), 20, "socat's assignments")
        # UDP ports come back at close; a TCP client that closed first holds
        # its port in TIME_WAIT for a minute, past the test.
        wait_until(lambda: len(tr.of("release", proto="udp")) >= 10, 20, "socat's UDP releases")
        assert tr.stop() == 0
        for a in tr.of("alloc", proto="udp"):
            (r,) = tr.of("release", cookie=a["cookie"])
            assert (r["pid"], r["lport"], r["reason"]) == (a["pid"], a["lport"], "close"), r
        got = sorted((e["proto"], e["pid"], e["lport"]) for e in tr.of("alloc"))
        assert got == sorted(seen)
        assert all(e["comm"] == "socat" and e["via"] == "connect" for e in tr.of("alloc"))
        assert tr.summary()["lost"] == 0
    finally:
        for p in (server, userver):
            p.kill()
            p.wait()
