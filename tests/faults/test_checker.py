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


def test_the_kinds_added_later_leave_every_seed_its_old_faults():
    from tests.faults.schedule import EXTRAS
    added = 0
    for seed in range(1, 201):
        before, now = random_schedule(seed, extras=False), random_schedule(seed)
        assert [f for f in now.faults if f.kind not in EXTRAS] == before.faults, seed
        added += len(now.faults) - len(before.faults)
    kinds = {f.kind for seed in range(1, 201) for f in random_schedule(seed).faults}
    assert 40 <= added <= 80 and set(EXTRAS) <= kinds, (added, kinds)
    assert [f.describe() for f in random_schedule(20).faults if f.kind in EXTRAS] == \
        ["+4.76s member-stop (not judged for calm) etcd-leader for 8.96s"], "seed 20's draw must not change"


# --- a frozen host: its stopped child acts for nobody until it runs again ---

def frozen_then_successor():
    """a's active child 10 is stopped 2.0-6.0 (its host frozen); b is promoted at 5.0."""
    return standbys() + [ev(1.0, "a", "promote", 10), ev(5.0, "b", "promote", 20, epoch=2)]


def test_a_frozen_active_is_not_active_while_stopped():
    verdict = run(frozen_then_successor(), last_alive={10: 5.9}, stopped={10: [(2.0, 5.9)]})
    assert verdict.ok, verdict.doubles
    assert [(iv.server, iv.start, iv.end) for iv in verdict.intervals] == [("a", 1.0, 2.0), ("b", 5.0, None)]


def test_a_thawed_active_acting_beside_its_successor_is_a_double_active():
    # thawed at 6.0 (its `resume` line ended the stop), killed by the fencer 85 ms later
    verdict = run(frozen_then_successor(), last_alive={10: 6.085}, stopped={10: [(2.0, 6.0)]})
    assert len(verdict.doubles) == 1 and "thawed" in verdict.doubles[0], verdict.doubles
    assert "at 6.000 for 0.085s" in verdict.doubles[0], verdict.doubles
    without_stop = run(frozen_then_successor(), last_alive={10: 6.085})
    assert "at 5.000 for 1.085s" in without_stop.doubles[0], "a stop only ever shortens a double"


def test_the_sampler_ends_a_stop_at_the_childs_own_first_line_after_it(tmp_path):
    import json
    from tests.faults.sampler import Sampler
    sampler = Sampler(tmp_path / "journal")
    sampler._stopped[10] = (2.0, 2.02)         # seen stopped at 2.02, last seen running at 2.0
    lines = [ev(3.0, "a", "promote", 10), ev(6.0, "a", "resume", 10)]   # a command names the child too
    (tmp_path / "journal").write_text("".join(json.dumps(e) + "\n" for e in lines))
    sampler._read()
    assert sampler.stopped() == {10: [(2.0, 6.0)]}


def test_a_lost_servers_services_must_move_within_the_server_loss_bound():
    from tests.faults.checker import judge_server_loss
    lost = standbys() + [ev(0.5, "a", "promote", 10)]
    timely = run(lost + [ev(4.0, "b", "promote", 20, epoch=2)], last_alive={10: 1.49})
    judge_server_loss(timely, WARM, "a", 1.5, ["pbx"], 3.0, 10.0)
    assert timely.ok, timely.late
    late = run(lost + [ev(6.0, "b", "promote", 20, epoch=2)], last_alive={10: 1.49})
    judge_server_loss(late, WARM, "a", 1.5, ["pbx"], 3.0, 10.0)
    assert late.late == ["pbx: moved off a late: 4.50s after it was lost (bound 3.00s)"]
    never = run(lost, last_alive={10: 1.49})
    judge_server_loss(never, WARM, "a", 1.5, ["pbx"], 3.0, 10.0)
    assert not never.ok and "never moved off a" in never.late[0]
    thawed_back = run(lost + [ev(6.0, "a", "resume", 10)], stopped={10: [(1.49, 6.0)]})
    judge_server_loss(thawed_back, WARM, "a", 1.5, ["pbx"], 3.0, 10.0)
    assert "never moved off a" in thawed_back.late[0], "its own thawed child is no successor"


def test_the_server_loss_bound_is_the_documented_formula():
    t = Timing(lease_ttl=3, failover_margin=0.3, campaign_delay=0.5, actuator_timeout=2)
    assert abs(t.server_loss_bound() - (3 + 0.3 + 0.5 + 2 + 1)) < 1e-9


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
