"""Exec and systemd services' main processes: their exit reaches `on_exit` at
once through a pidfd, as a supervised child's does; a pid that is not the
service's process is never watched. Real daemons, real kills."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import pytest

from overseer.actuators import build_actuator
from overseer.desired.checks import ProcessCheck
from overseer.desired.models import ExecActuator, SystemdActuator
from tests.support.waiting import async_holds_for, async_poll_until

from .conftest import wait_file

PY = sys.executable
pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs os.pidfd_open (Linux 5.3+)")


def process_check(check: str = "alive", interval: str | None = None, **match) -> ProcessCheck:
    fields = {"name": check, "type": "process", "match": match}
    if interval is not None:
        fields["interval"] = interval
    return ProcessCheck.model_validate(fields)


def daemon(pidfile, program: str = "sleep 60", delay: float = 0.0) -> list[str]:
    """A start command that leaves a daemon behind and writes its pid (after `delay`)."""
    pause = f"sleep {delay}; " if delay else ""
    return ["sh", "-c", f"{program} >/dev/null 2>&1 & pid=$!; {pause}echo $pid > {pidfile}"]


def kill_from(pidfile) -> list[str]:
    return ["sh", "-c", f"kill -9 $(cat {pidfile})"]


class Exits:
    """The agent's side of on_exit: every call, in order."""

    def __init__(self, actuator) -> None:
        self.calls: list[tuple] = []
        actuator.on_exit = lambda *call: self.calls.append(call)


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def pids():
    """Processes a test leaves running die with it."""
    started: list[int] = []
    yield started
    for pid in started:
        kill(pid)


def _followed_daemon(pidfile, *checks):
    """An exec service whose start forks a daemon writing `pidfile`, following
    `checks` (by default one process check on that pidfile), and its exits."""
    act = build_actuator("pbx", ExecActuator.model_validate(
        {"type": "exec", "start": daemon(pidfile), "stop": kill_from(pidfile)}))
    act.follow(list(checks) or [process_check(pidfile=str(pidfile))])
    return act, Exits(act)


async def test_exec_pidfile_process_exit_is_reported_at_once(ctx, tmp_path, pids):
    """The exit is an event: with the process check an hour apart, on_exit
    within the wait can only be the watch (how fast is bench/exec_death.py's)."""
    pidfile = tmp_path / "svc.pid"
    act, exits = _followed_daemon(pidfile, process_check(pidfile=str(pidfile), interval="1h"))
    await act.start(ctx)
    pid = int(wait_file(pidfile))
    pids.append(pid)
    await async_poll_until(lambda: act.watched, 5, "the daemon to be watched")
    assert act.watched.pid == pid and act.followed == ("alive",)
    os.kill(pid, signal.SIGKILL)
    await async_poll_until(lambda: exits.calls, 5, "on_exit after kill -9")
    service, code, message = exits.calls[0]
    assert (service, code) == ("pbx", None)
    assert f"pid {pid} from pidfile {pidfile}" in message and "exited" in message
    assert act.watched is None and len(exits.calls) == 1


async def test_a_stop_we_ran_is_no_exit(ctx, tmp_path, pids):
    pidfile = tmp_path / "svc.pid"
    act, exits = _followed_daemon(pidfile)
    await act.start(ctx)
    pids.append(int(wait_file(pidfile)))
    await async_poll_until(lambda: act.watched, 5, "the daemon to be watched")
    await act.stop(ctx)
    await async_holds_for(lambda: not exits.calls and act.watched is None, 0.3, "no exit reported for a stop")


async def test_a_restart_watches_the_new_process(ctx, tmp_path, pids):
    """The watch is bound to one process; a start resolves the pid again."""
    pidfile = tmp_path / "svc.pid"
    act, exits = _followed_daemon(pidfile)
    for n in (1, 2):
        pidfile.unlink(missing_ok=True)
        await act.start(ctx)
        pid = int(wait_file(pidfile))
        pids.append(pid)
        await async_poll_until(lambda: act.watched and act.watched.pid == pid, 5, f"start {n} watched")
        os.kill(pid, signal.SIGKILL)
        await async_poll_until(lambda: len(exits.calls) == n, 5, f"exit {n} reported")
        assert f"pid {pid} " in exits.calls[-1][2]


async def test_a_pidfile_written_late_is_waited_for(ctx, tmp_path, pids):
    pidfile = tmp_path / "svc.pid"
    act = build_actuator("pbx", ExecActuator.model_validate(
        {"type": "exec", "start": ["sh", "-c", " ".join(daemon(pidfile, delay=0.3)[2:]) + " &"],
         "stop": kill_from(pidfile), "timeout": "5s"}))
    act.follow([process_check(pidfile=str(pidfile))])
    exits = Exits(act)
    await act.start(ctx)
    pid = int(wait_file(pidfile))
    pids.append(pid)
    await async_poll_until(lambda: act.watched, 5, "the late pidfile's daemon to be watched")
    os.kill(pid, signal.SIGKILL)
    await async_poll_until(lambda: exits.calls, 5, "on_exit after kill -9")


