"""What the demo tells the user to try, worded so every line is true and runnable.

Commands name the `overseer` program the demo itself runs (`.venv-demo/bin/overseer`
unless that very script is first on PATH) and the demo's etcd with `--etcd`,
so they work pasted into any shell, venv activated or not. A "kill -9 N"
hint only promises a move when the planner would make one: it names the
standby the planner ranks eligible now (`Where.next`), and says so when there
is none yet. Every pid in a hint is the one running at that moment (the agent
of the PBX's server, after moves and restarts), never the banner's.
"""
from __future__ import annotations

import os
import shlex
import shutil
from typing import Mapping, Optional

from .processes import overseer_argv


def program(cwd: Optional[str] = None) -> list[str]:
    """The demo's `overseer` as a user would type it from `cwd`."""
    argv = overseer_argv()
    script = os.path.realpath(argv[0])
    on_path = shutil.which("overseer")
    if len(argv) == 1 and on_path and os.path.realpath(on_path) == script:
        return ["overseer"]
    cwd = os.path.realpath(cwd or os.getcwd())
    if len(argv) == 1 and script.startswith(cwd + os.sep):
        return [os.path.relpath(script, cwd)]  # `.venv-demo/bin/overseer` from the checkout
    return argv


def command(etcd_url: str, *args: str, cwd: Optional[str] = None) -> str:
    """One shell line running `overseer --etcd URL ARGS...`."""
    return shlex.join(program(cwd) + ["--etcd", etcd_url, *args])


def banner(*, took: float, cluster: str, folder: str, board: str, etcd_url: str, master: str,
           agents: Mapping[str, int], pbx: str, pid: int, next_server: Optional[str],
           lease: str) -> str:
    lines = [
        f"Overseer demo is up in {took:.1f}s (cluster '{cluster}', files in {folder})",
        f"  board:   {board}",
        f"  etcd:    {etcd_url}",
        f"  master:  {master}",
        "  agents:  " + ", ".join(f"{s} pid {p}" for s, p in agents.items()),
        f"  pbx:     active on {pbx}, fake PBX pid {pid}",
        "  dialer:  colocated with pbx: it stops before pbx leaves a server and starts where pbx is active next",
        "Try:",
        f"  {command(etcd_url, 'status')}",
        f"  kill -9 {pid}    # the active PBX" + (
            f": it moves to {next_server} at once" if next_server else " (no other server is eligible yet)"),
        f"  kill -9 {agents[pbx]}    # {pbx}'s agent" + (
            f": pbx moves to {next_server} once its lease ({lease}) runs out" if next_server
            else " (no other server is eligible yet)"),
        f"  {command(etcd_url, 'switchover', 'pbx')}   # a planned move",
        "Each move prints what to kill next. Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


INDENT = " " * 9   # under the HH:MM:SS of the line before


def moved(pbx: str, pid: int, next_server: Optional[str], agent: Optional[int], lease: str) -> str:
    """The lines after the PBX started somewhere (new server or new pid)."""
    return (f"pbx: active on {pbx}, fake PBX pid {pid}   ({kill_hint(pid, next_server)})\n"
            f"{INDENT}{agent_hint(pbx, agent, next_server, lease)}")


def kill_hint(pid: int, next_server: Optional[str]) -> str:
    if next_server:
        return f"kill -9 {pid} to move it to {next_server}"
    return f"no other server is eligible yet; kill -9 {pid} moves it once one is"


def agent_hint(server: str, agent: Optional[int], next_server: Optional[str], lease: str) -> str:
    """What killing the agent of the PBX's server does now (`agent`: its pid this moment)."""
    if agent is None:
        return f"({server}'s agent is not running)"
    if next_server:
        return f"(or kill -9 {agent}, {server}'s agent: pbx moves to {next_server} once its lease ({lease}) runs out)"
    return f"(kill -9 {agent}, {server}'s agent, moves pbx once another server is eligible)"


def eligible_again(pid: int, next_server: str, server: str, agent: Optional[int], lease: str) -> str:
    """A standby became eligible while the PBX stayed put: the move is possible now."""
    return (f"pbx: {next_server} is eligible again ({kill_hint(pid, next_server)})\n"
            f"{INDENT}{agent_hint(server, agent, next_server, lease)}")
