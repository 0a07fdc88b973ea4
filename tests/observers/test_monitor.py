"""ServiceMonitor: hysteresis on real probes, publish-on-change, cold standby, dead child."""
from __future__ import annotations

import asyncio
import json
import time

import hypothesis
import hypothesis.strategies as st
import pytest

from overseer.desired.models import CheckDefaults, ServiceDoc
from overseer.observers.monitor import COLD_MESSAGE, ServiceMonitor, next_slot
from overseer.observers.probes import ProbeResult
from tests.support.peers.ami_server import AmiServer
from tests.support.peers.local import grower
from tests.support.secrets import write_secret
from tests.support.waiting import async_holds_for, async_poll_until


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def service(*checks: dict, name: str = "svc") -> ServiceDoc:
    return ServiceDoc.model_validate({
        "apiVersion": "overseer/v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"candidates": ["s1"], "actuator": {"type": "exec", "start": "true", "stop": "true"},
                 "checks": list(checks)}})


def switch_check(path, name: str = "switch") -> dict:
    """A command check whose exit code is whatever the file holds (0 ok, 1 warn, 2 fail)."""
    return {"name": name, "type": "command", "command": ["sh", "-c", f'exit "$(cat {path})"']}


def monitor(doc: ServiceDoc, published: list, clock=None, kept: int = 5, **kw) -> ServiceMonitor:
    return ServiceMonitor(cluster="c", server="s1", service=doc, defaults=CheckDefaults(),
                          results_kept=kept, publish=published.append, clock=clock or Clock(),
                          **kw)


async def test_steady_state_publishes_almost_nothing(tmp_path):
    flag = tmp_path / "flag"
    flag.write_text("0")
    published, clock = [], Clock()
    mon = monitor(service(switch_check(flag)), published, clock)
    mon.set_role("active")
    for _ in range(100):
        await mon.tick()
        clock.t += 0.05                      # 100 ticks within 5 s
    assert [o.status for o in published] == ["ok"]
    clock.t += 60
    await mon.tick()
    assert len(published) == 1                   # nothing changed: nothing rewritten, ever
    json.loads(published[0].to_json())


async def test_a_refresh_can_be_asked_for(tmp_path):
    flag = tmp_path / "flag"
    flag.write_text("0")
    published, clock = [], Clock()
    mon = monitor(service(switch_check(flag)), published, clock, refresh=10.0)
    mon.set_role("active")
    for _ in range(5):
        await mon.tick()
        clock.t += 0.05
    clock.t += 10
    await mon.tick()
    assert len(published) == 2 and published[-1].status == "ok"       # the value refresh
    obs = published[-1]
    assert len(obs.results) == 5 and all(r[1] == "ok" and r[2] == 0.0 for r in obs.results)


async def test_failure_published_only_after_fail_after_and_blip_never(tmp_path):
    flag = tmp_path / "flag"
    flag.write_text("0")
    published = []
    mon = monitor(service(switch_check(flag)), published)
    mon.set_role("active")
    await mon.tick()
    flag.write_text("2")
    await mon.tick()                         # a blip
    flag.write_text("0")
    for _ in range(5):
        await mon.tick()
    assert [o.status for o in published] == ["ok"]
    flag.write_text("2")
    await mon.tick()
    await mon.tick()
    assert mon.states[0].message.endswith("(fail in 2/3)")
    assert [o.status for o in published] == ["ok"]
    await mon.tick()
    assert [o.status for o in published] == ["ok", "fail"]
    assert published[-1].message == "sh exited 2" and published[-1].critical
    flag.write_text("0")
    await mon.tick()
    await mon.tick()
    assert [o.status for o in published] == ["ok", "fail", "ok"]


async def test_cold_standby_is_unknown_published_once_and_never_probed(tmp_path):
    marker = tmp_path / "ran"
    doc = service({"name": "touch", "type": "command", "command": ["touch", str(marker)]},
                  {"name": "alive", "type": "process"})
    published = []
    mon = monitor(doc, published)
    task = asyncio.create_task(mon.run())
    await async_poll_until(lambda: len(published) >= 2, 10, "the cold checks published")
    assert {(o.check, o.status, o.message) for o in published} == {
        ("touch", "unknown", COLD_MESSAGE), ("alive", "unknown", COLD_MESSAGE)}
    await async_holds_for(lambda: len(published) == 2 and not marker.exists(), 0.3, "cold: nothing probed")
    mon.set_role("standby")                  # warm standby: checks run
    await async_poll_until(marker.exists, 10, "the touch check to run on a warm standby")
    # both checks' first warm results published, so each has a cold message to go back to
    await async_poll_until(lambda: {o.check for o in published[2:] if o.message != COLD_MESSAGE}
                           == {"touch", "alive"}, 10, "both checks to publish on a warm standby")
    mon.set_role("stopped")
    mon.set_role("stopped")
    cold = [o for o in published[2:] if o.message == COLD_MESSAGE]
    assert len(cold) == 2 and all(o.status == "unknown" for o in cold)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_run_ticks_on_its_interval_and_writes_once(tmp_path):
    log = tmp_path / "log"
    doc = service({"name": "tick", "type": "command", "interval": "50ms",
                   "command": ["sh", "-c", f"echo x >> {log}"]})
    published = []
    mon = monitor(doc, published)
    mon.set_role("active")
    started = time.monotonic()
    task = asyncio.create_task(mon.run())
    await async_poll_until(lambda: log.exists() and len(log.read_text().splitlines()) >= 5, 20,
                           "five runs of the check")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    runs, took = len(log.read_text().splitlines()), time.monotonic() - started
    # it waits its interval between runs (a slower machine only runs it less often)
    assert runs <= took / 0.05 + 2, (runs, took)
    assert [o.status for o in published] == ["ok"]


