"""process, memory, threads, disk, tcp and command probes against real processes."""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import psutil
import pytest

from tests.observers.conftest import make_check, run_probe
from tests.support.waiting import poll_until
from tests.support.peers.local import can_mount_tmpfs, free_port, grower, nagios_script, tmpfs


async def test_process_found_by_cmdline_pidfile_and_child(tmp_path):
    with grower() as (proc, token):
        res = await run_probe(make_check(type="process", match={"cmdline": token}))
        assert (res.status, res.value) == ("ok", 1)
        pidfile = tmp_path / "x.pid"
        pidfile.write_text(f"{proc.pid}\n")
        res = await run_probe(make_check(type="process", match={"pidfile": str(pidfile)}))
        assert res.status == "ok" and str(proc.pid) in res.message
        res = await run_probe(make_check(type="process"), child_pid=proc.pid)
        assert res.status == "ok"
    res = await run_probe(make_check(type="process", match={"cmdline": token}))
    assert res.status == "fail" and token in res.message
    res = await run_probe(make_check(type="process", match={"pidfile": str(pidfile)}))
    assert res.status == "fail" and "not running" in res.message
    res = await run_probe(make_check(type="process"), child_pid=None)
    assert res.status == "fail" and "supervised child" in res.message


async def test_process_by_name_counts_every_match():
    procs = [subprocess.Popen(["sleep", "30"]) for _ in range(2)]
    try:
        res = await run_probe(make_check(type="process", match={"name": "sleep"}))
        assert res.status == "ok" and res.value >= 2
    finally:
        for p in procs:
            p.kill()
            p.wait()
    res = await run_probe(make_check(type="process", match={"name": "no-such-prog-xyz"}))
    assert res.status == "fail" and res.message == "no process named no-such-prog-xyz"


async def test_memory_limits_against_a_grown_process():
    with grower(mib=64) as (_, token):
        match = {"cmdline": token}
        res = await run_probe(make_check(type="memory", match=match, warn="32MiB", fail="48MiB"))
        assert res.status == "fail" and res.value > 64 * 2**20
        assert res.message.startswith("RSS ") and "≥ fail 48.0 MiB" in res.message
        res = await run_probe(make_check(type="memory", match=match, warn="32MiB", fail="1GiB"))
        assert res.status == "warn" and "≥ warn 32.0 MiB" in res.message
        res = await run_probe(make_check(type="memory", match=match, warn="512MiB", fail="1GiB"))
        assert res.status == "ok"


async def test_threads_limits_against_a_threaded_process():
    with grower(threads=20) as (_, token):
        match = {"cmdline": token}
        res = await run_probe(make_check(type="threads", match=match, warn=10, fail=20))
        assert res.status == "fail" and res.value >= 21
        res = await run_probe(make_check(type="threads", match=match, warn=10, fail=100))
        assert res.status == "warn" and "Threads 21 ≥ warn 10" == res.message
        res = await run_probe(make_check(type="threads", match=match, warn=50, fail=100))
        assert res.status == "ok"


@pytest.mark.skipif(bool(can_mount_tmpfs()), reason=can_mount_tmpfs() or "tmpfs works")
async def test_disk_on_a_filling_tmpfs():
    with tmpfs("4m") as path:
        check = make_check(type="disk", path=path, warn="50%", fail="90%")
        assert (await run_probe(check)).status == "ok"
        with open(os.path.join(path, "fill"), "wb") as fh:
            fh.write(b"\0" * (3 * 2**20))
        res = await run_probe(check)
        assert res.status == "warn" and res.message.startswith(f"Disk {path} 75.0%")
        with open(os.path.join(path, "fill2"), "wb") as fh:
            fh.write(b"\0" * (int(0.9 * 2**20)))
        assert (await run_probe(check)).status == "fail"
    res = await run_probe(make_check(type="disk", path="/no/such/dir"))
    assert res.status == "fail" and "/no/such/dir" in res.message


