"""Which watched changes wake an agent's snapshot loop (Agent._unused).

A bystander that re-read the whole cluster for every burst of another
server's reports took CPU from the survivor of a 300-service failover
(bench/scale.py). What it skips must be exactly what none of its passes read.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from overseer.desired.store.keys import Keys
from overseer.reconciler.agent.agent import Agent


def _agent(master: bool) -> Agent:
    agent = Agent.__new__(Agent)   # only the attributes _unused reads
    agent.store = SimpleNamespace(keys=Keys("c1"))
    agent.me = "pbx1"
    agent.mastership = SimpleNamespace(is_master=master)
    return agent


K = Keys("c1")


@pytest.mark.parametrize("master", [False, True])
def test_history_never_wakes_an_agent(master):
    assert _agent(master)._unused(K.history_prefix("svc").encode() + b"0001")


@pytest.mark.parametrize("key", [K.report("pbx2", "svc"), K.actual("pbx2", "svc", "sip"),
                                 K.failures("pbx2", "svc")])
def test_other_servers_reports_wake_only_the_master(key):
    assert _agent(master=False)._unused(key.encode())
    assert not _agent(master=True)._unused(key.encode())


@pytest.mark.parametrize("key", [K.report("pbx1", "svc"), K.failures("pbx1", "svc"), K.assign("svc"),
                                 K.master(), K.server("pbx2"), K.desired_prefix() + "Service/svc"])
def test_own_reports_and_everything_else_wake_every_agent(key):
    assert not _agent(master=False)._unused(key.encode())
    assert not _agent(master=True)._unused(key.encode())


def test_a_server_whose_name_extends_ours_is_another_server():
    # actual/pbx1/ must not match actual/pbx10/
    assert _agent(master=False)._unused(K.report("pbx10", "svc").encode())


def test_before_the_mastership_exists_nothing_of_others_is_read():
    agent = _agent(master=False)
    agent.mastership = None
    assert agent._unused(K.report("pbx2", "svc").encode())
    assert not agent._unused(K.assign("svc").encode())
