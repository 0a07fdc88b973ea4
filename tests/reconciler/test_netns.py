"""Multi-host failover: etcd and every agent in its own network namespace.

Each server is a separate host as far as the network goes (its own address,
its own cable into a bridge); a partition is a pulled cable, so packets are
dropped, not refused. The test process reaches every host through its own
veth into the bridge (see tests/support/netns.py).

Covered: the fixture itself; a cut-off master+active fences its child before
the standby promotes and comes back as a standby; a cut-off standby moves
nothing; etcd cut off from everybody keeps actives (failsafe over the agents'
/healthz on their Server addresses) and the cluster converges unchanged.
"""
import os
import subprocess
import sys
import threading
import time

import psutil
import pytest

from overseer.desired.store.local_etcd import etcd_args, etcd_binary, wait_healthy
from tests.reconciler.test_failover import SERVERS, running_pid, service
from tests.support.waiting import holds_for, poll_until
from tests.support.cluster import OVERSEER, Cluster, cluster_yaml
from tests.support.netns import NetnsLab, unavailable

pytestmark = pytest.mark.slow

AGENT_PORT = 7000      # the same on every host: each host has its own address


@pytest.fixture
def lab():
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with NetnsLab(["etcd", *SERVERS]) as built:
        yield built


@pytest.fixture
def netc(lab, tmp_path, cluster_name):
    """etcd in namespace `etcd`, a Cluster handle whose agents run in their namespaces."""
    host = lab.address("etcd")
    argv = [etcd_binary(), *etcd_args("overseer", str(tmp_path / "etcd"), 2379, 2380, host=host)]
    log = open(tmp_path / "etcd.log", "ab")
    proc = lab.run_in("etcd", argv, stdout=log, stderr=log)
    url = f"http://{host}:2379"
    wait_healthy(url, proc=proc)
    cluster = Cluster(url, cluster_name, tmp_path)
    try:
        yield lab, cluster
    finally:
        cluster.stop()
        log.close()


def netns_yaml(lab, name, ttl, candidates):
    """cluster_yaml's documents, each Server at its own namespace address."""
    text = cluster_yaml(name, SERVERS, ttl=ttl, ports={s: AGENT_PORT for s in SERVERS},
                        extra=service(candidates=candidates))
    for server in SERVERS:
        before = f"metadata: {{name: {server}}}\nspec: {{address: 127.0.0.1,"
        assert before in text, f"cluster_yaml changed its Server layout; fix netns_yaml:\n{text}"
        text = text.replace(before, f"metadata: {{name: {server}}}\nspec: {{address: {lab.address(server)},")
    return text


def start_agent(lab, cluster, server):
    state = cluster.workdir / server
    state.mkdir(exist_ok=True)
    log = open(cluster.workdir / f"{server}.log", "ab")
    argv = [OVERSEER, "agent", "--server", server, "--state-dir", str(state), "--etcd", cluster.etcd_url]
    cluster.agents[server] = lab.run_in(server, argv, env=cluster.env, stdout=log, stderr=log)
    log.close()


def start_all(lab, cluster, ttl, candidates=("pbx1", "pbx2")):
    cluster.apply(netns_yaml(lab, cluster.name, ttl, candidates))
    for server in SERVERS:
        start_agent(lab, cluster, server)
    first = candidates[0]
    return cluster.wait_for(lambda s: running_pid(s, first) and len(s.servers) == 3 and s.master,
                            what=f"pbx active on {first}, three servers up")


def _alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def watch_death(pid):
    """Poll every 5 ms; the returned dict gets `died` (wall clock, as report.time)."""
    seen = {}

    def run():
        while _alive(pid):
            time.sleep(0.005)
        seen["died"] = time.time()
    threading.Thread(target=run, daemon=True).start()
    return seen


def activations(cluster, server):
    """How often the server's agent said it became active (warm standbys run the child too)."""
    return (cluster.workdir / f"{server}.log").read_text().count("pbx: now active")


# Product bugs a black-holed link (packets dropped, not refused) shows; the proxy tests cannot.

