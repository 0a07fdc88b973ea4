"""`overseer demo` headless: it comes up, the board answers, killing the active
fake PBX moves it, and SIGINT leaves no process it started behind.

Also the fake PBX against the real `asterisk-ami`/`asterisk-channels` probes.
"""
import asyncio
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import psutil
import pytest

from overseer.desired.checks import AsteriskAmiCheck, AsteriskChannelsCheck
from overseer.desired.store.client import EtcdConfig
from overseer.desired.store.local_etcd import free_port
from overseer.desired.store.store import Store
from overseer.observers.probes import asterisk_ami, asterisk_channels
from overseer.observers.probes._common import ProbeContext
from overseer.reconciler.demo.session import Where, where
from tests.support.secrets import write_secret
from tests.support.waiting import poll_until as wait_for

OVERSEER = os.path.join(os.path.dirname(sys.executable), "overseer")


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return resp.status


class Output:
    """The demo's stdout, read by a thread so a wait for a line can time out
    even when the demo prints nothing (a blocked readline cannot)."""

    def __init__(self, proc: subprocess.Popen):
        self.proc, self.seen, self._lines = proc, [], queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def text(self) -> str:
        return "".join(self.seen)

    def until(self, pattern: str, timeout: float) -> re.Match:
        """The first further line matching `pattern`, within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(f"demo exited {self.proc.wait()}:\n{self.text()}")
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no line matching {pattern!r} within {timeout}s:\n{self.text()}")


def start_demo(tmp_path, port: int, *more: str) -> subprocess.Popen:
    return subprocess.Popen([OVERSEER, "demo", "--listen", f"127.0.0.1:{port}", "--dir", str(tmp_path / "d"),
                             *more],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))


def without_venv() -> dict:
    """The environment of a new shell: no venv on PATH, no OVERSEER_* settings."""
    venv_bin = os.path.dirname(sys.executable)
    path = os.pathsep.join(p for p in os.environ.get("PATH", os.defpath).split(os.pathsep)
                           if p and os.path.realpath(p) != os.path.realpath(venv_bin))
    return {k: v for k, v in os.environ.items() if not k.startswith("OVERSEER_")} | {"PATH": path}


def moves_to(store: Store, server: str, not_pid: int = 0) -> Where:
    """`not_pid`: a PBX that ran there before, whose report a dead agent may have left."""
    return wait_for(lambda: (w := where(store.snapshot())).pbx == server and w.pid and w.pid != not_pid and w,
                    timeout=20, what=f"pbx active on {server}")


class Banner:
    """What the demo printed on coming up, read from its stdout."""

    def __init__(self, out: Output):
        self.etcd = out.until(r"etcd: +(http://\S+)", 60).group(1)
        self.pid = int(out.until(r"fake PBX pid (\d+)", 10).group(1))
        self.status = out.until(r"^  (\S.* --etcd \S+ status)$", 10).group(1)
        self.next = out.until(rf"kill -9 {self.pid} +# the active PBX: it moves to (\w+) at once", 10).group(1)
        self.agent = int(out.until(rf"kill -9 (\d+) +# \w+'s agent: pbx moves to {self.next} ", 10).group(1))
        out.until(r"Ctrl-C stops everything", 10)


def dialer_active_on(store: Store, server: str) -> None:
    """The dialer (colocateWith: pbx) reported active on `server` under its current assignment."""
    def there():
        snap = store.snapshot()
        a, r = snap.assignments.get("dialer"), snap.reports.get((server, "dialer"))
        return (a is not None and tuple(a.active) == (server,) and r is not None and r.role == "active"
                and r.outcome == "ok" and r.assigned >= a.time and r.pid and psutil.pid_exists(r.pid))
    wait_for(there, timeout=20, what=f"dialer active on {server}, where pbx is")


def first_failover(out: Output, banner: Banner, store: Store) -> tuple[Where, Where, str]:
    """Kill the active PBX the banner named; (before, after, the hint printed after the move)."""
    # the banner comes once every critical check judged the PBX where it runs
    first = where(store.snapshot())
    assert first.ready and first.pid == banner.pid and first.pbx in ("pbx1", "pbx2"), first
    other = {"pbx1": "pbx2", "pbx2": "pbx1"}[first.pbx]
    assert banner.next == other
    dialer_active_on(store, first.pbx)
    os.kill(banner.pid, signal.SIGKILL)
    moved = moves_to(store, other)
    assert psutil.pid_exists(moved.pid)
    dialer_active_on(store, other)   # colocated: it follows the PBX
    hint = out.until(rf"pbx: active on {other}, fake PBX pid {moved.pid}   \((.*)\)$", 10).group(1)
    return first, moved, hint


def stop_leaves_nothing(out: Output) -> None:
    demo = out.proc
    started = psutil.Process(demo.pid).children(recursive=True)
    assert len(started) >= 6, started  # etcd, 3 agents, ui, their children
    demo.send_signal(signal.SIGINT)
    out.until(r"demo stopped; nothing left running", 60)
    assert demo.wait(60) == 0, out.text()
    alive = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], [(p.pid, p.cmdline()) for p in alive]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_demo_fails_over_and_leaves_nothing_behind(tmp_path):
    port = free_port()
    demo = start_demo(tmp_path, port)
    out = Output(demo)
    try:
        banner = Banner(out)
        assert get(f"http://127.0.0.1:{port}/healthz") == 200
        assert get(f"http://127.0.0.1:{port}/") == 200
        # the hint runs as printed in a shell that has neither the venv nor OVERSEER_ETCD
        shown = subprocess.run(banner.status, shell=True, env=without_venv(), capture_output=True,
                               text=True, timeout=30)
        assert shown.returncode == 0 and "pbx" in shown.stdout, (banner.status, shown.stdout, shown.stderr)
        store = Store(EtcdConfig(endpoints=(banner.etcd,)), "demo")
        try:
            first, moved, hint = first_failover(out, banner, store)
        finally:
            store.close()
        # names the way back only if the planner would take it now
        assert hint in (f"kill -9 {moved.pid} to move it to {first.pbx}",
                        f"no other server is eligible yet; kill -9 {moved.pid} moves it once one is"), hint
        stop_leaves_nothing(out)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_demo_moves_back_when_told_it_can(tmp_path):
    demo = start_demo(tmp_path, free_port())
    out = Output(demo)
    try:
        banner = Banner(out)
        store = Store(EtcdConfig(endpoints=(banner.etcd,)), "demo")
        try:
            first, moved, hint = first_failover(out, banner, store)
            # "kill -9 N to move it to X", printed with the move or once X is
            # eligible again, must come true
            wanted = rf"kill -9 {moved.pid} to move it to {first.pbx}"
            if not re.fullmatch(wanted, hint):
                out.until(rf"\({wanted}\)$", 20)
            os.kill(moved.pid, signal.SIGKILL)
            back = moves_to(store, first.pbx)
        finally:
            store.close()
        out.until(rf"pbx: active on {first.pbx}, fake PBX pid {back.pid} ", 10)
        stop_leaves_nothing(out)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_ctrl_c_on_a_piped_demo_leaves_nothing_behind(tmp_path):
    """`make demo | tee log`, Ctrl-C: the terminal signals the whole pipeline, so
    tee is gone before the demo says "stopping ...", and its etcd was left running."""
    log = tmp_path / "log"
    line = (f"{shlex.quote(OVERSEER)} demo --listen 127.0.0.1:{free_port()} --dir {shlex.quote(str(tmp_path / 'd'))}"
            f" | tee {shlex.quote(str(log))} >/dev/null")
    shell = subprocess.Popen(["sh", "-c", line], start_new_session=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    started: list = []
    try:
        wait_for(lambda: log.exists() and "Ctrl-C stops everything" in log.read_text(), 60, "the demo's banner")
        started[:] = psutil.Process(shell.pid).children(recursive=True)
        assert any(p.name() == "etcd" for p in started), started
        assert len(started) >= 8, started  # sh's tee and demo; etcd, 3 agents, ui, their children
        os.killpg(shell.pid, signal.SIGINT)  # what Ctrl-C does: one signal to the foreground group
        shell.wait(60)
        wait_for(lambda: not [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE],
                 60, "every process of the demo to end")
    finally:
        for proc in started:
            if proc.is_running():
                proc.kill()
        if shell.poll() is None:
            shell.kill()
            shell.wait(10)


def agent_pid(tmp_path, server: str) -> int:
    """The pid of the live agent whose state dir is `server`'s in the demo folder."""
    def find():
        found = [p.pid for p in psutil.process_iter(["cmdline"])
                 if "--state-dir" in (p.info["cmdline"] or ()) and str(tmp_path / "d" / server) in p.info["cmdline"]
                 and p.status() != psutil.STATUS_ZOMBIE]
        return found[0] if len(found) == 1 else None
    return wait_for(find, 10, f"one agent of {server}")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_killed_agent_is_started_again_hints_name_todays_pids_and_ctrl_c_ends_one_started_by_hand(tmp_path):
    # 10 s: the lease (3 s) runs out and pbx moves before the agent is back
    demo = start_demo(tmp_path, free_port(), "--restart-after", "10")
    out = Output(demo)
    by_hand = None
    try:
        banner = Banner(out)
        store = Store(EtcdConfig(endpoints=(banner.etcd,)), "demo")
        try:
            first = where(store.snapshot())
            assert banner.agent == agent_pid(tmp_path, first.pbx)
            # the PBX's server loses its agent: the demo says so and starts it again
            os.kill(banner.agent, signal.SIGKILL)
            out.until(rf"{first.pbx}'s agent \(pid {banner.agent}\) exited \(status -9\); the demo starts it "
                      r"again in 10s", 10)
            moved = moves_to(store, banner.next)
            out.until(rf"pbx: active on {banner.next}, fake PBX pid {moved.pid} ", 20)
            # the move's agent hint names the agent running on the new server now
            assert f"kill -9 {agent_pid(tmp_path, banner.next)}, {banner.next}'s agent" in out.until(r"agent", 5).string
            again = int(out.until(rf"{first.pbx}'s agent started again by the demo: pid (\d+)", 20).group(1))
            assert again == agent_pid(tmp_path, first.pbx)
            # back to the first server: the hint names its new agent, not the banner's pid
            out.until(rf"\(kill -9 {moved.pid} to move it to {first.pbx}\)$", 30)
            os.kill(moved.pid, signal.SIGKILL)
            back = moves_to(store, first.pbx, not_pid=first.pid)
            out.until(rf"pbx: active on {first.pbx}, fake PBX pid {back.pid} ", 20)
            assert f"kill -9 {again}, {first.pbx}'s agent" in out.until(r"agent", 5).string
        finally:
            store.close()
        # web1's agent is killed and started by hand with the printed command, from a
        # new shell: the demo takes it as web1's agent and does not start a second one
        web1 = agent_pid(tmp_path, "web1")
        os.kill(web1, signal.SIGKILL)
        out.until(rf"web1's agent \(pid {web1}\) exited", 10)
        line = out.until(r"^    (\S.* agent --server web1 .*)$", 5).group(1)
        shell = subprocess.Popen(line, shell=True, env=without_venv(), start_new_session=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        by_hand = psutil.Process(shell.pid)
        adopted = int(out.until(r"web1's agent is running again: pid (\d+) \(started by hand", 10).group(1))
        assert adopted == agent_pid(tmp_path, "web1")
        hand = psutil.Process(adopted)
        stop_leaves_nothing(out)
        wait_for(lambda: not hand.is_running() or hand.status() == psutil.STATUS_ZOMBIE, 30, "the hand-started agent to end")
        assert "web1's agent started again by the demo" not in out.text()
    finally:
        if by_hand is not None and by_hand.is_running():
            for proc in by_hand.children(recursive=True) + [by_hand]:
                proc.kill()
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)


