"""The demo's documents: cluster `demo`, servers pbx1, pbx2, web1, four services.

All three "servers" are agents on this machine (address 127.0.0.1, one
agentPort each); failure domains switch-a/switch-b are labels only here. The
services run under the `process` actuator:

- `pbx`: the fake PBX, checked over AMI (login + Ping, channel count);
  cold standby, so only the active listens on the one AMI port.
- `dialer`: a stand-in that just runs, `colocateWith: pbx` (a real dialer
  originates calls through the PBX's local AMI): active only where the PBX
  is, it stops before the PBX leaves a server and starts once the PBX is
  active on the next one; cold standby, as a dialer beside a standby PBX
  would dial for nothing.
- `web`: the small web app, checked with `http` and `threads`; cold standby.
- `recorder`: all-active heartbeat writer with a `command` check and a
  non-critical `disk` check (it paints the board, never moves anything).

Timings are quicker than production defaults so a failover is visible at
once; docs/call-centre.md explains how to choose them for real. The checks
that connect (`ami`, `channels`, `http`) start probing the instant the
service starts, before it listens: a start-up grace keeps those first
failures `starting` instead of red (the AMI checks' default, and
WEB_GRACE on the web service; docs/operations.md, "Start-up grace"). A kill
-9 still moves the service at once: the `process` check sees the child die.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

CLUSTER = "demo"
SERVERS = ("pbx1", "pbx2", "web1")
DOMAINS = {"pbx1": "switch-a", "pbx2": "switch-b", "web1": "switch-a"}
AMI_USER = "overseer"
LEASE_TTL = "3s"
WEB_GRACE = "5s"     # the web app listens within a second or two of its start


@dataclass(frozen=True)
class Ports:
    agents: dict  # server -> agentPort
    ami: int
    web: int


def _module(name: str, *args: str) -> str:
    """A flow-style YAML argv running one of the demo modules with this Python."""
    argv = [sys.executable, "-m", f"overseer.reconciler.demo.{name}", *args]
    return json.dumps(argv)  # JSON is valid YAML and quotes every path safely


def _head() -> str:
    return f"""\
apiVersion: overseer/v1
kind: Cluster
metadata: {{name: {CLUSTER}}}
spec:
  hierarchy: [{", ".join(SERVERS)}]
  leaseTTL: {LEASE_TTL}
  campaignDelay: 500ms
  defaults: {{interval: 300ms, timeout: 1s, failAfter: 2, recoverAfter: 2}}
  serverHealth:
    load1PerCPU: {{warn: 4, fail: 50}}
    memoryPercent: {{warn: 95, fail: 99.5}}
    disk: {{path: /, warn: 97%, fail: 99.9%}}
"""


def _server(name: str, port: int) -> str:
    return f"""\
apiVersion: overseer/v1
kind: Server
metadata: {{name: {name}}}
spec: {{address: 127.0.0.1, agentPort: {port}, failureDomain: {DOMAINS[name]}}}
"""


def _pbx(ports: Ports, secret: Path) -> str:
    ami = f"port: {ports.ami}, username: {AMI_USER}, secretFile: {json.dumps(str(secret))}"
    command = _module("fake_pbx", "--port", str(ports.ami), "--secret-file", str(secret))
    return f"""\
apiVersion: overseer/v1
kind: Service
metadata: {{name: pbx}}
spec:
  standby: cold
  candidates: [pbx1, pbx2]
  actuator: {{type: process, command: {command}, timeout: 5s}}
  checks:
    - {{name: alive, type: process}}
    - {{name: ami, type: asterisk-ami, {ami}, warn: 200ms, fail: 900ms}}
    - {{name: channels, type: asterisk-channels, {ami}, warn: 40, fail: 60, critical: false}}
"""


def _dialer() -> str:
    return f"""\
apiVersion: overseer/v1
kind: Service
metadata: {{name: dialer}}
spec:
  colocateWith: pbx
  standby: cold
  candidates: [pbx1, pbx2]
  actuator: {{type: process, command: {_module("dialer")}, timeout: 5s}}
  checks:
    - {{name: alive, type: process}}
"""


def _web(ports: Ports) -> str:
    command = _module("web_app", "--port", str(ports.web))
    match = json.dumps(f"overseer.reconciler.demo.web_app --port {ports.web}")
    return f"""\
apiVersion: overseer/v1
kind: Service
metadata: {{name: web}}
spec:
  standby: cold
  candidates: [web1, pbx2]
  actuator: {{type: process, command: {command}, timeout: 5s}}
  startupGrace: {WEB_GRACE}
  checks:
    - {{name: alive, type: process}}
    - {{name: http, type: http, url: "http://127.0.0.1:{ports.web}/health", warn: 200ms, fail: 900ms}}
    - {{name: threads, type: threads, match: {{cmdline: {match}}}, warn: 50, fail: 200}}
"""


def _recorder(folder: Path) -> str:
    beats = str(folder / "recordings")
    return f"""\
apiVersion: overseer/v1
kind: Service
metadata: {{name: recorder}}
spec:
  mode: all-active
  candidates: [{", ".join(SERVERS)}]
  actuator: {{type: process, command: {_module("recorder", beats)}, timeout: 5s}}
  checks:
    - {{name: heartbeat, type: command, command: {_module("recorder", "--check", beats)}, interval: 1s}}
    - {{name: disk, type: disk, path: {json.dumps(str(folder))}, warn: 90%, fail: 98%, critical: false}}
"""


def documents(folder: Path, ports: Ports, secret: Path) -> str:
    """Every document of the demo cluster as one multi-document YAML text."""
    docs = [_head()] + [_server(s, ports.agents[s]) for s in SERVERS]
    docs += [_pbx(ports, secret), _dialer(), _web(ports), _recorder(folder)]
    return "---\n".join(docs)
