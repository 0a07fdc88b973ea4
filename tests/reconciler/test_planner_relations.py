"""Relationships in the plan: start order (`requires`) and colocation (`colocateWith`).

`run` plays the agents as the real ones act: every live server assigned
active promotes and reports it, standbys report standby; after each plan it
checks that a colocated pair is never assigned apart and that nothing is
promoted before what it depends on reported active.
"""
from __future__ import annotations

from dataclasses import replace

from overseer.desired.models import ServiceDoc
from overseer.desired.state import ServerRecord, ServiceReport
from overseer.reconciler.planner import Assign, ClearSwitchover, Record, plan, what_if_down
from overseer.reconciler.planner.relations import stop_order, unadoptable
from tests.reconciler.planner_world import World, assigns, desired, service

DOMAINS = {"a": "rack-1", "b": "rack-2", "c": "rack-1"}
ALL_OK = {"a": "ok", "b": "ok", "c": "ok"}


def related(doc: ServiceDoc, requires=(), colocate=None) -> ServiceDoc:
    spec = doc.spec.model_copy(update={"requires": list(requires), "colocateWith": colocate})
    return doc.model_copy(update={"spec": spec})


def call_centre():
    return desired(DOMAINS, [
        service("db", ["a", "b", "c"]),
        related(service("web", ["b", "a", "c"]), requires=["db"]),
        service("pbx", ["a", "b", "c"]),
        related(service("dialer", ["a", "b", "c"]), requires=["db"], colocate="pbx"),
    ])


def agents_act(w: World) -> None:
    """Each live agent does what a new assignment says and reports it (one
    that stood down under the current assignment waits for a new one)."""
    for name, a in w.assignments.items():
        def new(s: str) -> bool:
            r = w.reports.get((s, name))
            return s in w.live and (r is None or r.assigned < a.time)
        for s in a.active:
            if new(s):
                w.report(s, name, "active")
        for s in a.standby:
            if new(s):
                w.report(s, name, "standby")
        for (s, svc), r in list(w.reports.items()):
            if svc == name and new(s) and s not in a.active and s not in a.standby:
                w.report(s, name, "stopped")


def check_step(state, before: World, actions: list) -> None:
    """Colocated never apart; nothing newly active unless what it depends on reported active there."""
    after = {a.service: a for a in assigns(actions)}
    for name, doc in state.services.items():
        new = after.get(name)
        if new is None:
            continue
        old = before.assignments.get(name)
        added = set(new.active) - set(old.active if old else ())
        for s in added:
            for req in doc.spec.requires:
                assert any(r.role == "active" for (srv, svc), r in before.reports.items()
                           if svc == req and srv in before.live), f"{name} promoted on {s} before {req} had an active"
            anchor = doc.spec.colocateWith
            if anchor:
                r = before.reports.get((s, anchor))
                assert r is not None and r.role == "active", f"{name} promoted on {s} where {anchor} is not active"
    for name, doc in state.services.items():
        anchor = doc.spec.colocateWith
        if anchor and name in before.assignments:
            mine = (after.get(name) or before.assignments[name]).active
            theirs = (after.get(anchor) or before.assignments.get(anchor))
            live_theirs = set(theirs.active if theirs else ()) if theirs else set()
            assert set(s for s in mine if s in before.live) <= live_theirs | {s for s in mine if s not in before.live}, \
                (name, mine, anchor, live_theirs)


def run(w: World, state, now: float = 0.0, rounds: int = 12) -> list[list]:
    """Plan and act until nothing changes; the plans made, in order."""
    plans = []
    for i in range(rounds):
        before = replace(w, assignments=dict(w.assignments), reports=dict(w.reports), live=dict(w.live))
        actions = w.plan(state, now + i)
        check_step(state, before, actions)
        w.apply(actions, now + i)
        w.switchovers = {k: v for k, v in w.switchovers.items()
                         if not any(isinstance(a, ClearSwitchover) and a.service == k for a in actions)}
        agents_act(w)
        if not actions:
            return plans
        plans.append(actions)
    raise AssertionError(f"no fixed point after {rounds} rounds: {plans[-1]}")


def placed(w: World) -> dict:
    return {name: (a.active, a.standby) for name, a in sorted(w.assignments.items())}