async def test_tcp_connect_refused_and_ok():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        res = await run_probe(make_check(type="tcp", port=port, warn="5s", fail="10s"))
        assert res.status == "ok" and 0 <= res.value < 5
    closed = free_port()
    res = await run_probe(make_check(type="tcp", port=closed))
    assert res.status == "fail" and res.message == f"connection refused to 127.0.0.1:{closed}"


async def test_command_nagios_exit_codes_and_environment(tmp_path):
    for code, status in ((0, "ok"), (1, "warn"), (2, "fail"), (3, "fail")):
        path = nagios_script(str(tmp_path), f"c{code}", code, f"STATE {code} here")
        res = await run_probe(make_check(type="command", command=[path]))
        assert (res.status, res.value, res.message) == (status, code, f"STATE {code} here")
    env_check = make_check(type="command", command=[
        sys.executable, "-c",
        "import os; print(os.environ['OVERSEER_SERVICE'], os.environ['OVERSEER_ROLE'],"
        " os.environ['OVERSEER_EPOCH'], os.environ['OVERSEER_CLUSTER'], os.environ['OVERSEER_SERVER'])"])
    res = await run_probe(env_check, cluster="c1", service="pbx", server="s1", role="standby", epoch=7)
    assert res.message == "pbx standby 7 c1 s1"
    res = await run_probe(make_check(type="command", command="/no/such/check --x"))
    assert res.status == "fail" and res.message == "command not found: /no/such/check"
    res = await run_probe(make_check(type="command", command="sh -c 'exit 2'"))
    assert res.message == "sh exited 2"


async def test_command_checks_never_see_the_agents_etcd_credentials(monkeypatch):
    monkeypatch.setenv("OVERSEER_ETCD_PASSWORD", "hunter2")
    monkeypatch.setenv("OVERSEER_ETCD_USER", "root")
    monkeypatch.setenv("OVERSEER_ETCD", "http://10.9.9.9:2379")
    check = make_check(type="command", command=[
        sys.executable, "-c",
        "import os; print(sorted(k for k in os.environ if k.startswith('OVERSEER_')), 'PATH' in os.environ)"])
    res = await run_probe(check, service="pbx")
    assert res.message == ("['OVERSEER_CLUSTER', 'OVERSEER_EPOCH', 'OVERSEER_ROLE', 'OVERSEER_SERVER',"
                           " 'OVERSEER_SERVICE'] True")


async def test_command_timeout_kills_the_process_group(tmp_path):
    path = nagios_script(str(tmp_path), "slow", 0, sleep=30)
    started, wall = time.monotonic(), time.time() - 0.1
    res = await run_probe(make_check(type="command", command=[path]), timeout=0.5)
    assert res.status == "fail" and "timed out after 500ms" in res.message
    assert time.monotonic() - started < 30, "waited for the command instead of killing it"

    def running(name_part: str, **match) -> list:
        return [p for p in psutil.process_iter(["cmdline", "create_time", "status"])
                if p.info["cmdline"] and name_part in " ".join(p.info["cmdline"])
                and p.info["create_time"] >= wall and p.info["status"] != psutil.STATUS_ZOMBIE]
    # killed processes disappear a moment after the kill (reaping is asynchronous)
    poll_until(lambda: not running(path), 10, "the timed-out script to be gone")
    poll_until(lambda: not [p for p in running("sleep 30") if p.info["cmdline"] == ["sleep", "30"]], 10,
               "the backgrounded grandchild (sleep 30) to be gone")


def _name_of(pid: int) -> str:
    """argv[0], which the name match counts as the name."""
    try:
        return (psutil.Process(pid).cmdline() or [""])[0]
    except psutil.Error:
        return ""


