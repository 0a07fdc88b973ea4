"""The relationship rules (tests/faults/relations.py) on hand-written
journals: each flags the violation it exists for (a journal as an agent
without its hold would write one), and lets the legal histories pass."""
from tests.faults.checker import ServiceSpec, check, judge_server_loss
from tests.faults.docs import RELATED_SPECS, Timing
from tests.faults.relations import apart_grace, judge_relations, order_grace
from tests.faults.schedule import EXTRAS, RELATED_FAULTS, random_schedule

# db on a or b; web (cold) requires db; pbx on a or b; dialer (cold) follows pbx
SPECS = {
    "db": ServiceSpec(1, True, ("a", "b")),
    "web": ServiceSpec(1, False, ("a", "b"), requires=("db",)),
    "pbx": ServiceSpec(1, True, ("a", "b")),
    "dialer": ServiceSpec(1, False, ("a", "b"), requires=("db",), colocate="pbx"),
}
T = Timing()     # order grace 3 s, apart grace 8.3 s
PID = {("db", "a"): 10, ("db", "b"): 20, ("pbx", "a"): 30, ("pbx", "b"): 40,
       ("web", "a"): 50, ("web", "b"): 60, ("dialer", "a"): 70, ("dialer", "b"): 80}


def ev(t, server, service, action, epoch=1, role="standby", pid=None):
    return {"t": t, "server": server, "service": service, "role": role, "epoch": epoch,
            "action": action, "pid": pid or PID[(service, server)]}


def settled():
    """At 1.0 every service active on a, in order: db, pbx, then web and dialer."""
    return [ev(0.0, s, svc, "start") for svc in ("db", "pbx") for s in ("a", "b")] + [
        ev(0.5, "a", "db", "promote"), ev(0.6, "a", "pbx", "promote"),
        ev(0.8, "a", "web", "start", role="active"), ev(0.9, "a", "dialer", "start", role="active")]


def judge(events, last_alive=None, end=30.0, heals=(), blocked=None):
    verdict = check(events, last_alive or {}, SPECS, begin=1.0, healed=5.0, end=end, bound=T.bound(),
                    blocked=blocked or {})
    judge_relations(verdict, SPECS, T, end=end, heals=heals, blocked=blocked or {})
    return verdict


def test_the_graces_are_the_documented_formulas():
    assert abs(order_grace(T) - (2 + 1)) < 1e-9, "actuator timeout + 1 s"
    assert abs(apart_grace(T) - (3 + 0.3 + 2 * 2 + 1)) < 1e-9, "leaseTTL + margin + 2 x actuator timeout + 1 s"


def test_a_history_in_order_passes_and_is_judged():
    verdict = judge(settled())
    assert verdict.ok, verdict.relations
    assert verdict.judged_relations == 3, "web's order, dialer's order and its colocation"


def test_a_dependent_that_stays_when_its_requirement_fails_over_is_legal():
    # db's child dies at 3.0, db promoted on b at 6.5; web stays active on a throughout
    verdict = judge(settled() + [ev(6.5, "b", "db", "promote", 2)], last_alive={10: 3.0})
    assert verdict.ok, verdict.relations


def test_a_dependent_promoted_while_its_requirement_has_no_active_is_flagged():
    # db dies at 3.0; web's child dies at 3.1 and web starts on b at 7.0, before db's successor
    # (6.5 + its promote at 9.0): an agent without its hold would do this
    events = settled() + [ev(7.0, "b", "web", "start", 2, role="active"), ev(9.0, "b", "db", "promote", 2)]
    verdict = judge(events, last_alive={10: 3.0, 50: 3.1}, heals=[3.0])
    assert len(verdict.relations) == 1, verdict.relations
    assert verdict.relations[0].startswith("order: web became active on b at 7.000 (4.00s after the heal at 3.000)"
                                           " while db, which it requires, had none for 4.00s"), verdict.relations
    assert not verdict.ok
    # the same start within the grace (the promote was decided while db was still active) is legal
    within = settled() + [ev(5.9, "b", "web", "start", 2, role="active"), ev(9.0, "b", "db", "promote", 2)]
    assert judge(within, last_alive={10: 3.0, 50: 3.1}).ok


