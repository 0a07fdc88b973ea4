"""Role-change hooks end to end: real agents on real etcd, a real webhook server.

pbx1 is master and runs the active; its link to etcd is cut (a TCP proxy), so
it fences itself, pbx2 becomes master, fails the service over and promotes
it. Then a switchover back: pbx2 demotes, pbx1 promotes. Every hook fires
exactly once, where it should, with the JSON body and the environment the
docs promise, and its outcome lands in history. Hooks that hang hold up no
failover and do not outlive their agent; a crashed active fires demote, and a
failing hook shows in `overseer status`.
"""
from __future__ import annotations

import json
import os
import re
import signal
import sys
import urllib.request
from urllib.parse import urlparse

import psutil
import pytest

from overseer.desired.store.local_etcd import free_port
from tests.support.cluster import cluster_yaml, running_pid
from tests.support.cluster import sleeper_service as service
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import holds_for, poll_until
from tests.support.webhook import WebhookServer

SERVERS = ["pbx1", "pbx2", "web1"]
EVENTS = ("promote", "demote", "failover", "fence", "masterChange")
DUMP = ("import json,os,sys; open(sys.argv[1],'a').write(json.dumps({k: v for k, v in os.environ.items()"
        " if k.startswith('OVERSEER_')}) + chr(10))")


def with_hooks(text: str, url: str, log) -> str:
    command = json.dumps([sys.executable, "-c", DUMP, str(log)])
    block = "  on:\n" + "".join(f"    {e}: {{command: {command}, webhook: '{url}', timeout: 5s}}\n" for e in EVENTS)
    return text.replace("spec:\n", "spec:\n" + block, 1)   # the first spec is the Cluster's


def short(body: dict) -> tuple:
    return body["event"], body["server"], body["service"], body["from"], body["to"]


def expect(got, wanted: set, what: str) -> None:
    """All of `wanted` arrive, then nothing more for a while (each exactly once)."""
    try:
        poll_until(lambda: set(got()) >= wanted, 20, what)
        holds_for(lambda: len(got()) == len(wanted), 2.0, "each hook firing once")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: wanted {sorted(wanted)}, got {got()}") from None


@pytest.fixture
def webhook():
    server = WebhookServer()
    yield server
    server.close()


