"""A small watchdog process beside the agent: the last line of fencing.

A stopped or hung agent (SIGSTOP, a frozen event loop) cannot demote its
actives, yet its lease runs out and the master moves them: two actives. So
the agent spawns this process and, on every keep-alive that succeeded (or
failsafe verdict "everyone lost etcd"), vouches for its active supervised
children by writing one line: `<seconds> <pgid> <pgid>...`. If no new line
arrives within those seconds (95% of the lease), the fencer SIGKILLs the
process groups it was last told about, before the lease can expire for the
others. A new active between two keep-alives is added with a short line,
`+ <pgid>...`: vouched until the deadline already set, or killed at once if
none is set (the fencer already fired, or was never told of a lease). The line may end with the floating IPs of those actives
(`vip=<cidr>@<interface>`, spec.vip): the fencer drops them (`ip addr del`) with
the kill, and when the agent dies: an agent killed with -9 takes its children
with it (their own parent-death signal), but an address would stay behind and
answer beside the new active's. The fencer learns of that death twice, by the
parent-death signal (SIGTERM) and by end of input on its pipe, and whichever
comes first drops the addresses; only an agent that says `bye` before closing
(a clean stop: it demoted its services itself) leaves them. It never reads etcd.

What to kill and drop, and when, is decided by `Watch` (fencer_watch.py, which
also holds the wire format); this file is the process around it: the pipe,
the clock, the kills, `ip addr del`, and the agent's end of the pipe.

The agent runs this file as a script with `python -S -E`: no site, no
overseer package, only the few stdlib modules below and fencer_watch.py
beside it, so the process stays a few MB (it is one per server, for the
server's whole life). Its environment is PATH and its own two settings,
never the agent's etcd credentials.

It runs as the agent's user, in a session of its own. A service whose
commands run as another user (`user:` in its documents) cannot signal it,
nor the agent: the kernel refuses a signal across users without CAP_KILL.
A service running as the agent's own user can, and could then outlive its
lease; the documented deployment gives every service a user of its own.
"""
from __future__ import annotations

import _signal as signal  # the C half of `signal`: the same calls without importing enum (1 MB here)
import os
import select
import sys
import time

if __package__:
    from .fencer_watch import BYE, Watch, add_line, vouch_line
else:   # the fencer process, `python -S -E fencer.py`: its own directory is first on sys.path
    from fencer_watch import BYE, Watch, add_line, vouch_line

PR_SET_PDEATHSIG = 1
DEBUG = bool(os.environ.get("OVERSEER_FENCER_DEBUG"))


def _die_with_parent() -> None:
    # runs in the agent's forked child before exec; the setting survives exec
    import ctypes  # noqa: PLC0415  (not needed in the fencer process itself)
    # SIGTERM stays blocked (the mask survives exec too) until serve() has its
    # handler: an agent dying while we start would otherwise end us before we
    # drop what it already wrote into the pipe
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        # SIGTERM, not SIGKILL: the handler in serve() drops the vouched VIPs first
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the agent closing our stdin still ends us


def _kill(groups: list[int]) -> list[int]:
    killed = []
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
            killed.append(pgid)
        except (ProcessLookupError, PermissionError):
            pass
    return killed


def _run(argv: list[str], timeout: float) -> int | None:
    """Exit status of `argv`, its output discarded; None if it could not run or
    outlived `timeout` (then it is killed). posix_spawn, not subprocess: that
    module alone would add a sixth to this process's memory."""
    null = os.open(os.devnull, os.O_RDWR)
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
    except OSError:
        return None
    finally:
        os.close(null)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.005)


def drop_vips(vips: list[str]) -> list[str]:
    """`ip addr del` each `<cidr>@<interface>`; an address already gone is fine."""
    dropped = []
    for vip in vips:
        address, _, interface = vip.partition("@")
        argv = [os.environ.get("OVERSEER_IP_COMMAND", "ip"), "addr", "del", address, "dev", interface]
        if _run(argv, timeout=5) == 0:
            dropped.append(vip)
    return dropped