async def test_dead_child_fails_at_once():
    published = []
    with grower() as (proc, _):
        mon = monitor(service({"name": "alive", "type": "process"}), published,
                      child_pid=lambda: proc.pid, epoch=lambda: 3)
        mon.set_role("active")
        await mon.tick()
        assert published[-1].status == "ok"
        proc.kill()
        proc.wait()
        mon.child_died("child exited with signal 9")
    assert [o.status for o in published] == ["ok", "fail"]
    assert published[-1].message == "child exited with signal 9"
    assert published[-1].results[-1][1] == "fail"


async def test_a_watched_main_process_exit_fails_its_checks_at_once(tmp_path):
    """An exec service's main process seen to exit (the actuator's pidfd) fails
    the checks about it at once, whatever failAfter; a check about another
    process keeps its own judgement."""
    pidfile = tmp_path / "svc.pid"
    published = []
    with grower() as (proc, _):
        pidfile.write_text(f"{proc.pid}\n")
        doc = service({"name": "main", "type": "process", "match": {"pidfile": str(pidfile)}, "failAfter": 5},
                      {"name": "other", "type": "process", "match": {"pidfile": str(pidfile)}, "failAfter": 5})
        mon = monitor(doc, published)
        mon.set_role("active")
        await mon.tick()
        assert {(o.check, o.status) for o in published} == {("main", "ok"), ("other", "ok")}
        proc.kill()
        proc.wait()
        mon.child_died("pbx: main process pid 1 from pidfile x exited", ("main",))
    fails = [o for o in published if o.status == "fail"]
    assert [o.check for o in fails] == ["main"]
    assert fails[0].message.endswith("exited")


async def test_secret_never_reaches_an_observation(tmp_path):
    ami = AmiServer(secret="right-secret").start()
    try:
        secret = tmp_path / "secret"
        write_secret(secret, "wrong-but-secret-XYZ\n")
        doc = service({"name": "ami", "type": "asterisk-ami", "port": ami.port,
                       "username": "overseer", "secretFile": str(secret), "failAfter": 1})
        published = []
        mon = monitor(doc, published)
        mon.set_role("active")
        await mon.tick()
        assert published[-1].status == "fail"
        assert "Authentication failed" in published[-1].message
        assert "wrong-but-secret-XYZ" not in published[-1].to_json()
    finally:
        ami.stop()


async def test_role_validation():
    mon = monitor(service(), [])
    with pytest.raises(ValueError, match="role must be one of"):
        mon.set_role("primary")


@hypothesis.given(started=st.floats(0, 1e7), interval=st.sampled_from([0.2, 0.5, 1.0, 2.0, 3.0, 10.0, 60.0]))
def test_next_slot_is_on_the_grid_about_one_interval_later(started, interval):
    slot = next_slot(started, interval)
    assert slot / interval == pytest.approx(round(slot / interval), abs=1e-6), "off the shared grid"
    assert interval * 0.5 - 1e-6 <= slot - started <= interval * 1.5 + 1e-6


def test_checks_started_apart_wake_together_after_the_first_run():
    # twenty checks started a few ms apart (as services come up) share their next wake-up
    slots = {next_slot(100.0 + i * 0.013, 1.0) for i in range(20)}
    assert slots == {101.0}


async def test_a_replication_lag_is_republished_as_it_moves():
    """The planner ranks standbys by the published lag: it must follow the
    probe, at once across 0 and maxLagOnFailover, else at most every lag_refresh."""
    lags = iter([0.0, 0.0, 100.0, 200.0, 300.0, 300.0, 400.0, 2_000_000.0, 0.0])
    published, clock = [], Clock()

    async def probe(check, ctx):
        return ProbeResult("ok", next(lags), "standby, replay lag")

    doc = service({"name": "repl", "type": "postgres-replication", "dsn": "host=127.0.0.1",
                   "critical": False, "maxLagOnFailover": "1MiB"})
    mon = monitor(doc, published, clock, probe=probe, lag_refresh=5.0)
    mon.set_role("standby")
    values = []
    for _ in range(9):
        await mon.tick()
        values.append([o.value for o in published])
        clock.t += 2.0
    assert values[1] == [0.0]                         # unchanged: nothing written
    assert values[2] == [0.0, 100.0]                  # away from 0: at once
    assert values[3] == values[4] == [0.0, 100.0]     # moved, but within lag_refresh
    assert values[5] == [0.0, 100.0, 300.0]           # lag_refresh passed since the last write
    assert values[7][-1] == 2_000_000.0               # past maxLagOnFailover: at once
    assert values[8][-1] == 0.0                       # back to 0: at once


async def test_other_checks_do_not_republish_a_moving_value():
    values = iter([1.0, 2.0, 3.0, 4.0])
    published, clock = [], Clock()

    async def probe(check, ctx):
        return ProbeResult("ok", next(values), "fine")

    mon = monitor(service({"name": "t", "type": "tcp", "port": 5}), published, clock, probe=probe)
    mon.set_role("active")
    for _ in range(4):
        await mon.tick()
        clock.t += 10.0
    assert [o.value for o in published] == [1.0]
