"""The planner's choice of standby for a replicated database: least lag, maxLagOnFailover, catch-up."""
from __future__ import annotations

from typing import Optional

import pytest
from pydantic import ValidationError

from overseer.desired.models import ServiceDoc
from overseer.desired.state import HistoryKind, SwitchoverRequest
from overseer.reconciler.planner import ClearSwitchover, Record
from tests.reconciler.planner_world import World, assigns, desired, only_assign

DBS = ["db1", "db2", "db3"]


def db(limit: Optional[str] = None, kind: str = "postgres-replication", **extra) -> ServiceDoc:
    check = {"name": "replication", "type": kind, "critical": False, **extra}
    if kind == "postgres-replication":
        check["dsn"] = "host=127.0.0.1 user=overseer dbname=postgres"
    else:
        check["user"] = "overseer"
    if limit is not None:
        check["maxLagOnFailover"] = limit
    return ServiceDoc.model_validate({
        "apiVersion": "overseer/v1", "kind": "Service", "metadata": {"name": "pg"},
        "spec": {"standby": "warm", "candidates": DBS,
                 "actuator": {"type": "process", "command": ["sleep", "1000"]},
                 "checks": [{"name": "alive", "type": "process"}, check]}})


def placed(svc: ServiceDoc, lags: dict[str, Optional[float]]) -> tuple[World, object]:
    """db1 primary, db2 and db3 standbys reporting these lags."""
    state = desired({s: "" for s in DBS}, [svc])
    world = World(live={s: "ok" for s in DBS}).settle(state)
    assert world.assignments["pg"].active == ("db1",)
    world.measured("db1", "pg", "replication", 0.0)      # the primary's own value: its worst replica
    for server, value in lags.items():
        world.measured(server, "pg", "replication", value)
    return world, state


def fail_over(world: World, state, now: float = 10.0):
    world.kill("db1", at=now - 1.0)
    return world.step(state, now)


def test_failover_promotes_the_standby_with_the_least_lag():
    world, state = placed(db(), {"db2": 9_000_000.0, "db3": 4096.0})
    actions = fail_over(world, state)
    assert only_assign(actions).active == ("db3",)
    record = next(a for a in actions if isinstance(a, Record))
    assert record.kind == HistoryKind.FAILOVER and "db3 chosen" in record.message


def test_equal_lags_keep_candidates_order():
    world, state = placed(db(), {"db2": 0.0, "db3": 0.0})
    assert only_assign(fail_over(world, state)).active == ("db2",)


@pytest.mark.parametrize("missing", ["no number", "cold", "not a standby"])
def test_without_a_lag_for_every_candidate_candidates_order_stands(missing):
    world, state = placed(db(), {"db2": 9_000_000.0, "db3": 4096.0})
    if missing == "no number":
        world.measured("db3", "pg", "replication", None, status="fail")
    elif missing == "cold":
        world.measured("db3", "pg", "replication", None, status="unknown")
    else:
        world.report("db3", "pg", "stopped")
    assert only_assign(fail_over(world, state)).active == ("db2",)


def test_mysql_ranks_by_seconds_behind():
    world, state = placed(db(kind="mysql-replication"), {"db2": 30.0, "db3": 2.0})
    assert only_assign(fail_over(world, state)).active == ("db3",)


def test_a_standby_past_max_lag_is_not_promoted_and_the_reason_says_why():
    world, state = placed(db(limit="1MiB"), {"db2": 9_000_000.0, "db3": 2_000_000.0})
    actions = fail_over(world, state)
    assign = only_assign(actions)
    assert assign.active == ()
    assert "replication lag 8.6 MiB > maxLagOnFailover 1.0 MiB" in assign.reason
    assert "replication lag 1.9 MiB > maxLagOnFailover 1.0 MiB" in assign.reason
    assert "switchover pg --to db3 --force" in assign.reason
    record = next(a for a in actions if isinstance(a, Record))
    assert "maxLagOnFailover" in record.message           # the history the board and CLI show
    world.ack("pg", "db2", "db3")
    assert world.step(state, 11.0) == []                  # it stays so: nothing to write
    world.measured("db3", "pg", "replication", 500_000.0)  # db3 caught up under the limit
    assert only_assign(world.step(state, 12.0)).active == ("db3",)


def test_within_max_lag_the_least_lag_one_among_the_allowed():
    world, state = placed(db(limit="1MiB"), {"db2": 9_000_000.0, "db3": 800_000.0})
    assert only_assign(fail_over(world, state)).active == ("db3",)


def test_a_standby_whose_check_measured_no_lag_is_held_by_max_lag():
    world, state = placed(db(limit="1MiB"), {"db2": 9_000_000.0, "db3": 0.0})
    world.measured("db3", "pg", "replication", None, status="fail")
    assign = only_assign(fail_over(world, state))
    assert assign.active == () and "measured no replication lag" in assign.reason


def test_a_failing_primary_is_kept_when_every_standby_is_too_far_behind():
    world, state = placed(db(limit="1MiB"), {"db2": 9_000_000.0, "db3": 2_000_000.0})
    world.report("db1", "pg", "active", outcome="failed", message="exit 1")
    assign = only_assign(world.step(state, 10.0))
    assert assign.active == ("db1",) and "no eligible candidate to take over" in assign.reason


