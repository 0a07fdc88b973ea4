"""Failsafe when etcd is gone: ask the other agents before fencing ourselves.

As Patroni's failsafe_mode: if every other server of the hierarchy answers our
HTTP `/healthz` and none of them reaches etcd either, the outage is etcd's, not
ours, and actives stay where they are (nobody can promote without etcd anyway).
If any peer is silent or still reaches etcd, the verdict extends nothing and
presence.py's deadline fences unless our own keep-alive gets through first.
This is the one exception to "servers talk only through etcd".

A peer that answers "no etcd here either" vouches for the asker, as Patroni's
members do for a leader's POST /failsafe: it remembers the asker (`Vouches`)
for a whole lease and, if it becomes master, moves none of the asker's actives
before that runs out, so whoever reconnects first waits until the asker's
extended legitimacy (at most 0.95 x leaseTTL after it asked) is over. Peers
say "gone" while their own keep-alives fail, whatever etcd answers to reads
(a cut etcd is silent; a stalled one that resumes answers reads while
nobody can renew yet), or when etcd refused them; while their keep-alives
get through, a probe that timed out says "cannot tell" (a slow etcd still
expires leases: docs/testing.md, failsafe on a silent etcd).

Only answers that prove where they come from count (peer_auth.py: signed with
the cluster key, for our nonce, from the peer asked, status 200); only a
signed question makes a peer vouch. The agent's side of the exchange is
peer_desk.py, the wire peer_client.py and healthz.py.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Iterable, Mapping, Union

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Peer:
    name: str
    address: str
    port: int


class Vouches:
    """Peers this agent told "etcd is gone here too", each until a wall-clock
    moment: their actives are legitimate until then, whatever etcd says.

    The memory dies with the process. An agent restarted a moment after it
    vouched (kill -9, a crash, systemd's restart) would otherwise know of no
    vouch and, as a new master, move the actives of a peer still keeping them
    on its word: so a fresh agent counts every server as vouched for until a
    lease after it started (`everyone_until`), the longest any vouch it gave
    before dying can have left."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._everyone_until = 0.0

    def everyone_until(self, until: float) -> None:
        self._everyone_until = max(self._everyone_until, until)

    def vouch(self, server: str, until: float) -> None:
        self._until[server] = max(until, self._until.get(server, until))

    def active(self, now: float, servers: Iterable[str] = ()) -> dict[str, float]:
        for server in [s for s, until in self._until.items() if until <= now]:
            del self._until[server]
        vouched = dict(self._until)
        if now < self._everyone_until:
            for server in servers:
                vouched[server] = max(vouched.get(server, 0.0), self._everyone_until)
        return vouched


def peers_of(desired, me: str) -> list[Peer]:
    """Every other server of the documents, where its agent answers."""
    return [Peer(name, doc.spec.address, doc.spec.agentPort) for name, doc in desired.servers.items() if name != me]


@dataclass(frozen=True)
class Reply:
    """One HTTP answer as it came over the wire (peer_client.py) or from a
    simulated peer: what the asker checks (peer_auth.check_answer)."""
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Caller:
    """Who sent a question: its address, and the server names its TLS client
    certificate holds (none without mutual TLS: peer_tls.py)."""
    address: str
    certified: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unanswered:
    """No answer that counts from a peer, and why (silent, refused, forged)."""
    why: str


@dataclass(frozen=True)
class Verdict:
    keep: bool          # everyone lost etcd: actives stay
    definitive: bool    # a peer still reaches etcd: we are the one cut off
    why: str


Answer = Union[dict, Unanswered, None]    # None: silent


async def everyone_lost_etcd(peers: Iterable[Peer], timeout: float,
                             ask: Callable[[Peer, float], Awaitable[Answer]]) -> Verdict:
    """Keep actives only when all peers answer and none reaches etcd. `ask`
    returns only answers that count (peer_desk.PeerDesk.ask checks them)."""
    peers = list(peers)
    if not peers:
        return Verdict(False, False, "no peers to ask")
    answers = await asyncio.gather(*(ask(p, timeout) for p in peers))
    reaching = [p.name for p, a in zip(peers, answers) if isinstance(a, dict) and a.get("etcd")]
    if reaching:
        return Verdict(False, True, f"{', '.join(reaching)} still reach etcd")
    silent = [p.name + (f" ({a.why})" if isinstance(a, Unanswered) else "")
              for p, a in zip(peers, answers) if not isinstance(a, dict)]
    if silent:
        return Verdict(False, False, f"no answer that counts from {', '.join(silent)}")
    # null: the peer's probe timed out while its own keep-alives get through.
    # etcd may be slow, not down, and then it still expires our lease.
    unsure = [p.name for p, a in zip(peers, answers) if a.get("etcd", False) is None]
    if unsure:
        return Verdict(False, False, f"{', '.join(unsure)} cannot tell whether etcd is down or slow")
    return Verdict(True, False, f"all {len(peers)} peers answer and none reaches etcd")
