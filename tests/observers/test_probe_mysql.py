"""mysql-replication against a real MariaDB primary and replica."""
from __future__ import annotations

import asyncio
import time

import pytest

from tests.observers.conftest import make_check, run_probe
from tests.support.peers.mariadb import PASSWORD, start_pair
from tests.support.secrets import write_secret

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def my():
    pair = start_pair()
    yield pair
    pair.close()


@pytest.fixture
def pw(tmp_path):
    path = tmp_path / "pw"
    write_secret(path, PASSWORD + "\n")
    return str(path)


def _check(node, pw, **limits):
    return make_check(type="mysql-replication", port=node.port, user="overseer",
                      passwordFile=pw, **limits)


async def _until(check, status: str, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while True:
        res = await run_probe(check)
        if res.status == status or time.monotonic() > deadline:
            return res
        await asyncio.sleep(0.2)


async def test_healthy_replica(my, pw):
    res = await run_probe(_check(my.replica, pw, warn="10s", fail="60s"))
    assert (res.status, res.value) == ("ok", 0.0), res.message
    assert res.message == "replica behind source by 0 s"


async def test_primary_is_not_a_replica(my, pw):
    res = await run_probe(_check(my.primary, pw))
    assert res.status == "fail" and res.message == "not a replica (SHOW REPLICA STATUS is empty)"


async def test_wrong_password_fails_without_showing_it(my, tmp_path):
    bad = tmp_path / "bad"
    write_secret(bad, "wrong-mysql-pw-555\n")
    res = await run_probe(_check(my.replica, str(bad)))
    assert res.status == "fail" and "Access denied" in res.message
    assert "wrong-mysql-pw-555" not in res.message


async def test_delayed_replica_lags(my, pw):
    my.replica.sql("STOP SLAVE")
    my.replica.sql("CHANGE MASTER TO MASTER_DELAY=5")
    my.replica.sql("START SLAVE")
    try:
        my.primary.sql("CREATE DATABASE IF NOT EXISTS lagdb")
        res = await _until(_check(my.replica, pw, warn="1s", fail="1h"), "warn")
        assert res.status == "warn" and res.value >= 1
        assert res.message.startswith("replica behind source by ") and "≥ warn 1 s" in res.message
    finally:
        my.replica.sql("STOP SLAVE")
        my.replica.sql("CHANGE MASTER TO MASTER_DELAY=0")
        my.replica.sql("START SLAVE")
    assert (await _until(_check(my.replica, pw, warn="1s"), "ok")).status == "ok"


async def test_stopped_sql_thread_fails(my, pw):
    my.replica.sql("STOP SLAVE SQL_THREAD")
    try:
        res = await run_probe(_check(my.replica, pw))
        assert res.status == "fail" and res.message.startswith("replica SQL thread No")
        assert res.value is None            # nothing is applied: no lag to rank by
    finally:
        my.replica.sql("START SLAVE SQL_THREAD")
    my.wait_running()
    assert (await run_probe(_check(my.replica, pw))).status == "ok"


async def test_stopped_io_thread_fails(my, pw):
    my.replica.sql("STOP SLAVE IO_THREAD")
    try:
        res = await run_probe(_check(my.replica, pw))
        assert res.status == "fail" and res.message.startswith("replica IO thread No")
        # the source gone, what was received is still applied: a lag a failover can rank by
        assert res.value == 0.0
    finally:
        my.replica.sql("START SLAVE IO_THREAD")
    my.wait_running()


async def test_refused_port_fails(pw):
    res = await run_probe(make_check(type="mysql-replication", port=1, user="x"))
    assert res.status == "fail" and res.message.startswith("MySQL 127.0.0.1:1: ")
