"""SCTP, where the kernel has it (Debian's, as a module): traced by the
trampoline backend when the module is loaded before eptrace starts, against
what getsockname() said; the tracepoint backend says it does not see it."""
import json
import os
import subprocess

import pytest

from conftest import Tracer, wait_until

PY = "/usr/bin/python3"

WORK = """
import json, socket
S = socket.IPPROTO_SCTP
b = socket.socket(socket.AF_INET, socket.SOCK_STREAM, S); b.bind(('127.0.0.1', 0))
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM, S); l.listen()
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM, S)
c.connect(('127.0.0.1', l.getsockname()[1]))
q = socket.socket(socket.AF_INET6, socket.SOCK_SEQPACKET, S)
q.sendto(b'x', ('::1', l.getsockname()[1]))
f = socket.socket(socket.AF_INET, socket.SOCK_STREAM, S)
try:
    f.bind(('127.0.0.1', b.getsockname()[1])); err = 0
except OSError as e:
    err = e.errno
print(json.dumps({'bind': b.getsockname()[1], 'listen': l.getsockname()[1],
                  'connect': c.getsockname()[1], 'sendmsg': q.getsockname()[1], 'conflict': err}))
for s in (b, l, c, q, f):
    s.close()
"""


@pytest.fixture
def sctp_module():
    if subprocess.run(["modprobe", "sctp"], capture_output=True).returncode:
        pytest.skip("this kernel has no sctp module")


def test_sctp_assignments_and_releases(sctp_module, netns):
    tr = Tracer("--netns", netns.path)
    if tr.backend != "trampoline":
        assert tr.stop() == 0
        assert tr.stderr.count("SCTP is not traced") == 1, tr.stderr
        return
    ports = json.loads(netns.run(PY, "-c", WORK).stdout)
    assert ports["conflict"] == 98  # EADDRINUSE
    vias = ("bind", "listen", "connect", "sendmsg")
    wait_until(lambda: all(tr.of("release", proto="sctp", lport=ports[v]) for v in vias), 30,
               "the SCTP releases")
    assert tr.stop() == 0
    assert "SCTP is not traced" not in tr.stderr
    for via in vias:
        (a,) = tr.of("alloc", proto="sctp", lport=ports[via])
        assert a["via"] == via and a["comm"] == "python3" and a["netns"] == netns.inode, a
        assert a["latency_ns"] > 0, a
        (r,) = tr.of("release", proto="sctp", lport=ports[via])
        assert r["cookie"] == a["cookie"] and r["held_ns"] > 0
    (f,) = tr.of("fail", proto="sctp")
    assert f["errno"] == "EADDRINUSE" and f["via"] == "bind" and f["lport"] == ports["bind"]


def test_sctp_not_loaded_is_said_once(netns):
    # /sys/module/sctp: the module loaded (or built in); a kernel without
    # module support has no /proc/modules
    if os.path.exists("/sys/module/sctp"):
        pytest.skip("sctp is loaded here")
    tr = Tracer("--netns", netns.path)
    assert tr.stop() == 0
    assert tr.stderr.count("SCTP is not traced") == 1, tr.stderr
    assert not os.path.exists("/sys/module/sctp"), "eptrace loaded sctp"
