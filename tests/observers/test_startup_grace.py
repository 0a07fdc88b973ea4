"""Start-up grace: failures right after a (re)start are `starting`, count for
nothing, and the first answer or the grace's end makes the check judge as always."""
from __future__ import annotations

from typing import Optional

import pytest

from overseer.desired.models import CheckDefaults, ServiceDoc
from overseer.observers.monitor import ServiceMonitor
from overseer.observers.probes import ProbeResult
from tests.observers.test_monitor import Clock


def service(*checks: dict, grace: Optional[str] = None) -> ServiceDoc:
    spec = {"candidates": ["s1"], "actuator": {"type": "exec", "start": "true", "stop": "true"},
            "checks": list(checks)}
    if grace is not None:
        spec["startupGrace"] = grace
    return ServiceDoc.model_validate({"apiVersion": "overseer/v1", "kind": "Service",
                                      "metadata": {"name": "pbx"}, "spec": spec})


class Target:
    """What the probe finds: `fail` until it `listens`, then `ok`."""

    def __init__(self) -> None:
        self.status = "fail"

    async def probe(self, check, ctx) -> ProbeResult:
        return ProbeResult(self.status, None, "connection refused" if self.status == "fail" else "pong")


def monitor(doc: ServiceDoc, published: list, clock: Clock, target: Target) -> ServiceMonitor:
    return ServiceMonitor(cluster="c", server="s1", service=doc,
                          defaults=CheckDefaults(interval="1s", failAfter=2), results_kept=30,
                          publish=published.append, clock=clock, monotonic=clock, probe=target.probe)


CMD = {"name": "ami", "type": "command", "command": "true"}


async def _ticks(mon: ServiceMonitor, clock: Clock, n: int, step: float = 1.0) -> None:
    for _ in range(n):
        await mon.tick()
        clock.t += step


async def test_failures_inside_the_grace_are_starting_and_count_for_nothing():
    published, clock, target = [], Clock(), Target()
    mon = monitor(service({**CMD, "startupGrace": "10s"}), published, clock, target)
    mon.set_role("active")
    mon.begin_grace()
    await _ticks(mon, clock, 8)                      # 8 failures, failAfter 2: no verdict
    assert [o.status for o in published] == ["starting"]
    last = mon.states[0]
    assert [r[1] for r in last.hyst.results] == ["starting"] * 8    # nothing red kept
    assert "starting" in last.message and "grace left" in last.message
    target.status = "ok"
    await _ticks(mon, clock, 1)
    assert [o.status for o in published] == ["starting", "ok"]
    assert all(r[1] != "fail" for r in published[-1].results)


async def test_an_answer_ends_the_grace_at_once():
    published, clock, target = [], Clock(), Target()
    mon = monitor(service({**CMD, "startupGrace": "1m"}), published, clock, target)
    mon.set_role("active")
    mon.begin_grace()
    target.status = "ok"
    await _ticks(mon, clock, 1)
    target.status = "fail"
    await _ticks(mon, clock, 2)                      # well inside the minute: counted as always
    assert [o.status for o in published] == ["ok", "fail"]
    assert [r[1] for r in published[-1].results] == ["ok", "fail", "fail"]


async def test_a_check_still_failing_when_the_grace_ends_counts_from_then():
    published, clock, target = [], Clock(), Target()
    mon = monitor(service({**CMD, "startupGrace": "5s"}), published, clock, target)
    mon.set_role("active")
    mon.begin_grace()
    await _ticks(mon, clock, 5)                      # t = 0..4: inside the grace
    assert [o.status for o in published] == ["starting"]
    await _ticks(mon, clock, 1)                      # t = 5: the grace is over, 1/2
    assert published[-1].status == "unknown" and "fail in 1/2" in published[-1].message
    await _ticks(mon, clock, 1)                      # t = 6: failAfter reached
    assert published[-1].status == "fail"
    # caught at most the grace later than without one (failAfter x interval = 2 s)
    assert published[-1].time - 1_000_000.0 <= 5.0 + 2.0


async def test_no_grace_without_a_start():
    published, clock, target = [], Clock(), Target()
    mon = monitor(service({**CMD, "startupGrace": "1m"}), published, clock, target)
    mon.set_role("active")                           # a check changed on a running service
    await _ticks(mon, clock, 2)
    assert [o.status for o in published] == ["unknown", "fail"]


async def test_a_dead_child_ends_the_grace():
    published, clock, target = [], Clock(), Target()
    doc = service({"name": "alive", "type": "process"}, CMD, grace="1m")
    mon = monitor(doc, published, clock, target)
    mon.set_role("active")
    mon.begin_grace()
    await _ticks(mon, clock, 1)
    mon.child_died("child exited with code 1")
    await _ticks(mon, clock, 2)
    by_check = {o.check: o.status for o in published}
    assert by_check == {"alive": "fail", "ami": "fail"}


async def test_going_cold_forgets_the_grace():
    published, clock, target = [], Clock(), Target()
    mon = monitor(service({**CMD, "startupGrace": "1m"}), published, clock, target)
    mon.set_role("active")
    mon.begin_grace()
    mon.set_role("stopped")
    mon.set_role("active")                           # running again without a start step
    await _ticks(mon, clock, 2)
    assert published[-1].status == "fail"


@pytest.mark.parametrize("check, service_grace, expected", [
    ({"type": "asterisk-ami", "username": "o", "secretFile": "/s"}, None, 20.0),
    ({"type": "asterisk-channels", "username": "o", "secretFile": "/s"}, None, 20.0),
    ({"type": "sip-options"}, None, 20.0),
    ({"type": "command", "command": "true"}, None, 0.0),
    ({"type": "http", "url": "http://127.0.0.1/"}, None, 0.0),
    ({"type": "process"}, None, 0.0),
    ({"type": "asterisk-ami", "username": "o", "secretFile": "/s"}, "5s", 5.0),     # the Service's
    ({"type": "command", "command": "true"}, "5s", 5.0),
    ({"type": "sip-options", "startupGrace": "0s"}, "5s", 0.0),                      # the check's own
    ({"type": "command", "command": "true", "startupGrace": "45s"}, "5s", 45.0),
])
def test_which_grace_a_check_gets(check, service_grace, expected):
    published, clock = [], Clock()
    mon = monitor(service({"name": "c", **check}, grace=service_grace), published, clock, Target())
    assert mon.states[0].grace == expected
