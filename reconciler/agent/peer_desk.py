"""The agent's side of the failsafe exchange: asking its peers and answering them.

Asking (`verdict`): one question per peer (peer_auth.ask) through the edge
(peer_client.py, or the simulator's network), and each answer kept only if it
counts (peer_auth.check_answer); otherwise why not, which the verdict's log
line names. Without a key, and not told to trust the network, nobody is
asked: failsafe is off and a server without etcd fences at the deadline.

Answering (`answer`, served on agentPort by healthz.py) whether this agent
reaches etcd, from `EtcdProbe`'s cached result. true: etcd answered; false:
it refused at once (down), or gave no answer in time while our own
keep-alives fail too (gone for us as well: a cut etcd is silent, not
refused); null: no answer in time while our keep-alives get through. A slow
etcd still expires leases, so "no answer" alone is not "down" (found by the
simulator: a slow etcd plus one cut server gave two actives, seed 91).
Whoever we say "gone" to keeps its actives on our word: we vouch for it
(failsafe.Vouches), only when its question proved who asked: signed with the
key, and with mutual TLS from the server its certificate names (or the
network is trusted by choice).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Awaitable, Callable, Iterable, Mapping, Optional

from overseer.desired.store.client import StoreError

from . import peer_auth
from .failsafe import Answer, Caller, Peer, Reply, Unanswered, Verdict, everyone_lost_etcd
from .peer_auth import PeerAuthError, PeerTrust

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 0.3   # an etcd that has not answered by then is "silent" for this answer
MAX_AGE = 0.5         # a probe result older than this is not used; askers ask every 0.2-1 s
WARM_EVERY = 0.1      # while our own keep-alives fail, a new probe this long after the last ended
LOG_EVERY = 10.0


class EtcdProbe:
    """Whether etcd answers, at most MAX_AGE old: however many peers ask (or
    flood the port), at most one etcd call is in flight and none is made
    while the last result is fresh. A result's age counts from when its call
    was sent.

    Idle, nothing is probed until someone asks. While our own keep-alives
    fail (`keep_fresh`), when the peers are about to ask, the result is kept
    fresh in the background: an answer waiting for a 0.3 s probe left a
    cut-off asker at leaseTTL 2 s a few milliseconds short of its deadline
    (it asks from the first keep-alive that fails after half the lease)."""

    def __init__(self, call: Callable[[], Awaitable[object]], clock: Callable[[], float],
                 timeout: float = PROBE_TIMEOUT, max_age: float = MAX_AGE):
        self.call, self.clock, self.timeout, self.max_age = call, clock, timeout, max_age
        self._outcome: Optional[str] = None
        self._at = float("-inf")
        self._refresh: Optional[asyncio.Task] = None
        self._warm: Optional[asyncio.Task] = None

    def keep_fresh(self, until: Callable[[], bool]) -> None:
        if self._warm is None or self._warm.done():
            self._warm = asyncio.create_task(self._keep_fresh(until), name="etcd probe while etcd is away")

    async def _keep_fresh(self, until: Callable[[], bool]) -> None:
        while not until():
            if self._refresh is None or self._refresh.done():
                self._refresh = asyncio.create_task(self._probe(), name="etcd probe for peers")
            await asyncio.shield(self._refresh)
            await asyncio.sleep(WARM_EVERY)

    async def outcome(self) -> str:
        """"ok", "refused" (an etcd error at once) or "silent" (no answer in time)."""
        if self._outcome is not None and self.clock() - self._at <= self.max_age:
            return self._outcome
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.create_task(self._probe(), name="etcd probe for peers")
        try:
            return await asyncio.wait_for(asyncio.shield(self._refresh), self.timeout)
        except asyncio.TimeoutError:
            return "silent"

    async def _probe(self) -> str:
        sent = self.clock()
        try:
            await asyncio.wait_for(self.call(), self.timeout)
            outcome = "ok"
        except StoreError:
            outcome = "refused"
        except asyncio.TimeoutError:
            outcome = "silent"
        self._outcome, self._at = outcome, sent
        return outcome


def announce(trust: PeerTrust) -> None:
    """Once at start, loudly: what a failsafe answer is worth here."""
    if trust.tls is not None:
        log.info("failsafe: peers must present a certificate from the CA in %s naming them (mutual TLS)%s",
                 trust.tls.cacert, f", and sign with the peer key from {trust.key.source}" if trust.key else "")
    elif trust.key is not None:
        log.info("failsafe: peers' answers count only when signed with the peer key from %s", trust.key.source)
    elif trust.trusts_network:
        log.warning("failsafe TRUSTS THE NETWORK (--failsafe-trusts-network, no peer key): whoever reaches "
                    "agentPort can answer for a peer and keep a cut-off server's actives running beside "
                    "their replacements, or make this agent vouch for any server. Give every agent the "
                    "same --peer-key-file (docs/operations.md)")
    else:
        log.warning("failsafe is OFF: no peer key (--peer-key-file / OVERSEER_PEER_KEY_FILE) and no peer "
                    "certificate (--peer-cert). If every server loses etcd at once, every active is fenced "
                    "within leaseTTL. Give every agent the same key file (docs/operations.md)")


class PeerDesk:
    def __init__(self, me: str, trust: PeerTrust, ask_peer: Callable[..., Awaitable[Reply | Unanswered]],
                 wall: Callable[[], float], probe: EtcdProbe, keepalives_ok: Callable[[], bool],
                 vouch: Callable[[str], None]):
        self.me, self.trust, self._ask_peer, self.wall = me, trust, ask_peer, wall
        self.probe, self.keepalives_ok, self.vouch = probe, keepalives_ok, vouch
        self._replays = peer_auth.Replays()
        self._quiet_until, self._unsaid = 0.0, 0

    def etcd_away(self) -> None:
        """Our keep-alives began to fail: keep the probe fresh until they get through."""
        self.probe.keep_fresh(until=self.keepalives_ok)

    # --- asking -------------------------------------------------------------

    async def verdict(self, peers: Iterable[Peer], timeout: float) -> Verdict:
        if not self.trust.failsafe:
            return Verdict(False, False, "failsafe is off (no peer key)")
        return await everyone_lost_etcd(peers, timeout, self.ask)

    async def ask(self, peer: Peer, timeout: float) -> Answer:
        question = peer_auth.ask(self.trust, self.me, peer.name, self.wall())
        # the TLS context only when there is one: the simulator's edge takes none
        tls = {"tls": self.trust.tls.client} if self.trust.tls else {}
        reply = await self._ask_peer(peer, timeout, question.params(), **tls)
        if isinstance(reply, Unanswered):
            return reply
        try:
            return peer_auth.check_answer(self.trust, question, reply.status, reply.headers, reply.body,
                                          self.wall())
        except PeerAuthError as exc:
            return Unanswered(f"{exc}{_error_of(reply)}")

    # --- answering ----------------------------------------------------------

    async def answer(self, query: Mapping[str, str], caller: Caller) -> Reply:
        if not self.trust.failsafe:
            return _refusal(403, "failsafe is off on this server (no peer key)")
        asker = query.get("from", "")
        question = None
        if self.trust.key is not None:
            try:
                question = peer_auth.read_question(query)
                peer_auth.check_question(self.trust.key, question, self.me, self.wall(), self._replays)
            except PeerAuthError as exc:
                self._say(f"refused a failsafe question from {caller.address}: {exc}")
                return _refusal(401, str(exc))
            asker = question.asker
        if self.trust.tls is not None and asker not in caller.certified:
            why = (f"question says it is from {asker!r}, the client certificate names "
                   f"{', '.join(caller.certified) or 'no server'}")
            self._say(f"refused a failsafe question from {caller.address}: {why}")
            return _refusal(403, why)
        reaching = await self.reaching()
        if reaching is False and asker and asker != self.me:
            self.vouch(asker)   # it may keep its actives on our word: we move none of them while it may
        body = json.dumps({"server": self.me, "etcd": reaching}).encode()
        headers = peer_auth.sign_answer(self.trust.key, question, body, self.wall()) if question else {}
        return Reply(200, body, headers)

    async def reaching(self) -> Optional[bool]:
        outcome = await self.probe.outcome()
        if outcome == "ok":
            return True
        if outcome == "refused":
            return False
        # No answer in time. With our own keep-alives failing too, etcd is
        # gone or too slow for anyone to use: say "gone", and vouch.
        return None if self.keepalives_ok() else False

    def _say(self, message: str) -> None:
        now = time.monotonic()
        if now < self._quiet_until:
            self._unsaid += 1
            return
        more = f" (and {self._unsaid} more since the last such line)" if self._unsaid else ""
        log.warning("%s%s", message, more)
        self._quiet_until, self._unsaid = now + LOG_EVERY, 0


def _refusal(status: int, why: str) -> Reply:
    return Reply(status, json.dumps({"error": why}).encode())


def _error_of(reply: Reply) -> str:
    """The peer's own reason for an error status, for the verdict's line."""
    if reply.status == 200:
        return ""
    try:
        answer = peer_auth.decode(reply.body)   # before any key is checked: anyone's bytes
    except PeerAuthError:
        return ""
    error = answer.get("error") if isinstance(answer, dict) else None
    return f": {str(error)[:200]}" if error else ""
