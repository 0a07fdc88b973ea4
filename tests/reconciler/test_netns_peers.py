"""Failsafe peers across network namespaces, with someone hostile on the network.

Each server is its own host (tests/support/netns.py). The attacker sits on
the cut-off server's side of the wire and answers on its peers' addresses:
those addresses are added to the server's own namespace once its cable is
pulled, so its failsafe questions reach the attacker, not the peers.

- An impostor answers "etcd is gone here too" as the peer asked. Before
  answers were signed, it was believed: the cut-off server kept its active
  while the new master promoted another (two actives). Now its answer does
  not count and the server fences before the successor starts.
- A replayer sends back genuine answers of those very peers, recorded during
  an earlier etcd outage when they did say "gone": they answer an old nonce,
  and count for nothing either.
- A flood of idle connections to an agent held at RLIMIT_NOFILE 256 does not
  stop it renewing its lease, nor answering a real peer.
"""
from __future__ import annotations

import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import textwrap
import threading
import time
from urllib.parse import urlencode

import pytest

from overseer.reconciler.agent import peer_auth
from overseer.reconciler.agent.healthz import MAX_CONNECTIONS
from overseer.reconciler.agent.peer_client import parse_answer
from tests.reconciler.test_failover import running_pid
from tests.reconciler.test_netns import AGENT_PORT, lab, netc, start_all, watch_death  # noqa: F401
from tests.support.netns import _ip
from tests.support.waiting import holds_for, poll_until

pytestmark = pytest.mark.slow

# Answers on the given addresses' AGENT_PORT with a canned HTTP answer per
# address, counting what it served in a file. IP_FREEBIND: it listens before
# the addresses exist (they are added once the cable is pulled, so no ARP
# answer for them ever leaves the host).
RESPONDER = textwrap.dedent("""\
    import json, socket, sys, threading
    port, served, answers = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    def serve(address, raw):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_IP, 15, 1)   # IP_FREEBIND
        s.bind((address, port))
        s.listen(16)
        while True:
            conn, _ = s.accept()
            conn.settimeout(2)
            data = b""
            try:
                while b"\\r\\n\\r\\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(raw.encode("latin-1"))
                with open(served, "a") as fh:
                    fh.write(address + " " + data.split(b"\\r\\n")[0].decode("latin-1") + "\\n")
            except OSError:
                pass
            conn.close()
    for address, raw in answers.items():
        threading.Thread(target=serve, args=(address, raw), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()
""")