def order_of_first_active(plans: list[list]) -> list[str]:
    seen = []
    for actions in plans:
        for a in assigns(actions):
            if a.active and a.service not in seen:
                seen.append(a.service)
    return seen


# --- cold start ---------------------------------------------------------------------

def test_cold_start_places_what_is_required_first_and_says_why_the_rest_waits():
    state, w = call_centre(), World(live=dict(ALL_OK))
    first = w.plan(state, 0)
    by = {a.service: a for a in assigns(first)}
    assert by["db"].active == ("a",) and by["pbx"].active == ("a",)
    assert (by["web"].active, by["web"].standby) == ((), ())   # nothing started, not even a standby
    assert by["web"].reason.startswith("waiting for db: it has no active (required)")
    assert (by["dialer"].active, by["dialer"].standby) == ((), ())
    assert "waiting for db" in by["dialer"].reason
    assert any(isinstance(r, Record) and r.service == "web" and "waiting for db" in r.message for r in first)
    w.apply(first, 0)
    agents_act(w)
    plans = run(w, state, 1)
    assert placed(w) == {"db": (("a",), ("b", "c")), "dialer": (("a",), ("b", "c")),
                         "pbx": (("a",), ("b", "c")), "web": (("b",), ("a", "c"))}
    assert set(order_of_first_active(plans)) == {"web", "dialer"}


def test_without_relationships_everything_is_placed_at_once():
    """The test above fails for the right reason: the relationships are what hold web back."""
    state = desired(DOMAINS, [service("db", ["a", "b"]), service("web", ["b", "a"])])
    assert all(a.active for a in assigns(World(live=dict(ALL_OK)).plan(state, 0)))


def test_a_follower_stays_where_its_anchor_holds_its_promote():
    """An anchor whose agent holds its promote (a "pending" report: agent/waits.py)
    is about to be active there, not stopped: its follower is not moved away."""
    state = desired(DOMAINS, [service("pbx", ["b", "a"]), related(service("dialer", ["b", "a"]), colocate="pbx")])
    w = World(live=dict(ALL_OK))
    run(w, state)
    w.report("b", "pbx", "standby", outcome="pending", message="waiting for db: it has no active (required)")
    assert not any(a.service == "dialer" for a in assigns(w.plan(state, 50)))
    w.report("b", "pbx", "standby")   # a step-down: the follower leaves
    assert any(a.service == "dialer" and "b" not in a.active for a in assigns(w.plan(state, 50)))


def test_a_paused_follower_that_stood_down_no_longer_holds_its_anchor():
    """Paused, the follower keeps its assignment; its active fenced itself and
    said so. It no longer runs there, so the anchor moves without waiting for
    the resume (simulator seed 421)."""
    state = desired(DOMAINS, [service("pbx", ["b", "a"]), related(service("dialer", ["b", "a"]), colocate="pbx")])
    w = World(live=dict(ALL_OK))
    run(w, state)
    w.paused = {"dialer"}
    w.report("b", "pbx", "standby")      # both self-fenced on b
    w.report("b", "dialer", "stopped")
    pbx = [a for a in assigns(w.plan(state, 50)) if a.service == "pbx"]
    assert pbx and "b" not in pbx[0].active, pbx
    w.report("b", "dialer", "active")    # still running there: it holds the anchor
    assert not any(a.service == "pbx" for a in assigns(w.plan(state, 50)))


def test_colocated_service_waits_for_its_anchor_to_be_active_there():
    state = desired(DOMAINS, [service("pbx", ["b", "a"]), related(service("dialer", ["a", "b"]), colocate="pbx")])
    w = World(live=dict(ALL_OK))
    run(w, state)
    assert placed(w)["pbx"][0] == ("b",) and placed(w)["dialer"][0] == ("b",)   # not its own first candidate


# --- requires: the chosen policy --------------------------------------------------------

def settled_centre():
    state, w = call_centre(), World(live=dict(ALL_OK))
    run(w, state)
    return state, w


def test_an_active_dependent_stays_when_what_it_requires_loses_its_active():
    state, w = settled_centre()
    w.kill("a", at=100.0)   # db and pbx/dialer were active on a; web is on b
    plans = run(w, state, 101)
    assert placed(w)["db"][0] == ("b",)
    assert not any(a.service == "web" and a.active != ("b",) for p in plans for a in assigns(p))


