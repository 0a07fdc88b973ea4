"""postgres-replication against a real PostgreSQL 15 primary and streaming replica."""
from __future__ import annotations

import asyncio
import time

import pytest

from tests.observers.conftest import make_check, run_probe
from tests.support.peers.postgres import PASSWORD, start_pair
from tests.support.secrets import write_secret
from tests.support.waiting import poll_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg():
    pair = start_pair()
    yield pair
    pair.close()


def _check(node, **fields):
    return make_check(type="postgres-replication", dsn=node.dsn(), **fields)


async def _until(check, status: str, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while True:
        res = await run_probe(check)
        if res.status == status or time.monotonic() > deadline:
            return res
        await asyncio.sleep(0.2)


def _replica_rows(pg):
    try:
        return pg.replica.sql("SELECT count(*) FROM t")
    except RuntimeError:  # psql failed: the table itself is not replayed yet
        return None


async def test_primary_and_standby_healthy(pg):
    res = await run_probe(_check(pg.primary, warn="16MiB", fail="64MiB"))
    assert res.status == "ok", res.message
    assert res.message.startswith("primary, worst replay lag") and "(1 streaming)" in res.message
    res = await run_probe(_check(pg.replica, warn="16MiB", fail="64MiB"))
    assert res.status == "ok" and res.message.startswith("standby, replay lag")


async def test_password_file_is_used_and_never_shown(pg, tmp_path):
    good = tmp_path / "pw"
    write_secret(good, PASSWORD + "\n")
    check = _check(pg.primary, warn="16MiB", fail="64MiB", passwordFile=str(good))
    check = check.model_copy(update={"dsn": pg.primary.dsn("overseer")})
    assert (await run_probe(check)).status == "ok"
    bad = tmp_path / "bad"
    write_secret(bad, "wrong-password-777\n")
    res = await run_probe(check.model_copy(update={"passwordFile": str(bad)}))
    assert res.status == "fail" and "password authentication failed" in res.message
    assert "wrong-password-777" not in res.message


async def test_lag_in_bytes_and_seconds_while_replay_is_paused(pg):
    pg.primary.sql("CREATE TABLE IF NOT EXISTS t (x text)")
    pg.primary.sql("INSERT INTO t VALUES ('before')")
    rows = pg.primary.sql("SELECT count(*) FROM t")
    poll_until(lambda: _replica_rows(pg) == rows, 15, "the replica to replay the insert")
    pg.replica.sql("SELECT pg_wal_replay_pause()")
    try:
        pg.primary.sql("INSERT INTO t SELECT repeat('x', 1000) FROM generate_series(1, 2000)")
        bytes_primary = await _until(_check(pg.primary, warn="64kB", fail="1GiB"), "warn")
        assert bytes_primary.status == "warn" and bytes_primary.value > 64_000
        assert "≥ warn 62.5 KiB" in bytes_primary.message
        standby_bytes = await _until(_check(pg.replica, warn="64kB", fail="1GiB"), "warn")
        assert standby_bytes.status == "warn" and standby_bytes.value > 64_000
        # lag in seconds grows while replay stays paused: poll until it passes 1 s
        standby_secs = await _until(_check(pg.replica, warn="1s", fail="1h"), "warn")
        assert standby_secs.status == "warn" and standby_secs.value >= 1.0
    finally:
        pg.replica.sql("SELECT pg_wal_replay_resume()")
    res = await _until(_check(pg.replica, warn="64kB", fail="1GiB"), "ok")
    assert res.status == "ok" and res.value < 64_000


async def test_stopped_replica_fails_the_primary_check(pg):
    check = _check(pg.primary, minReplicas=1)
    pg.replica.stop()
    try:
        res = await _until(check, "fail")
        assert res.status == "fail" and res.message.startswith("0 of 1 required replicas streaming")
        zero = await run_probe(_check(pg.primary, minReplicas=0))
        assert zero.status == "ok" and "no replicas" in zero.message
    finally:
        pg.replica.start()
        pg.wait_streaming()
    assert (await run_probe(check)).status == "ok"


async def test_standby_not_streaming_fails(pg):
    check = _check(pg.replica)
    pg.primary.stop()
    try:
        res = await _until(check, "fail")
        assert res.status == "fail" and res.message.startswith("standby not streaming")
    finally:
        pg.primary.start()
        pg.wait_streaming()
    assert (await _until(check, "ok")).status == "ok"


async def test_unreachable_server_fails(pg):
    res = await run_probe(make_check(type="postgres-replication",
                                     dsn="host=127.0.0.1 port=1 user=postgres"))
    assert res.status == "fail" and res.message.startswith("PostgreSQL: ")