def probe(module, check):
    ctx = ProbeContext(cluster="c", service="pbx", server="s", role="active", epoch=1, child_pid=None)
    return asyncio.run(module.probe(check, ctx))


@pytest.fixture
def fake_pbx(tmp_path):
    secret = tmp_path / "ami.secret"
    write_secret(secret, "s3cret\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "overseer.reconciler.demo.fake_pbx", "--port", str(port),
                             "--secret-file", str(secret)])
    wait_for(lambda: _connects(port), 10, "fake PBX listening")
    yield port, secret
    proc.kill()
    proc.wait(10)


def _connects(port: int) -> bool:
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_fake_pbx_satisfies_the_ami_checks(fake_pbx, tmp_path):
    port, secret = fake_pbx
    ami = AsteriskAmiCheck(name="ami", type="asterisk-ami", port=port, username="overseer",
                           secretFile=str(secret), warn="500ms", fail="2s")
    assert probe(asterisk_ami, ami).status == "ok"
    channels = AsteriskChannelsCheck(name="ch", type="asterisk-channels", port=port, username="overseer",
                                     secretFile=str(secret), warn=2, fail=10)
    result = probe(asterisk_channels, channels)
    assert (result.status, result.value) == ("warn", 3.0)
    wrong = tmp_path / "wrong.secret"
    write_secret(wrong, "nope\n")
    refused = probe(asterisk_ami, ami.model_copy(update={"secretFile": str(wrong)}))
    assert refused.status == "fail" and "refused" in refused.message, refused
