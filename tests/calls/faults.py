"""The faults the call lab injects into the active proxy's server, each under load.

A fault is `inject(lab, host) -> [(delay, heal)]`: it acts now and returns
what to undo when. Each names what it stands for:

- `kamailio-kill`: kill -9 of every Kamailio process on the active (a crash);
- `agent-kill`: kill -9 of the active's agent, started again 5 s later (as
  systemd's Restart= would);
- `link-cut`: the active's cable pulled for leaseTTL + 2 s;
- `server-freeze`: the active's agent, fencer and Kamailio SIGSTOPped
  together for leaseTTL + 4 s, then thawed (its fence agent, when it has one,
  powers it off meanwhile);
- `switchover`: a planned `overseer switchover sip-proxy`;
- `no-takeover`: the lab's check that it can fail: both agents and both
  Kamailios killed for longer than SIPp retransmits (TIMER_B + 3 s), then the
  agents started again. It must report failed and dropped calls.

After a heal, a server its fence agent powered off is powered on again (its
agent started), as the fault suite does.
"""
from __future__ import annotations

import time
from typing import Callable

from . import docs
from .lab import CallLab
from .sipp import TIMER_B

Heal = list[tuple[float, Callable[[], None]]]
TTL = docs.TIMING.lease_ttl


def kamailio_kill(lab: CallLab, host: str) -> Heal:
    lab.kill_kamailio(host)
    return []


def agent_kill(lab: CallLab, host: str) -> Heal:
    lab.lab.kill_agent(host)

    def heal():
        if not lab.lab.agent_running(host):
            lab.lab.start_agent(host)
    return [(5.0, heal)]


def link_cut(lab: CallLab, host: str) -> Heal:
    lab.lab.cut(host)

    def heal():
        lab.lab.restore(host)
        lab.power_on(host)
    return [(TTL + 2.0, heal)]


def server_freeze(lab: CallLab, host: str) -> Heal:
    pids = lab.lab.freeze_host(host)

    def heal():
        lab.lab.release(pids)   # all at once, as a host that thaws
        lab.thawed[host] = time.time()
        lab.power_on(host)
    return [(TTL + 4.0, heal)]


def switchover(lab: CallLab, host: str) -> Heal:
    lab.lab.operator("switchover", docs.SERVICE, "--timeout", "30", timeout=40)
    return []


def no_takeover(lab: CallLab, host: str) -> Heal:
    for server in docs.PROXIES:
        lab.lab.kill_agent(server)
        lab.kill_kamailio(server)

    def heal():
        for server in docs.PROXIES:
            if not lab.lab.agent_running(server):
                lab.lab.start_agent(server)
    return [(TIMER_B + 3.0, heal)]


FAULTS: dict[str, Callable[[CallLab, str], Heal]] = {
    "kamailio-kill": kamailio_kill,
    "agent-kill": agent_kill,
    "link-cut": link_cut,
    "server-freeze": server_freeze,
    "switchover": switchover,
    "no-takeover": no_takeover,
}
# the faults whose goal is no failed and no dropped call; no-takeover's is the opposite
SURVIVABLE = tuple(name for name in FAULTS if name != "no-takeover")
