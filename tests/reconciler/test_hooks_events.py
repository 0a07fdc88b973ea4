"""Which hook runs for an event, and that each event fires once: the notifier's
override rules (desired/hooks.py) and the master's failover events from the
decisions it wrote, including a two-phase handover."""
from __future__ import annotations

from overseer.desired.models import ClusterDoc, ServiceDoc
from overseer.desired.state import Assignment, ClusterSnapshot, DesiredState, HistoryEntry
from overseer.reconciler.hooks.events import Notifier
from overseer.reconciler.hooks.master_events import MasterEvents


class Queued:
    """A runner that only keeps what it is handed (the real one is in test_hooks_runner.py)."""

    def __init__(self):
        self.jobs = []

    def submit(self, event, hook, services=()):
        self.jobs.append((event, hook, tuple(services)))
        return True


def desired(cluster_on=None, service_on=None, services=("pbx", "web")) -> DesiredState:
    spec = {"hierarchy": ["a", "b"], **({"on": cluster_on} if cluster_on is not None else {})}
    cluster = ClusterDoc.model_validate({"apiVersion": "overseer/v1", "kind": "Cluster",
                                         "metadata": {"name": "lab"}, "spec": spec})
    docs = {}
    for name in services:
        svc = {"candidates": ["a", "b"], "actuator": {"type": "exec", "start": "true", "stop": "true"}}
        if name == "pbx" and service_on is not None:
            svc["on"] = service_on
        docs[name] = ServiceDoc.model_validate({"apiVersion": "overseer/v1", "kind": "Service",
                                                "metadata": {"name": name}, "spec": svc})
    return DesiredState(cluster=cluster, servers={}, services=docs, generation=1)


def notifier(state: DesiredState) -> tuple[Notifier, Queued]:
    runner = Queued()
    return Notifier("a", lambda: state, runner, wall=lambda: 100.0), runner


CLUSTER_ON = {"promote": {"command": ["cluster-promote"]}, "demote": {"command": ["cluster-demote"]},
              "failover": {"webhook": "http://h/f"}, "masterChange": {"command": ["new-master"]}}


def test_a_service_replaces_the_cluster_hook_per_event_and_null_turns_it_off():
    n, runner = notifier(desired(CLUSTER_ON, {"promote": {"webhook": "http://h/pbx"}, "demote": None}))
    assert n.fire("promote", "pbx", "standby", "active", 7, "why", key=(7, 1.0))
    assert not n.fire("demote", "pbx", "active", "standby", 7, "why", key=(7, 1.0))   # off for pbx
    assert n.fire("demote", "web", "active", "standby", 7, "why", key=(7, 1.0))      # inherited
    assert n.fire("failover", "pbx", "a", "b", 7, "why", key=(7, 1.0))               # inherited
    assert not n.fire("fence", "pbx", "active", "stopped", 7, "why")                 # nobody set it
    assert [(e.event, e.service, h.command, h.webhook) for e, h, _ in runner.jobs] == [
        ("promote", "pbx", None, "http://h/pbx"), ("demote", "web", ("cluster-demote",), None),
        ("failover", "pbx", None, "http://h/f")]


def test_each_event_fires_once_per_key():
    n, runner = notifier(desired(CLUSTER_ON))
    for _ in range(3):   # level-triggered callers may repeat themselves
        n.fire("promote", "pbx", "standby", "active", 7, "why", key=(7, 1.0))
    n.fire("promote", "pbx", "standby", "active", 7, "why", key=(7, 2.0))   # a new assignment: a new event
    assert len(runner.jobs) == 2


def test_master_change_is_one_cluster_event_recorded_for_every_service():
    n, runner = notifier(desired(CLUSTER_ON))
    MasterEvents(n).became_master("b", 12, "a")
    MasterEvents(n).became_master("b", 12, "a")
    [(event, hook, services)] = runner.jobs
    assert (event.service, event.from_, event.to, event.epoch) == ("", "b", "a", 12)
    assert event.reason == "a became master (epoch 12); previous master b"
    assert services == ("pbx", "web") and hook.command == ("new-master",)


def snapshot(state: DesiredState, assignment: Assignment) -> ClusterSnapshot:
    return ClusterSnapshot("lab", 50, state, {}, None, {}, {}, {assignment.service: assignment})


def test_failover_fires_on_the_decision_that_promotes_with_from_kept_across_a_handover():
    state = desired(CLUSTER_ON)
    n, runner = notifier(state)
    events = MasterEvents(n)
    before = Assignment("pbx", ("a",), ("b",), 9, "initial placement", 1.0)
    # phase one: the failing active is demoted, nobody promoted yet: no failover yet
    phase1 = Assignment("pbx", (), ("b", "a"), 9, "a: alive failed → demoting", 2.0)
    events.written(snapshot(state, before), [phase1], [HistoryEntry("pbx", 2.0, "demote", "…", "a", 9)])
    assert runner.jobs == []
    # phase two: b is made active
    phase2 = Assignment("pbx", ("b",), ("a",), 9, "handover: previous active demoted; b chosen", 3.0)
    events.written(snapshot(state, phase1), [phase2], [HistoryEntry("pbx", 3.0, "failover", "…", "b", 9)])
    [(event, _, _)] = runner.jobs
    assert (event.event, event.from_, event.to, event.epoch, event.reason) == (
        "failover", "a", "b", 9, "handover: previous active demoted; b chosen")
    # an adoption or a standby change is no failover; neither is the first placement
    again = Assignment("pbx", ("b",), ("a",), 10, "adopted by epoch 10: …", 4.0)
    events.written(snapshot(state, phase2), [again], [])
    first = Assignment("web", ("a",), ("b",), 10, "initial placement", 4.0)
    events.written(ClusterSnapshot("lab", 50, state, {}, None, {}, {}, {}), [first],
                   [HistoryEntry("web", 4.0, "placement", "…", "a", 10)])
    assert len(runner.jobs) == 1
