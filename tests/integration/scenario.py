"""Socket scenarios run inside a test's network namespace. Each prints one JSON
line per fact it observed itself (getsockname, errno), for the tests to
compare with what eptrace reports. Usage: scenario.py NAME [ARGS]"""
import ctypes
import errno
import json
import os
import resource
import socket
import sys
import time

SERVER = ("127.0.0.1", 8080)


def fact(**kw):
    kw.setdefault("pid", os.getpid())
    print(json.dumps(kw), flush=True)


def listener(addr=SERVER, backlog=4096):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr)
    s.listen(backlog)
    return s


def fill(extra_tries):
    """Connect to one destination, keeping every socket, until the range is
    exhausted; then try a few more times."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    srv = listener()
    held, fails = [], 0
    while fails < extra_tries:
        c = socket.socket()
        try:
            c.connect(SERVER)
        except OSError as e:
            fact(kind="fail", errno=errno.errorcode[e.errno])
            c.close()
            fails += 1
            continue
        held.append(c)
        fact(kind="alloc", lport=c.getsockname()[1], n=len(held))
    # Let the test read the kernel's own view while the sockets are held.
    fact(kind="full", held=len(held))
    sys.stdin.readline()
    srv.close()


def tw_reuse(count):
    """Active closes to one destination: each connection ends in TIME_WAIT on
    the client side; with a tiny range the next ones must reuse those tuples."""
    srv = listener()
    done = 0
    deadline = time.monotonic() + 60
    while done < count and time.monotonic() < deadline:
        c = socket.socket()
        try:
            c.connect(SERVER)
        except OSError as e:
            c.close()
            if e.errno != errno.EADDRNOTAVAIL:
                raise
            time.sleep(0.02)  # the workload waits for reuse to become allowed
            continue
        a, _ = srv.accept()
        fact(kind="alloc", lport=c.getsockname()[1], ts=time.monotonic())
        c.close()  # client closes first: TIME_WAIT is on its side
        a.recv(1)
        a.close()
        done += 1
    srv.close()


def hold(port, kind):
    """Hold a TCP port (fixed, or from bind(0)) until stdin closes."""
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    if kind == "listen":
        s.listen()
    fact(kind="holding", lport=s.getsockname()[1])
    sys.stdin.readline()


def hold_conns(udp_end="close"):
    """A TCP connection (closed with a reset: no TIME_WAIT) and a connected UDP
    socket, held until a line on stdin, then closed (the UDP one disconnected,
    connect(AF_UNSPEC), with udp_end "disconnect")."""
    srv = listener()
    t = socket.socket()
    t.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    t.connect(SERVER)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.connect(("127.0.0.1", 53))
    fact(kind="holding", proto="tcp", lport=t.getsockname()[1])
    fact(kind="holding", proto="udp", lport=u.getsockname()[1])
    sys.stdin.readline()
    t.close()
    if udp_end == "disconnect":
        unspec = (ctypes.c_ubyte * 16)()  # sa_family 0: AF_UNSPEC
        if ctypes.CDLL(None, use_errno=True).connect(u.fileno(), unspec, 16):
            raise OSError(ctypes.get_errno(), "connect(AF_UNSPEC)")
        assert u.getsockname()[1] == 0
    u.close()
    srv.close()
    fact(kind="closed")
    sys.stdin.readline()


def bind(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError as e:
        fact(kind="fail", lport=port, errno=errno.errorcode[e.errno])
        return
    fact(kind="bound", lport=s.getsockname()[1])


def connect_many(count):
    srv = listener()
    for _ in range(count):
        c = socket.socket()
        c.connect(SERVER)
        fact(kind="alloc", lport=c.getsockname()[1])
        c.close()
    srv.close()


if __name__ == "__main__":
    name, args = sys.argv[1], [int(a) if a.isdigit() else a for a in sys.argv[2:]]
    {"fill": fill, "tw_reuse": tw_reuse, "hold": hold, "bind": bind,
     "connect_many": connect_many, "hold_conns": hold_conns}[name](*args)