async def test_name_matches_are_reused_while_alive_and_rescanned_when_one_dies(monkeypatch):
    from overseer.observers.probes import _procs

    scans = []
    real = _procs._by_name
    monkeypatch.setattr(_procs, "_by_name", lambda name: scans.append(name) or real(name))
    token = f"ovs-cache-{os.getpid()}"   # argv[0] counts as the name
    first = subprocess.Popen([token, "30"], executable="sleep")
    try:
        for _ in range(3):
            res = await run_probe(make_check(type="process", match={"name": token}))
            assert (res.status, res.value) == ("ok", 1)
        assert scans == [token]                       # one /proc scan for three probes
        second = subprocess.Popen([token, "30"], executable="sleep")
        try:
            # until it has exec'd, the child still carries its parent's name
            poll_until(lambda: _name_of(second.pid) == token, 10, "the second process to carry its name")
            monkeypatch.setattr(_procs, "RESCAN", 0.0)   # the periodic rescan is due
            res = await run_probe(make_check(type="process", match={"name": token}))
            assert res.value == 2 and len(scans) == 2     # the new one is found by the rescan
        finally:
            second.kill()
            second.wait()
        monkeypatch.setattr(_procs, "RESCAN", 3600.0)
        res = await run_probe(make_check(type="process", match={"name": token}))
        assert res.value == 1 and len(scans) == 3         # a hit died: rescanned at once
    finally:
        first.kill()
        first.wait()
    res = await run_probe(make_check(type="process", match={"name": token}))
    assert res.status == "fail"


async def test_a_child_found_alive_then_exited_unreaped_is_dead():
    # The `process` check of the supervised child keeps the process it found
    # (one /proc read per probe after that): a zombie, not yet reaped, is dead.
    child = subprocess.Popen(["sleep", "30"])
    try:
        res = await run_probe(make_check(type="process"), child_pid=child.pid)
        assert res.status == "ok"
        child.kill()
        poll_until(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE,
                   timeout=10, what="the killed child to be a zombie")
        res = await run_probe(make_check(type="process"), child_pid=child.pid)
        assert res.status == "fail" and "not running" in res.message
    finally:
        child.kill()
        child.wait()


async def test_a_kept_process_with_another_start_time_is_a_reused_pid():
    from overseer.observers.probes import _procs

    proc = _procs._Proc(os.getpid())
    assert proc.alive()
    proc.start_ticks = b"1"        # what a reused pid looks like: same pid, another start
    assert not proc.alive()


async def test_tcp_to_a_name_goes_through_the_resolver():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        res = await run_probe(make_check(type="tcp", host="localhost", port=port, warn="5s", fail="10s"))
        assert res.status == "ok" and res.message.startswith("Connect localhost:")


def test_every_check_type_has_a_probe_loaded_on_first_use():
    import subprocess as sp
    import typing

    from overseer.desired.checks import Check
    from overseer.observers.probes import PROBES

    kinds = {typing.get_args(model.model_fields["type"].annotation)[0]
             for model in typing.get_args(typing.get_args(Check)[0])}
    assert set(PROBES) == kinds
    assert all(asyncio.iscoroutinefunction(PROBES[kind]) for kind in kinds)
    # an agent that checks processes only never imports the AMI or SIP probes
    code = ("import sys; from overseer.observers.probes import PROBES; PROBES['process'];"
            "print(sorted(m for m in sys.modules if m.startswith('overseer.observers.probes.')))")
    loaded = sp.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "process" in loaded and "sip_options" not in loaded and "asterisk" not in loaded


async def test_a_pidfile_counts_by_its_first_line_as_postgres_writes_it(tmp_path):
    """PostgreSQL's postmaster.pid: the pid, then the data directory, start time, port..."""
    with grower() as (proc, _):
        pidfile = tmp_path / "postmaster.pid"
        pidfile.write_text(f"{proc.pid}\n/var/lib/postgresql/15/main\n1765000000\n5432\n/var/run/postgresql\n")
        res = await run_probe(make_check(type="process", match={"pidfile": str(pidfile)}))
        assert res.status == "ok" and f"pid {proc.pid} from" in res.message
    for text, shown in (("0\n", "'0'"), ("x42\n", "'x42'"), ("1" * 11, "'111")):
        pidfile.write_text(text)
        res = await run_probe(make_check(type="process", match={"pidfile": str(pidfile)}))
        assert res.status == "fail" and "holds no pid" in res.message and shown in res.message, (text, res)
    pidfile.write_bytes(b"\xff\xfe12\n")
    res = await run_probe(make_check(type="process", match={"pidfile": str(pidfile)}))
    assert res.status == "fail" and "cannot read pidfile" in res.message