def _signed_get(address: str, question: peer_auth.Question, timeout: float = 2.0) -> bytes:
    """One failsafe question from the test process, as an agent would send it; the raw answer."""
    with socket.create_connection((address, AGENT_PORT), timeout=timeout) as conn:
        conn.sendall(f"GET /healthz?{urlencode(question.params())} HTTP/1.0\r\n\r\n".encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _forged(peer: str) -> bytes:
    body = json.dumps({"server": peer, "etcd": False, "master": False, "fenced": False}).encode()
    return (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
            + f"{peer_auth.ANSWER_TIME}: {time.time()!r}\r\n{peer_auth.ANSWER_MAC}: {'0' * 64}\r\n".encode()
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def _record_gone_answers(lab, cluster, asker: str, peers: list[str]) -> dict[str, bytes]:
    """Genuine answers "etcd is gone here too" from `peers` to `asker`, as an
    eavesdropper records them: etcd's cable is pulled until every peer says so."""
    key = cluster.peer_key
    recorded: dict[str, bytes] = {}

    def all_gone() -> bool:
        for peer in peers:
            if peer in recorded:
                continue
            question = peer_auth.ask(peer_auth.PeerTrust(key), asker, peer, time.time())
            try:
                raw = _signed_get(lab.address(peer), question)
            except OSError:
                continue
            reply = parse_answer(raw)
            answer = json.loads(reply.body) if reply.status == 200 else {}
            if answer.get("etcd") is False:
                recorded[peer] = raw
        return len(recorded) == len(peers)
    cluster.store.close()    # the test's own client would hang on the dead link
    cluster._store = None
    lab.cut("etcd")
    try:
        poll_until(all_gone, 20, "every peer to say etcd is gone\n" + cluster.logs())
    finally:
        lab.restore("etcd")
    return recorded


@pytest.mark.parametrize("attack", ["impostor", "replay"])
def test_a_forged_or_replayed_answer_cannot_keep_a_cut_off_servers_actives(netc, attack):
    lab, cluster = netc
    snap = start_all(lab, cluster, ttl="3s")
    assert snap.master.server == "pbx1"
    peers = ["pbx2", "web1"]
    if attack == "replay":
        answers = _record_gone_answers(lab, cluster, "pbx1", peers)
        # etcd's cable was out for a moment: wait until the cluster is whole again
        snap = cluster.wait_for(lambda s: running_pid(s, "pbx1") and len(s.servers) == 3, timeout=20,
                                what="the cluster whole again after the recording")
    else:
        answers = {peer: _forged(peer) for peer in peers}
    child = running_pid(snap, "pbx1")
    served = cluster.workdir / "served.txt"
    canned = {lab.address(peer): raw.decode("latin-1") for peer, raw in answers.items()}
    responder = lab.run_in("pbx1", [sys.executable, "-c", RESPONDER, str(AGENT_PORT), str(served),
                                    json.dumps(canned)], stdout=subprocess.PIPE)
    assert responder.stdout.readline().strip() == b"ready"

    seen = watch_death(child)
    cut = time.time()
    lab.cut("pbx1")
    for peer in peers:   # from now on pbx1 reaches the attacker at its peers' addresses
        _ip("-n", lab.hosts["pbx1"].ns, "addr", "add", f"{lab.address(peer)}/32", "dev", "lo")
    snap = cluster.wait_for(lambda s: running_pid(s, "pbx2") is not None, timeout=20, what="pbx on pbx2")
    promoted = snap.reports[("pbx2", "pbx")].time
    log = (cluster.workdir / "pbx1.log").read_text()
    asked = served.read_text().splitlines() if served.exists() else []
    print(f"\n{attack}: cut pbx1 at 0; the attacker answered {len(asked)} questions; pbx1's child stopped "
          f"after {seen.get('died', float('nan')) - cut:.2f}s; pbx2 reported active after {promoted - cut:.2f}s")
    assert asked, "pbx1 never asked the attacker: this test shows nothing\n" + log[-3000:]
    assert "died" in seen, f"pbx1's child still runs while pbx2 reports active ({attack} believed)"
    assert seen["died"] < promoted, f"pbx2 went active before pbx1's child had stopped ({attack})"
    assert "failsafe: actives stay" not in log[log.rfind("agent pbx1 up"):]
    assert "no answer that counts" in log and "does not verify" in log, log[-3000:]


class IdleFlood:
    """Keeps `count` idle connections open to an address, opening a new one
    for each the server closes (at most `burst` per 0.1 s)."""

    def __init__(self, address: str, port: int, count: int, burst: int = 50):
        self.address, self.port, self.count, self.burst = address, port, count, burst
        self.opened = self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "IdleFlood":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        try:
            while not self._stop.is_set():
                for _ in range(min(self.burst, self.count - len(sel.get_map()))):
                    try:
                        conn = socket.create_connection((self.address, self.port), timeout=0.5)
                    except OSError:
                        break
                    sel.register(conn, selectors.EVENT_READ)
                    self.opened += 1
                self.most = max(self.most, len(sel.get_map()))
                for key, _ in sel.select(0.1):   # readable: the server closed it
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
        finally:
            for key in list(sel.get_map().values()):
                key.fileobj.close()
            sel.close()


def test_a_flood_of_idle_connections_does_not_stop_the_agent_renewing(netc):
    lab, cluster = netc
    limit = (256, 256)    # pbx1's agent as if started with LimitNOFILE=256
    real_run_in = lab.run_in

    def run_in(host, argv, **kwargs):
        if host == "pbx1":
            kwargs["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limit)
        return real_run_in(host, argv, **kwargs)
    lab.run_in = run_in
    snap = start_all(lab, cluster, ttl="2s")
    agent = cluster.agents["pbx1"].pid
    assert resource.prlimit(agent, resource.RLIMIT_NOFILE) == limit
    assert snap.master.server == "pbx1"
    master, child = snap.master, running_pid(snap, "pbx1")
    before = len(os.listdir(f"/proc/{agent}/fd"))
    log = cluster.workdir / "pbx1.log"
    fds = []

    def renewing():
        fds.append(len(os.listdir(f"/proc/{agent}/fd")))
        now = cluster.snapshot()
        assert "pbx1" in now.servers, "pbx1's lease expired"
        assert now.master == master and running_pid(now, "pbx1") == child, "something moved"
        return True
    with IdleFlood(lab.address("pbx1"), AGENT_PORT, count=300) as flood:
        poll_until(lambda: flood.opened >= 300, 20, "300 connections opened to pbx1's agent port")
        holds_for(renewing, 3 * 2.0, "pbx1 renewing its lease under the flood")
        # and a real peer's question is still answered, signed (a peer asks again
        # every 0.2-1 s: one of a few tries may meet a full backlog)
        trust = peer_auth.PeerTrust(cluster.peer_key)
        answers = []

        def answered():
            question = peer_auth.ask(trust, "pbx2", "pbx1", time.time())
            try:
                reply = parse_answer(_signed_get(lab.address("pbx1"), question, timeout=1.0))
            except OSError:
                return False
            answers.append(peer_auth.check_answer(trust, question, reply.status, reply.headers, reply.body,
                                                  time.time()))
            return True
        poll_until(answered, 5, "pbx1 to answer a signed question during the flood")
        answer = answers[-1]
    print(f"\nflood: {flood.opened} connections opened, at most {flood.most} open at once; "
          f"pbx1's agent had {before} fds before, at most {max(fds)} during (limit {limit[0]})")
    assert answer == {"server": "pbx1", "etcd": True}
    text = log.read_text()
    assert "fencing" not in text and "new lease" not in text and "etcd unreachable" not in text, text[-3000:]
    # the connections served, and a few the agent itself opened or had still to close meanwhile
    assert max(fds) <= before + MAX_CONNECTIONS + 8, (before, max(fds))
