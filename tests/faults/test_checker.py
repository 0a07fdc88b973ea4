"""The checker on hand-written journals: it must flag what it exists to flag
(a checker that cannot fail proves nothing), and not flag the legal moves."""
from tests.faults.checker import ServiceSpec, check
from tests.faults.docs import Timing
from tests.faults.schedule import random_schedule
from tests.faults.table import percentile

WARM = {"pbx": ServiceSpec(1, True, ("a", "b"))}
COLD = {"web": ServiceSpec(1, False, ("a", "b"))}


def ev(t, server, action, pid, epoch=1, service="pbx", role="standby"):
    return {"t": t, "server": server, "service": service, "role": role, "epoch": epoch,
            "action": action, "pid": pid}


def standbys():
    return [ev(0.0, "a", "start", 10), ev(0.0, "b", "start", 20)]


def run(events, last_alive=None, specs=WARM, healed=5.0, end=10.0, **kw):
    return check(events, last_alive or {}, specs, begin=1.0, healed=healed, end=end, bound=3.0, **kw)


def test_a_clean_switchover_is_safe_and_healthy():
    events = standbys() + [ev(1.0, "a", "promote", 10), ev(4.0, "a", "demote", 10, epoch=2),
                           ev(4.1, "b", "promote", 20, epoch=2)]
    verdict = run(events)
    assert verdict.ok, verdict
    assert verdict.recovery["pbx"] == 0.0


def test_two_promoted_warm_children_are_a_double_active():
    events = standbys() + [ev(1.0, "a", "promote", 10), ev(4.0, "b", "promote", 20, epoch=2)]
    verdict = run(events)
    assert len(verdict.doubles) == 1 and "2 actives" in verdict.doubles[0], verdict.doubles
    assert "until the end" in verdict.doubles[0]


def test_a_child_death_ends_its_active_at_the_last_sample_seen_alive():
    events = standbys() + [ev(1.0, "a", "promote", 10), ev(4.0, "b", "promote", 20, epoch=2)]
    assert run(events, last_alive={10: 3.99}).ok
    assert not run(events, last_alive={10: 4.01}).ok


def test_a_failed_or_hung_promote_is_not_active():
    events = standbys() + [ev(1.0, "a", "promote", 10), ev(3.0, "b", "promote-begin", 20, epoch=2),
                           ev(3.1, "b", "promote-fail", 20, epoch=2)]
    verdict = run(events)
    assert not verdict.doubles
    assert [iv.server for iv in verdict.intervals] == ["a"]


def test_a_failed_demote_leaves_the_old_active_active():
    events = standbys() + [ev(1.0, "a", "promote", 10), ev(3.0, "a", "demote-fail", 10, epoch=2),
                           ev(3.5, "b", "promote", 20, epoch=2)]
    assert run(events).doubles


def test_a_promote_under_an_older_epoch_is_flagged():
    events = standbys() + [ev(1.0, "a", "promote", 10, epoch=5), ev(2.0, "a", "demote", 10, epoch=5),
                           ev(3.0, "b", "promote", 20, epoch=4)]
    verdict = run(events)
    assert len(verdict.stale_epochs) == 1 and "epoch 4" in verdict.stale_epochs[0]


def test_cold_service_is_active_while_its_active_child_lives():
    events = [ev(1.0, "a", "start", 10, service="web", role="active"),
              ev(3.0, "a", "exit", 10, service="web", role="active"),
              ev(3.2, "b", "start", 20, service="web", role="active", epoch=2)]
    verdict = run(events, specs=COLD)
    assert verdict.ok and verdict.recovery["web"] == 0.0
    overlapping = events[:1] + [ev(2.0, "b", "start", 20, service="web", role="active", epoch=2)]
    assert run(overlapping, specs=COLD).doubles


def test_no_active_after_heal_is_stuck_and_late_recovery_is_timed():
    events = standbys() + [ev(1.0, "a", "promote", 10)]
    stuck = run(events, last_alive={10: 4.0})
    assert stuck.stuck and stuck.recovery["pbx"] is None
    late = run(events + [ev(9.0, "b", "promote", 20, epoch=2)], last_alive={10: 4.0}, end=12.0)
    assert late.recovery["pbx"] == 4.0 and late.stuck, "recovered after 4s, bound is 3s"
    timely = run(events + [ev(6.0, "b", "promote", 20, epoch=2)], last_alive={10: 4.0})
    assert timely.ok and timely.recovery["pbx"] == 1.0


