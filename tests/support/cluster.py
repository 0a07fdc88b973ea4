"""A real cluster for integration tests: documents applied with the real CLI,
agents as real `overseer agent` subprocesses, state read back from etcd.

Everything runs on loopback; each agent gets its own state dir and log file
(printed on failure so a red test says why), and all share one peer key.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable, Optional

from overseer.desired.state import ClusterSnapshot
from overseer.desired.store.client import EtcdConfig, StoreError
from overseer.desired.store.local_etcd import free_port
from overseer.desired.store.store import Store
from overseer.reconciler.agent.peer_auth import load_key, write_key

OVERSEER = os.path.join(os.path.dirname(sys.executable), "overseer")


def cluster_yaml(name: str, servers: list[str], ttl: str = "2s", preempt: bool = False,
                 ports: Optional[dict] = None, extra: str = "", domains: Optional[dict] = None) -> str:
    ports = ports or {s: free_port() for s in servers}
    domains = domains or {}
    docs = [textwrap.dedent(f"""\
        apiVersion: overseer/v1
        kind: Cluster
        metadata: {{name: {name}}}
        spec:
          hierarchy: [{", ".join(servers)}]
          leaseTTL: {ttl}
          preempt: {str(preempt).lower()}
          campaignDelay: 1s
          failoverMargin: 200ms
          defaults: {{interval: 200ms, timeout: 1s, failAfter: 2, recoverAfter: 1}}
          serverHealth: {{load1PerCPU: {{warn: 50, fail: 100}}, memoryPercent: {{warn: 99, fail: 100}}, disk: {{path: /, warn: 99%, fail: 100%}}}}
        """)]
    for server in servers:
        docs.append(textwrap.dedent(f"""\
            apiVersion: overseer/v1
            kind: Server
            metadata: {{name: {server}}}
            spec: {{address: 127.0.0.1, agentPort: {ports[server]}, failureDomain: {domains.get(server, "sw-" + server)}}}
            """))
    return "---\n".join(docs) + (("---\n" + textwrap.dedent(extra)) if extra else "")


SLEEPER = f"[{sys.executable}, -c, 'import time; time.sleep(100000)']"


def sleeper_service(name: str = "pbx", standby: str = "warm", candidates=("pbx1", "pbx2"),
                    extra_actuator: str = "", mode: str = "active-standby") -> str:
    """A Service whose `process` actuator supervises a sleeping child, with an
    `alive` check on that child: the smallest real thing to fail over."""
    return textwrap.dedent(f"""\
        apiVersion: overseer/v1
        kind: Service
        metadata: {{name: {name}}}
        spec:
          mode: {mode}
          standby: {standby}
          candidates: [{", ".join(candidates)}]
          actuator: {{type: process, command: {SLEEPER}, timeout: 2s{extra_actuator}}}
          checks:
            - {{name: alive, type: process}}
        """)


def running_pid(snap: ClusterSnapshot, server: str, svc: str = "pbx") -> Optional[int]:
    """The pid of `svc`'s child if `server` reports it running as active, else None."""
    report = snap.reports.get((server, svc))
    if report and report.role == "active" and report.outcome == "ok" and report.pid:
        return report.pid
    return None


class Cluster:
    def __init__(self, etcd_url: str, name: str, workdir: Path):
        self.etcd_url, self.name, self.workdir = etcd_url, name, Path(workdir)
        self.agents: dict[str, subprocess.Popen] = {}
        # the cluster's failsafe key, as a deployment has one (docs/operations.md)
        key_file = self.workdir / "peer.key"
        self.peer_key = load_key(str(key_file)) if key_file.exists() else write_key(str(key_file))
        self.env = dict(os.environ, OVERSEER_ETCD=etcd_url, OVERSEER_CLUSTER=name, PYTHONUNBUFFERED="1",
                        OVERSEER_PEER_KEY_FILE=self.peer_key.source)
        self._store: Optional[Store] = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(EtcdConfig(endpoints=(self.etcd_url,)), self.name)
        return self._store

    def cli(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        proc = subprocess.run([OVERSEER, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"overseer {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def apply(self, text: str) -> None:
        path = self.workdir / f"docs-{time.monotonic_ns()}.yaml"
        path.write_text(text)
        self.cli("apply", "-f", str(path))

    def start_agent(self, server: str, *extra: str) -> subprocess.Popen:
        state = self.workdir / server
        state.mkdir(exist_ok=True)
        log = open(self.workdir / f"{server}.log", "ab")
        proc = subprocess.Popen([OVERSEER, "agent", "--server", server, "--state-dir", str(state), *extra],
                                env=self.env, stdout=log, stderr=log, start_new_session=True)
        self.agents[server] = proc
        return proc

    def start_agent_through(self, server: str, etcd_url: str, *extra: str) -> subprocess.Popen:
        """An agent reaching etcd at another address (a TcpProxy that can cut its link)."""
        env = self.env
        self.env = dict(env, OVERSEER_ETCD=etcd_url)
        try:
            return self.start_agent(server, *extra)
        finally:
            self.env = env

    def signal(self, server: str, sig: int) -> None:
        self.agents[server].send_signal(sig)

    def kill(self, server: str) -> None:
        proc = self.agents[server]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def snapshot(self) -> ClusterSnapshot:
        return self.store.snapshot()

    def wait_for(self, predicate: Callable[[ClusterSnapshot], object], timeout: float = 20,
                 what: str = "condition") -> ClusterSnapshot:
        deadline = time.monotonic() + timeout
        snap = None
        while time.monotonic() < deadline:
            try:
                snap = self.snapshot()
            except StoreError:
                # etcd not reachable from the test yet (a link just restored): ask again
                self._drop_store()
                time.sleep(0.1)
                continue
            if predicate(snap):
                return snap
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; master={snap and snap.master}, "
                             f"servers={sorted(snap.servers) if snap else None}, "
                             f"assign={dict(snap.assignments) if snap else None}\n{self.logs()}")

    def _drop_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def master(self) -> Optional[str]:
        snap = self.snapshot()
        return snap.master.server if snap.master else None

    def logs(self) -> str:
        out = []
        for server in self.agents:
            path = self.workdir / f"{server}.log"
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-40:]
                out.append(f"--- {server} log (tail) ---\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        for proc in self.agents.values():
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
                proc.send_signal(signal.SIGKILL)
        for proc in self.agents.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if self._store is not None:
            self._store.close()
