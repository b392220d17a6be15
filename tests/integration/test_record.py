"""Record and report: a replay prints what the live run printed; sqlite3 sees
the same events; damaged files get a clear error; interrupted recordings keep
what they committed."""
import os
import shutil
import signal
import sqlite3
import subprocess

import pytest

from conftest import EPTRACE, SCENARIO, WORKLOAD, facts, wait_until, wait_banner

PY = "/usr/bin/python3"


def report(path, *args):
    return subprocess.run([EPTRACE, "report", path, *args], capture_output=True, text=True,
                          timeout=120)


def churn(netns):
    """Ground truth: the full workload plus 200 loopback connects."""
    truth = facts(netns.run(WORKLOAD, "all").stdout)
    truth += facts(netns.run(PY, SCENARIO, "connect_many", "200").stdout)
    return truth


def test_report_prints_what_the_live_run_printed(netns, tracer_factory, tmp_path):
    db = str(tmp_path / "churn.db")
    tr = tracer_factory("record", "-o", db, "--netns", netns.path, "--interval", "0.1")
    truth = churn(netns)
    allocs = [f for f in truth if f["kind"] == "alloc"]
    wait_until(lambda: len(tr.of("alloc")) >= len(allocs), 20, "the workload's assignments")
    wait_until(lambda: len(tr.of("occupancy")) >= 2, 20, "two periodic reports")
    assert tr.stop() == 0
    with tr.lock:
        live = list(tr.events)
    r = report(db, "--json")
    assert r.returncode == 0, r.stderr
    replay_ev = facts(r.stdout)
    # Without --interval a report replays the recorded report times: the same
    # lines in the same order, occupancy reports included.
    assert replay_ev == live
    assert [e["event"] for e in live].count("occupancy") >= 2
    assert live[-1]["event"] == "summary"
    assert len([e for e in live if e["event"] == "alloc"]) == len(allocs)

    # sqlite3 agrees with the live stream.
    con = sqlite3.connect(db)
    rows = con.execute("SELECT lport, proto, pid, via FROM events "
                       "WHERE event='alloc' AND fixed=0 ORDER BY seq").fetchall()
    assert [(e["lport"], e["proto"], e["pid"], e["via"]) for e in live
            if e["event"] == "alloc"] == rows
    (fails,) = con.execute("SELECT count(*) FROM events WHERE event='fail'").fetchone()
    assert fails == len([e for e in live if e["event"] == "fail"])
    (n,) = con.execute("SELECT count(*) FROM events WHERE event='alloc' AND latency_ns IS NOT NULL"
                       " AND via='connect' AND proto='tcp' AND family=4").fetchone()
    (h,) = [e for e in live if e["event"] == "hist" and e["metric"] == "latency"
            and e["via"] == "connect" and e["proto"] == "tcp" and e["family"] == 4]
    assert n == h["count"]
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("4",)
    # which backend made it: in the meta table, and in the replayed start event above
    assert con.execute("SELECT value FROM meta WHERE key='backend'").fetchone() == (tr.backend,)
    # The readable table was filled from the chunks replay reads, all of them.
    assert con.execute("SELECT value FROM meta WHERE key='events_complete'").fetchone() == ("1",)
    assert (con.execute("SELECT count(*) FROM events").fetchone()
            == con.execute("SELECT sum(count) FROM event_chunks").fetchone())
    con.close()


def test_report_interval_on_the_events_clock(netns, tracer_factory, tmp_path):
    db = str(tmp_path / "interval.db")
    tr = tracer_factory("record", "-o", db, "--netns", netns.path)
    netns.run(PY, SCENARIO, "connect_many", "50")
    wait_until(lambda: len(tr.of("alloc")) >= 50, 20, "assignments")
    assert tr.stop() == 0
    live = [e for e in tr.events if e["event"] not in ("occupancy", "summary")]
    r = report(db, "--json", "--interval", "0.001")
    assert r.returncode == 0, r.stderr
    rep = facts(r.stdout)
    assert [e for e in rep if e["event"] not in ("occupancy", "summary")] == live
    assert [e["event"] for e in rep].count("occupancy") > 2


