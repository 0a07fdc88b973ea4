"""A real agent whose road to etcd runs through a hostile etcd
(tests/support/hostile_etcd.py): garbage, bent answers, answers without end
or at a byte every 0.3 s.

Such an answer once ended an agent ("agent task 'snapshots' ended
unexpectedly", exit 2: a 500 with the body `[1]`), and its fencer then
killed the active. Now the agent treats each as etcd not answering: it keeps
its lease through a short burst, fences cleanly through a long one, never
exits and never logs a traceback.
"""
from __future__ import annotations

import threading
import time

import psutil

from tests.support.cluster import cluster_yaml, running_pid
from tests.support.cluster import sleeper_service as service
from tests.support.hostile_etcd import HostileEtcd
from tests.support.waiting import poll_until

SERVERS = ["pbx1", "pbx2"]
BURSTS = ["500 [1]", "revision a string", "kvs not a list", "bad base64", "no header", "deep nesting",
          "truncated", "not json", "a list", "endless chunked", "huge length", "long header", "drip"]
# what an agent must never log, whatever etcd answers
BROKEN = ("Traceback", "ended unexpectedly", "internal error", "failed unexpectedly",
          "could not handle snapshot")


def _log(cluster, server: str) -> str:
    return (cluster.workdir / f"{server}.log").read_text(errors="replace")


def _sound(cluster, server: str) -> None:
    assert cluster.agents[server].poll() is None, f"{server} exited:\n{_log(cluster, server)[-3000:]}"
    log = _log(cluster, server)
    for line in log.splitlines():
        assert not any(word in line for word in BROKEN), f"{server} logged: {line}\n{log[-3000:]}"


def _death_of(pid: int) -> dict:
    """{"at": monotonic time} once the process is gone, filled in by a watcher thread."""
    out: dict = {}

    def watch() -> None:
        try:
            child = psutil.Process(pid)
            while child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
                time.sleep(0.005)
        except psutil.NoSuchProcess:
            pass
        out["at"] = time.monotonic()
    threading.Thread(target=watch, daemon=True).start()
    return out


def test_hostile_answers_never_stop_an_agent(cluster):
    hostile = HostileEtcd(cluster.etcd_url)
    try:
        cluster.apply(cluster_yaml(cluster.name, SERVERS, ttl="3s", extra=service()))
        env = cluster.env
        cluster.env = dict(env, OVERSEER_ETCD_MAX_ANSWER="4MiB")   # endless answers end early
        cluster.start_agent_through("pbx1", hostile.url)
        cluster.env = env
        cluster.start_agent("pbx2")
        cluster.wait_for(lambda s: running_pid(s, "pbx1") and len(s.servers) == 2, what="pbx on pbx1")

        # Bursts shorter than the fence deadline: each meets the agent's
        # keep-alives and snapshot reads, then etcd answers sanely again.
        for mode in BURSTS:
            hostile.set(mode)
            poll_until(lambda: hostile.answered >= 3, 10, f"the agent to meet {mode!r}")
            hostile.set(None)
            poll_until(lambda: hostile.piped >= 2, 10, f"the agent back through etcd after {mode!r}")
            _sound(cluster, "pbx1")
        snap = cluster.wait_for(lambda s: "pbx1" in s.servers and sum(
            running_pid(s, server) is not None for server in SERVERS) == 1, what="one active, pbx1 back")
        log = _log(cluster, "pbx1")
        assert "malformed answer" in log, log[-3000:]

        # A long one: the agent cannot renew, fences its active before pbx2
        # takes over, and stays up to come back as the standby.
        active = next(server for server in SERVERS if running_pid(snap, server))
        if active == "pbx1":
            died = _death_of(running_pid(snap, "pbx1"))
            hostile.set("500 [1]")
            cluster.wait_for(lambda s: running_pid(s, "pbx2") is not None, timeout=30, what="pbx moved to pbx2")
            promoted = time.monotonic()
            # (pbx1's own report in etcd is stale: it cannot write; its child is what counts)
            assert "at" in died and died["at"] < promoted, "pbx1's child outlived pbx2's promotion"
            assert "fencing" in _log(cluster, "pbx1")
            _sound(cluster, "pbx1")
            hostile.set(None)
        cluster.wait_for(lambda s: "pbx1" in s.servers and s.reports.get(("pbx1", "pbx")) is not None
                         and s.reports[("pbx1", "pbx")].role == "standby", timeout=20, what="pbx1 the standby")
        _sound(cluster, "pbx1")
        _sound(cluster, "pbx2")
    finally:
        hostile.close()
