"""Hand-written golden inputs: the planner unit tests' situations, as master passes.

Each builder returns the pass's input (snapshot, memory, now, vouched), set
up with the planner tests' builders (tests/reconciler/planner_world.py).
They cover what the simulator never draws (cordon, replication lag, a
switchover refused or scheduled, relationships in every shape) and the
master's own memory (the settle window, adoption, vouches). A master here
is long past its settle window and has the assignments' epoch (0), unless
the case is about those.
"""
from __future__ import annotations

from typing import Callable

from overseer.desired.models import ServiceDoc
from overseer.desired.state import ClusterSnapshot, DesiredState, MasterRecord, SwitchoverRequest
from overseer.reconciler.planner.master_pass import MasterMemory
from tests.reconciler.planner_world import World, desired, service

Input = tuple[ClusterSnapshot, MasterMemory, float, dict]

DOMAINS = {"a": "rack-1", "b": "rack-2", "c": "rack-1"}
ALL_OK = {"a": "ok", "b": "ok", "c": "ok"}


def snapshot_of(world: World, state: DesiredState, epoch: int = 0) -> ClusterSnapshot:
    actual = world.actual()
    return ClusterSnapshot(
        cluster="t", revision=100, desired=state, servers=actual.servers,
        master=MasterRecord(server="a", epoch=epoch), observations=actual.observations,
        reports=actual.reports, assignments=dict(world.assignments), paused=actual.paused,
        switchovers=actual.switchovers, failures=actual.failures, cordoned=actual.cordoned,
        fences=actual.fences)


def passing(world: World, state: DesiredState, now: float, epoch: int = 0, started: float = float("-inf"),
            vouched: dict | None = None) -> Input:
    memory = MasterMemory(epoch, started, dict(world.down_since))
    return snapshot_of(world, state, epoch), memory, now, dict(vouched or {})


def related(doc: ServiceDoc, requires=(), colocate=None) -> ServiceDoc:
    spec = doc.spec.model_copy(update={"requires": list(requires), "colocateWith": colocate})
    return doc.model_copy(update={"spec": spec})


def one(**kw) -> DesiredState:
    return desired(DOMAINS, [service("pbx", ["a", "b", "c"], **kw)])


def settled(state: DesiredState) -> World:
    return World(live=dict(ALL_OK)).settle(state)


# --- placement ------------------------------------------------------------------

def initial_placement() -> Input:
    return passing(World(live=dict(ALL_OK)), one(), 0.0)


def standby_in_another_domain() -> Input:
    state = desired(DOMAINS, [service("pbx", ["a", "c", "b"])])
    return passing(World(live=dict(ALL_OK)), state, 0.0)


def warn_server_skipped() -> Input:
    return passing(World(live={"a": "warn", "b": "ok", "c": "ok"}), one(), 0.0)


def failing_server_never_chosen() -> Input:
    return passing(World(live={"a": "fail", "b": "warn", "c": "fail"}), one(), 0.0)


def all_active() -> Input:
    return passing(World(live={"a": "ok", "b": "ok", "c": "fail"}), one(mode="all-active"), 0.0)


def replicas_two_short() -> Input:
    return passing(World(live={"a": "ok", "b": "fail", "c": "fail"}), one(replicas=2), 0.0)


def output_ordered_by_service() -> Input:
    state = desired(DOMAINS, [service(n, ["b", "a"]) for n in ("zeta", "alpha", "mid")])
    return passing(World(live=dict(ALL_OK)), state, 0.0)


# --- failover -------------------------------------------------------------------

def check_failed_moves_it() -> Input:
    state = one()
    w = settled(state)
    w.check("a", "pbx", "alive", "fail", "process exited 1")
    return passing(w, state, 5.0)


def actuator_failed_moves_it() -> Input:
    state = one()
    w = settled(state)
    w.report("a", "pbx", "active", outcome="failed", message="promote exited 2")
    return passing(w, state, 5.0)


def dead_active_within_margin() -> Input:
    state = one()
    w = settled(state)
    w.kill("a", 10.0)
    return passing(w, state, 10.2)


def dead_active_past_margin() -> Input:
    state = one()
    w = settled(state)
    w.kill("a", 10.0)
    return passing(w, state, 10.6)


def unhealthy_active_kept_when_nobody_can_take_over() -> Input:
    state = one()
    w = settled(state)
    w.check("a", "pbx", "alive", "fail", "no answer")
    w.live.update(b="fail", c="fail")
    return passing(w, state, 5.0)


def paused_service_left_alone() -> Input:
    state = desired(DOMAINS, [service("pbx", ["a", "b", "c"]), service("web", ["b", "a"])])
    w = settled(state)
    w.check("a", "pbx", "alive", "fail", "process exited 1")
    w.check("b", "web", "alive", "fail", "process exited 1")
    w.paused.add("pbx")
    return passing(w, state, 5.0)