def test_report_views_and_filters(netns, tracer_factory, tmp_path):
    db = str(tmp_path / "views.db")
    tr = tracer_factory("record", "-o", db, "--netns", netns.path)
    truth = churn(netns)
    n_allocs = len([f for f in truth if f["kind"] == "alloc"])
    wait_until(lambda: len(tr.of("alloc")) >= n_allocs, 20, "assignments")
    assert tr.stop() == 0
    r = report(db, "--hist")
    assert r.returncode == 0, r.stderr
    assert "latency tcp/ipv4 connect" in r.stdout and "|*" in r.stdout
    r = report(db, "--collisions")
    assert r.returncode == 0 and "exhausted" in r.stdout
    r = report(db, "--occupancy")
    assert r.returncode == 0 and f"\n{netns.name} " in r.stdout
    child = [f for f in truth if f.get("comm") == "ep-child"][0]
    r = report(db, "--json", "-p", str(child["pid"]))
    got = [e for e in facts(r.stdout) if e["event"] == "alloc"]
    assert got and all(e["pid"] == child["pid"] for e in got)
    r = report(db, "--json", "-u")
    assert all(e["proto"] == "udp" for e in facts(r.stdout) if e["event"] == "alloc")


@pytest.fixture
def good_db(tmp_path, netns, tracer_factory):
    db = str(tmp_path / "good.db")
    tr = tracer_factory("record", "-o", db, "--netns", netns.path)
    netns.run(PY, SCENARIO, "connect_many", "500")
    wait_until(lambda: len(tr.of("alloc")) >= 500, 20, "assignments")
    assert tr.stop() == 0
    return db


# SQL that damages a copy of a good recording, by kind of damage.
DAMAGE_SQL = {
    "schema": "UPDATE meta SET value='99' WHERE key='schema_version';",
    "schema1": "UPDATE meta SET value='1' WHERE key='schema_version';",
    "badname": "INSERT INTO controls VALUES((SELECT max(last_seq) FROM event_chunks) + 100, "
               "'netns_name', 1, 4026531840, x'61006200');",
    "nulltype": """CREATE TABLE c2(seq INTEGER PRIMARY KEY, type TEXT,
                   mono_ns INTEGER NOT NULL, netns INTEGER, data BLOB);
                   INSERT INTO c2 SELECT * FROM controls; DROP TABLE controls;
                   ALTER TABLE c2 RENAME TO controls;
                   UPDATE controls SET type=NULL WHERE seq=(SELECT min(seq) FROM controls);""",
    "seqtie": "UPDATE controls SET seq=(SELECT min(first_seq) FROM event_chunks) "
              "WHERE seq=(SELECT max(seq) FROM controls);",
    "view": "DROP TABLE event_chunks; CREATE VIEW event_chunks AS "
            "SELECT 1 AS first_seq, 1 AS last_seq, 1 AS count, x'00' AS data;",
    # a cut inside its last record: a chunk may hold a single record (168
    # bytes), which a cut to a fixed length would leave whole
    "chunkcut": "UPDATE event_chunks SET data=substr(data, 1, length(data) - 100) "
                "WHERE first_seq=(SELECT max(first_seq) FROM event_chunks);",
    "chunkcount": "UPDATE event_chunks SET count=count+1;",
    "chunkorder": "UPDATE event_chunks SET data=substr(data, 169, 168) || substr(data, 1, 168) "
                  "|| substr(data, 337) WHERE first_seq=(SELECT min(first_seq) FROM event_chunks);",
    "timejump": "INSERT INTO controls VALUES((SELECT max(last_seq) FROM event_chunks) + 100, "
                "'tick', 4611686018427387904, 0, x'00');",
}


