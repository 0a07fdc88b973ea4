"""Three servers, each a network namespace holding one etcd member and one agent.

`FaultLab(workdir)` (a context manager) builds the hosts with
tests/support/netns.py, starts a 3-member etcd spread over them, applies the
cluster documents (tests/faults/docs.py) and starts one `overseer agent`
per host. It offers the fault primitives the runner schedules: a pulled
cable, one-way loss (nftables inside the host's namespace), signals to an
agent, killing an etcd member or the whole etcd and starting it again, and
operator commands. Every process, nft table and namespace goes away with it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Optional

from overseer.desired.store.local_etcd import etcd_binary
from overseer.reconciler.agent.peer_auth import write_key
from tests.support.cluster import OVERSEER
from tests.support.netns import NetnsLab, unavailable

from . import docs

SERVERS = ("s1", "s2", "s3")
CLIENT, PEER = 2379, 2380
AGENT_PORT = 7000
# Fast but not twitchy on a loaded 2-core machine (environment.md: 10/100 works on loopback).
ETCD_TIMING = ["--heartbeat-interval", "50", "--election-timeout", "500"]
NFT_TABLE = "ovfault"

__all__ = ["FaultLab", "SERVERS", "unavailable"]


class FaultLab:
    def __init__(self, workdir: Path, cluster: str = "faults", timing: Optional[docs.Timing] = None):
        self.workdir = Path(workdir)
        self.cluster = cluster
        self.timing = timing or docs.Timing()
        self.journal = self.workdir / "journal.jsonl"
        self.ctl = self.workdir / "ctl"
        self.net = NetnsLab(list(SERVERS))
        self.etcd: dict[str, subprocess.Popen] = {}
        self.agents: dict[str, subprocess.Popen] = {}
        self.stopped: set[str] = set()
        self.nft: set[str] = set()

    # --- lifecycle ------------------------------------------------------------

    def __enter__(self) -> "FaultLab":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ctl.mkdir(exist_ok=True)
        key = self.workdir / "peer.key"    # the agents' failsafe key, one per lab
        key.unlink(missing_ok=True)
        write_key(str(key))
        self.net.__enter__()
        try:
            for host in SERVERS:
                self.start_member(host)
            self.wait_etcd()
            self.operator("apply", "-f", str(self._write_docs()))
            for host in SERVERS:
                self.start_agent(host)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for host in list(self.nft):
            self.loss_off(host)
        self.net.close()     # kills agents, members and every child inside the namespaces

    def _write_docs(self) -> Path:
        path = self.workdir / "cluster.yaml"
        addresses = {h: self.net.address(h) for h in SERVERS}
        path.write_text(docs.cluster_docs(self.cluster, addresses, AGENT_PORT, str(self.journal),
                                          str(self.ctl), self.timing))
        return path

    @property
    def endpoints(self) -> str:
        return ",".join(f"http://{self.net.address(h)}:{CLIENT}" for h in SERVERS)

    def env(self) -> dict:
        return dict(os.environ, OVERSEER_ETCD=self.endpoints, OVERSEER_CLUSTER=self.cluster,
                    OVERSEER_PEER_KEY_FILE=str(self.workdir / "peer.key"), PYTHONUNBUFFERED="1")

    # --- etcd -----------------------------------------------------------------

    def start_member(self, host: str) -> None:
        address = self.net.address(host)
        initial = ",".join(f"{h}=http://{self.net.address(h)}:{PEER}" for h in SERVERS)
        argv = [etcd_binary(), "--name", host, "--data-dir", str(self.workdir / f"etcd-{host}"),
                "--listen-client-urls", f"http://{address}:{CLIENT}",
                "--advertise-client-urls", f"http://{address}:{CLIENT}",
                "--listen-peer-urls", f"http://{address}:{PEER}",
                "--initial-advertise-peer-urls", f"http://{address}:{PEER}",
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", f"{self.net.prefix}-etcd",
                *ETCD_TIMING, "--logger", "zap", "--log-level", "warn"]
        with open(self.workdir / f"etcd-{host}.log", "ab") as log:
            self.etcd[host] = self.net.run_in(host, argv, stdout=log, stderr=log)

    def kill_member(self, host: str) -> None:
        proc = self.etcd.get(host)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)

    def member_running(self, host: str) -> bool:
        proc = self.etcd.get(host)
        return proc is not None and proc.poll() is None

    def _status(self, host: str) -> Optional[dict]:
        url = f"http://{self.net.address(host)}:{CLIENT}/v3/maintenance/status"
        try:
            req = urllib.request.Request(url, data=b"{}", method="POST")
            with urllib.request.urlopen(req, timeout=0.5) as resp:
                return json.loads(resp.read())
        except (OSError, ValueError):
            return None

    def etcd_leader(self) -> Optional[str]:
        """The host whose member leads, asking each member (None: no answer)."""
        for host in SERVERS:
            status = self._status(host)
            if status and status.get("leader") == status.get("header", {}).get("member_id"):
                return host
        return None

    def move_leader(self) -> Optional[str]:
        """An etcd leader change without a crash (etcdctl move-leader): the
        leader hands over to another member. Returns the new leader's host."""
        leader = self.etcd_leader()
        if leader is None:
            return None
        target = next(h for h in SERVERS if h != leader)
        status = self._status(target)
        if not status:
            return None
        url = f"http://{self.net.address(leader)}:{CLIENT}/v3/maintenance/transfer-leadership"
        body = json.dumps({"targetID": status["header"]["member_id"]}).encode()
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=5):
                return target
        except OSError:
            return None

    def wait_etcd(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.etcd_leader() is not None:
                return
            time.sleep(0.1)
        raise AssertionError(f"3-member etcd had no leader after {timeout}s; see {self.workdir}/etcd-*.log")

    # --- agents ---------------------------------------------------------------

    def start_agent(self, host: str) -> None:
        state = self.workdir / f"state-{host}"
        state.mkdir(exist_ok=True)
        argv = [OVERSEER, "agent", "--server", host, "--state-dir", str(state)]
        with open(self.workdir / f"agent-{host}.log", "ab") as log:
            self.agents[host] = self.net.run_in(host, argv, env=self.env(), stdout=log, stderr=log)
        self.stopped.discard(host)

    def agent_running(self, host: str) -> bool:
        proc = self.agents.get(host)
        return proc is not None and proc.poll() is None

    def kill_agent(self, host: str) -> None:
        proc = self.agents.get(host)
        if proc is not None and proc.poll() is None:
            if host in self.stopped:
                proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        self.stopped.discard(host)

    def stop_agent(self, host: str) -> None:
        if self.agent_running(host):
            self.agents[host].send_signal(signal.SIGSTOP)
            self.stopped.add(host)

    def cont_agent(self, host: str) -> None:
        if self.agent_running(host):
            self.agents[host].send_signal(signal.SIGCONT)
        self.stopped.discard(host)

    # --- the network ----------------------------------------------------------

    def cut(self, host: str) -> None:
        self.net.cut(host)

    def restore(self, host: str) -> None:
        self.net.restore(host)

    def _nft(self, host: str, script: str) -> None:
        proc = subprocess.run(["ip", "netns", "exec", self.net.hosts[host].ns, "nft", "-f", "-"],
                              input=script, capture_output=True, text=True, timeout=20)
        if proc.returncode != 0:
            raise AssertionError(f"nft in {host} failed: {proc.stderr.strip()}\n{script}")

    def loss_on(self, host: str, direction: str) -> None:
        """Drop every packet on the host's eth0 in one direction: `in` (it hears
        nobody, others hear it) or `out` (it hears everybody, nobody hears it)."""
        hook = {"in": "input", "out": "output"}[direction]
        match = "iifname" if direction == "in" else "oifname"
        self._nft(host, f"table inet {NFT_TABLE} {{\n chain c {{\n  type filter hook {hook} priority 0;"
                        f" policy accept;\n  {match} \"eth0\" drop\n }}\n}}\n")
        self.nft.add(host)

    def loss_off(self, host: str) -> None:
        if host in self.nft:
            self._nft(host, f"delete table inet {NFT_TABLE}\n")
            self.nft.discard(host)

    # --- faults in the service's commands ----------------------------------------

    def command_fault(self, host: str, service: str, action: str, how: Optional[str]) -> None:
        path = self.ctl / f"{host}.{service}.{action}"
        if how is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(how)

    # --- the operator -----------------------------------------------------------

    def operator(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        proc = subprocess.run([OVERSEER, *args], env=self.env(), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"overseer {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
        return proc

    def logs(self) -> list[Path]:
        return sorted(self.workdir.glob("agent-*.log")) + sorted(self.workdir.glob("etcd-*.log"))
