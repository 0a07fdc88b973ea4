"""The demo's three agents: which process is each server's agent now.

An agent the user kills is started again after RESTART_DELAY (longer than the
lease, so the failover it causes is seen first), and the demo says so, with
the command to start it sooner by hand. An agent of this demo is known by its
`--state-dir` inside the demo folder, whoever started it: one started by hand
with the printed command (or any other with that state dir) is adopted
instead of starting a second agent for the same server, and Ctrl-C ends it
with the rest (`strays()`).
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

import psutil

from . import hints
from .processes import Processes

RESTART_DELAY = 10.0   # seconds; the demo's lease is 3 s


def agent_args(folder: Path, server: str) -> list[str]:
    return ["agent", "--server", server, "--state-dir", str(folder / server)]


def _state_dir(cmdline: list[str], cwd: Optional[str]) -> Optional[str]:
    """The `--state-dir` of an `overseer agent` command line, made absolute."""
    if "agent" not in cmdline:
        return None
    for i, arg in enumerate(cmdline):
        value = None
        if arg == "--state-dir" and i + 1 < len(cmdline):
            value = cmdline[i + 1]
        elif arg.startswith("--state-dir="):
            value = arg.split("=", 1)[1]
        if value is not None:
            return os.path.realpath(os.path.join(cwd or "/", value))
    return None


def running_agents(folder: Path, servers: Iterable[str]) -> dict[str, list[psutil.Process]]:
    """Every live process that is an agent of this demo, by server, whoever started it."""
    dirs = {os.path.realpath(folder / s): s for s in servers}
    found: dict[str, list[psutil.Process]] = {}
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE or not proc.info["cmdline"]:
                continue
            try:
                cwd = proc.cwd()
            except psutil.AccessDenied:
                cwd = None   # an absolute --state-dir still matches
            server = dirs.get(_state_dir(proc.info["cmdline"], cwd) or "")
        except psutil.Error:
            continue   # gone while we looked
        if server is not None:
            found.setdefault(server, []).append(proc)
    return found


Agent = Union[subprocess.Popen, psutil.Process]


def _alive(agent: Agent) -> bool:
    if isinstance(agent, subprocess.Popen):
        return agent.poll() is None
    try:
        return agent.is_running() and agent.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _status(agent: Agent) -> str:
    if isinstance(agent, subprocess.Popen):
        return f"status {agent.returncode}"
    return "its own"   # not our child: its parent collects the status


class Agents:
    def __init__(self, procs: Processes, folder: Path, servers: Iterable[str], etcd_url: str,
                 cluster: str, key_file: str, delay: float = RESTART_DELAY):
        self.procs, self.folder, self.servers = procs, folder, tuple(servers)
        self.etcd_url, self.cluster, self.key_file, self.delay = etcd_url, cluster, key_file, delay
        self.current: dict[str, Agent] = {}
        self.restart_at: dict[str, float] = {}   # server -> monotonic time of its restart

    def start_all(self) -> None:
        for server in self.servers:
            self.current[server] = self.procs.spawn(server, agent_args(self.folder, server))

    def pid(self, server: str) -> Optional[int]:
        agent = self.current.get(server)
        return agent.pid if agent is not None and _alive(agent) else None

    def by_hand(self, server: str) -> str:
        """The shell line that starts `server`'s agent as the demo does (and is found by it)."""
        return hints.command(self.etcd_url, "--cluster", self.cluster, *agent_args(self.folder, server),
                             "--peer-key-file", self.key_file)

    def tick(self, say: Callable[[str], None], clock: Callable[[], str]) -> None:
        """Notice agents that exited, adopt ones started by hand, restart those due."""
        now = time.monotonic()
        for server in self.servers:
            agent = self.current.get(server)
            if server not in self.restart_at and agent is not None and not _alive(agent):
                self.restart_at[server] = now + self.delay
                say(f"{clock()} {server}'s agent (pid {agent.pid}) exited ({_status(agent)}); the demo "
                    f"starts it again in {self.delay:g}s, or start it yourself now:\n"
                    f"    {self.by_hand(server)}")
        if not self.restart_at:
            return
        running = running_agents(self.folder, self.restart_at)
        for server, due in sorted(self.restart_at.items()):
            if running.get(server):
                self.current[server] = running[server][0]
                del self.restart_at[server]
                say(f"{clock()} {server}'s agent is running again: pid {self.current[server].pid} "
                    "(started by hand; Ctrl-C stops it too)")
            elif now >= due:
                self.current[server] = self.procs.spawn(server, agent_args(self.folder, server))
                del self.restart_at[server]
                say(f"{clock()} {server}'s agent started again by the demo: pid {self.current[server].pid}")

    def strays(self) -> list[psutil.Process]:
        """Agents of this demo that are not its own children (started by hand): Ctrl-C ends them too."""
        ours = {p.pid for p in self.procs.children.values()}
        return [p for found in running_agents(self.folder, self.servers).values()
                for p in found if p.pid not in ours]