def test_first_placement_is_not_held_by_max_lag():
    state = desired({s: "" for s in DBS}, [db(limit="1MiB")])
    world = World(live={s: "ok" for s in DBS})
    for server in DBS:
        world.report(server, "pg", "standby")
        world.measured(server, "pg", "replication", 9_000_000.0)
    assert only_assign(world.step(state, 0.0)).active == ("db1",)


def test_forced_switchover_promotes_past_max_lag():
    world, state = placed(db(limit="1MiB"), {"db2": 9_000_000.0, "db3": 2_000_000.0})
    fail_over(world, state)
    world.ack("pg", "db2", "db3")
    world.switchovers["pg"] = SwitchoverRequest("pg", "db2", requested=11.0)
    assert world.step(state, 11.0) == []                  # not forced: it waits
    assert "pg" in world.switchovers
    world.switchovers["pg"] = SwitchoverRequest("pg", "db2", requested=11.0, force=True)
    actions = world.step(state, 12.0)
    assert only_assign(actions).active == ("db2",)
    assert any(isinstance(a, ClearSwitchover) and a.refusal is None for a in actions)


def test_forced_switchover_without_a_target_takes_the_least_lag_one():
    world, state = placed(db(limit="1MiB"), {"db2": 9_000_000.0, "db3": 2_000_000.0})
    fail_over(world, state)
    world.ack("pg", "db2", "db3")
    world.switchovers["pg"] = SwitchoverRequest("pg", None, requested=11.0, force=True)
    assert only_assign(world.step(state, 12.0)).active == ("db3",)


@pytest.mark.parametrize("limit, caught_up", [(None, 0.0), ("1MiB", 900_000.0)])
def test_planned_switchover_waits_for_the_target_to_catch_up(limit, caught_up):
    world, state = placed(db(limit=limit), {"db2": 2_000_000.0, "db3": 0.0})
    world.switchovers["pg"] = SwitchoverRequest("pg", "db2", requested=5.0)
    assert world.step(state, 5.0) == []                   # the primary is not demoted yet
    assert world.assignments["pg"].active == ("db1",) and "pg" in world.switchovers
    world.measured("db2", "pg", "replication", caught_up)
    assign = only_assign(world.step(state, 6.0))
    assert assign.active == () and assign.standby[0] == "db2"   # phase 1: demote db1 for db2


def test_planned_switchover_without_a_target_picks_the_least_lag_standby():
    world, state = placed(db(), {"db2": 2_000_000.0, "db3": 0.0})
    world.switchovers["pg"] = SwitchoverRequest("pg", None, requested=5.0)
    assign = only_assign(world.step(state, 5.0))
    assert assign.active == () and assign.standby[0] == "db3"


def test_max_lag_is_a_size_for_postgres_and_a_duration_for_mysql():
    assert db(limit="16MiB").spec.checks[1].maxLagOnFailover == 16 * 2**20
    assert db(limit="30s", kind="mysql-replication").spec.checks[1].maxLagOnFailover == 30.0
    with pytest.raises(ValidationError, match="maxLagOnFailover is a size"):
        db(limit="16MiB", warn="1s", fail="10s")
    with pytest.raises(ValidationError):
        db(limit="soon")
    with pytest.raises(ValidationError, match="Extra inputs"):
        db(maxLagOnFailovers="1MiB")


def test_a_standby_list_written_while_nobody_could_take_over_names_no_successor():
    # Every standby too far behind: the primary is dropped and nobody named;
    # the standby list left behind is candidates order. Once they catch up,
    # its head is no successor the least behind must yield to.
    world, state = placed(db(limit="1MiB"), {"db2": 9_000_000.0, "db3": 9_000_000.0})
    assign = only_assign(fail_over(world, state))
    assert assign.active == () and assign.standby[:2] == ("db2", "db3")
    world.ack("pg", "db2", "db3")
    world.measured("db2", "pg", "replication", 500_000.0)
    world.measured("db3", "pg", "replication", 0.0)
    assert only_assign(world.step(state, 12.0)).active == ("db3",)


def test_a_named_successor_yields_only_to_a_standby_less_behind():
    # Phase 1 named db3, the least behind then; by phase 2 db2 has caught up
    # further. Equal lags keep the named one first.
    world, state = placed(db(), {"db2": 2_000_000.0, "db3": 1_000_000.0})
    world.report("db1", "pg", "active", outcome="failed", message="exit 1")
    assign = only_assign(world.step(state, 10.0))
    assert assign.active == () and assign.standby[0] == "db3"    # phase 1: db1 demoted for db3
    world.report("db1", "pg", "stopped", outcome="failed", message="exit 1")   # demoted: it stepped down
    world.ack("pg", "db2", "db3")
    world.measured("db2", "pg", "replication", 1_000_000.0)
    assert only_assign(world.plan(state, 11.0)).active == ("db3",)
    world.measured("db2", "pg", "replication", 0.0)
    assert only_assign(world.step(state, 11.0)).active == ("db2",)
