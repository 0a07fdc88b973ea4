"""The simulator's checker: deadlines from the requirement, and checks that can fail.

Each planted bug here is a monkeypatch of the real code for one test; the
checker must report it as the operator would see it ("late", "never", a
blip that moved a service, a failover to the wrong server) within the stated
number of seeds.
"""
import math

import pytest

from overseer.observers import hysteresis
from overseer.reconciler.planner import health, memory
from overseer.reconciler.sim import bounds
from overseer.reconciler.sim.run import run, run_seed
from overseer.reconciler.sim.schedule import EXTRAS, KINDS, Fault, Schedule, ServicePlan, draw


def _schedule(*faults, services=(ServicePlan("pbx", "warm", ("s2", "s1", "s3"), 1, True),), **timers):
    values = dict(seed=1, ttl=3.0, interval=0.5, fail_after=2, margin=0.5, campaign_delay=1.0,
                  actuator_timeout=1.0)
    values.update(timers)
    return Schedule(services=tuple(services), faults=tuple(faults), **values)


def _first(seeds, invariant, words=()):
    """The first seed with a violation of `invariant` whose message has one of `words`."""
    for seed in seeds:
        result = run_seed(seed, keep_logs=False)
        for _, inv, message in result.violations:
            if inv == invariant and (not words or any(w in message for w in words)):
                return seed, message
    return None, None


def _failover_later_by(monkeypatch, seconds):
    """The master waits `seconds` longer than failoverMargin before it moves a dead server's actives."""
    plain = health.View.__init__

    def late(self, *args, **kwargs):
        plain(self, *args, **kwargs)
        self.margin += seconds
    monkeypatch.setattr(health.View, "__init__", late)


# --- the bounds ----------------------------------------------------------------------------

def test_every_fault_kind_the_simulator_draws_declares_its_bound():
    drawn = set(KINDS) | {"etcd_silent", "cleanup"}
    assert drawn <= set(bounds.KINDS), drawn - set(bounds.KINDS)
    for seed in range(1, 60):
        for fault in draw(seed).faults:
            bounds.kind_of(fault)


def test_a_fault_kind_without_a_bound_stops_the_run():
    with pytest.raises(bounds.UnknownFault, match="bounds.py"):
        run(_schedule(Fault("meteor", 10.0, server="s1")))


def test_the_deadlines_are_the_documented_formulas():
    s = _schedule()   # leaseTTL 3, failoverMargin 0.5, campaignDelay 1, actuator timeout 1, failAfter 2 x 0.5 s
    candidates = {"pbx": ("s2", "s1", "s3")}

    def at(fault, master="s1", earlier=()):
        found = bounds.deadlines(fault, bounds.Situation(s, master, candidates, earlier))
        return [round(d.at - fault.at, 3) for d in found]

    # lost at its start; once restarted, a lease of vouches before it moves anything as a new master
    assert at(Fault("agent_crash", 10.0, 20.0, server="s2")) == [3 + 0.5 + 2 + 1, 20 + 3 + 0.5 + 2 + 1]
    assert at(Fault("agent_pause", 10.0, 20.0, server="s2")) == [3 + 0.5 + 2 + 1]
    assert at(Fault("cut", 10.0, 20.0, server="s1", etcd=True)) == [3 + 0.5 + 3 + 2 + 1]   # the master
    assert at(Fault("cut", 10.0, 20.0, server="s2", etcd=False, peers=True)) == []
    assert at(Fault("proc_crash", 10.0, server="s2", service="pbx")) == [1 + 2 + 1]
    again = Fault("proc_crash", 5.0, server="s2", service="pbx")
    # the second restart in place waits 1 s, the third 2 s (the documented back-off)
    assert at(Fault("proc_crash", 10.0, server="s2", service="pbx"), earlier=(again,)) == [1 + 1 + 2 + 1]
    assert at(Fault("proc_crash", 10.0, server="s2", service="pbx"), earlier=(again, again)) == [1 + 2 + 2 + 1]
    assert at(Fault("flap", 10.0, 4.0, server="s2", service="pbx")) == [4 + 1 + 2 + 2 + 1]
    assert at(Fault("act_hang", 10.0, 4.0, server="s2", service="pbx")) == [4 + 1 + 5 + 2 + 1]
    assert at(Fault("etcd_down", 10.0, 4.0)) == [4 + 3 + 0.5 + 3 + 2 + 1]
    assert at(Fault("switchover", 10.0, service="pbx")) == [2 + 2 + 1]
    assert at(Fault("apply", 10.0, service="pbx")) == []


def test_a_colocated_group_shares_a_fault_s_deadline_plus_one_member_s_move():
    # A switchover of the anchor moves its follower too (seed 4981), a failing
    # follower its anchor (seed 4112): the other member follows one handover
    # and one start + promote later. A fault that gave both a deadline of
    # their own extends only the follower's.
    s = _schedule(services=(ServicePlan("pbx", "warm", ("s1", "s2")),
                            ServicePlan("dialer", "warm", ("s1", "s2"), vip=1, colocate="pbx"),
                            ServicePlan("web", "warm", ("s1", "s2"))))
    sit = bounds.Situation(s, "s3", {p.name: p.candidates for p in s.services})

    def at(fault):   # the latest per service: the one an outage is judged by
        latest: dict = {}
        for d in bounds.deadlines(fault, sit):
            latest[d.service] = max(latest.get(d.service, 0.0), round(d.at - fault.at, 3))
        return sorted(latest.items())

    move = 2 + 2   # demote + stop, start + promote, at actuator timeout 1
    assert at(Fault("switchover", 10.0, service="pbx")) == [("dialer", 5 + move), ("pbx", 5)]
    assert at(Fault("act_fail", 10.0, 4.0, server="s1", service="dialer")) == [
        ("dialer", 4 + 1 + 5 + 2 + 1), ("pbx", 4 + 1 + 5 + 2 + 1 + move)]
    assert at(Fault("etcd_down", 10.0, 4.0)) == [
        ("dialer", 4 + 3 + 0.5 + 3 + 2 + 1 + move), ("pbx", 4 + 3 + 0.5 + 3 + 2 + 1), ("web", 4 + 3 + 0.5 + 3 + 2 + 1)]
    assert at(Fault("switchover", 10.0, service="web")) == [("web", 5)]
    # a server refusing the follower's address: the group leaves it only where
    # it was active there, which the follower's own deadline covers
    assert [name for name, _ in at(Fault("vip_fail", 10.0, 4.0, server="s1"))] == ["dialer"]
    assert at(Fault("flap", 10.0, 0.0, server="s1", service="pbx", blip=True)) == [("pbx", 1 + 2 + 2 + 1)]


