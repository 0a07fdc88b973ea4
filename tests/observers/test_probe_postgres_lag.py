"""Least lag against real PostgreSQL 15: a primary and two streaming replicas,
one held back with pg_wal_replay_pause(). The primary crashes; the real probe
measures each replica's lag, the planner (fed those results as the agents
would publish them) promotes the other one, and promoting it for real loses
no committed row.

The agents and etcd are left out on purpose: the probe's number is checked
against real PostgreSQL here, the planner's choice from that number is the
pure function tests/reconciler/test_planner_lag.py covers in depth, and the
whole chain with real agents is tests/reconciler/test_least_lag_e2e.py.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from overseer.desired.models import ServiceDoc
from tests.observers.conftest import make_check, run_probe
from tests.reconciler.planner_world import World, desired, only_assign
from tests.support.peers.postgres import BIN, _run, add_replica, start_pair
from tests.support.waiting import poll_until

pytestmark = pytest.mark.slow
LIMIT = "64kB"


def _service() -> ServiceDoc:
    return ServiceDoc.model_validate({
        "apiVersion": "overseer/v1", "kind": "Service", "metadata": {"name": "pg"},
        # the held-back replica is the first candidate: candidates order alone would pick it
        "spec": {"standby": "warm", "candidates": ["db1", "held", "keen"],
                 "actuator": {"type": "process", "command": ["sleep", "1000"]},
                 "checks": [{"name": "replication", "type": "postgres-replication",
                             "dsn": "host=127.0.0.1", "critical": False,
                             "maxLagOnFailover": LIMIT}]}})


def _rows(node) -> int:
    return int(node.sql("SELECT count(*) FROM t"))


def _choose(results: dict) -> str:
    """The planner's failover, fed the probe results as the standbys' observations."""
    svc = _service()
    state = desired({"db1": "", "held": "", "keen": ""}, [svc])
    world = World(live={"db1": "ok", "held": "ok", "keen": "ok"}).settle(state)
    assert world.assignments["pg"].active == ("db1",)
    for server, res in results.items():
        world.measured(server, "pg", "replication", res.value, status=res.status)
    world.kill("db1", at=0.0)
    return only_assign(world.step(state, 10.0))


async def test_the_replica_that_replayed_everything_is_promoted_and_loses_nothing():
    pair = start_pair()
    keen = None
    try:
        keen = add_replica(pair)
        held = pair.replica
        pair.primary.sql("CREATE TABLE t (x text)")
        pair.primary.sql("INSERT INTO t VALUES ('before')")
        poll_until(lambda: all(_safe_rows(n) == 1 for n in (held, keen)), 20, "both replicas to replay")
        held.sql("SELECT pg_wal_replay_pause()")
        pair.primary.sql("INSERT INTO t SELECT repeat('x', 1000) FROM generate_series(1, 2000)")
        committed = _rows(pair.primary)
        poll_until(lambda: _rows(keen) == committed, 20, "the keen replica to replay every row")
        # the held replica received the WAL (so the lag is measurable on it alone) but did not apply it
        end = pair.primary.sql("SELECT pg_current_wal_lsn()")
        poll_until(lambda: held.sql(f"SELECT pg_last_wal_receive_lsn() >= '{end}'") == "t", 20,
                   "the held replica to receive the WAL")
        _run([f"{BIN}/pg_ctl", "-D", pair.primary.data, "-m", "immediate", "-w", "stop"])  # a crash

        check = lambda node: make_check(type="postgres-replication", dsn=node.dsn(),  # noqa: E731
                                        maxLagOnFailover=LIMIT, critical=False)
        results = {}
        for name, node in (("held", held), ("keen", keen)):
            # the receiver notices the crash within a moment; wait for the probe to say so
            results[name] = await _until_not_streaming(check(node))
        assert results["held"].value > 64_000, results["held"]
        assert results["keen"].value == 0.0, results["keen"]
        assert "standby not streaming" in results["held"].message

        assign = _choose(results)
        assert assign.active == ("keen",), assign.reason
        assert _choose({"held": results["held"], "keen": results["held"]}).active == (), \
            "both past maxLagOnFailover: nobody is promoted"

        keen.sql("SELECT pg_promote(wait => true)")
        assert keen.sql("SELECT pg_is_in_recovery()") == "f"
        assert _rows(keen) == committed                  # no committed row lost
        assert _rows(held) < committed                   # what the held one would have served
    finally:
        if keen is not None:
            try:
                keen.stop()
            except RuntimeError:
                pass
        pair.close()


def _safe_rows(node):
    try:
        return _rows(node)
    except RuntimeError:       # the table itself is not replayed yet
        return None


async def _until_not_streaming(check, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while True:
        res = await run_probe(check)
        if "not streaming" in res.message or time.monotonic() > deadline:
            return res
        await asyncio.sleep(0.2)
