"""One `overseer demo` run: bring the cluster up, say what to try, report changes.

Up: fresh etcd under the demo folder, the documents applied with the real
`overseer apply`, three agents, the board. Then one line per change of the
master, of where the PBX runs (with the pids to kill, as they are now), or of
an agent exiting and being started again (agents.py), until SIGINT/SIGTERM;
then everything is stopped in order, agents started by hand included.
"""
from __future__ import annotations

import os
import secrets
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from overseer.desired.state import ClusterSnapshot
from overseer.desired.store.client import EtcdConfig, StoreError
from overseer.desired.store.local_etcd import LocalEtcd, free_port
from overseer.desired.store.store import Store

from overseer.reconciler.planner.health import View, is_eligible
from overseer.reconciler.planner.inputs import ActualState

from ..agent.peer_auth import write_key
from . import hints
from .agents import RESTART_DELAY, Agents
from .cluster import CLUSTER, LEASE_TTL, SERVERS, Ports, documents
from .processes import DemoError, Processes, become_subreaper, fresh_folder, start_etcd

Say = Callable[[str], None]


@dataclass(frozen=True)
class Where:
    """What the demo reports on: who is master and where the PBX runs.

    `ready`: every critical check of the PBX has judged it ok (or warn) where
    it runs, so it stays there unless something fails. `next`: the standby
    the planner would promote now if it failed (None: nobody is eligible)."""
    master: Optional[str]
    pbx: Optional[str]
    pid: Optional[int]
    ready: bool = False
    next: Optional[str] = None


def where(snap: ClusterSnapshot) -> Where:
    assignment = snap.assignments.get("pbx")
    server = assignment.active[0] if assignment and assignment.active else None
    report = snap.reports.get((server, "pbx")) if server else None
    # a report for an older assignment is a dead agent's: its PBX is long gone
    pid = (report.pid if report and report.role == "active" and report.outcome == "ok"
           and report.assigned >= assignment.time else None)
    svc = snap.desired.services.get("pbx")
    ready, successor = False, None
    if svc is not None:
        critical = [c.name for c in svc.spec.checks if c.critical]
        ready = pid is not None and all(
            (obs := snap.observations.get((server, "pbx", name))) is not None
            and obs.status in ("ok", "warn") for name in critical)
        # the planner's own grading, so the hint names whom it would really pick
        view = View(snap.desired, ActualState(snap.servers, {}, snap.observations, snap.reports), 0.0)
        standby = assignment.standby if assignment else ()
        successor = next((s for s in standby if is_eligible(view.grade(s, "pbx", svc))), None)
    return Where(snap.master.server if snap.master else None, server, pid, ready, successor)