def damage(db, how, tmp_path):
    bad = str(tmp_path / f"{how}.db")
    data = open(db, "rb").read()
    if how == "truncated":
        data = data[:len(data) // 2]
    elif how == "zeroed":
        data = data[:8192] + b"\0" * 8192 + data[16384:]
    elif how == "text":
        data = b"hello, not a database\n" * 10
    elif how == "empty":
        data = b""
    open(bad, "wb").write(data)
    if how == "foreign":
        os.unlink(bad)
    sql = "CREATE TABLE t(x);" if how == "foreign" else DAMAGE_SQL.get(how)
    if sql:
        con = sqlite3.connect(bad)
        con.executescript(sql)
        con.close()
    return bad


@pytest.mark.parametrize("how,needle", [
    ("truncated", "truncated or corrupted"),
    ("zeroed", "truncated or corrupted"),
    ("text", "not an SQLite database"),
    ("empty", "empty file, not a recording"),
    ("schema", "schema version 99; this eptrace reads versions 2 to 4"),
    ("schema1", "schema version 1; this eptrace reads versions 2 to 4"),
    ("badname", "corrupted control row at seq"),
    ("foreign", "not an eptrace recording"),
    ("nulltype", "corrupted control row at seq"),
    ("seqtie", "an event and a control share a seq"),
    ("chunkcut", "corrupted event chunk at seq"),
    ("chunkcount", "corrupted event chunk at seq"),
    ("chunkorder", "corrupted event chunk at seq"),
    ("view", "not an eptrace recording"),
])
def test_damaged_files_get_a_clear_error(good_db, tmp_path, how, needle):
    assert os.path.getsize(good_db) > 16384
    bad = damage(good_db, how, tmp_path)
    r = report(bad, "--json")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert needle in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "Segmentation" not in r.stderr


SNAP_ENTRY, SNAP_ENTRY_V3 = 40, 32  # user/recording/layout.h


def downgrade(good_db, tmp_path, version):
    """A copy of the recording as an older eptrace wrote it: snapshot entries
    without the owner key (3 and older), no cgroup or netns_name rows (2)."""
    old = str(tmp_path / f"v{version}.db")
    shutil.copy(good_db, old)
    con = sqlite3.connect(old)
    snaps = con.execute("SELECT seq, data FROM controls WHERE type='snapshot' "
                        "AND length(data) > 0").fetchall()
    assert all(len(d) % SNAP_ENTRY == 0 for _, d in snaps)
    for seq, data in snaps:
        short = b"".join(data[i:i + SNAP_ENTRY_V3] for i in range(0, len(data), SNAP_ENTRY))
        con.execute("UPDATE controls SET data=? WHERE seq=?", (short, seq))
    con.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(version),))
    if version < 3:
        con.execute("DELETE FROM controls WHERE type IN ('cgroup', 'netns_name')")
    con.commit()
    con.close()
    return old


