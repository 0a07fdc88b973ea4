"""The hook runner with real subprocesses and a real local HTTP server: outcomes,
retries, timeouts, a hanging hook that blocks nobody, a full queue that drops."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading

import psutil
import pytest

from overseer.desired.hooks import Hook
from overseer.reconciler.hooks.events import HookEvent
from overseer.reconciler.hooks.runner import HookRunner
from tests.support.waiting import poll_until
from tests.support.webhook import WebhookServer

EVENT = HookEvent("qsuite", "pbx", "promote", "pbx2", "standby", "active", 412, "pbx1 is down", 1700000000.0)


class Outcomes:
    """What the runner hands to `record`, in arrival order (called on its threads)."""

    def __init__(self):
        self.items, self.lock = [], threading.Lock()

    def __call__(self, outcome, services):
        with self.lock:
            self.items.append((outcome, tuple(services)))

    def wait(self, n: int = 1, what: str = "hook outcomes"):
        poll_until(lambda: len(self.items) >= n, 20, what)
        return [o for o, _ in self.items]


def py(code: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code, *args)


@pytest.fixture
def outcomes():
    return Outcomes()


@pytest.fixture
def runner(outcomes):
    r = HookRunner(outcomes, backoff=0.01)
    yield r
    r._stop.set()


def test_command_gets_the_event_in_its_environment_and_never_etcd_credentials(runner, outcomes, tmp_path,
                                                                              monkeypatch):
    monkeypatch.setenv("OVERSEER_ETCD_PASSWORD", "secret")
    monkeypatch.setenv("OVERSEER_ETCD", "http://10.0.0.1:2379")
    out = tmp_path / "env.json"
    dump = "import json,os,sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))"
    assert runner.submit(EVENT, Hook(command=py(dump, str(out))))
    [outcome] = outcomes.wait()
    assert outcome.outcome == "ok" and outcome.attempts == 1, outcome
    env = json.loads(out.read_text())
    assert {k: env[k] for k in ("OVERSEER_CLUSTER", "OVERSEER_SERVICE", "OVERSEER_SERVER", "OVERSEER_ROLE",
                                "OVERSEER_EPOCH", "OVERSEER_EVENT", "OVERSEER_FROM", "OVERSEER_TO",
                                "OVERSEER_REASON")} == {
        "OVERSEER_CLUSTER": "qsuite", "OVERSEER_SERVICE": "pbx", "OVERSEER_SERVER": "pbx2",
        "OVERSEER_ROLE": "active", "OVERSEER_EPOCH": "412", "OVERSEER_EVENT": "promote",
        "OVERSEER_FROM": "standby", "OVERSEER_TO": "active", "OVERSEER_REASON": "pbx1 is down"}
    assert not [k for k in env if k.startswith("OVERSEER_ETCD")]
    assert outcome.message() == "hook promote (command) on pbx2: ok"


def test_a_failing_command_is_retried_and_its_reason_recorded(runner, outcomes, tmp_path):
    counter = tmp_path / "n"
    # fails twice (exit 3, a line on stderr), then succeeds
    code = ("import sys,pathlib; p=pathlib.Path(sys.argv[1]); n=int(p.read_text() or 0) if p.exists() else 0;"
            " p.write_text(str(n+1)); n < 2 and sys.exit('boom %d' % n)")
    runner.submit(EVENT, Hook(command=py(code, str(counter)), attempts=3))
    [outcome] = outcomes.wait()
    assert (outcome.outcome, outcome.attempts) == ("ok", 3), outcome
    assert "(after 3 attempts)" in outcome.message()
    counter.unlink()
    runner.submit(EVENT, Hook(command=py("import sys; sys.exit('no route to pager')"), attempts=2))
    outcome = outcomes.wait(2)[1]
    assert (outcome.outcome, outcome.attempts) == ("failed", 2)
    assert outcome.message() == ("hook promote (command) on pbx2: failed after 2 attempts:"
                                 " exited 1: no route to pager")


def test_a_hanging_command_times_out_its_group_is_killed_and_it_blocks_no_other_hook(outcomes, tmp_path):
    runner = HookRunner(outcomes, backoff=0.01, workers=2)
    pidfile = tmp_path / "pid"
    hang = py("import os,sys,time; open(sys.argv[1],'w').write(str(os.getpid())); time.sleep(600)", str(pidfile))
    try:
        runner.submit(EVENT, Hook(command=hang, timeout="3s", attempts=1))
        pid = int(poll_until(lambda: pidfile.exists() and pidfile.read_text(), 10, "the hanging hook to start"))
        # submit returned while the hook still runs; a second hook finishes meanwhile
        runner.submit(EVENT, Hook(command=py("pass")))
        first = outcomes.wait(1, "the quick hook")[0]
        assert first.outcome == "ok" and psutil.pid_exists(pid), "the quick hook waited for the hanging one"
        second = outcomes.wait(2, "the hanging hook's timeout")[1]
        assert second.outcome == "timed out", second
        assert "timed out after 3s; killed its process group" in second.message()
        poll_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
                   10, "the hung hook to be killed")
    finally:
        runner._stop.set()


def test_a_missing_command_fails_with_its_name(runner, outcomes):
    runner.submit(EVENT, Hook(command=("/nonexistent/notify",), attempts=1))
    [outcome] = outcomes.wait()
    assert outcome.outcome == "failed" and "cannot start /nonexistent/notify" in outcome.detail


def test_webhook_gets_the_json_body_and_is_retried_after_a_server_error(runner, outcomes):
    server = WebhookServer(status=(500, 200))
    try:
        runner.submit(EVENT, Hook(webhook=server.url, attempts=3), services=("pbx",))
        [outcome] = outcomes.wait()
        assert (outcome.kind, outcome.outcome, outcome.attempts) == ("webhook", "ok", 2), outcome
        assert outcomes.items[0][1] == ("pbx",)
        assert server.bodies[0] == server.bodies[1] == {
            "cluster": "qsuite", "service": "pbx", "event": "promote", "server": "pbx2", "from": "standby",
            "to": "active", "epoch": 412, "reason": "pbx1 is down", "time": 1700000000.0}
    finally:
        server.close()


def test_webhook_failures_and_timeouts_are_outcomes_not_exceptions(runner, outcomes):
    down = WebhookServer(status=(503,))
    hanging = WebhookServer(hang=True)
    try:
        runner.submit(EVENT, Hook(webhook=down.url, attempts=2))
        runner.submit(EVENT, Hook(webhook=hanging.url, timeout="500ms", attempts=1))
        results = {o.outcome: o for o in outcomes.wait(2)}
        assert results["failed"].detail == "HTTP 503 Service Unavailable" and results["failed"].attempts == 2
        assert results["timed out"].detail == "no answer within 0.5s"
    finally:
        down.close()
        hanging.close()


def test_command_and_webhook_each_get_their_own_outcome(runner, outcomes):
    server = WebhookServer()
    try:
        runner.submit(EVENT, Hook(command=py("import sys; sys.exit(2)"), webhook=server.url, attempts=1))
        got = {o.kind: o.outcome for o in outcomes.wait(2)}
        assert got == {"command": "failed", "webhook": "ok"}
    finally:
        server.close()


def test_a_full_queue_drops_with_a_log_line(outcomes, caplog, tmp_path):
    runner = HookRunner(outcomes, queue_size=1, workers=1, backoff=0.01)
    started = tmp_path / "started"
    hang = py("import sys,time; open(sys.argv[1],'w').close(); time.sleep(600)", str(started))
    caplog.set_level(logging.WARNING)
    try:
        assert runner.submit(EVENT, Hook(command=hang, timeout="60s", attempts=1))
        poll_until(started.exists, 10, "the worker to take the hanging hook")
        assert runner.submit(EVENT, Hook(command=py("pass")))          # waits in the queue
        assert not runner.submit(EVENT, Hook(command=py("pass")))      # no room: dropped
        assert "pbx: hook promote (command, epoch 412) dropped: 1 hooks already queued" in caplog.text
    finally:
        runner._stop.set()
        for proc in psutil.process_iter(["cmdline"]):
            if str(started) in " ".join(proc.info["cmdline"] or ()) and proc.pid != os.getpid():
                proc.kill()


def test_a_hung_command_never_holds_back_the_same_hooks_webhook(outcomes, tmp_path):
    runner = HookRunner(outcomes, backoff=0.01, workers=2)
    server = WebhookServer()
    started = tmp_path / "started"
    hang = py("import sys,time; open(sys.argv[1],'w').close(); time.sleep(600)", str(started))
    try:
        runner.submit(EVENT, Hook(command=hang, webhook=server.url, timeout="60s", attempts=1))
        poll_until(started.exists, 10, "the command to start")
        [outcome] = outcomes.wait(1, "the webhook while the command hangs")
        assert (outcome.kind, outcome.outcome) == ("webhook", "ok")
    finally:
        runner._running.kill_all()
        runner._stop.set()
        server.close()


def test_stopping_kills_the_commands_still_running_and_says_so(outcomes, tmp_path):
    runner = HookRunner(outcomes, backoff=0.01)
    pidfile = tmp_path / "pid"
    hang = py("import os,sys,time; open(sys.argv[1],'w').write(str(os.getpid())); time.sleep(600)", str(pidfile))
    runner.submit(EVENT, Hook(command=hang, timeout="600s", attempts=3))
    pid = int(poll_until(lambda: pidfile.exists() and pidfile.read_text(), 10, "the hanging hook to start"))
    asyncio.run(runner.drain(0.1))
    [outcome] = outcomes.wait(1, "the killed hook's outcome")
    assert (outcome.outcome, outcome.attempts, outcome.detail) == ("failed", 1, "killed: the agent stopped")
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
