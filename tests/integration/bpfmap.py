"""The bpf() syscall from Python, for tests that read or fill a map of the
tracer in bulk: bpftool's JSON of the socket table's 262,144 slots takes far
too long."""
import ctypes
import os
import platform

NR_BPF = {"x86_64": 321, "aarch64": 280}[platform.machine()]
MAP_LOOKUP_BATCH, MAP_UPDATE_BATCH, MAP_GET_FD_BY_ID = 24, 26, 14
CHUNK = 8192
ENOENT = 2

_libc = ctypes.CDLL(None, use_errno=True)


class _Batch(ctypes.Structure):
    _fields_ = [("in_batch", ctypes.c_uint64), ("out_batch", ctypes.c_uint64),
                ("keys", ctypes.c_uint64), ("values", ctypes.c_uint64),
                ("count", ctypes.c_uint32), ("map_fd", ctypes.c_uint32),
                ("elem_flags", ctypes.c_uint64), ("flags", ctypes.c_uint64)]


def _bpf(cmd, attr):
    rc = _libc.syscall(NR_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    return 0 if rc >= 0 else ctypes.get_errno(), rc


class ArrayMap:
    """An array map of the running tracer, by id; use as a context manager."""

    def __init__(self, map_id, value_size, max_entries):
        by_id = (ctypes.c_uint32 * 4)(map_id, 0, 0, 0)
        err, fd = _bpf(MAP_GET_FD_BY_ID, by_id)
        if err:
            raise OSError(err, f"BPF_MAP_GET_FD_BY_ID {map_id}")
        self.fd, self.value_size, self.max_entries = fd, value_size, max_entries

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.close(self.fd)

    def values(self):
        """Every slot's value, in index order."""
        keys = (ctypes.c_uint32 * CHUNK)()
        buf = ctypes.create_string_buffer(CHUNK * self.value_size)
        prev, out, parts = ctypes.c_uint32(0), ctypes.c_uint32(0), []
        while True:
            a = _Batch(ctypes.addressof(prev) if parts else 0, ctypes.addressof(out),
                       ctypes.addressof(keys), ctypes.addressof(buf), CHUNK, self.fd, 0, 0)
            err, _ = _bpf(MAP_LOOKUP_BATCH, a)
            if err and err != ENOENT:
                raise OSError(err, "BPF_MAP_LOOKUP_BATCH")
            parts.append(buf.raw[:a.count * self.value_size])
            if err or sum(len(p) for p in parts) >= self.max_entries * self.value_size:
                return b"".join(parts)
            prev.value = out.value

    def write(self, first, values):
        """Slots first, first + 1, ... set to the concatenated values."""
        n = len(values) // self.value_size
        for at in range(0, n, CHUNK):
            count = min(CHUNK, n - at)
            keys = (ctypes.c_uint32 * count)(*range(first + at, first + at + count))
            buf = ctypes.create_string_buffer(
                values[at * self.value_size:(at + count) * self.value_size])
            a = _Batch(0, 0, ctypes.addressof(keys), ctypes.addressof(buf), count, self.fd, 0, 0)
            err, _ = _bpf(MAP_UPDATE_BATCH, a)
            if err:
                raise OSError(err, "BPF_MAP_UPDATE_BATCH")