# --- switchover -----------------------------------------------------------------

def switchover_to_target() -> Input:
    state = one()
    w = settled(state)
    w.switchovers["pbx"] = SwitchoverRequest("pbx", to="c", requested=4.0)
    return passing(w, state, 5.0)


def switchover_refused_unhealthy_target() -> Input:
    state = one()
    w = settled(state)
    w.live["c"] = "fail"
    w.switchovers["pbx"] = SwitchoverRequest("pbx", to="c", requested=4.0)
    return passing(w, state, 5.0)


def switchover_scheduled_waits() -> Input:
    state = one()
    w = settled(state)
    w.switchovers["pbx"] = SwitchoverRequest("pbx", requested=4.0, at=60.0)
    return passing(w, state, 5.0)


# --- cordon (drain) ------------------------------------------------------------

def cordoned_server_gets_nothing_new() -> Input:
    w = World(live=dict(ALL_OK))
    w.cordoned.add("a")
    return passing(w, one(), 0.0)


def failover_skips_cordoned_standby() -> Input:
    state = desired(DOMAINS, [service("pbx", ["a", "b", "c"], replicas=1)])
    w = settled(state)
    w.cordoned.add("b")
    w.kill("a", 10.0)
    return passing(w, state, 11.0)


def drain_switches_over_off_a_cordoned_server() -> Input:
    state = one()
    w = settled(state)
    w.cordoned.add("a")
    w.switchovers["pbx"] = SwitchoverRequest("pbx", requested=4.0)
    return passing(w, state, 5.0)


# --- failure memory -------------------------------------------------------------

def remembered_failure_ranks_lower() -> Input:
    w = World(live=dict(ALL_OK))
    w.failed("a", "pbx", at=90.0)
    return passing(w, one(), 100.0)


def marked_only_candidate_still_used() -> Input:
    state = desired(DOMAINS, [service("pbx", ["a", "b"])])
    w = World(live={"a": "ok", "c": "ok"})
    w.down_since["b"] = 0.0
    w.failed("a", "pbx", at=90.0, count=2)
    return passing(w, state, 100.0)


def failed_only_candidate_restarted_in_place() -> Input:
    state = desired(DOMAINS, [service("pbx", ["a"])])
    w = settled(state)
    w.report("a", "pbx", "active", outcome="failed", message="child exited 1")
    w.failed("a", "pbx", at=4.0)
    return passing(w, state, 5.0)


# --- fence agents ---------------------------------------------------------------

def fenced_state() -> DesiredState:
    return desired(DOMAINS, [service("pbx", ["a", "b", "c"]), service("web", ["a", "c"])],
                   fenced=("a", "b", "c"))


def dead_active_fenced_first() -> Input:
    state = fenced_state()
    w = settled(state)
    w.kill("a", 10.0)
    return passing(w, state, 10.5)


def fenced_server_moves() -> Input:
    state = fenced_state()
    w = settled(state)
    w.kill("a", 10.0)
    w.fence("a", "ok", started=10.5, ended=10.9)
    return passing(w, state, 11.0)


def failed_fence_retried_after_back_off() -> Input:
    state = fenced_state()
    w = settled(state)
    w.kill("a", 10.0)
    w.fence("a", "failed", started=10.5, ended=11.0, message="BMC did not answer")
    return passing(w, state, 20.0)


def operator_confirmation_counts_as_fenced() -> Input:
    state = fenced_state()
    w = settled(state)
    w.kill("a", 10.0)
    w.fence("a", "confirmed", started=12.0)
    return passing(w, state, 12.5)


# --- least lag ------------------------------------------------------------------

def database(limit: str | None = None) -> DesiredState:
    check = {"name": "replication", "type": "postgres-replication", "critical": False,
             "dsn": "host=127.0.0.1 user=overseer dbname=postgres"}
    if limit is not None:
        check["maxLagOnFailover"] = limit
    doc = ServiceDoc.model_validate({
        "apiVersion": "overseer/v1", "kind": "Service", "metadata": {"name": "pg"},
        "spec": {"standby": "warm", "candidates": ["a", "b", "c"],
                 "actuator": {"type": "process", "command": ["sleep", "1000"]},
                 "checks": [{"name": "alive", "type": "process"}, check]}})
    return desired(DOMAINS, [doc])


def lagging(limit: str | None, lags: dict) -> Callable[[], Input]:
    def build() -> Input:
        state = database(limit)
        w = settled(state)
        w.measured("a", "pg", "replication", 0.0)
        for server, value in lags.items():
            w.measured(server, "pg", "replication", value)
        w.kill("a", 9.0)
        return passing(w, state, 10.0)
    return build


# --- relationships --------------------------------------------------------------

