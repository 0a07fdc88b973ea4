"""peer_tls.py: mutual TLS between agents, over a real loopback socket.

Each agent its own certificate from the cluster's CA, naming its server. An
answer counts only from a certificate naming the peer asked; a question only
from a certificate naming the asker it claims; no certificate, or one from
another CA, gets no answer at all."""
from __future__ import annotations

import os
import time

import pytest

from overseer.desired.store.client import EtcdUnavailable
from overseer.reconciler.agent import peer_auth
from overseer.reconciler.agent.failsafe import Peer, Unanswered
from overseer.reconciler.agent.healthz import HttpEndpoint
from overseer.reconciler.agent.peer_auth import PeerKey, PeerTrust
from overseer.reconciler.agent.peer_client import ask_peer
from overseer.reconciler.agent.peer_desk import EtcdProbe, PeerDesk
from overseer.reconciler.agent.peer_tls import PeerTlsError, load_tls
from tests.support import etcd_tls

BOTH = "extendedKeyUsage=serverAuth,clientAuth\n"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA with certificates for servers a, b and c; another CA with one for b."""
    if etcd_tls.shutil.which("openssl") is None:
        pytest.skip("no openssl CLI to make certificates")
    ours, theirs = tmp_path_factory.mktemp("ca"), tmp_path_factory.mktemp("other-ca")
    for folder, names in ((ours, "abc"), (theirs, "b")):
        etcd_tls._self_signed_ca("ca", folder)
        for name in names:
            etcd_tls._signed(name, name, f"subjectAltName=DNS:{name}\n{BOTH}", folder)
            os.chmod(folder / f"{name}.key", 0o400)
    return ours, theirs


def tls_of(folder, name, me=None):
    return load_tls(str(folder / "ca.pem"), str(folder / f"{name}.pem"), str(folder / f"{name}.key"),
                    me=me or name)


class Side:
    def __init__(self, name: str, trust: PeerTrust):
        self.name, self.trust, self.vouched = name, trust, []

        async def refused():
            raise EtcdUnavailable("connection refused")
        import asyncio
        self.desk = PeerDesk(name, trust, ask_peer, time.time, EtcdProbe(refused, asyncio.get_running_loop().time),
                             keepalives_ok=lambda: False, vouch=self.vouched.append)

    async def serve(self, as_peer: str | None = None) -> Peer:
        tls = self.trust.tls.server if self.trust.tls else None
        self.endpoint = HttpEndpoint("127.0.0.1", 0, {"/healthz": self.desk.answer}, tls=tls)
        assert await self.endpoint.start()
        return Peer(as_peer or self.name, "127.0.0.1", self.endpoint.bound_port)


@pytest.mark.parametrize("with_key", [False, True])
async def test_certificates_alone_or_with_the_key_make_answers_count(pki, with_key):
    ours, _ = pki
    key = PeerKey(b"k" * 32, "test") if with_key else None
    a, b = Side("a", PeerTrust(key, tls=tls_of(ours, "a"))), Side("b", PeerTrust(key, tls=tls_of(ours, "b")))
    peer = await b.serve()
    try:
        verdict = await a.desk.verdict([peer], 3.0)
    finally:
        await b.endpoint.close()
    assert verdict.keep, verdict
    assert b.vouched == ["a"]


async def test_a_certified_server_cannot_answer_for_another(pki):
    ours, _ = pki
    a, c = Side("a", PeerTrust(tls=tls_of(ours, "a"))), Side("c", PeerTrust(tls=tls_of(ours, "c")))
    peer = await c.serve(as_peer="b")        # c listens where a asks b
    try:
        answer = await a.desk.ask(peer, 3.0)
    finally:
        await c.endpoint.close()
    assert isinstance(answer, Unanswered) and "TLS" in answer.why and "'b'" in answer.why, answer


async def test_a_question_must_come_from_the_server_its_certificate_names(pki, caplog):
    ours, _ = pki
    b = Side("b", PeerTrust(tls=tls_of(ours, "b")))
    liar = Side("c", PeerTrust(tls=tls_of(ours, "a")))   # holds a's certificate, asks as c
    peer = await b.serve()
    try:
        answer = await liar.desk.ask(peer, 3.0)
    finally:
        await b.endpoint.close()
    assert isinstance(answer, Unanswered) and "403" in answer.why and "names a" in answer.why, answer
    assert b.vouched == []


@pytest.mark.parametrize("client", ["no certificate", "another CA", "plain http"])
async def test_without_a_certificate_of_the_cluster_there_is_no_answer(pki, client):
    ours, theirs = pki
    b = Side("b", PeerTrust(tls=tls_of(ours, "b")))
    peer = await b.serve()
    if client == "no certificate":
        import ssl
        context = ssl.create_default_context(cafile=str(ours / "ca.pem"))
        asking = ask_peer(peer, 3.0, {"from": "a"}, tls=context)
    elif client == "another CA":
        asking = ask_peer(peer, 3.0, {"from": "b"}, tls=tls_of(theirs, "b").client)
    else:
        asking = ask_peer(peer, 3.0, {"from": "a"})
    try:
        reply = await asking
    finally:
        await b.endpoint.close()
    assert isinstance(reply, Unanswered), reply
    # TLS 1.3: a client learns of its refused certificate only as the connection ends
    assert ("TLS" if client == "another CA" else "closed without an answer") in reply.why, reply
    assert b.vouched == []


def test_the_certificate_must_name_this_server_and_its_key_be_private(pki, tmp_path):
    ours, _ = pki
    with pytest.raises(PeerTlsError, match="names b, not this server 'a'.*DNS:a"):
        tls_of(ours, "b", me="a")
    loose = tmp_path / "a.key"
    loose.write_bytes((ours / "a.key").read_bytes())
    loose.chmod(0o644)
    with pytest.raises(PeerTlsError, match="chmod 0400"):
        load_tls(str(ours / "ca.pem"), str(ours / "a.pem"), str(loose), me="a")
    assert peer_auth.PeerTrust(tls=tls_of(ours, "a")).failsafe