def test_a_dependent_started_before_its_requirement_ever_had_an_active_is_flagged():
    # a cold start out of order: web first, db only later
    events = [ev(0.0, s, svc, "start") for svc in ("db", "pbx") for s in ("a", "b")] + [
        ev(0.5, "a", "web", "start", role="active"), ev(4.0, "a", "db", "promote")]
    verdict = judge(events)
    assert any("web became active on a at 0.500 while db, which it requires, never had one" in v
               for v in verdict.relations), verdict.relations


def test_a_follower_promoted_where_its_anchor_is_not_active_is_flagged():
    # pbx stays on a; the dialer dies there at 2.0 and comes back on b, where pbx is a standby
    events = settled() + [ev(4.0, "b", "dialer", "start", 2, role="active")]
    verdict = judge(events, last_alive={70: 2.0})
    assert any(v.startswith("colocation: dialer became active on b at 4.000, where pbx (its anchor) was not active")
               for v in verdict.relations), verdict.relations


def test_a_follower_moving_with_its_anchor_is_legal():
    # switchover of pbx at 3.0: the dialer stops first, pbx moves, the dialer follows
    events = settled() + [ev(3.0, "a", "dialer", "exit", 2, role="active"), ev(3.2, "a", "pbx", "demote", 2),
                          ev(3.5, "b", "pbx", "promote", 2), ev(4.5, "b", "dialer", "start", 2, role="active")]
    verdict = judge(events)
    assert verdict.ok, verdict.relations


def test_a_follower_left_apart_from_its_anchor_past_the_grace_is_flagged():
    # pbx dies on a at 3.0 and moves to b at 5.0; the dialer stays on a until 12.0 (9.0 s apart)
    events = settled() + [ev(5.0, "b", "pbx", "promote", 2), ev(12.0, "a", "dialer", "exit", 2, role="active")]
    verdict = judge(events, last_alive={30: 3.0})
    assert verdict.relations == ["colocation: dialer active on a without pbx (its anchor) from 3.000 for 9.00s"
                                 " (grace 8.30s)"], verdict.relations
    # leaving within the grace is the move together the design allows
    timely = settled() + [ev(5.0, "b", "pbx", "promote", 2), ev(8.0, "a", "dialer", "exit", 2, role="active"),
                          ev(9.0, "b", "dialer", "start", 2, role="active")]
    assert judge(timely, last_alive={30: 3.0}).ok


def test_time_apart_does_not_count_while_nobody_could_move_it():
    # as above, but etcd had no quorum 4.0-8.0: 1.0 s apart before it, 4.0 s after it
    events = settled() + [ev(5.0, "b", "pbx", "promote", 2), ev(12.0, "a", "dialer", "exit", 2, role="active"),
                          ev(12.5, "b", "dialer", "start", 2, role="active")]
    assert judge(events, last_alive={30: 3.0}, blocked={"*": [[4.0, 8.0]]}).ok
    paused = judge(events, last_alive={30: 3.0}, blocked={"dialer": [[2.0, 11.0]]})
    assert paused.ok, "the operator paused the follower"
    too_long = judge(events, last_alive={30: 3.0}, blocked={"*": [[3.5, 3.6]]})
    assert too_long.relations and "from 3.600 for 8.40s" in too_long.relations[0], too_long.relations


def test_a_follower_whose_anchor_never_came_back_is_apart_until_the_record_ends():
    verdict = judge(settled(), last_alive={30: 3.0}, end=20.0)
    assert any("dialer active on a without pbx" in v and "for 17.00s" in v for v in verdict.relations), \
        verdict.relations


