"""Start and stop the demo's processes: etcd, three agents, the board.

Every child gets its own process group (so the terminal's Ctrl-C reaches
only the demo, which then stops things in order) and a parent-death signal
(so nothing outlives a demo that is itself killed). The demo also makes
itself a child subreaper: anything an agent leaves behind is re-parented to
the demo, not to init, and `stop()` can still find and end it.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterable

import psutil

from overseer.desired.store.local_etcd import LocalEtcd, etcd_args, etcd_binary, free_port, wait_healthy

_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER = 1, 36
_libc = ctypes.CDLL(None, use_errno=True)


class DemoError(Exception):
    """A part of the demo did not come up; the text says which and where its log is."""


def overseer_argv() -> list[str]:
    """The `overseer` script next to this Python, or the same entry point through -c."""
    script = os.path.join(os.path.dirname(sys.executable), "overseer")
    if os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-c", "from overseer.reconciler.cli import main; main()"]


def _die_with_parent() -> None:
    # SIGTERM, not SIGKILL: an orphaned agent still stops its own children
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def start_etcd(folder: Path) -> LocalEtcd:
    """The demo's etcd, data and log in `folder`, dying with the demo like every other child.

    Not `LocalEtcd.start()`: that etcd outlives its parent (tests share one),
    and a demo killed or crashed must leave nothing behind."""
    etcd = LocalEtcd(data_dir=str(folder / "etcd"), client_port=free_port(), peer_port=free_port())
    args = [etcd_binary()] + etcd_args("overseer", etcd.data_dir, etcd.client_port, etcd.peer_port,
                                      etcd.host)
    with open(folder / "etcd.log", "ab") as log:
        etcd.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=_die_with_parent)
    wait_healthy(etcd.url, proc=etcd.proc)
    return etcd


def become_subreaper() -> None:
    _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


class Processes:
    def __init__(self, folder: Path, etcd: LocalEtcd, env: dict):
        self.folder, self.etcd, self.env = folder, etcd, env
        self.children: dict[str, subprocess.Popen] = {}
        self._seen: dict[int, psutil.Process] = {}

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "ab")
        proc = subprocess.Popen(overseer_argv() + args, env=self.env, stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_die_with_parent)
        log.close()
        self.children[name] = proc
        return proc

    def run_cli(self, *args: str) -> str:
        proc = subprocess.run(overseer_argv() + list(args), env=self.env, capture_output=True,
                              text=True, timeout=60)
        if proc.returncode != 0:
            raise DemoError(f"overseer {' '.join(args)} exited {proc.returncode}: "
                            f"{proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.folder / f"{name}.log"
        text = path.read_text(errors="replace").splitlines() if path.exists() else []
        return "\n".join(text[-lines:])

    def wait_http(self, name: str, url: str, timeout: float = 30) -> None:
        """Until `url` answers 200; fail early, with the log, if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.children[name]
            if proc.poll() is not None:
                raise DemoError(f"{name} exited with status {proc.returncode}; "
                                f"its log ({self.folder / (name + '.log')}):\n{self.log_tail(name)}")
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise DemoError(f"{name} did not answer {url} within {timeout:g}s")

    def remember_descendants(self) -> None:
        """Note every process below the demo now, so stop() can check each one is gone."""
        for proc in psutil.Process().children(recursive=True):
            self._seen.setdefault(proc.pid, proc)

    def stop(self, strays: Iterable[psutil.Process] = (), grace: float = 10.0) -> list[str]:
        """SIGTERM the agents and the board, SIGKILL what is left, then etcd; return leftovers.

        `strays`: processes of the demo that are not its descendants (agents
        started by hand): stopped the same way, their descendants remembered
        first so none outlives them."""
        self.remember_descendants()
        strays = list(strays)
        for proc in strays:
            self._remember(proc)
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                pass
        for proc in self.children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.children.values():
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                proc.wait(5)
        psutil.wait_procs(strays, timeout=max(deadline - time.monotonic(), 0.1))
        self.etcd.kill()
        return self._sweep()

    def _remember(self, proc: psutil.Process) -> None:
        try:
            for one in [proc] + proc.children(recursive=True):
                self._seen.setdefault(one.pid, one)
        except psutil.NoSuchProcess:
            pass

    def _sweep(self) -> list[str]:
        """SIGKILL any remembered process still running; name what had to be killed."""
        self.remember_descendants()
        killed = []
        for proc in self._seen.values():
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    killed.append(f"{proc.pid} {' '.join(proc.cmdline())[:80]}")
                    proc.kill()
            except psutil.Error:
                continue  # gone between the check and the kill: what we want
        _reap_orphans()
        return killed


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap_orphans() -> None:
    """Collect exit statuses of re-parented processes (we are their subreaper)."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.02)


def fresh_folder(folder: Path) -> None:
    """Start from a clean etcd and empty logs; keep the folder itself."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in ("etcd", "recordings"):
        shutil.rmtree(folder / old, ignore_errors=True)
    for log in folder.glob("*.log"):
        log.unlink()