def test_outage_counts_only_while_a_candidate_was_healthy():
    events = standbys() + [ev(1.0, "a", "promote", 10), ev(4.0, "b", "promote", 20, epoch=2)]
    verdict = run(events, last_alive={10: 2.0})
    assert 1.9 < verdict.worst_outage < 2.1
    both_impaired = run(events, last_alive={10: 2.0}, impaired={"a": [(2.0, 4.0)], "b": [(1.5, 3.5)]})
    assert 0.4 < both_impaired.worst_outage < 0.6
    no_quorum = run(events, last_alive={10: 2.0}, blocked={"*": [(0.0, 3.0)]})
    assert 0.9 < no_quorum.worst_outage < 1.1


def test_promote_of_a_dead_child_is_an_anomaly_not_an_active():
    events = standbys() + [ev(1.0, "a", "promote", 10)]
    verdict = run(events, last_alive={10: 0.5})
    assert verdict.anomalies and not [iv for iv in verdict.intervals]


def test_schedules_are_reproducible_from_their_seed():
    assert random_schedule(7).to_json() == random_schedule(7).to_json()
    assert random_schedule(7).to_json() != random_schedule(8).to_json()


def test_bound_is_the_documented_formula():
    t = Timing(lease_ttl=3, failover_margin=0.3, campaign_delay=0.5, interval=0.2, fail_after=2,
               recover_after=1, actuator_timeout=2, servers=3)
    assert abs(t.bound() - (6 + 0.3 + 1.5 + 0.4 + 5 + 4 + 2)) < 1e-9, "the simulator's B (docs/testing.md)"


def test_percentile_nearest_rank():
    assert percentile([], 50) == 0.0
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile(list(range(1, 101)), 99) == 99


def test_calm_a_blip_that_moved_a_service_is_flagged_and_one_that_did_not_is_not():
    from tests.faults.checker import judge_calm
    from tests.faults.schedule import Fault
    blip = [Fault(1.0, "cut", "s1", 0.7, blip=True)]
    settled = standbys() + [ev(0.5, "a", "promote", 10)]          # active before the faults began (begin=1.0)
    quiet = run(settled)
    judge_calm(quiet, blip)
    assert quiet.ok and quiet.moves == [], quiet
    moved = run(settled + [ev(2.0, "a", "demote", 10, epoch=2), ev(2.2, "b", "promote", 20, epoch=2)])
    judge_calm(moved, blip)
    assert not moved.ok and "blips moved" in moved.calm[0], moved.calm
    real = run(settled)
    judge_calm(real, [Fault(1.0, "child-kill", "active:pbx")])
    assert not real.ok and "moved nothing" in real.calm[0], real.calm


def test_the_table_counts_the_calm_confusion():
    from types import SimpleNamespace
    from tests.faults.schedule import Fault, Schedule
    from tests.faults.table import Table
    table = Table(3.0)
    blip = Schedule(1, [Fault(1.0, "cut", "s1", 0.7, blip=True)], label="calm")
    real = Schedule(2, [Fault(1.0, "child-kill", "active:pbx")], label="calm")
    still = run(standbys() + [ev(0.5, "a", "promote", 10)])
    table.add(SimpleNamespace(schedule=blip, verdict=still, injected=1))
    table.add(SimpleNamespace(schedule=real, verdict=still, injected=1))
    assert table.confusion == {("blip", "still"): 1, ("real", "still"): 1}
    assert not table.ok                       # a real failure that moved nothing
    assert "| real failure (must move) | 0 | 1 |" in table.render()


def test_a_simulator_schedule_replays_here_with_its_servers_times_and_blips():
    from overseer.reconciler.sim.schedule import Fault as SimFault, Schedule as SimSchedule, ServicePlan
    from tests.faults.schedule import from_sim
    sim = SimSchedule(seed=234, ttl=3.0, interval=0.5, fail_after=3, margin=0.5, campaign_delay=1.0,
                      actuator_timeout=1.0, services=(ServicePlan("pbx", "warm", ("s1", "s2", "s3")),),
                      faults=(SimFault("etcd_down", 15.03, 0.62, blip=True),
                              SimFault("agent_pause", 15.34, 0.61, server="s2", blip=True),
                              SimFault("etcd_silent", 20.0, 2.0),
                              SimFault("slow", 21.0, 3.0, latency=0.2),
                              SimFault("proc_crash", 22.0, server="s3", service="db")))
    replay = from_sim(234, schedule=sim)
    assert [(f.at, f.kind, f.target, f.duration, f.blip) for f in replay.faults] == [
        (7.03, "etcd-kill", "", 0.62, True), (7.34, "agent-stop", "s2", 0.61, True),
        (12.0, "cut", "s1", 2.0, False), (12.0, "cut", "s2", 2.0, False), (12.0, "cut", "s3", 2.0, False),
        (14.0, "child-kill", "active:pbx", 0.0, False)]   # no `slow` here; db is played by pbx
    assert replay.label == "sim"