def test_a_thawed_follower_is_no_new_active():
    # the host a froze 3.0-6.0 with both; both act again after the thaw: no promote, nothing apart
    stopped = {30: [(3.0, 6.0)], 70: [(3.0, 6.0)]}
    events = settled() + [ev(6.0, "a", "pbx", "resume"), ev(6.0, "a", "dialer", "resume")]
    verdict = check(events, {}, SPECS, begin=1.0, healed=5.0, end=20.0, bound=T.bound(), stopped=stopped)
    judge_relations(verdict, SPECS, T, end=20.0)
    assert verdict.ok and verdict.judged_relations == 3, verdict.relations


def test_a_dependent_is_timed_from_its_requirements_return_for_stuck():
    # every fault healed at 5.0; db back only at 20.0, web at 22.0: not stuck (bound 19.2 s from 20.0)
    events = settled() + [ev(20.0, "b", "db", "promote", 2), ev(22.0, "b", "web", "start", 2, role="active")]
    verdict = check(events, {10: 3.0, 50: 3.0}, SPECS, begin=1.0, healed=5.0, end=30.0, bound=T.bound())
    assert verdict.recovery["db"] == 15.0 and verdict.recovery["web"] == 17.0
    assert not verdict.stuck, verdict.stuck
    late = check(events, {10: 3.0, 50: 3.0}, SPECS, begin=1.0, healed=5.0, end=30.0, bound=1.5)
    assert any(s.startswith("web: only after 2.00s") and "what it waits for had its actives again at 20.000" in s
               for s in late.stuck), late.stuck


def test_a_lost_servers_follower_is_timed_from_its_anchors_move():
    events = settled() + [ev(5.0, "b", "pbx", "promote", 2), ev(7.5, "b", "dialer", "start", 2, role="active")]
    verdict = check(events, {30: 1.5, 70: 1.5, 10: 1.5, 50: 1.5}, SPECS, begin=1.0, healed=5.0, end=30.0,
                    bound=T.bound())
    judge_server_loss(verdict, SPECS, "a", 1.5, ["pbx", "dialer"], 4.0, 30.0)
    assert verdict.late == [], verdict.late
    judge_server_loss(verdict, SPECS, "a", 1.5, ["pbx", "dialer"], 2.0, 30.0)
    assert verdict.late == ["pbx: moved off a late: 3.50s after it was lost (bound 2.00s)",
                            "dialer: moved off a late: 2.50s after what it waits for moved (bound 2.00s)"]


def test_half_the_random_schedules_run_relationships_and_keep_their_other_faults():
    related = 0
    for seed in range(1, 201):
        now, before = random_schedule(seed), random_schedule(seed, relations=False)
        assert not before.related
        others = [f for f in now.faults if f not in before.faults]
        assert [f for f in now.faults if f in before.faults] == before.faults, seed
        assert bool(others) == now.related, seed
        related += now.related
    assert 70 <= related <= 130, related
    assert random_schedule(1).related and random_schedule(1).to_json() == random_schedule(1).to_json()
    assert set(RELATED_SPECS) == {"db", "pbx", "web", "dialer"} and len(RELATED_FAULTS) == 8
    assert not set(RELATED_FAULTS) & set(EXTRAS)


def test_a_dependent_started_on_a_stale_report_after_an_etcd_outage_is_flagged():
    """The shape of fault-suite seed 7324's journal: db's active on a
    stepped down (self-fenced during an etcd outage) at 3.5; when etcd
    returned, web was started on b at 6.96, db promoted (on b) only at 8.07.
    An etcd outage does not excuse the order."""
    events = settled() + [ev(3.5, "a", "db", "demote", role="standby"), ev(3.4, "a", "web", "exit", role="active"),
                          ev(6.96, "b", "web", "start", role="active"), ev(8.07, "b", "db", "promote")]
    verdict = judge(events, heals=[6.5], blocked={"*": [[0.8, 6.5]]})
    assert [v.split(" (grace")[0] for v in verdict.relations] == [
        "order: web became active on b at 6.960 (0.46s after the heal at 6.500) while db, which it requires,"
        " had none for 3.46s"], verdict.relations