def test_a_dependent_that_lost_its_active_is_promoted_only_once_what_it_requires_is_back():
    state, w = settled_centre()
    w.kill("b", at=100.0)   # web's active; db on a stays up
    w.check("a", "db", "alive", "fail", "postgres not running")   # and db fails where it runs
    w.check("c", "db", "alive", "fail", "postgres not running")
    w.check("b", "db", "alive", "fail", "postgres not running")
    actions = w.plan(state, 101)
    web = next(a for a in assigns(actions) if a.service == "web")
    assert web.active == ("a",)   # db still reports active on a: web may move
    # now db has no active at all
    w2 = World(live=dict(ALL_OK))
    run(w2, state)
    w2.kill("a", at=100.0)
    w2.kill("b", at=100.0)
    w2.reports[("a", "db")] = replace(w2.reports[("a", "db")])
    actions = w2.plan(state, 101)
    db = next(a for a in assigns(actions) if a.service == "db")
    web = next(a for a in assigns(actions) if a.service == "web")
    assert db.active == ("c",) and web.active == ()
    assert "waiting for db: it has no active (required)" in web.reason
    w2.apply(actions, 101)
    agents_act(w2)
    plans = run(w2, state, 102)
    assert placed(w2)["web"][0] == ("c",)
    assert order_of_first_active([actions] + plans)[:1] == ["db"]


def test_start_order_after_an_etcd_outage_in_which_every_active_stepped_down():
    state, w = settled_centre()
    for name, a in w.assignments.items():   # every agent fenced itself and said so for its assignment
        for s in a.active:
            w.report(s, name, "standby")
    plans = run(w, state, 200)   # check_step: nothing promoted before what it depends on
    order = order_of_first_active(plans)
    assert order.index("db") < order.index("web") and order.index("pbx") < order.index("dialer")
    assert placed(w)["dialer"][0] == placed(w)["pbx"][0]


def test_after_an_etcd_outage_a_dependent_is_taken_up_again_only_after_what_it_requires():
    state = desired(DOMAINS, [service("db", ["a"]), related(service("web", ["a"]), requires=["db"])])
    w = World(live=dict(ALL_OK))
    run(w, state)
    w.report("a", "db", "standby")
    w.report("a", "web", "standby")
    first = w.plan(state, 200)
    assert [a.service for a in assigns(first)] == ["db"]
    assert "re-assigned to take it up again" in assigns(first)[0].reason
    w.apply(first, 200)
    agents_act(w)
    second = w.plan(state, 201)
    assert [a.service for a in assigns(second)] == ["web"]


def test_a_new_master_adopts_a_dependent_only_once_what_it_requires_is_active_again():
    """Whole-cluster restart: every assignment is from the old master, every
    report from before the agents restarted."""
    state, w = settled_centre()
    actual = w.actual()
    restarted = {n: replace(r, started=50.0) for n, r in actual.servers.items()}
    stale = replace(actual, servers=restarted)   # reports were written at time 0.0, before the restart
    assert unadoptable(state, stale, w.assignments) == {"web", "dialer"}
    fresh = dict(stale.reports)
    fresh[("a", "db")] = replace(fresh[("a", "db")], time=60.0)
    assert unadoptable(state, replace(stale, reports=fresh), w.assignments) == {"dialer"}   # pbx not yet
    fresh[("a", "pbx")] = replace(fresh[("a", "pbx")], time=60.0)
    assert unadoptable(state, replace(stale, reports=fresh), w.assignments) == set()
    assert unadoptable(call_centre(), actual, w.assignments) == set()


# --- colocation -------------------------------------------------------------------------

def test_failover_of_the_anchor_moves_the_member_and_keeps_domain_spreading():
    state, w = settled_centre()
    w.kill("a", at=100.0)
    run(w, state, 101)
    assert placed(w)["pbx"] == (("b",), ("c",)) and placed(w)["dialer"] == (("b",), ("c",))