def test_a_run_lasts_past_every_deadline_and_one_outage_bound_more():
    for seed in range(1, 40):
        s = draw(seed)
        sit = bounds.Situation(s, bounds.ANY, {p.name: p.candidates for p in s.services})
        for fault in s.faults:
            for d in bounds.deadlines(fault, sit):
                assert s.end >= d.at + bounds.returned(s), (seed, fault)


# --- liveness: decisive ------------------------------------------------------------------------

def test_finds_a_planted_failover_that_never_happens(monkeypatch):
    """A master that never moves a dead server's actives (it waits for the
    server to return): reported "late" when the server came back by itself
    after the deadline, "never" when it did not. Found within 20 seeds
    (first at seed 7, where s1, the master, is cut off from etcd for long:
    web late by 19.4 s, when s1 came back)."""
    _failover_later_by(monkeypatch, 1e6)
    seed, message = _first(range(1, 21), "liveness", ("late by", "never"))
    assert seed is not None


def test_finds_a_planted_failover_10_seconds_late(monkeypatch):
    """The same, moving them 10 s after the margin. Found within 20 seeds
    (first at seed 7: web late by 2.4 s, s1 being the master: the rest of
    the 10 s is the election and the start + promote its bound allows for)."""
    _failover_later_by(monkeypatch, 10.0)
    seed, message = _first(range(1, 21), "liveness", ("late by",))
    assert seed is not None, "a failover 10 s late went unseen"


def test_a_server_gone_for_good_leaves_no_replica_missing(monkeypatch):
    """A replicas-2 service at 1 of 2 is an outage: s2 is gone for good, s3
    could serve. Without the planted bug it is whole again in time; with
    it the checker says "never"."""
    schedule = _schedule(Fault("agent_crash", 12.0, math.inf, server="s2"),
                         services=(ServicePlan("pbx", "warm", ("s2", "s1", "s3"), 2, True),))
    assert run(schedule).violations == []
    _failover_later_by(monkeypatch, 1e6)
    [(_, invariant, message)] = run(schedule).violations
    assert invariant == "liveness" and message.startswith("pbx: never: 1 of 2 actives since 12.00"), message
    assert "s3 could serve" in message


def test_no_live_candidate_is_exempt_and_the_trace_says_why():
    """s1 (the active) dies while s2, the only other candidate, is cut off
    from etcd: exempt, said so; once s2 is back, the service must follow."""
    result = run(_schedule(Fault("cut", 11.0, 15.0, server="s2", etcd=True),
                           Fault("agent_crash", 12.0, 20.0, server="s1"),
                           services=(ServicePlan("pbx", "cold", ("s1", "s2"), 1, True),)))
    assert result.violations == []
    assert "passed with no live candidate (s1: agent down; s2: cannot reach etcd): exempt" in result.trace
    assert "s2 became a live candidate at 26.00" in result.trace
    assert "PROCESS pbx: running -> active" in result.trace.split("s2 became a live candidate")[1]


# --- calm in every schedule ----------------------------------------------------------------------

def test_finds_a_planted_move_on_one_failed_probe_in_a_mixed_schedule(monkeypatch):
    """failAfter forced to 1: a single failed probe (a labelled blip) fails
    the check and moves the service. Caught in a schedule that also has real
    faults within 20 seeds (first at seed 9)."""
    plain = hysteresis.Hysteresis.__init__
    monkeypatch.setattr(hysteresis.Hysteresis, "__init__",
                        lambda self, fail_after, recover_after, kept=30: plain(self, 1, recover_after, kept))
    for seed in range(1, 21):
        result = run_seed(seed, keep_logs=False)
        if not result.schedule.calm and any(inv == "calm" for _, inv, _ in result.violations):
            return
    pytest.fail("a blip that moved a service in a mixed schedule went unseen")


# --- failure memory that expires ----------------------------------------------------------------

def test_finds_a_planted_failure_memory_that_never_expires(monkeypatch):
    """Remembered failures that never expire: after failureTimeout (drawn
    short in some seeds) the first candidate must rank first again. Found
    within 80 seeds (first at seed 71; 3 of seeds 1..300)."""
    monkeypatch.setattr(memory, "live_count",
                        lambda record, timeout, now: record.count if record is not None and record.count > 0 else 0)
    seed, message = _first(range(1, 81), "placement")
    assert seed is not None, "failures that never expire went unseen"
    assert "expired at" in message


def test_short_failure_memory_comes_from_a_generator_of_its_own():
    changed = [seed for seed in range(1, 200) if draw(seed).failure_timeout != 600.0]
    assert changed
    for seed in changed[:10]:
        assert draw(seed, extras=EXTRAS[:3]).failure_timeout == 600.0
