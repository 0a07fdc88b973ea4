"""The call lab's cluster: two proxy servers, one Kamailio service with a floating address.

- `s1`, `s2`: a Server each, running an agent, with the fault suite's power
  switch (tests/faults/power.py) as `spec.fence`;
- `s3`: only an etcd member (the third vote of the fault suite's 3-member
  etcd), no Server document, no agent;
- `sip-proxy`: `active-standby`, warm (Kamailio runs on both servers and the
  standby listens on the floating address before it holds it), `vip` on
  eth0, checks: the process and a SIP OPTIONS on 127.0.0.1.

Kamailio's configuration is tests/calls/kamailio.cfg.in with the floating
address and the callee filled in: a proxy that relays (t_relay),
record-routes and loose-routes, with no per-call state.
"""
from __future__ import annotations

import sys
from pathlib import Path

from tests.faults.docs import FENCE_TIMEOUT, POWER, Timing

HERE = Path(__file__).resolve().parent
CONFIG_TEMPLATE = HERE / "kamailio.cfg.in"
SERVICE = "sip-proxy"
PROXIES = ("s1", "s2")
KAMAILIO = "/usr/sbin/kamailio"
# the fault suite's timing (leaseTTL 3 s) on two servers
TIMING = Timing(servers=len(PROXIES))


def kamailio_config(vip: str, callee: str) -> str:
    return CONFIG_TEMPLATE.read_text().replace("@VIP@", vip).replace("@UAS@", callee)


def kamailio_argv(config: str, logdir: str) -> list[str]:
    """Kamailio in the foreground, its stderr (every relayed request, one
    line each) appended to logdir/kamailio-<server>.log. `exec` keeps the
    actuator's child pid Kamailio's own."""
    script = f'exec {KAMAILIO} -DD -E -m 64 -M 8 -f "$0" 2>>"$1/kamailio-$OVERSEER_SERVER.log"'
    return ["/bin/sh", "-c", script, config, logdir]


def _argv(words: list[str]) -> str:
    return "[" + ", ".join("'" + w.replace("'", "''") + "'" for w in words) + "]"


def cluster_docs(name: str, addresses: dict[str, str], agent_port: int, vip_cidr: str,
                 config: str, logdir: str, power: str | None, timing: Timing = TIMING) -> str:
    """`addresses`: the proxies' addresses; `power`: the lab's hosts file
    for power.py (None: no fence agents)."""
    t = timing
    out = [f"""apiVersion: overseer/v1
kind: Cluster
metadata: {{name: {name}}}
spec:
  hierarchy: [{", ".join(addresses)}]
  leaseTTL: {t.lease_ttl}s
  campaignDelay: {t.campaign_delay}s
  failoverMargin: {t.failover_margin}s
  defaults: {{interval: {t.interval}s, timeout: {t.timeout}s, failAfter: {t.fail_after}, recoverAfter: {t.recover_after}}}
  serverHealth: {{load1PerCPU: {{warn: 50, fail: 100}}, memoryPercent: {{warn: 99, fail: 100}}, disk: {{path: /, warn: 99%, fail: 100%}}}}
"""]
    fence = (f", fence: {{command: {_argv([sys.executable, POWER, power])}, timeout: {FENCE_TIMEOUT}s}}"
             if power else "")
    for server, address in addresses.items():
        out.append(f"""apiVersion: overseer/v1
kind: Server
metadata: {{name: {server}}}
spec: {{address: {address}, agentPort: {agent_port}, failureDomain: sw-{server}{fence}}}
""")
    # promote and demote are no-ops: Kamailio relays the same way active or
    # standby; the floating address is what makes one of them the active
    out.append(f"""apiVersion: overseer/v1
kind: Service
metadata: {{name: {SERVICE}}}
spec:
  mode: active-standby
  replicas: 1
  standby: warm
  candidates: [{", ".join(addresses)}]
  vip: {{address: {vip_cidr}, interface: eth0}}
  actuator: {{type: process, command: {_argv(kamailio_argv(config, logdir))}, timeout: {t.actuator_timeout}s,
             promote: ['/bin/true'], demote: ['/bin/true']}}
  checks:
    - {{name: alive, type: process}}
    - {{name: sip, type: sip-options, host: 127.0.0.1, port: 5060, timeout: 1s, interval: 0.5s, failAfter: 3}}
""")
    return "---\n".join(out)
