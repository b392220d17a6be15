"""Bad input and missing privileges: a clear message and a non-zero exit."""
import subprocess

import pytest

from conftest import EPTRACE


@pytest.mark.parametrize("args,needle", [
    (["--pid", "abc"], "invalid --pid 'abc'"),
    (["--pid", "0"], "invalid --pid '0'"),
    (["-d", "-1"], "invalid --duration '-1'"),
    (["-d", "soon"], "invalid --duration 'soon'"),
    (["--netns", "/nonexistent/ns"], "invalid --netns '/nonexistent/ns'"),
    (["--netns", "/etc/hostname"], "is not a namespace file"),
    (["--cgroup", "/tmp"], "is not in a cgroup v2 hierarchy"),
    (["--comm", "a-name-longer-than-15"], "invalid --comm"),
    (["--bogus"], "unrecognized option"),
    (["--by", "pid"], "invalid --by 'pid'"),
    (["--top", "0"], "invalid --top '0'"),
    (["--threshold", "120"], "invalid --threshold '120'"),
    (["--interval", "0"], "invalid --interval '0'"),
    (["extra"], "unexpected argument 'extra'"),
    (["--pid", "4294967296"], "out of range"),
    (["-d", "nan"], "invalid --duration 'nan'"),
    (["-d", "1e400"], "invalid --duration '1e400'"),
    (["--interval", "1e12"], "invalid --interval '1e12'"),
    (["--netns", ""], "invalid --netns '': empty"),
    (["--netns", "0"], "invalid --netns '0'"),
    (["--cgroup", "/nonexistent"], "invalid --cgroup '/nonexistent'"),
    (["--cgroup", ""], "invalid --cgroup '': empty"),
    (["--ports", "0"], "invalid --ports '0'"),
    (["--ports", "100-50"], "LO is above HI"),
    (["--ports", "1-70000"], "invalid --ports '1-70000'"),
    (["--ports", "a-b"], "invalid --ports 'a-b'"),
    (["--prometheus", "0"], "invalid --prometheus '0'"),
    (["--prometheus", "300.1.1.1:80"], "invalid --prometheus '300.1.1.1:80'"),
    (["--prometheus", "127.0.0.1:"], "invalid --prometheus '127.0.0.1:'"),
    (["--prometheus", "[::1]:80"], "invalid --prometheus '[::1]:80'"),
    (["--top", "101"], "invalid --top '101'"),
    (["--threshold", "nan"], "invalid --threshold 'nan'"),
    (["--unit", "system.slice/x.service"], "invalid --unit 'system.slice/x.service'"),
    (["--unit", ""], "invalid --unit '': empty"),
    (["--unit", "a b.service"], "has a blank"),
    (["--container", "XYZ"], "invalid --container 'XYZ'"),
    (["--container", "a" * 65], "at most 64 digits"),
    (["--by", "pod"], "expected comm, netns, cgroup, unit or container"),
    (["--prometheus-by", "unit"], "go with --prometheus"),
    (["--prometheus", "9999", "--prometheus-by", "comm"], "invalid --prometheus-by 'comm'"),
    (["--prometheus", "9999", "--prometheus-max", "0"], "invalid --prometheus-max '0'"),
    (["--prometheus", "9999", "--prometheus-max", "1001"], "expected 1 to 1000"),
    (["report"], "report needs the FILE"),
    (["-o", "x.db"], "-o/--output only goes with 'record'"),
])
def test_bad_flags_exit_2(args, needle):
    r = subprocess.run([EPTRACE, *args], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, (args, r.returncode, r.stderr)
    assert needle in r.stderr


def test_help_has_examples():
    r = subprocess.run([EPTRACE, "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "EXAMPLES" in r.stdout and "--netns" in r.stdout


def test_unprivileged_run_names_what_is_missing():
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", "--bounding-set=-all", EPTRACE],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "missing capability CAP_BPF" in r.stderr
