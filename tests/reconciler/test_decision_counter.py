"""Assignment.decision: only a move or a re-issue answers an agent that failed
or stood down; adoption and standby-only records carry it (seed 5877)."""
from overseer.desired.state import Assignment
from overseer.reconciler.agent.answers import decided_anew
from overseer.reconciler.planner.master_pass import next_decision
from overseer.reconciler.planner.actions import Assign

CURRENT = Assignment("db", ("s3",), ("s2",), epoch=24, reason="r", time=100.0, decision=4)


def test_first_record_is_decision_one():
    assert next_decision(None, Assign("db", ("s3",), (), "initial placement")) == 1


def test_standby_only_change_and_adoption_carry_the_decision():
    assert next_decision(CURRENT, Assign("db", ("s3",), ("s2", "s1"), "standby now: s2, s1")) == 4
    assert next_decision(CURRENT, Assign("db", ("s3",), ("s2",), "adopted by epoch 30: r")) == 4


def test_move_and_reissue_raise_it():
    assert next_decision(CURRENT, Assign("db", ("s2",), ("s3",), "s3: down")) == 5
    assert next_decision(CURRENT, Assign("db", ("s3",), ("s2",), "kept active", answers=True)) == 5


def test_a_newer_standby_only_record_is_no_answer_to_a_failure():
    reshuffled = Assignment("db", ("s3",), ("s2", "s1"), epoch=24, reason="standby now", time=101.0, decision=4)
    assert not decided_anew(reshuffled, CURRENT)
    adopted = Assignment("db", ("s3",), ("s2",), epoch=30, reason="adopted", time=102.0, decision=4)
    assert not decided_anew(adopted, CURRENT)
    reissued = Assignment("db", ("s3",), ("s2",), epoch=24, reason="kept", time=103.0, decision=5)
    assert decided_anew(reissued, CURRENT)
    moved = Assignment("db", ("s2",), ("s3",), epoch=24, reason="moved", time=103.0, decision=5)
    assert decided_anew(moved, CURRENT)


def test_records_written_before_the_counter_read_as_decision_zero():
    old = Assignment.from_json('{"service": "db", "active": ["s3"], "standby": [], "epoch": 9, '
                               '"reason": "r", "time": 1.0, "generation": 0}')
    assert old.decision == 0
    assert next_decision(old, Assign("db", ("s1",), (), "moved")) == 1


def test_a_new_worker_is_blocked_only_by_its_own_report_under_the_same_assignment():
    from overseer.desired.state import Assignment, ServiceReport
    from overseer.reconciler.agent.answers import stood_down_under
    a = Assignment("pbx", ("s1",), ("s2",), epoch=5, reason="placed", time=100.0)
    failed = ServiceReport("s1", "pbx", role="standby", epoch=5, outcome="failed", assigned=100.0)
    assert stood_down_under(failed, a, "s1")                                     # seed 6038
    assert stood_down_under(ServiceReport("s1", "pbx", role="standby", epoch=5, assigned=100.0), a, "s1")
    assert not stood_down_under(ServiceReport("s1", "pbx", role="active", epoch=5, assigned=100.0), a, "s1")
    assert not stood_down_under(ServiceReport("s1", "pbx", role="standby", epoch=5, assigned=90.0), a, "s1")
    assert not stood_down_under(failed, a, "s2")                                 # not named active
    assert not stood_down_under(None, a, "s1")