def _end(fired: tuple[list[int], list[str]], why: str) -> None:
    """Kill the groups and drop the addresses the watch gave up on."""
    groups, vips = fired
    killed, dropped = _kill(groups), drop_vips(vips)
    if killed or dropped:
        print(f"overseer fencer: {why}; killed process groups {', '.join(map(str, killed)) or '-'}; "
              f"dropped {', '.join(dropped) or '-'}", file=sys.stderr, flush=True)


def _feed(watch: Watch, chunk: bytes) -> None:
    for line in watch.feed(chunk):
        if DEBUG:
            print(f"overseer fencer: vouched {line.decode()}", file=sys.stderr, flush=True)


def _drain(fd: int, watch: Watch) -> None:
    # what a dead agent wrote before it died is still in the pipe: its last word counts
    os.set_blocking(fd, False)
    try:
        while chunk := os.read(fd, 4096):
            _feed(watch, chunk)
    except BlockingIOError:
        pass


def _signals(woken: int) -> set[int]:
    """The signal numbers the wakeup pipe brought."""
    try:
        return set(os.read(woken, 64))
    except BlockingIOError:
        return set()


def serve(stream=None, clock=time.monotonic) -> None:
    stream = stream if stream is not None else sys.stdin.buffer
    fd = stream.fileno()
    watch = Watch(clock)
    # The parent-death signal reaches the loop through a wakeup pipe, not by
    # acting inside the handler: it may land at any line, even in the middle
    # of reading a vouch, and the handler then saw the state before that line.
    woken, wake = os.pipe()
    os.set_blocking(wake, False)
    signal.set_wakeup_fd(wake)
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    # A whole host frozen (SIGSTOP of everything, a hung VM) and thawed: the
    # deadline passed while we were stopped, but select() resumes with the
    # time that was left when it stopped, and the thawed children acted for
    # seconds beside their successors. SIGCONT wakes us to check at once.
    signal.signal(signal.SIGCONT, lambda signum, frame: None)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    while True:
        ready, _, _ = select.select([fd, woken], [], [], watch.wait())
        if woken in ready and _signals(woken) - {signal.SIGCONT}:
            _drain(fd, watch)
            _end(watch.agent_gone(), f"agent {os.getppid()} died")
            return
        if not ready or ready == [woken]:
            fired = watch.expired()
            if fired is not None:
                _end(fired, f"agent {os.getppid()} silent past its lease")
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            # End of input without `bye`: the agent died too. The pipe can
            # close before the parent-death signal arrives; leaving quietly
            # here left a killed agent's address up (the VIP netns test, under load).
            _end(watch.agent_gone(), "agent gone without a clean stop")
            return
        _feed(watch, chunk)


# All the fencer gets of the agent's environment: where `ip` is, and the two
# settings it reads. It never reads etcd, so never the etcd credentials, and
# nothing else the agent was given by its unit.
FENCER_ENV = ("PATH", "OVERSEER_IP_COMMAND", "OVERSEER_FENCER_DEBUG")
DEFAULT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def fencer_environment(source=None) -> dict[str, str]:
    source = os.environ if source is None else source
    env = {name: source[name] for name in FENCER_ENV if name in source}
    env.setdefault("PATH", DEFAULT_PATH)
    return env


class Fencer:
    """The agent's end: spawn the watchdog and vouch for the actives."""

    def __init__(self) -> None:
        import subprocess  # noqa: PLC0415  (the agent's side only: the fencer process never needs it)
        self._timeout_expired = subprocess.TimeoutExpired
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-E", os.path.abspath(__file__)], env=fencer_environment(),
            stdin=subprocess.PIPE, preexec_fn=_die_with_parent, start_new_session=True)

    def vouch(self, seconds: float, groups: list[int], vips: list[str] = ()) -> None:
        """These are all the actives, legitimate for `seconds` from now."""
        self._write(vouch_line(seconds, groups, vips))

    def add(self, groups: list[int], vips: list[str] = ()) -> None:
        """These actives too, until the deadline the last `vouch` set."""
        self._write(add_line(groups, vips))

    def _write(self, line: bytes) -> None:
        try:
            self.proc.stdin.write(line)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the fencer is gone; the parent-death signal still covers a crash

    def close(self) -> None:
        """A clean stop: the agent demoted its services itself."""
        try:
            self.proc.stdin.write(BYE + b"\n")
            self.proc.stdin.flush()
        except OSError:
            pass
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