def test_a_failing_member_moves_both_member_first():
    state, w = settled_centre()
    w.check("a", "dialer", "alive", "fail", "dialer hung")
    first = w.plan(state, 100)
    assert [a.service for a in assigns(first)] == ["dialer"]   # pbx waits for the dialer to leave a
    assert assigns(first)[0].active == ()
    assert "pbx is not to be active here" in assigns(first)[0].reason or "dialer hung" in assigns(first)[0].reason
    w.apply(first, 100)
    agents_act(w)
    plans = run(w, state, 101)
    assert placed(w)["pbx"][0] == ("b",) and placed(w)["dialer"][0] == ("b",)
    pbx_first = next(a for p in plans for a in assigns(p) if a.service == "pbx")
    assert "dialer: alive failed" in pbx_first.reason, pbx_first.reason


def test_a_failing_anchor_stops_its_member_before_it_is_demoted():
    state, w = settled_centre()
    w.check("a", "pbx", "alive", "fail", "asterisk down")
    first = w.plan(state, 100)
    assert [(a.service, a.active) for a in assigns(first)] == [("dialer", ())]
    w.apply(first, 100)
    agents_act(w)
    run(w, state, 101)
    assert placed(w)["pbx"][0] == ("b",) and placed(w)["dialer"][0] == ("b",)


def test_a_member_with_nowhere_else_to_go_stays_with_its_anchor_and_is_restarted_in_place():
    state = desired(DOMAINS, [service("pbx", ["a"]), related(service("dialer", ["a", "b"]), colocate="pbx")])
    w = World(live=dict(ALL_OK))
    run(w, state)
    w.report("a", "dialer", "standby", "failed", "promote failed")
    actions = w.plan(state, 100)
    assert [(a.service, a.active) for a in assigns(actions)] == [("dialer", ("a",))]
    assert "re-assigned to take it up again" in assigns(actions)[0].reason


def test_failure_memory_of_the_member_ranks_the_server_lower_for_the_group():
    state, w = settled_centre()
    w.failed("b", "dialer", at=90.0)   # b would be next for pbx on its own
    w.check("a", "pbx", "alive", "fail", "asterisk down")
    plans = run(w, state, 101)
    assert placed(w)["pbx"][0] == ("c",) and placed(w)["dialer"][0] == ("c",), plans


def test_a_switchover_of_the_member_is_refused_and_of_the_anchor_moves_both():
    from overseer.desired.state import SwitchoverRequest
    state, w = settled_centre()
    w.switchovers["dialer"] = SwitchoverRequest("dialer")
    actions = w.plan(state, 100)
    assert ClearSwitchover("dialer", next(a.refusal for a in actions if isinstance(a, ClearSwitchover))) in actions
    assert "colocated with pbx: switch pbx over" in str(next(a for a in actions if isinstance(a, ClearSwitchover)).refusal)
    w.switchovers = {"pbx": SwitchoverRequest("pbx")}
    run(w, state, 101)
    assert placed(w)["pbx"][0] == ("b",) and placed(w)["dialer"][0] == ("b",)


def test_what_if_shows_the_member_waiting_for_its_anchor():
    state, w = settled_centre()
    actions = what_if_down(state, w.actual(), w.assignments, 100.0, "a")
    by = {a.service: a for a in assigns(actions)}
    assert by["pbx"].active == ("b",) and by["db"].active == ("b",)
    assert by["dialer"].active == () and "b: waiting for pbx to be active here" in by["dialer"].reason


def test_drain_moves_dependents_first_and_followers_only_with_their_anchor():
    from overseer.reconciler.planner.relations import followers
    assert stop_order(call_centre(), ["db", "dialer", "pbx", "web"]) == ["web", "dialer", "pbx", "db"]
    assert followers(call_centre(), ["db", "dialer", "pbx", "web"]) == ["dialer"]


def test_a_follower_leaves_where_its_anchor_failed_and_returns_once_it_is_active_again():
    state = desired(DOMAINS, [service("pbx", ["a"]), related(service("dialer", ["a", "b"]), colocate="pbx")])
    w = World(live=dict(ALL_OK))
    run(w, state)
    w.report("a", "pbx", "standby", "failed", "promote failed")
    actions = w.plan(state, 100)
    by = {a.service: a for a in assigns(actions)}
    assert by["dialer"].active == () and "pbx is not active here" in by["dialer"].reason
    assert by["pbx"].active == ("a",) and "re-assigned" in by["pbx"].reason   # restart in place
    w.apply(actions, 100)
    agents_act(w)
    run(w, state, 101)
    assert placed(w)["dialer"][0] == ("a",)