def test_a_failover_fires_each_hook_once_where_it_happened(cluster, webhook, tmp_path):
    log = tmp_path / "hooks.jsonl"
    url = urlparse(cluster.etcd_url)
    proxy = TcpProxy(url.hostname, url.port)
    try:
        cluster.apply(with_hooks(cluster_yaml(cluster.name, SERVERS, ttl="3s", extra=service()), webhook.url, log))
        cluster.start_agent_through("pbx1", proxy.url)
        cluster.start_agent("pbx2")
        cluster.start_agent("web1")
        snap = cluster.wait_for(lambda s: running_pid(s, "pbx1") and len(s.servers) == 3, what="pbx on pbx1")
        first = snap.master.epoch
        poll_until(lambda: webhook.received(event="promote", server="pbx1")
                   and webhook.received(event="masterChange", server="pbx1"), 15, "start-up hooks")
        start = len(webhook.bodies)

        proxy.cut()
        cluster.wait_for(lambda s: running_pid(s, "pbx2") is not None and s.master.server == "pbx2",
                         timeout=30, what="pbx on pbx2, pbx2 master")
        wanted = {("fence", "pbx1", "pbx", "active", "stopped"), ("masterChange", "pbx2", "", "pbx1", "pbx2"),
                  ("failover", "pbx2", "pbx", "pbx1", "pbx2"), ("promote", "pbx2", "pbx", "standby", "active")}
        got = lambda: [short(b) for b in webhook.bodies[start:]]   # noqa: E731
        expect(got, wanted, "the failover's hooks")
        bodies = {b["event"]: b for b in webhook.bodies[start:]}
        epoch = cluster.snapshot().master.epoch
        assert epoch > first
        assert bodies["masterChange"]["epoch"] == bodies["failover"]["epoch"] == epoch
        assert bodies["promote"]["epoch"] == epoch and bodies["fence"]["epoch"] == first
        assert bodies["failover"]["reason"] and "pbx1" in bodies["failover"]["reason"]
        assert all(b["cluster"] == cluster.name and isinstance(b["time"], float) for b in bodies.values())
        assert set(bodies["fence"]) == {"cluster", "service", "event", "server", "from", "to", "epoch",
                                        "reason", "time"}

        proxy.restore()
        # standby under the *current* assignment: a "standby" report left from
        # the old one, with pbx1 not yet a standby in the new one, raced the
        # switchover (pbx1 then promoted from stopped)
        cluster.wait_for(lambda s: "pbx1" in s.servers and "pbx1" in s.assignments["pbx"].standby
                         and (r := s.reports[("pbx1", "pbx")]).role == "standby"
                         and r.assigned >= s.assignments["pbx"].time,
                         timeout=20, what="pbx1 back as standby")
        start = len(webhook.bodies)
        cluster.cli("switchover", "pbx", "--to", "pbx1")
        cluster.wait_for(lambda s: running_pid(s, "pbx1") is not None, timeout=20, what="switchover to pbx1")
        wanted = {("demote", "pbx2", "pbx", "active", "standby"), ("failover", "pbx2", "pbx", "pbx2", "pbx1"),
                  ("promote", "pbx1", "pbx", "standby", "active")}
        expect(got, wanted, "the switchover's hooks")
    finally:
        proxy.close()

    # the command hooks saw the same events, with the documented environment
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted((e["OVERSEER_EVENT"], e["OVERSEER_SERVER"]) for e in lines) == sorted(
        (b["event"], b["server"]) for b in webhook.bodies)
    assert not [k for e in lines for k in e if k.startswith("OVERSEER_ETCD")]
    promote = next(e for e in lines if e["OVERSEER_EVENT"] == "promote" and e["OVERSEER_SERVER"] == "pbx2")
    assert (promote["OVERSEER_ROLE"], promote["OVERSEER_FROM"], promote["OVERSEER_TO"]) == (
        "active", "standby", "active")

    # outcomes in history: kind hook, one per part (command, webhook) and event
    def recorded(s):
        return [h.message for h in s.history.get("pbx", ()) if h.kind == "hook"]
    snap = cluster.wait_for(lambda s: any("hook demote (webhook) on pbx2: ok" in m for m in recorded(s)),
                            timeout=15, what="hook outcomes in history")
    assert any(m == "hook failover (command) on pbx2: ok" for m in recorded(snap)), recorded(snap)
    assert any(m == "hook masterChange (webhook) on pbx2: ok" for m in recorded(snap)), recorded(snap)


HANG = ("import os,sys,time; e=os.environ; open(os.path.join(sys.argv[1], '-'.join((e['OVERSEER_EVENT'],"
        " e['OVERSEER_SERVER'], str(os.getpid())))), 'w').close(); time.sleep(10**6)")


def alive(pid: int) -> bool:
    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


