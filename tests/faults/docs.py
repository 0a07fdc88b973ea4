"""The fault suite's cluster: its documents, its timing and its recovery bound.

Two services over three servers:
- `pbx`: warm active-standby with promote/demote commands (the class the
  fencing exists for), candidates s1, s2, s3;
- `web`: cold active-standby without commands (active = its child runs),
  candidates s3, s2, s1, so it starts on another server than pbx.

A schedule drawn with relationships (schedule.py, `related`) runs the
call centre of examples/qsuite.yaml instead (RELATED_SPECS): those two plus
- `db`: warm, with commands, candidates s2, s3;
- `web` requires db;
- `dialer`: cold, colocated with pbx and requiring db, candidates s1, s2, s3.

Every child and command is tests/faults/svc.py writing to the journal.
Every Server has tests/faults/power.py as its fence agent (a power switch
for the lab host), unless the lab runs without fence agents.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from overseer.reconciler.agent.answers import BLOCK_SECONDS

from .checker import ServiceSpec

RESYNC = 2.0     # seconds: the master's periodic re-plan picks up what a watch missed
FLAG_INTERVAL = 0.5  # seconds between runs of pbx's `flag` command check (failAfter: the default)
SVC = str(Path(__file__).with_name("svc.py"))
POWER = str(Path(__file__).with_name("power.py"))
FENCE_TIMEOUT = 5.0   # seconds: power.py ends in well under one


@dataclass(frozen=True)
class Timing:
    lease_ttl: float = 3.0
    campaign_delay: float = 0.5
    failover_margin: float = 0.3
    interval: float = 0.2
    fail_after: int = 2
    recover_after: int = 1
    timeout: float = 1.0            # each check's timeout
    actuator_timeout: float = 2.0   # each start/stop/promote/demote
    servers: int = 3

    def bound(self) -> float:
        """Seconds after the last fault healed within which every service must
        have its actives again: the simulator's liveness bound B (docs/testing.md)
        2 x leaseTTL + failoverMargin + len(hierarchy) x campaignDelay
        + failAfter x interval + BLOCK_SECONDS + 2 x actuator timeout + 2 s resync."""
        return (2 * self.lease_ttl + self.failover_margin + self.servers * self.campaign_delay
                + self.fail_after * self.interval + BLOCK_SECONDS + 2 * self.actuator_timeout + RESYNC)

    def server_loss_bound(self) -> float:
        """Seconds within which a lost server's (frozen or gone) services run
        elsewhere, from what the operator configured: its lease runs out
        (leaseTTL), the failover margin, a new master's campaign if the lost
        one was master (one campaignDelay), the start or promote (actuator
        timeout), and 1 s for etcd's lease-expiry ticks and the watch.
        leaseTTL + failoverMargin + campaignDelay + actuator timeout + 1 s."""
        return self.lease_ttl + self.failover_margin + self.campaign_delay + self.actuator_timeout + 1.0


SPECS = {
    "pbx": ServiceSpec(replicas=1, warm=True, candidates=("s1", "s2", "s3")),
    "web": ServiceSpec(replicas=1, warm=False, candidates=("s3", "s2", "s1")),
}


# The call centre's relationships (examples/qsuite.yaml, docs/call-centre.md),
# on the lab's stand-in services.
RELATED_SPECS = {
    "db": ServiceSpec(replicas=1, warm=True, candidates=("s2", "s3")),
    "pbx": SPECS["pbx"],
    "web": ServiceSpec(replicas=1, warm=False, candidates=("s3", "s2", "s1"), requires=("db",)),
    "dialer": ServiceSpec(replicas=1, warm=False, candidates=("s1", "s2", "s3"), requires=("db",),
                          colocate="pbx"),
}


def specs_for(related: bool) -> dict[str, ServiceSpec]:
    return RELATED_SPECS if related else SPECS


def _argv(*words: str) -> str:
    return "[" + ", ".join(f"'{w}'" for w in words) + "]"


def cluster_docs(name: str, addresses: dict[str, str], agent_port: int, journal: str, ctl: str,
                 timing: Timing, power: str | None = None, specs: dict[str, ServiceSpec] = SPECS) -> str:
    """`power`: the lab's hosts file for power.py, the fence agent of every
    Server; None: no fence agents. `specs`: SPECS or RELATED_SPECS."""
    t = timing
    servers = list(addresses)
    out = [f"""apiVersion: overseer/v1
kind: Cluster
metadata: {{name: {name}}}
spec:
  hierarchy: [{", ".join(servers)}]
  leaseTTL: {t.lease_ttl}s
  campaignDelay: {t.campaign_delay}s
  failoverMargin: {t.failover_margin}s
  defaults: {{interval: {t.interval}s, timeout: {t.timeout}s, failAfter: {t.fail_after}, recoverAfter: {t.recover_after}}}
  serverHealth: {{load1PerCPU: {{warn: 50, fail: 100}}, memoryPercent: {{warn: 99, fail: 100}}, disk: {{path: /, warn: 99%, fail: 100%}}}}
"""]
    py = sys.executable
    fence = f", fence: {{command: {_argv(py, POWER, power)}, timeout: {FENCE_TIMEOUT}s}}" if power else ""
    for server, address in addresses.items():
        out.append(f"""apiVersion: overseer/v1
kind: Server
metadata: {{name: {server}}}
spec: {{address: {address}, agentPort: {agent_port}, failureDomain: sw-{server}{fence}}}
""")
    child = _argv(py, SVC, "child", journal, ctl)
    # pbx's second check fails while CTL/<server>.pbx.probe exists: a probe
    # failure the calm schedules inject (one failed probe, or a lasting one)
    flag = _argv("/bin/sh", "-c", 'test ! -e "$0/$OVERSEER_SERVER.$OVERSEER_SERVICE.probe" || exit 2', ctl)
    for service, spec in specs.items():
        hooks = ""
        if spec.warm:
            hooks = (f", promote: {_argv(py, SVC, 'promote', journal, ctl)}"
                     f", demote: {_argv(py, SVC, 'demote', journal, ctl)}")
        out.append(f"""apiVersion: overseer/v1
kind: Service
metadata: {{name: {service}}}
spec:
  mode: active-standby
  replicas: {spec.replicas}
  standby: {"warm" if spec.warm else "cold"}
  candidates: [{", ".join(spec.candidates)}]
{_relations(spec)}  actuator: {{type: process, command: {child}, timeout: {t.actuator_timeout}s{hooks}}}
  checks:
    - {{name: alive, type: process}}
""" + (f"    - {{name: flag, type: command, command: {flag}, interval: {FLAG_INTERVAL}s}}\n"
       if service == "pbx" else ""))
    return "---\n".join(out)


def _relations(spec: ServiceSpec) -> str:
    lines = f"  requires: [{', '.join(spec.requires)}]\n" if spec.requires else ""
    return lines + (f"  colocateWith: {spec.colocate}\n" if spec.colocate else "")
