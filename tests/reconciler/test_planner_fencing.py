"""Fence agents in the pure planner: a dead server with `fence` is powered off
(its fence agent succeeded in this outage) before anyone takes over what it
may still run; until then the move is held and a FenceServer asked for, once
per attempt, retried after a back-off. Servers without `fence` move as always."""
from __future__ import annotations

from overseer.reconciler.planner import Assign, FenceServer, Record, next_wakeup
from overseer.reconciler.planner.fencing import LOST_AFTER, RETRY_CAP, retry_delay
from tests.reconciler.planner_world import World, desired, only_assign, service

DOMAINS = {"pbx1": "switch-a", "pbx2": "switch-b", "pbx3": "switch-a"}
ALL_OK = {"pbx1": "ok", "pbx2": "ok", "pbx3": "ok"}
MARGIN = 0.5


def state(*services, fenced=("pbx1", "pbx2", "pbx3")):
    services = services or (service("asterisk", ["pbx1", "pbx2", "pbx3"]),)
    return desired(DOMAINS, list(services), margin=MARGIN, fenced=fenced)


def settled(s) -> World:
    return World(live=dict(ALL_OK)).settle(s)


def fences(actions) -> list[FenceServer]:
    return [a for a in actions if isinstance(a, FenceServer)]


def test_a_dead_active_is_fenced_before_it_moves():
    s = state()
    w = settled(s)
    w.kill("pbx1", 10.0)
    assert w.plan(s, 10.2) == []                        # the margin runs: nothing yet
    asked = w.plan(s, 10.5)
    assert [(f.server, f.services, f.attempt) for f in asked] == [("pbx1", ("asterisk",), 1)]
    assert "pbx1 is down (gone 0.5s ago) and may still run it as active" in asked[0].reason
    assert not [a for a in asked if isinstance(a, (Assign, Record))]   # held: nothing written
    w.fence("pbx1", "pending", started=10.5)
    assert w.plan(s, 11.0) == []                        # the attempt runs: not asked again
    w.fence("pbx1", "ok", started=10.5, ended=10.9)
    moved = w.step(s, 11.0)
    a = only_assign(moved)
    assert a.active == ("pbx2",) and a.gone == ("pbx1",)
    assert "pbx1: down (gone 1.0s ago), fenced by its fence agent in 0.4s" in a.reason, a.reason
    assert not fences(moved)


def test_a_server_without_a_fence_agent_moves_at_its_margin_as_always():
    plain = state(fenced=())
    others = state(fenced=("pbx2", "pbx3"))             # pbx1 itself has no fence agent
    plans = []
    for s in (plain, others):
        w = settled(s)
        w.kill("pbx1", 10.0)
        plans.append((w.plan(s, 10.2), w.plan(s, 10.5)))
    assert plans[0] == plans[1]
    assert plans[0][0] == [] and only_assign(plans[0][1]).active == ("pbx2",)


def test_a_failed_fence_is_retried_after_a_back_off_from_its_end():
    s = state()
    w = settled(s)
    w.kill("pbx1", 10.0)
    w.fence("pbx1", "failed", started=10.5, ended=12.0, message="exit 1: Unable to connect to BMC")
    assert w.plan(s, 12.5) == []                                   # backing off
    assert next_wakeup(s, w.actual(), w.assignments, 12.5) == 12.0 + retry_delay(1)
    again = fences(w.plan(s, 13.0))
    assert [(f.server, f.attempt) for f in again] == [("pbx1", 2)]
    w.fence("pbx1", "failed", started=13.0, ended=13.1, attempt=2, message="exit 1: Unable to connect to BMC")
    assert w.plan(s, 14.0) == [] and fences(w.plan(s, 15.1))[0].attempt == 3
    assert "fence attempt 2 failed: exit 1: Unable to connect to BMC" in fences(w.plan(s, 15.1))[0].reason


def test_retry_delays_double_up_to_the_cap():
    assert [retry_delay(n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert retry_delay(6) == RETRY_CAP == retry_delay(40)


def test_a_pending_attempt_whose_master_died_is_taken_up_after_its_timeout():
    s = state()
    w = settled(s)
    w.kill("pbx1", 10.0)
    w.fence("pbx1", "pending", started=10.5)            # timeout 10 s
    assert w.plan(s, 10.5 + 10.0 + LOST_AFTER - 0.1) == []
    assert next_wakeup(s, w.actual(), w.assignments, 11.0) == 10.5 + 10.0 + LOST_AFTER
    late = fences(w.plan(s, 10.5 + 10.0 + LOST_AFTER))
    assert [(f.server, f.attempt) for f in late] == [("pbx1", 2)]


def test_an_operator_confirmation_counts_as_fenced():
    s = state()
    w = settled(s)
    w.kill("pbx1", 10.0)
    w.fence("pbx1", "failed", started=10.5, ended=12.0, attempt=4)
    w.fence("pbx1", "confirmed", started=20.0)
    a = only_assign(w.step(s, 20.1))
    assert a.active == ("pbx2",) and "fence confirmed by an operator" in a.reason


def test_one_fence_for_every_service_that_waits_for_the_server():
    s = state(service("asterisk", ["pbx1", "pbx2"]), service("web", ["pbx1", "pbx3"]),
              service("db", ["pbx2", "pbx1"]))
    w = settled(s)
    w.kill("pbx1", 10.0)
    asked = w.plan(s, 10.5)
    assert [(f.server, f.services) for f in fences(asked)] == [("pbx1", ("asterisk", "web"))]
    assert [a.service for a in asked if isinstance(a, Assign)] == ["db"]   # a standby change only
    assert asked[-1] == fences(asked)[0]                # fences come after every service's actions


def test_a_dead_server_reporting_active_is_fenced_too():
    # pbx3 still reports active from an old assignment (its promote may be
    # frozen with it): a move of asterisk waits for its fence as well
    s = state()
    w = settled(s)
    w.report("pbx3", "asterisk", "active")
    w.kill("pbx3", 10.0)
    w.check("pbx1", "asterisk", "alive", "fail", "process asterisk not running")
    w.step(s, 10.6)                                     # phase 1: demote pbx1
    w.report("pbx1", "asterisk", "standby")
    w.ack("asterisk", "pbx2")
    asked = w.plan(s, 11.0)
    assert [f.server for f in fences(asked)] == ["pbx3"] and not [a for a in asked if isinstance(a, Assign)]
    w.fence("pbx3", "ok", started=11.0, ended=11.2)
    assert only_assign(w.step(s, 11.3)).active == ("pbx2",)


def test_no_fence_while_nothing_has_to_move():
    # a dead standby is never fenced, and a dead active without a successor
    # stays listed (held) without a fence: nobody would take over anyway
    s = state(service("asterisk", ["pbx1", "pbx2"]))
    w = settled(s)
    w.kill("pbx2", 10.0)
    assert not fences(w.plan(s, 11.0))
    w.revive("pbx2")
    w.step(s, 11.0)
    w.kill("pbx1", 20.0)
    w.check("pbx2", "asterisk", "alive", "fail", "dead")
    assert w.plan(s, 21.0) == []
    assert w.assignments["asterisk"].active == ("pbx1",)


def test_a_returning_server_needs_a_new_fence_next_time():
    s = state()
    w = settled(s)
    w.kill("pbx1", 10.0)
    w.fence("pbx1", "ok", started=10.5, ended=10.7)
    w.revive("pbx1")                                    # its registration deletes the record
    w.kill("pbx1", 30.0)
    assert [f.attempt for f in fences(w.plan(s, 30.5))] == [1]