def test_lab_isolates_cuts_and_cleans_up():
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    serve = [sys.executable, "-c", "import socket, time; s = socket.create_server(('0.0.0.0', 5000)); "
             "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
             "time.sleep(600)"]
    probe = "import socket, sys; socket.create_connection((sys.argv[1], 5000), 0.5)"
    with NetnsLab(["a", "b"]) as lab:
        server = lab.run_in("a", serve)
        deadline = time.monotonic() + 5
        while not lab.reachable(lab.address("a"), 5000) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lab.reachable(lab.address("a"), 5000), "root namespace cannot reach host a"
        assert lab.run_in("b", [sys.executable, "-c", probe, lab.address("a")]).wait(10) == 0
        lab.cut("a")
        assert not lab.reachable(lab.address("a"), 5000)
        refused = lab.run_in("b", [sys.executable, "-c", probe, lab.address("a")], stderr=subprocess.DEVNULL)
        assert refused.wait(10) != 0
        lab.restore("a")
        assert lab.reachable(lab.address("a"), 5000, timeout=2)
        inside = lab._pids_inside()
        assert server.pid in inside and len(inside) >= 2, inside   # the server and its grandchild
        names = [h.ns for h in lab.hosts.values()] + [lab.hub]
    assert not any(_alive(pid) for pid in inside), "processes left running after close()"
    listed = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    assert not set(names) & set(listed), f"namespaces left behind: {set(names) & set(listed)}"


def cut_active_until_moved(lab, cluster, snap, victim: str, successor: str):
    """Cut the active's link and wait until the successor runs the service.
    Returns (snapshot, {"died": t} of the victim's child, cut time,
    {"at": t} when the victim's lease was seen gone, successor's report time)."""
    seen = watch_death(running_pid(snap, victim))
    cut = time.time()
    lab.cut(victim)
    gone = {}

    def moved(s):
        if victim not in s.servers:
            gone.setdefault("at", time.time())
        return running_pid(s, successor) is not None
    snap = cluster.wait_for(moved, timeout=15, what=f"pbx on {successor}")
    return snap, seen, cut, gone, snap.reports[(successor, "pbx")].time


def test_cut_off_master_fences_before_the_standby_promotes(netc):
    lab, cluster = netc
    snap = start_all(lab, cluster, ttl="3s")
    assert snap.master.server == "pbx1"
    child = running_pid(snap, "pbx1")
    snap, seen, cut, gone, promoted = cut_active_until_moved(lab, cluster, snap, "pbx1", "pbx2")
    assert "died" in seen, "pbx1's child still runs while pbx2 reports active: two actives"
    print(f"\ncut pbx1 at 0; its child stopped after {seen['died'] - cut:.2f}s; its lease seen gone after "
          f"{gone.get('at', promoted) - cut:.2f}s; pbx2 reported active after {promoted - cut:.2f}s (leaseTTL 3s)")
    assert seen["died"] < promoted, "pbx2 went active before pbx1's child had stopped"
    assert snap.master.server == "pbx2"
    assert snap.assignments["pbx"].active == ("pbx2",)
    assert "fencing" in (cluster.workdir / "pbx1.log").read_text()
    new_child = running_pid(snap, "pbx2")

    restored = time.monotonic()
    lab.restore("pbx1")
    bad = []

    def back_as_standby(s):
        mine = s.reports.get(("pbx1", "pbx"))
        # the report of the partition time stays in etcd (actual/ is not on the lease): only a
        # fresh claim or a live pid would be a second active
        if mine is not None and mine.role == "active" and (mine.time > cut or (mine.pid and _alive(mine.pid))):
            bad.append(mine)
        return "pbx1" in s.servers and mine is not None and mine.role == "standby"
    snap = cluster.wait_for(back_as_standby, timeout=20, what="pbx1 back as standby")
    print(f"link restored: pbx1 standby after {time.monotonic() - restored:.2f}s")
    assert not bad, f"pbx1 reported active again after the partition healed: {bad}"
    assert not _alive(child)
    assert snap.assignments["pbx"].active == ("pbx2",) and snap.master.server == "pbx2"
    assert running_pid(snap, "pbx2") == new_child and _alive(new_child)
    assert activations(cluster, "pbx1") == 1, "pbx1 became active again after the partition healed"


def test_cut_off_standby_moves_nothing(netc):
    lab, cluster = netc
    snap = start_all(lab, cluster, ttl="2s")
    master, child = snap.master, running_pid(snap, "pbx1")
    cut = time.monotonic()
    lab.cut("pbx2")
    snap = cluster.wait_for(lambda s: "pbx2" not in s.servers, timeout=10, what="pbx2's lease to expire")
    print(f"\ncut pbx2 (standby) at 0; its lease gone after {time.monotonic() - cut:.2f}s")

    def nothing_moved():
        now = cluster.snapshot()
        assert now.master == master, f"the master changed: {master} -> {now.master}"
        return now.assignments["pbx"].active == ("pbx1",) and running_pid(now, "pbx1") == child and _alive(child)
    holds_for(nothing_moved, 1.0, "pbx on pbx1, same master")  # room for a wrong move to show

    restored = time.monotonic()
    lab.restore("pbx2")
    snap = cluster.wait_for(lambda s: "pbx2" in s.servers and s.reports.get(("pbx2", "pbx")) is not None
                            and s.reports[("pbx2", "pbx")].role == "standby", timeout=15, what="pbx2 back")
    print(f"link restored: pbx2 standby after {time.monotonic() - restored:.2f}s")
    assert snap.master == master and snap.assignments["pbx"].active == ("pbx1",)
    assert running_pid(snap, "pbx1") == child and _alive(child)