def test_hooks_that_hang_hold_up_no_failover_and_die_with_their_agent(cluster, tmp_path):
    hanging, folder = WebhookServer(hang=True), tmp_path / "hung"
    folder.mkdir()
    command = json.dumps([sys.executable, "-c", HANG, str(folder)])
    block = "  on:\n" + "".join(f"    {e}: {{command: {command}, webhook: '{hanging.url}', timeout: 600s,"
                                f" attempts: 1}}\n" for e in EVENTS)

    def hung(server: str, event: str = "") -> dict[str, int]:
        found = (p.name.split("-") for p in folder.iterdir())
        return {f"{e}-{s}": int(pid) for e, s, pid in found if s == server and e.startswith(event)}
    try:
        text = cluster_yaml(cluster.name, SERVERS, extra=service())
        cluster.apply(text.replace("spec:\n", "spec:\n" + block, 1))
        for server in SERVERS:
            cluster.start_agent(server)
        snap = cluster.wait_for(lambda s: running_pid(s, "pbx1") is not None, what="pbx active on pbx1")
        poll_until(lambda: hung("pbx1", "promote") and hung("pbx1", "masterChange"), 15,
                   "pbx1's promote and masterChange hooks to start (and hang)")
        os.kill(running_pid(snap, "pbx1"), signal.SIGKILL)
        # the wait test_failover.py gives a killed child, while every hook of pbx1 hangs
        cluster.wait_for(lambda s: running_pid(s, "pbx2") is not None, timeout=10,
                         what="pbx active on pbx2 although every hook hangs")
        poll_until(lambda: hung("pbx2", "promote"), 15, "pbx2's promote hook to start")
        assert all(alive(pid) for pid in hung("pbx1").values()), "the failover waited for pbx1's hooks"

        # a stopping agent gives its hooks a few seconds, then kills those still running
        stopping = hung("pbx2")
        cluster.signal("pbx2", signal.SIGTERM)
        cluster.agents["pbx2"].wait(30)
        poll_until(lambda: not any(alive(pid) for pid in stopping.values()), 10, "pbx2's hooks to be killed")
        assert re.search(r"killed \d+ hook commands? still running", (cluster.workdir / "pbx2.log").read_text())
        # a killed agent's hooks die with it (parent-death signal)
        killed = hung("pbx1")
        cluster.kill("pbx1")
        poll_until(lambda: not any(alive(pid) for pid in killed.values()), 10, "pbx1's hooks to die with it")
    finally:
        hanging.close()
        for pid in (int(p.name.split("-")[2]) for p in folder.iterdir()):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_crashed_active_fires_demote_and_a_failing_hook_shows_in_status(cluster, webhook):
    failing = WebhookServer(status=(503,))
    hooks = (f"  on:\n    demote: {{webhook: '{webhook.url}'}}\n"
             f"    promote: {{webhook: '{failing.url}', attempts: 2}}\n")
    try:
        ports = {"pbx1": free_port(), "pbx2": free_port()}
        metrics = free_port()
        cluster.apply(cluster_yaml(cluster.name, ["pbx1", "pbx2"], ports=ports,
                                   extra=service(candidates=("pbx1",)) + hooks))
        cluster.start_agent("pbx1", "--metrics", str(metrics))
        cluster.start_agent("pbx2")
        snap = cluster.wait_for(lambda s: running_pid(s, "pbx1") is not None, what="pbx active on pbx1")
        old = running_pid(snap, "pbx1")
        os.kill(old, signal.SIGKILL)
        cluster.wait_for(lambda s: running_pid(s, "pbx1") not in (None, old), timeout=15,
                         what="pbx restarted in place on pbx1")
        [demote] = poll_until(lambda: webhook.received(event="demote"), 10, "the crash's demote hook")
        assert (demote["server"], demote["from"], demote["to"]) == ("pbx1", "active", "stopped"), demote
        assert demote["reason"].startswith("process exited"), demote
        poll_until(lambda: len(failing.received(event="promote")) == 4, 15, "two promotes, each tried twice")

        wanted = "hook promote (webhook) on pbx1: failed after 2 attempts: HTTP 503 Service Unavailable"
        poll_until(lambda: wanted in cluster.cli("status").stdout, 10, "the failed hook in `overseer status`")
        assert "LAST HOOK" in cluster.cli("status").stdout
        last = json.loads(cluster.cli("status", "--json").stdout)["services"]["pbx"]["lastHook"]
        assert (last["server"], last["message"], last["ok"]) == ("pbx1", wanted, False), last
        # and counted on the agent's own /metrics
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert 'overseer_hook_runs_total{event="promote",outcome="failed"} 2.0' in metrics, metrics
        assert 'overseer_hook_runs_total{event="demote",outcome="ok"} 1.0' in metrics, metrics
    finally:
        failing.close()