class Demo:
    def __init__(self, folder: Path, host: str, port: int, say: Say, restart_after: float = RESTART_DELAY):
        self.folder, self.host, self.port = folder.resolve(), host, port
        self.restart_after = restart_after
        self.say = _unless_broken_pipe(say)
        self.etcd: Optional[LocalEtcd] = None
        self.procs: Optional[Processes] = None
        self.agents: Optional[Agents] = None
        self.store: Optional[Store] = None
        self.stop_requested = threading.Event()

    @property
    def board(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def up(self) -> None:
        started = time.monotonic()
        check_free(self.host, self.port)
        fresh_folder(self.folder)
        become_subreaper()
        self.etcd = start_etcd(self.folder)
        # the cluster's failsafe key, as on real servers (docs/operations.md, failsafe)
        (self.folder / "peer.key").unlink(missing_ok=True)   # a new key per run, as a new cluster
        key = write_key(str(self.folder / "peer.key"))
        env = dict(os.environ, OVERSEER_ETCD=self.etcd.url, OVERSEER_CLUSTER=CLUSTER,
                   OVERSEER_PEER_KEY_FILE=key.source, PYTHONUNBUFFERED="1")
        self.procs = Processes(self.folder, self.etcd, env)
        self.agents = Agents(self.procs, self.folder, SERVERS, self.etcd.url, CLUSTER, key.source,
                             self.restart_after)
        self._apply()
        self.agents.start_all()
        self.procs.spawn("ui", ["ui", "--listen", f"{self.host}:{self.port}"])
        self.store = Store(EtcdConfig(endpoints=(self.etcd.url,)), CLUSTER)
        self.procs.wait_http("ui", f"http://{self.host}:{self.port}/healthz")
        first = self._wait_for_pbx(timeout=40)
        self.procs.remember_descendants()
        if first is not None:  # None: stopped while starting
            self._banner(first, time.monotonic() - started)

    def _apply(self) -> None:
        secret = self.folder / "ami.secret"
        # private from its creation on: the AMI check refuses a secret others may read
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            os.fchmod(fd, 0o600)
            fh.write(secrets.token_hex(12) + "\n")
        ports = Ports({s: free_port() for s in SERVERS}, ami=free_port(), web=free_port())
        path = self.folder / "cluster.yaml"
        path.write_text(documents(self.folder, ports, secret))
        self.procs.run_cli("apply", "-f", str(path))

    def _wait_for_pbx(self, timeout: float) -> Optional[Where]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop_requested.is_set():
            for name, proc in self.procs.children.items():
                if proc.poll() is not None:
                    raise DemoError(f"{name} exited with status {proc.returncode} while starting:\n"
                                    f"{self.procs.log_tail(name)}")
            now = self._where()
            if now and now.master and now.ready:
                return now
            time.sleep(0.1)
        if self.stop_requested.is_set():
            return None
        raise DemoError(f"the PBX did not start within {timeout:g}s; agent logs in {self.folder}")

    def _where(self) -> Optional[Where]:
        try:
            return where(self.store.snapshot())
        except StoreError:
            return None

    def _banner(self, now: Where, took: float) -> None:
        agents = {s: self.procs.children[s].pid for s in SERVERS}
        self.say(hints.banner(took=took, cluster=CLUSTER, folder=str(self.folder), board=self.board,
                              etcd_url=self.etcd.url, master=now.master, agents=agents, pbx=now.pbx,
                              pid=now.pid, next_server=now.next, lease=LEASE_TTL))

    def watch(self, last: Optional[Where] = None) -> None:
        """One line per change, until stop_requested; agents that exit are started again."""
        last = last or self._where()
        last_agent = self._agent_of(last)
        board_exited = False
        while not self.stop_requested.wait(0.2):
            self.agents.tick(self.say, _clock)
            now = self._where()
            agent = self._agent_of(now)
            if now is not None and last is not None:
                self._report(last, now, last_agent, agent)
            # the PBX's pid is unknown a moment after each new assignment, until
            # its agent reports: keep the last one so it is not announced twice
            if now is not None and (last is None or not (now.pbx == last.pbx and now.pid is None and last.pid)):
                last, last_agent = now, agent
            board = self.procs.children["ui"]
            if board.poll() is not None and not board_exited:
                board_exited = True
                self.say(f"{_clock()} the board (pid {board.pid}) exited with status {board.returncode}")

    def _agent_of(self, now: Optional[Where]) -> Optional[int]:
        """The pid of the agent on the PBX's server this moment: the one a hint names."""
        return self.agents.pid(now.pbx) if now is not None and now.pbx else None

    def _report(self, last: Where, now: Where, last_agent: Optional[int], agent: Optional[int]) -> None:
        if now.master != last.master:
            self.say(f"{_clock()} master: {last.master or 'none'} -> {now.master or 'none'}")
        if (now.pbx, now.pid) != (last.pbx, last.pid) and now.pid:
            self.say(f"{_clock()} {hints.moved(now.pbx, now.pid, now.next, agent, LEASE_TTL)}")
        elif now.pid and now.next and not last.next:
            self.say(f"{_clock()} {hints.eligible_again(now.pid, now.next, now.pbx, agent, LEASE_TTL)}")
        elif now.pid and agent is not None and agent != last_agent:   # its agent was started again
            self.say(f"{_clock()} {hints.moved(now.pbx, now.pid, now.next, agent, LEASE_TTL)}")
        elif now.pbx is None and last.pbx is not None:
            self.say(f"{_clock()} pbx: no active server")

    def down(self) -> None:
        if self.store is not None:
            self.store.close()
        if self.procs is None:
            if self.etcd is not None:
                self.etcd.kill()
            return
        self.say("stopping the agents, the board and etcd ...")
        left = self.procs.stop(strays=self.agents.strays() if self.agents else ())
        for line in left:
            self.say(f"  had to kill {line}")
        self.say("demo stopped; nothing left running.")


def check_free(host: str, port: int) -> None:
    """Refuse early: otherwise another board on the port would answer our health check.

    With SO_REUSEADDR, as the board's server (waitress) binds: connections of
    the last demo's board left in TIME-WAIT after Ctrl-C (any open board tab
    has some) do not stop it from listening, so they must not stop us either.
    A port something still listens on is refused all the same."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        raise DemoError(f"--listen {host}:{port}: cannot listen: {exc.strerror or exc} "
                        f"(another demo or board running? try --listen 127.0.0.1:8090)") from None


def _unless_broken_pipe(say: Say) -> Say:
    """`say`, but once the reader is gone (`make demo | tee log` and Ctrl-C
    ends tee first) it says nothing more instead of raising: the demo must
    still stop everything it started."""
    def quiet(line: str) -> None:
        if not broken:
            try:
                say(line)
            except BrokenPipeError:
                broken.append(True)
                # and no second BrokenPipeError when Python flushes stdout at exit
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                os.close(devnull)
    broken: list = []
    return quiet


def _clock() -> str:
    return time.strftime("%H:%M:%S")