def call_centre() -> DesiredState:
    return desired(DOMAINS, [
        service("db", ["a", "b", "c"]),
        related(service("web", ["b", "a", "c"]), requires=["db"]),
        service("pbx", ["a", "b", "c"]),
        related(service("dialer", ["a", "b", "c"]), requires=["db"], colocate="pbx"),
    ])


def cold_start_with_requirements() -> Input:
    return passing(World(live=dict(ALL_OK)), call_centre(), 0.0)


def requirement_active_dependents_follow() -> Input:
    state = call_centre()
    w = World(live=dict(ALL_OK))
    w.step(state, 0.0)
    w.report("a", "db", "active")
    w.report("a", "pbx", "active")
    return passing(w, state, 1.0)


def anchor_fails_over_member_follows() -> Input:
    state = desired(DOMAINS, [service("pbx", ["a", "b", "c"]),
                              related(service("dialer", ["a", "b", "c"]), colocate="pbx")])
    w = settled(state)
    w.kill("a", 10.0)
    return passing(w, state, 11.0)


# --- the master's own memory ----------------------------------------------------

def settle_window_holds_first_placement() -> Input:
    w = World(live={"b": "ok", "c": "ok"})
    return passing(w, one(), 1.5, started=1.0)


def adoption_of_a_previous_masters_assignments() -> Input:
    state = desired(DOMAINS, [service("pbx", ["a", "b", "c"]), service("web", ["b", "c"])])
    w = settled(state)
    return passing(w, state, 50.0, epoch=7)


def no_adoption_while_the_active_is_down() -> Input:
    state = desired(DOMAINS, [service("pbx", ["a", "b", "c"]), service("web", ["b", "c"])])
    w = settled(state)
    w.kill("a", 49.9)
    return passing(w, state, 50.0, epoch=7)


def vouched_server_counts_as_running() -> Input:
    state = one()
    w = settled(state)
    w.kill("a", 10.0)
    return passing(w, state, 11.0, vouched={"a": 14.0})


CASES: dict[str, Callable[[], Input]] = {
    "hand-initial-placement": initial_placement,
    "hand-standby-in-another-domain": standby_in_another_domain,
    "hand-warn-server-skipped": warn_server_skipped,
    "hand-failing-server-never-chosen": failing_server_never_chosen,
    "hand-all-active": all_active,
    "hand-replicas-two-short": replicas_two_short,
    "hand-output-ordered-by-service": output_ordered_by_service,
    "hand-check-failed-moves-it": check_failed_moves_it,
    "hand-actuator-failed-moves-it": actuator_failed_moves_it,
    "hand-dead-active-within-margin": dead_active_within_margin,
    "hand-dead-active-past-margin": dead_active_past_margin,
    "hand-unhealthy-active-kept": unhealthy_active_kept_when_nobody_can_take_over,
    "hand-paused-service-left-alone": paused_service_left_alone,
    "hand-switchover-to-target": switchover_to_target,
    "hand-switchover-refused": switchover_refused_unhealthy_target,
    "hand-switchover-scheduled-waits": switchover_scheduled_waits,
    "hand-cordoned-server-gets-nothing-new": cordoned_server_gets_nothing_new,
    "hand-failover-skips-cordoned-standby": failover_skips_cordoned_standby,
    "hand-drain-switches-over": drain_switches_over_off_a_cordoned_server,
    "hand-remembered-failure-ranks-lower": remembered_failure_ranks_lower,
    "hand-marked-only-candidate-used": marked_only_candidate_still_used,
    "hand-failed-only-candidate-restarted": failed_only_candidate_restarted_in_place,
    "hand-dead-active-fenced-first": dead_active_fenced_first,
    "hand-fenced-server-moves": fenced_server_moves,
    "hand-failed-fence-retried": failed_fence_retried_after_back_off,
    "hand-fence-confirmed-by-operator": operator_confirmation_counts_as_fenced,
    "hand-least-lag-promoted": lagging(None, {"b": 9_000_000.0, "c": 4096.0}),
    "hand-lag-equal-keeps-order": lagging(None, {"b": 0.0, "c": 0.0}),
    "hand-lag-past-max-refused": lagging("1MiB", {"b": 9_000_000.0, "c": 2_000_000.0}),
    "hand-cold-start-requirements-first": cold_start_with_requirements,
    "hand-dependents-follow-requirement": requirement_active_dependents_follow,
    "hand-anchor-fails-over-member-follows": anchor_fails_over_member_follows,
    "hand-settle-window-holds-placement": settle_window_holds_first_placement,
    "hand-adoption": adoption_of_a_previous_masters_assignments,
    "hand-no-adoption-while-active-down": no_adoption_while_the_active_is_down,
    "hand-vouched-server-counts-as-running": vouched_server_counts_as_running,
}