def test_version_3_files_still_replay(netns, tracer_factory, tmp_path):
    # what schema 3 wrote: snapshot holders without their cgroup
    holder = subprocess.Popen(["ip", "netns", "exec", netns.name, PY, "-c",
                               "import socket, sys\n"
                               "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                               "s.connect(('127.0.0.1', 53)); print(s.getsockname()[1])\n"
                               "sys.stdout.flush(); sys.stdin.read()\n"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(holder.stdout.readline())
    db = str(tmp_path / "held.db")
    tr = tracer_factory("record", "-o", db, "--netns", netns.path)

    def snapshots():
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute("SELECT count(*) FROM controls WHERE type='snapshot' "
                               "AND length(data) > 0").fetchone()[0]
    wait_until(snapshots, 20, "the held port in a stored snapshot")
    holder.stdin.close()
    holder.wait(timeout=30)
    wait_until(lambda: tr.of("release", lport=port), 20, "the release")
    assert tr.stop() == 0
    old, new = (report(f, "--json", "--occupancy", "-i", "0.001")
                for f in (downgrade(db, tmp_path, 3), db))
    assert old.returncode == 0, old.stderr

    def held(out):
        return [h["pid"] for e in facts(out) if e["event"] == "occupancy"
                for h in e["udp"]["top_holders"]]
    assert held(old.stdout) == held(new.stdout) and holder.pid in held(old.stdout)
    events = report(downgrade(db, tmp_path, 3), "--json").stdout
    rels = [e for e in facts(events) if e["event"] == "release" and e["lport"] == port]
    assert len(rels) == 1 and rels[0]["pid"] == holder.pid


def test_version_2_files_still_replay(good_db, tmp_path):
    # what schema 2 wrote: no cgroup or netns_name controls; names are null
    r = report(downgrade(good_db, tmp_path, 2), "--json")
    assert r.returncode == 0, r.stderr
    allocs = [e for e in facts(r.stdout) if e["event"] == "alloc"]
    assert allocs and all(e["cgroup"] is None and e["netns_name"] is None for e in allocs)
    new = [e for e in facts(report(good_db, "--json").stdout) if e["event"] == "alloc"]
    assert all(e["netns_name"] for e in new)


def test_a_clock_jump_does_not_hang_the_report(good_db, tmp_path):
    # A tick far in the future must not fill the gap with periodic reports:
    # the damaged file reports no more lines than the whole recording spans.
    good = report(good_db, "--json", "--interval", "0.001")
    bad = report(damage(good_db, "timejump", tmp_path), "--json", "--interval", "0.001")
    assert good.returncode == 0 and bad.returncode == 0, bad.stderr
    assert len(bad.stdout.splitlines()) <= len(good.stdout.splitlines()) + 2


def test_missing_file_and_existing_output(tmp_path):
    r = report(str(tmp_path / "nope.db"))
    assert r.returncode == 1 and "no such file" in r.stderr
    existing = tmp_path / "exists.db"
    existing.write_text("keep me")
    r = subprocess.run([EPTRACE, "record", "-o", str(existing), "-d", "1"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "File exists" in r.stderr
    assert existing.read_text() == "keep me"
    r = subprocess.run([EPTRACE, "record"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "record needs -o FILE" in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupted_recording_keeps_what_it_committed(netns, tmp_path, sig):
    db = str(tmp_path / "interrupted.db")
    proc = subprocess.Popen([EPTRACE, "record", "-o", db, "--netns", netns.path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_banner(proc)
    truth = facts(netns.run(PY, SCENARIO, "connect_many", "300").stdout)

    def committed():
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            (n,) = con.execute("SELECT count(*) FROM events WHERE event='alloc'").fetchone()
            con.close()
            return n
        except sqlite3.Error:
            return 0
    wait_until(lambda: committed() >= 300, 20, "the batch to be committed")
    proc.send_signal(sig)
    rc = proc.wait(timeout=30)
    assert rc == (0 if sig != signal.SIGKILL else -signal.SIGKILL)
    r = report(db, "--json")
    assert r.returncode == 0, r.stderr
    got = sorted(e["lport"] for e in facts(r.stdout) if e["event"] == "alloc")
    assert got == sorted(f["lport"] for f in truth)
    if sig == signal.SIGKILL:
        assert "not closed cleanly" in r.stderr
    else:
        assert not os.path.exists(db + "-wal") or os.path.getsize(db + "-wal") == 0


def test_full_disk_stops_the_recording_and_keeps_the_rest(netns, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mnt)], check=True)
    try:
        db = str(mnt / "full.db")
        proc = subprocess.Popen([EPTRACE, "record", "-o", db, "--netns", netns.path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_banner(proc)
        for _ in range(40):
            if proc.poll() is not None:
                break
            netns.run(PY, SCENARIO, "connect_many", "200")
        rc = proc.wait(timeout=60)
        err = proc.stderr.read()
        assert rc == 1, err
        assert "stopped" in err and "full" in err, err
        r = report(db, "--json")
        assert r.returncode == 0, r.stderr
        assert len([e for e in facts(r.stdout) if e["event"] == "alloc"]) > 0
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
