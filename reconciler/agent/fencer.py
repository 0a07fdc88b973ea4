"""A small watchdog process beside the agent: the last line of fencing.

A stopped or hung agent (SIGSTOP, a frozen event loop) cannot demote its
actives, yet its lease runs out and the master moves them: two actives. So
the agent spawns this process and, on every keep-alive that succeeded (or
failsafe verdict "everyone lost etcd"), vouches for its active supervised
children by writing one line: `<seconds> <pgid> <pgid>...`. If no new line
arrives within those seconds (95% of the lease), the fencer SIGKILLs the
process groups it was last told about, before the lease can expire for the
others. The line may end with the floating IPs of those actives
(`vip=<cidr>@<interface>`, spec.vip): the fencer drops them (`ip addr del`) with
the kill, and when the agent dies (parent-death signal SIGTERM: an agent killed
with -9 takes its children with it, but an address would stay behind and answer
beside the new active's). On end of input (the agent exited or closed it) it
leaves. It never reads etcd.

The agent runs this file as a script with `python -S -E`: no site, no
overseer package, only the few stdlib modules below, so the process stays a
few MB (it is one per server, for the server's whole life).
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from typing import Iterable, Optional

PR_SET_PDEATHSIG = 1
DEBUG = bool(os.environ.get("OVERSEER_FENCER_DEBUG"))


def _die_with_parent() -> None:
    # runs in the agent's forked child before exec; the setting survives exec
    import ctypes  # noqa: PLC0415  (not needed in the fencer process itself)
    try:
        # SIGTERM, not SIGKILL: the handler in serve() drops the vouched VIPs first
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the agent closing our stdin still ends us


def _kill(groups: Iterable[int]) -> list[int]:
    killed = []
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
            killed.append(pgid)
        except (ProcessLookupError, PermissionError):
            pass
    return killed


def drop_vips(vips: Iterable[str]) -> list[str]:
    """`ip addr del` each `<cidr>@<interface>`; an address already gone is fine."""
    dropped = []
    for vip in vips:
        address, _, interface = vip.partition("@")
        try:
            done = subprocess.run([os.environ.get("OVERSEER_IP_COMMAND", "ip"), "addr", "del", address,
                                   "dev", interface], capture_output=True, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            dropped.append(vip)
    return dropped


def split_line(line: bytes) -> tuple[float, list[int], list[str]]:
    """`<seconds> <pgid>... vip=<cidr>@<interface>...` -> (seconds, groups, vips)."""
    parts = line.decode().split()
    vips = [p[4:] for p in parts[1:] if p.startswith("vip=")]
    groups = [int(p) for p in parts[1:] if not p.startswith("vip=")]
    return float(parts[0]), groups, vips


def serve(stream=None, clock=time.monotonic) -> None:
    stream = stream if stream is not None else sys.stdin.buffer
    fd = stream.fileno()
    groups: list[int] = []
    vips: list[str] = []

    def _agent_died(signum, frame):
        drop_vips(vips)
        sys.exit(0)
    # (an agent dying before this line leaves nothing vouched: the default
    # SIGTERM action ending us is then right)
    signal.signal(signal.SIGTERM, _agent_died)
    deadline: Optional[float] = None
    buffer = b""
    while True:
        wait = None if deadline is None else max(0.0, deadline - clock())
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            killed = _kill(groups)
            dropped = drop_vips(vips)
            if killed or dropped:
                print(f"overseer fencer: agent {os.getppid()} silent past its lease; killed process "
                      f"groups {', '.join(map(str, killed)) or '-'}; dropped {', '.join(dropped) or '-'}",
                      file=sys.stderr, flush=True)
            groups, vips, deadline = [], [], None
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.split():
                seconds, groups, vips = split_line(line)
                deadline = clock() + seconds
                if DEBUG:
                    print(f"overseer fencer: vouched {line.decode()}", file=sys.stderr, flush=True)


class Fencer:
    """The agent's end: spawn the watchdog and vouch for the actives."""

    def __init__(self) -> None:
        self._timeout_expired = subprocess.TimeoutExpired
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-E", os.path.abspath(__file__)],
            stdin=subprocess.PIPE, preexec_fn=_die_with_parent, start_new_session=True)

    def vouch(self, seconds: float, groups: Iterable[int], vips: Iterable[str] = ()) -> None:
        line = " ".join([f"{seconds:.3f}", *map(str, groups), *(f"vip={v}" for v in vips)]) + "\n"
        try:
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the fencer is gone; the parent-death signal still covers a crash

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(2)
        except self._timeout_expired:
            self.proc.kill()


if __name__ == "__main__":
    serve()  # the parent-death signal was set before exec (Fencer's preexec_fn)
