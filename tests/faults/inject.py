"""Turns a schedule's faults into actions on the lab, and remembers their windows.

Targets are resolved when a fault fires: "master" from etcd, "etcd-leader" by
asking the members, "active:SVC" from the journal (what ran, via the
sampler); when nobody answers, a fixed fallback keeps the run going. Faults
may overlap on one host, so cuts, losses, member kills and stops are counted
and undone only when the last one heals, a restart never starts a second
agent, and a server gone for good is never started again.

A host its fence agent powered off (tests/faults/power.py, run by the
master) is powered on again, its agent started, when the last fault on it
heals: a server back from a power cycle. The windows it records feed the
checker's outage measure: `impaired[host]`
(the host could not have taken over: cut, lossy, agent dead or stopped, host
frozen or gone, a failing command) and `blocked` ("*": etcd had no quorum;
SVC: paused). `losses` lists every host frozen or gone, when, and the
services active there then, for the checker's server-loss bound.
"""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, Optional

from overseer.desired.store.client import EtcdConfig, StoreError
from overseer.desired.store.store import Store

from .checker import build_intervals
from .lab import CLIENT, SERVERS, FaultLab
from .sampler import Sampler
from .schedule import Fault


class Injector:
    def __init__(self, lab: FaultLab, sampler: Sampler, log: Callable[[str], None]):
        self.lab, self.sampler, self.log = lab, sampler, log
        self.cuts = collections.Counter()
        self.members_down: collections.Counter = collections.Counter()   # member host -> reasons
        self.impaired: dict[str, list[list[float]]] = collections.defaultdict(list)
        self.blocked: dict[str, list[list[float]]] = collections.defaultdict(list)
        self._impair_count = collections.Counter()
        self._quorum_open: Optional[list[float]] = None
        self.operator_threads: list[threading.Thread] = []
        self.injected = 0
        self.gone: set[str] = set()                         # never started again
        self.targets: list[str] = []                        # each fault's target as resolved
        self.losses: list[tuple[str, float, list[str]]] = []   # host, when, services active there
        self.heals: list[float] = []                        # when each fault's heal ran

    # --- resolving targets ----------------------------------------------------

    def master(self) -> str:
        for host in SERVERS:
            if not self.lab.member_running(host) or self.lab.member_stopped(host) or self.cuts[host] \
                    or host in self.lab.nft:
                continue
            url = f"http://{self.lab.net.address(host)}:{CLIENT}"
            try:
                store = Store(EtcdConfig(endpoints=(url,), timeout=1.0), self.lab.cluster)
            except StoreError:      # connecting asks etcd's status already
                continue
            try:
                snap = store.snapshot()
                if snap.master is not None:
                    return snap.master.server
            except StoreError:
                continue
            finally:
                store.close()
        return SERVERS[0]

    def active(self, service: str) -> tuple[str, int]:
        """(server, child pid) of the service's active per the journal."""
        events, last_alive = self.sampler.snapshot()
        intervals, _, _ = build_intervals(events, last_alive, self.lab.specs, self.sampler.stopped())
        live = [iv for iv in intervals if iv.service == service and iv.end is None]
        if live:
            return live[-1].server, live[-1].pid
        return self.lab.specs[service].candidates[0], 0

    def resolve(self, target: str) -> str:
        if target == "master":
            return self.master()
        if target == "etcd-leader":
            return self.lab.etcd_leader() or SERVERS[0]
        if target == "etcd-follower":
            return self.lab.etcd_follower() or SERVERS[1]
        if target.startswith("active:"):
            return self.active(target.split(":", 1)[1])[0]
        return target

    # --- windows ----------------------------------------------------------------

    def _impair(self, host: str, on: bool) -> None:
        now = time.time()
        self._impair_count[host] += 1 if on else -1
        if on and self._impair_count[host] == 1:
            self.impaired[host].append([now, float("inf")])
        elif not on and self._impair_count[host] == 0:
            self.impaired[host][-1][1] = now
            self._power_on(host)

    def _power_on(self, host: str) -> None:
        """Start the agent of a host the fence agent powered off, once nothing
        keeps the host down any more (never one gone for good)."""
        off = self.lab.powered_off().get(host)
        if off is None or host in self.gone or self.lab.agent_running(host):
            return
        self.log(f"{host} powered on again (its fence agent powered it off at {off:.3f})")
        self.lab.start_agent(host)

    def _member(self, host: str, down: bool) -> None:
        self.members_down[host] += 1 if down else -1
        lost = sum(1 for h in SERVERS if self.members_down[h] > 0)
        now = time.time()
        if lost >= 2 and self._quorum_open is None:
            self._quorum_open = [now, float("inf")]
            self.blocked["*"].append(self._quorum_open)
        elif lost < 2 and self._quorum_open is not None:
            self._quorum_open[1] = now
            self._quorum_open = None

    # --- the faults -------------------------------------------------------------

    def fire(self, fault: Fault) -> list[tuple[float, Callable[[], None]]]:
        """Inject now; returns the heal actions as (delay, action)."""
        self.injected += 1
        kind, target = fault.kind, self.resolve(fault.target) if fault.target else ""
        self.targets.append(target)
        self.log(f"inject {fault.describe()} -> {target or '-'}")
        return getattr(self, "_" + kind.replace("-", "_"))(fault, target)

    def _cut(self, fault, host):
        self.cuts[host] += 1
        self.lab.cut(host)
        self._impair(host, True)
        self._member(host, True)

        def heal():
            self.cuts[host] -= 1
            if self.cuts[host] == 0:
                self.lab.restore(host)
            self._impair(host, False)
            self._member(host, False)
        return [(fault.duration, heal)]

    def _oneway(self, fault, host):
        if host in self.lab.nft:
            return []      # one rule per host: an overlapping second loss adds nothing
        self.lab.loss_on(host, fault.extra)
        self._impair(host, True)
        self._member(host, True)

        def heal():
            self.lab.loss_off(host)
            self._impair(host, False)
            self._member(host, False)
        return [(fault.duration, heal)]

    def _restart_agent(self, host):
        def heal():
            if host in self.gone:
                return      # gone for good: its impaired window stays open
            if not self.lab.agent_running(host):
                self.lab.start_agent(host)
            self._impair(host, False)
        return heal

    def _agent_kill(self, fault, host):
        self.lab.kill_agent(host)
        self._impair(host, True)
        return [(fault.duration, self._restart_agent(host))]

    def _agent_stop(self, fault, host):
        pid = self.lab.stop_agent(host)
        self._impair(host, True)

        def heal():
            if pid is not None:
                self.lab.release([pid])    # a no-op if it was killed meanwhile
            self._impair(host, False)
        return [(fault.duration, heal)]

    def _lost(self, host: str) -> list[str]:
        """The services active on `host` (per the journal) as it is lost."""
        out = []
        for service in self.lab.specs:
            server, pid = self.active(service)
            if pid and server == host:
                out.append(service)
        return out

    def _host_freeze(self, fault, host):
        services = self._lost(host)
        pids = self.lab.freeze_host(host)
        self.log(f"froze {host}: pids {' '.join(map(str, pids))}")
        self.losses.append((host, time.time(), services))
        self._impair(host, True)

        def heal():
            # all at once, in pid order (agent, fencer, then the children it
            # started), as close as signals get to a host that thaws
            self.lab.release(pids)
            self.log(f"thawed {host}")
            self._impair(host, False)
        return [(fault.duration, heal)]

    def _server_gone(self, fault, host):
        if host in self.gone:
            return []
        self.gone.add(host)
        services = self._lost(host)
        pids = self.lab.kill_host(host)
        self.log(f"{host} gone for good: killed pids {' '.join(map(str, pids))}")
        self.losses.append((host, time.time(), services))
        self._impair(host, True)
        return []

    def _member_kill(self, fault, host):
        self.lab.kill_member(host)
        self._member(host, True)
        self._impair(host, True)

        def heal():
            if not self.lab.member_running(host):
                self.lab.start_member(host)
            self._member(host, False)
            self._impair(host, False)
        return [(fault.duration, heal)]

    def _member_stop(self, fault, host):
        pid = self.lab.stop_member(host)
        if pid is None:
            return []
        self._member(host, True)
        self._impair(host, True)

        def heal():
            self.lab.release([pid])
            self._member(host, False)
            self._impair(host, False)
        return [(fault.duration, heal)]

    def _etcd_stop(self, fault, _):
        pids = {host: self.lab.stop_member(host) for host in SERVERS}
        for host in SERVERS:
            self._member(host, True)

        def heal():
            self.lab.release([pid for pid in pids.values() if pid is not None])
            for host in SERVERS:
                self._member(host, False)
        return [(fault.duration, heal)]

    def _etcd_kill(self, fault, _):
        for host in SERVERS:
            self.lab.kill_member(host)
            self._member(host, True)

        def heal():
            for host in SERVERS:
                if not self.lab.member_running(host):
                    self.lab.start_member(host)
                self._member(host, False)
        return [(fault.duration, heal)]

    def _master_kill_failover(self, fault, master):
        server, pid = self.active("pbx")
        self._child_kill_pid(server, pid)
        holder = {}

        def kill_master():
            host = holder["host"] = self.master()   # the one carrying out the failover
            self.log(f"master-kill-failover: SIGKILL master agent {host}")
            self.lab.kill_agent(host)
            self._impair(host, True)

        def heal():
            self._restart_agent(holder["host"])()
        return [(fault.extra, kill_master), (fault.extra + fault.duration, heal)]

    def _child_kill_pid(self, server: str, pid: int) -> None:
        self.log(f"SIGKILL child {pid} of {server}")
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _child_kill(self, fault, server):
        service = fault.target.split(":", 1)[1]
        holder, pid = self.active(service)
        self._child_kill_pid(holder, pid)
        return []

    def _cmd(self, fault, host):
        words = fault.extra.split(":")
        service, action, how = words if len(words) == 3 else ("pbx", *words)
        self.lab.command_fault(host, service, action, how)
        self._impair(host, True)

        def heal():
            self.lab.command_fault(host, service, action, None)
            self._impair(host, False)
        return [(fault.duration, heal)]

    def _probe_fail(self, fault, host):
        # the pbx `flag` check fails on `host` while the file exists (docs.py)
        self.lab.command_fault(host, "pbx", "probe", "fail")
        if not fault.blip:
            self._impair(host, True)

        def heal():
            self.lab.command_fault(host, "pbx", "probe", None)
            if not fault.blip:
                self._impair(host, False)
        return [(fault.duration, heal)]

    def _cpu_burn(self, fault, _):
        # a busy spinner per core, in the root namespace beside every agent
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]

        def heal():
            for proc in burners:
                proc.kill()
                proc.wait(10)
        return [(fault.duration, heal)]

    def _leader_move(self, fault, _):
        self.log(f"etcd leader moved to {self.lab.move_leader() or '(no transfer)'}")
        return []

    def _operator(self, *args: str) -> None:
        def run():
            proc = self.lab.operator(*args, "--timeout", "10", check=False) if args[0] == "switchover" \
                else self.lab.operator(*args, check=False)
            self.log(f"overseer {' '.join(args)} -> exit {proc.returncode}: "
                     f"{(proc.stdout + proc.stderr).strip().splitlines()[-1:]}")
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.operator_threads.append(thread)

    def _switchover(self, fault, service):
        self._operator("switchover", service, *(("--to", fault.extra) if fault.extra else ()))
        return []

    def _pause(self, fault, service):
        window = [time.time(), float("inf")]
        self.blocked[service].append(window)
        self._operator("pause", service)

        def heal():
            # A person whose `overseer resume` failed (etcd unreachable right
            # then) runs it again; the service stays paused until one gets
            # through, and only then counts as healed (make faults seeds 26
            # and 62 read a still-paused service as stuck), as in the simulator.
            def resume_until_done():
                for _ in range(60):
                    proc = self.lab.operator("resume", service, check=False)
                    self.log(f"overseer resume {service} -> exit {proc.returncode}: "
                             f"{(proc.stdout + proc.stderr).strip().splitlines()[-1:]}")
                    if proc.returncode == 0:
                        break
                    time.sleep(0.5)
                window[1] = time.time()
            thread = threading.Thread(target=resume_until_done, daemon=True)
            thread.start()
            self.operator_threads.append(thread)
        return [(fault.duration, heal)]
