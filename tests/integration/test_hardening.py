"""What the running tracer keeps: capabilities, listening addresses."""
import os

from conftest import free_port, wait_until

# CAP_DAC_OVERRIDE (1), CAP_DAC_READ_SEARCH (2), CAP_SYS_PTRACE (19), CAP_SYS_ADMIN (21)
KEPT = (1 << 1) | (1 << 2) | (1 << 19) | (1 << 21)


def status(pid, tid):
    out = {}
    for line in open(f"/proc/{pid}/task/{tid}/status"):
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def test_capabilities_are_dropped_in_every_thread(netns, tracer_factory, tmp_path):
    tr = tracer_factory("record", "-o", str(tmp_path / "caps.db"), "--netns", netns.path,
                        "--prometheus", str(free_port()))
    pid = tr.proc.pid
    # main, the exporter's and the recorder's threads
    wait_until(lambda: len(os.listdir(f"/proc/{pid}/task")) >= 3, 10, "the threads")
    for tid in os.listdir(f"/proc/{pid}/task"):
        st = status(pid, tid)
        for k in ("CapEff", "CapPrm", "CapBnd"):
            assert int(st[k], 16) == KEPT, (tid, k, st[k])
        assert int(st["CapInh"], 16) == 0 and int(st["CapAmb"], 16) == 0
        assert st["NoNewPrivs"] == "1"
    assert tr.stop() == 0


def listening(port):
    """Local addresses listening on TCP port, from /proc/net/tcp{,6}."""
    found = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(path).readlines()[1:]:
            f = line.split()
            addr, p = f[1].split(":")
            if int(p, 16) == port and f[3] == "0A":
                found.append(addr)
    return found


def test_exporter_listens_on_loopback_unless_told(tracer_factory):
    port = free_port()
    tr = tracer_factory("--prometheus", str(port))
    assert listening(port) == ["0100007F"]  # 127.0.0.1, little-endian hex
    assert tr.stop() == 0
    port = free_port()
    tr = tracer_factory("--prometheus", f"0.0.0.0:{port}")
    assert listening(port) == ["00000000"]
    assert tr.stop() == 0