# A dropped link times out rather than refuses: a peer whose own keep-alives
# fail answers "gone" and vouches (a peer whose keep-alives get through and
# whose probe timed out answers "cannot tell": a slow etcd still expires
# leases, seed 91). A refusing etcd: test_fencing. docs/testing.md, failsafe.
@pytest.mark.parametrize("ttl", ["3s", "2s"])
def test_etcd_cut_off_from_everyone_keeps_actives(netc, ttl):
    lab, cluster = netc
    seconds = float(ttl.rstrip("s"))
    snap = start_all(lab, cluster, ttl=ttl)
    master, child = snap.master, running_pid(snap, "pbx1")
    cluster.store.close()   # the test's own client would hang on the dead link
    cluster._store = None
    lab.cut("etcd")
    logs = [cluster.workdir / f"{server}.log" for server in SERVERS]
    poll_until(lambda: all("failsafe" in log.read_text() for log in logs), 30,
               "every agent to go failsafe\n" + cluster.logs())

    def all_stay():
        assert all(p.poll() is None for p in cluster.agents.values()), "agents must keep running"
        for server in ("pbx2", "web1"):
            assert activations(cluster, server) == 0, f"{server} promoted without etcd"
        return _alive(child)
    # twice leaseTTL: a lone cut-off agent would have fenced long ago
    holds_for(all_stay, 2 * seconds + 0.5, "failsafe: the active running while etcd is gone for everyone")

    # The link returns to an etcd that kept running and expired every lease
    # meanwhile. Each agent's actives are still legitimate on its peers' word
    # (failsafe vouched for them), so it takes a new lease and keeps them:
    # nothing bounces (docs/design-choices.md, "After a cluster-wide lease
    # expiry"). An etcd that was itself down keeps the leases
    # (tests/reconciler/test_fencing.py); one that stalled: test_etcd_stall.py.
    restored = time.monotonic()
    lab.restore("etcd")

    def one_active(snap=None):
        now = snap or cluster.snapshot()
        assignment = now.assignments.get("pbx")
        actives = [x for x in ("pbx1", "pbx2") if running_pid(now, x)]
        return assignment is not None and len(actives) == 1 and assignment.active == tuple(actives)
    # Wait for the assigned active to run, not for any report of one: a report
    # from before the outage can still say "active" while the new master
    # decides (with the failsafe's vouch it may first keep pbx1, then move).
    snap = cluster.wait_for(lambda s: s.master is not None and len(s.servers) == 3 and one_active(s),
                            timeout=15, what="cluster back with one active, the assigned one")
    print(f"\netcd link restored: cluster converged after {time.monotonic() - restored:.2f}s "
          f"(master {master.server} -> {snap.master.server})")
    holds_for(one_active, 1.0, "exactly one active, the assigned one")
    assert running_pid(snap, "pbx1") == child and _alive(child), "the active bounced after etcd's return"
    # the history says why nothing moved (written just after the new lease)
    cluster.wait_for(lambda s: any(e.kind == "kept" and e.server == "pbx1" for e in s.history.get("pbx", ())),
                     timeout=10, what="pbx's history saying its active was kept")


def test_cut_off_active_that_is_not_master_fences_before_the_lease_ends(netc):
    """The tight case: the master (pbx1) stays, so it acts right after the lease plus failoverMargin."""
    lab, cluster = netc
    snap = start_all(lab, cluster, ttl="3s", candidates=("pbx2", "web1"))
    assert snap.master.server == "pbx1"
    snap, seen, cut, gone, promoted = cut_active_until_moved(lab, cluster, snap, "pbx2", "web1")
    print(f"\ncut pbx2 (active, not master) at 0; its child stopped after "
          f"{seen.get('died', float('nan')) - cut:.2f}s; its lease seen gone after "
          f"{gone.get('at', promoted) - cut:.2f}s; web1 reported active after {promoted - cut:.2f}s (leaseTTL 3s)")
    assert "died" in seen, "pbx2's child still runs while web1 reports active: two actives"
    assert seen["died"] < promoted, "web1 went active before pbx2's child had stopped"
    assert snap.master.server == "pbx1"
