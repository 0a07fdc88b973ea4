"""A hook command with `user:` runs as that user, without capabilities, and still
dies with the agent; an unknown user is a failed outcome naming the field."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from overseer.desired.hooks import Hook
from overseer.reconciler.hooks.events import HookEvent
from overseer.reconciler.hooks.runner import HookRunner
from tests.support.run_as import NOBODY, needs_root, read_whoami, shared_dir, whoami_argv
from tests.support.waiting import poll_until

EVENT = HookEvent("qsuite", "pbx", "promote", "pbx2", "standby", "active", 412, "pbx1 is down", 1700000000.0)


@pytest.fixture(autouse=True)
def root():
    needs_root()


class Outcomes(list):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def __call__(self, outcome, services):
        with self.lock:
            self.append(outcome)


@pytest.fixture
def run():
    outcomes = Outcomes()
    runner = HookRunner(outcomes, backoff=0.01)

    def submit(hook: Hook):
        before = len(outcomes)
        assert runner.submit(EVENT, hook)
        poll_until(lambda: len(outcomes) > before, 20, "the hook's outcome")
        return outcomes[before]
    yield submit
    runner._stop.set()


def test_a_hook_command_runs_as_its_user(run):
    with shared_dir() as shared:
        outcome = run(Hook(command=whoami_argv(shared / "who"), user="nobody"))
        assert outcome.outcome == "ok", outcome.message()
        seen = read_whoami(shared / "who")
        assert (seen["uid"], seen["gid"], seen["user"]) == (str(NOBODY.pw_uid), str(NOBODY.pw_gid), "nobody")
        assert (seen["CapEff"], seen["CapBnd"], seen["NoNewPrivs"]) == ("0" * 16, "0" * 16, "1")


def test_an_unknown_user_is_a_failed_outcome_naming_the_field(run):
    outcome = run(Hook(command=["true"], user="no-such-user-here", attempts=1))
    assert outcome.message() == ("hook promote (command) on pbx2: failed after 1 attempt:"
                                 " not run: user: user 'no-such-user-here' does not exist on this server")


def test_a_failing_hook_as_a_user_still_says_why(run):
    outcome = run(Hook(command=["sh", "-c", "echo as $(id -u) >&2; exit 3"], user="nobody", attempts=1))
    assert outcome.detail == f"exited 3: as {NOBODY.pw_uid}"
    outcome = run(Hook(command=["/nonexistent/notify"], user="nobody", attempts=1))
    assert "cannot start /nonexistent/notify" in outcome.detail


def test_a_hook_as_a_user_dies_with_a_killed_agent():
    with shared_dir() as shared:
        pidfile = shared / "pid"
        agent = subprocess.Popen([sys.executable, "-c", f"""
import time
from overseer.desired.hooks import Hook
from overseer.reconciler.hooks.events import HookEvent
from overseer.reconciler.hooks.runner import HookRunner
runner = HookRunner()
runner.submit(HookEvent("c", "pbx", "promote", "s", "standby", "active", 1, "", 0.0),
              Hook(command=["sh", "-c", "echo $$ > {pidfile}; exec sleep 600"], user="nobody", timeout="10m"))
time.sleep(600)
"""])
        try:
            pid = int(poll_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, "the hook to start"))
            poll_until(lambda: open(f"/proc/{pid}/comm").read().strip() == "sleep", 5, "the hook to exec sleep")
            assert os.stat(f"/proc/{pid}").st_uid == NOBODY.pw_uid
            agent.send_signal(signal.SIGKILL)
            poll_until(lambda: not os.path.exists(f"/proc/{pid}") or
                       open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] == "Z",
                       5, "the hook to die with its agent")
        finally:
            agent.kill()
            agent.wait()