async def test_a_pidfile_older_than_its_process_names_a_reused_pid(ctx, tmp_path, pids):
    """A pidfile last written before its pid's process started is stale: that
    pid was reused by another process, which is not watched."""
    other = await asyncio.create_subprocess_exec("sleep", "60")
    pids.append(other.pid)
    pidfile = tmp_path / "svc.pid"
    pidfile.write_text(f"{other.pid}\n")
    an_hour_ago = time.time() - 3600
    os.utime(pidfile, (an_hour_ago, an_hour_ago))
    act = build_actuator("pbx", ExecActuator.model_validate({"type": "exec", "start": "true", "stop": "true"}))
    act.follow([process_check(pidfile=str(pidfile))])
    exits = Exits(act)
    await act.start(ctx)
    await async_poll_until(lambda: "reused pid" in act.not_watched, 5, "the stale pidfile refused")
    assert act.watched is None
    other.kill()
    await other.wait()
    await async_holds_for(lambda: not exits.calls, 0.2, "no exit reported for another process")


async def test_a_pidfile_naming_another_program_is_not_watched(ctx, tmp_path, pids):
    """With a name check beside the pidfile check, the pidfile's pid must be that program."""
    pidfile = tmp_path / "svc.pid"
    act, exits = _followed_daemon(pidfile, process_check("pid", pidfile=str(pidfile)),
                                  process_check("named", name="kamailio"))
    await act.start(ctx)
    pid = int(wait_file(pidfile))
    pids.append(pid)
    await async_poll_until(lambda: act.not_watched, 5, "the pidfile refused")
    assert "is not the process named kamailio" in act.not_watched, act.not_watched
    os.kill(pid, signal.SIGKILL)
    await async_holds_for(lambda: not exits.calls, 0.2, "no exit reported for another program")


async def test_a_name_match_watches_the_root_of_its_processes(ctx, tmp_path, pids):
    """A postmaster and its backends share a command line: the one whose parent
    does not match is the service; a backend's exit is not the service's."""
    token = f"overseer-test-main-{os.getpid()}-{time.monotonic_ns()}"
    roots, kids = tmp_path / "root", tmp_path / "kid"
    prog = (f"import os,sys,time\nif os.fork() == 0:\n    open('{kids}','w').write(str(os.getpid()))\n"
            f"    time.sleep(60)\nopen('{roots}','w').write(str(os.getpid()))\ntime.sleep(60)\n")
    act = build_actuator("pbx", ExecActuator.model_validate(
        {"type": "exec", "start": ["sh", "-c", f'{PY} -c "$0" {token} >/dev/null 2>&1 &', prog],
         "stop": "true"}))
    act.follow([process_check(cmdline=token)])
    exits = Exits(act)
    await act.start(ctx)
    root, kid = int(wait_file(roots)), int(wait_file(kids))
    pids.extend([root, kid])
    await async_poll_until(lambda: act.watched, 5, "the root to be watched")
    assert act.watched.pid == root
    os.kill(kid, signal.SIGKILL)
    await async_holds_for(lambda: not exits.calls, 0.2, "no exit reported for a backend")
    os.kill(root, signal.SIGKILL)
    await async_poll_until(lambda: exits.calls, 5, "the root's exit")


FAKE_SYSTEMCTL = """#!/bin/sh
# a stand-in for systemctl: start/stop/is-active/show -p MainPID --value of one unit
state={state}
case "$1" in
  start) sleep 60 >/dev/null 2>&1 & echo $! > $state ;;
  stop) kill $(cat $state) 2>/dev/null; echo 0 > $state ;;
  is-active) test -s $state && kill -0 $(cat $state) 2>/dev/null ;;
  show) cat $state 2>/dev/null || echo 0 ;;
esac
"""


async def test_systemd_unit_main_pid_exit_is_reported_at_once(ctx, tmp_path, pids):
    """systemd is not PID 1 in the test container: a stand-in answers MainPID."""
    state = tmp_path / "mainpid"
    fake = tmp_path / "systemctl"
    fake.write_text(FAKE_SYSTEMCTL.format(state=state))
    fake.chmod(0o755)
    act = build_actuator("pbx", SystemdActuator.model_validate({"type": "systemd", "unit": "asterisk.service"}),
                         systemctl=str(fake))
    act.follow([])
    exits = Exits(act)
    await act.start(ctx)
    pid = int(wait_file(state))
    pids.append(pid)
    await async_poll_until(lambda: act.watched, 5, "the unit's MainPID to be watched")
    assert act.watched.pid == pid
    await act.stop(ctx)    # our own stop: no exit
    await async_holds_for(lambda: not exits.calls, 0.2, "no exit reported for a stop")
    await act.start(ctx)
    await async_poll_until(lambda: act.watched and act.watched.pid != pid, 5, "the new MainPID watched")
    pid = act.watched.pid
    pids.append(pid)
    os.kill(pid, signal.SIGKILL)
    await async_poll_until(lambda: exits.calls, 5, "on_exit after kill -9")
    assert f"unit asterisk.service (pid {pid}) exited" in exits.calls[0][2]
