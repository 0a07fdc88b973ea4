"""Two real PostgreSQL 15 servers for the side-by-side bench, under Overseer or Patroni.

`OverseerPair` builds a primary + streaming replica (tests/support/peers/postgres.py),
stops both and hands them to two real agents as a warm active-standby
service whose process is the postmaster (tests/support/pg_member.py). `PatroniPair`
gives Patroni an empty directory and lets it bootstrap both members itself.
Both run against the same etcd. `Writers` tries an INSERT on every node every
10 ms and keeps each node's commit times: the failover time is the first
commit after the fault, and no node but the survivor may commit after the
survivor's first commit (two writers).

Patroni comes from PyPI into its own venv built with Debian's python3: the
members run as the `postgres` user, which cannot reach a Python under /root.
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from pathlib import Path
from typing import Optional

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.cluster import Cluster, cluster_yaml  # noqa: E402
from tests.support.exec_daemon import start_agent_in_its_dir  # noqa: E402
from tests.support.peers.local import free_port  # noqa: E402
from tests.support.peers.postgres import BIN, start_pair  # noqa: E402

PATRONI_VERSION = "4.1.5"
PATRONI_VENV = Path("/var/tmp/overseer-bench/patroni-venv")


def patroni_binary() -> str:
    exe = PATRONI_VENV / "bin" / "patroni"
    if not exe.exists():
        PATRONI_VENV.parent.mkdir(parents=True, exist_ok=True)
        made = subprocess.run(["/usr/bin/python3", "-m", "venv", str(PATRONI_VENV)], check=False)
        if made.returncode != 0:   # Debian's python3 without its venv module
            shutil.rmtree(PATRONI_VENV, ignore_errors=True)
            subprocess.run([str(ROOT / "scripts" / "system-deps.sh")], check=True,
                           env=dict(os.environ, SYSTEM_PACKAGES="python3-venv"))
            subprocess.run(["/usr/bin/python3", "-m", "venv", str(PATRONI_VENV)], check=True)
        subprocess.run([str(PATRONI_VENV / "bin" / "pip"), "install", "-q",
                        f"patroni[etcd3,psycopg3]=={PATRONI_VERSION}"], check=True)
    return str(exe)


def postmaster_pid(data: str) -> int:
    with open(os.path.join(data, "postmaster.pid")) as fh:
        return int(fh.readline())


def _chown_postgres(path: str) -> None:
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(path, pg.pw_uid, pg.pw_gid)


class Writers:
    """One thread per node: INSERT, record the commit time (monotonic), repeat."""

    def __init__(self, ports: dict[str, int]):
        import psycopg  # the bench's own dependency, as for the probes
        self._psycopg = psycopg
        self.ports = ports
        self.commits: dict[str, list[float]] = {n: [] for n in ports}
        # commit time -> when its connection was opened: a backend of a killed
        # postmaster keeps committing on its old connection for a moment, so
        # "writes work again" counts only connections opened after the fault
        self.opened: dict[str, list[float]] = {n: [] for n in ports}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(n,), daemon=True) for n in ports]
        for t in self._threads:
            t.start()

    def _loop(self, node: str) -> None:
        conn, opened = None, 0.0
        while not self._stop.is_set():
            try:
                if conn is None:
                    opened = time.monotonic()
                    conn = self._psycopg.connect(
                        f"host=127.0.0.1 port={self.ports[node]} user=postgres dbname=postgres "
                        "password=pw connect_timeout=1 options='-c statement_timeout=1000'",
                        autocommit=True)
                conn.execute("INSERT INTO bench_writes(node) VALUES (%s)", (node,))
                self.opened[node].append(opened)
                self.commits[node].append(time.monotonic())
            except Exception:   # refused, read-only, killed: that node takes no write now
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:
                        pass
                conn = None
            self._stop.wait(0.01)

    def first_after(self, t0: float) -> Optional[tuple[str, float]]:
        """The first commit on a connection opened after t0."""
        hits = [(ts, n) for n in self.commits
                for ts, op in zip(list(self.commits[n]), list(self.opened[n])) if op > t0]
        return (min(hits)[1], min(hits)[0]) if hits else None

    def two_writers(self, t0: float) -> list[str]:
        """Nodes that committed after the survivor's first commit after t0."""
        last = max(((times[-1], n) for n, times in self.commits.items() if times), default=None)
        if last is None:
            return []
        survivor = last[1]
        first = min((ts for ts in self.commits[survivor] if ts > t0), default=None)
        if first is None:
            return []
        return [n for n, times in self.commits.items() if n != survivor and any(ts > first for ts in times)]

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)


def create_table(port: int) -> None:
    import psycopg
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres password=pw "
                                 "connect_timeout=1", autocommit=True) as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS bench_writes (t timestamptz DEFAULT now(), node text)")
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def has_table(port: int) -> bool:
    """The replica on `port` has replayed the bench table (asynchronous commit
    and a kill right after it lost the table on the survivor)."""
    import psycopg
    try:
        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres password=pw "
                             "connect_timeout=1", autocommit=True) as conn:
            return conn.execute("SELECT to_regclass('bench_writes') IS NOT NULL").fetchone()[0]
    except Exception:
        return False


def streaming(port: int, application: str = "") -> bool:
    """A replica streams from the server on `port` (named `application`, if given)."""
    import psycopg
    try:
        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres password=pw "
                             "connect_timeout=1", autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
                               " AND (%s = '' OR application_name = %s)", (application, application)).fetchone()
            return bool(row and row[0] >= 1)
    except Exception:
        return False


def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


class _Pair:
    """What both stacks' pairs share: `SERVERS`, `data`, `ports`, `primary`, and
    `processes(server)` (the member's own processes, postgres not counted)."""

    SERVERS = ("pg1", "pg2")
    data: dict[str, str]
    primary: str

    def processes(self, server: str) -> list[psutil.Process]:
        raise NotImplementedError

    def kill_postmaster(self) -> None:
        os.kill(postmaster_pid(self.data[self.primary]), signal.SIGKILL)

    def kill_server(self) -> None:
        """The primary's whole server: its member's processes and postmaster, stopped then killed together."""
        victims = self.processes(self.primary) + [psutil.Process(postmaster_pid(self.data[self.primary]))]
        for p in victims:
            p.send_signal(signal.SIGSTOP)
        for p in victims:
            p.send_signal(signal.SIGKILL)

    def _kill_postmasters(self) -> None:
        for s in self.SERVERS:
            try:
                os.kill(postmaster_pid(self.data[s]), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        time.sleep(0.5)


class OverseerPair(_Pair):
    """pg1 (primary) and pg2 (replica) as Overseer's warm active-standby `pg`."""

    def __init__(self, etcd_url: str, ttl: float, name: str, actuator: str = "process"):
        self.tmp = tempfile.mkdtemp(prefix="overseer-pgbench-")
        pair = start_pair()
        self.base = pair.base
        nodes = {"pg1": pair.primary, "pg2": pair.replica}
        pair.replica.stop()
        pair.primary.stop()
        for me, peer in (("pg1", "pg2"), ("pg2", "pg1")):
            with open(f"{nodes[me].data}/postgresql.auto.conf", "a") as fh:
                fh.write(f"port = {nodes[me].port}\nprimary_conninfo = 'host=127.0.0.1 "
                         f"port={nodes[peer].port} user=postgres'\nrecovery_target_timeline = 'latest'\n")
        self.ports = {s: nodes[s].port for s in self.SERVERS}
        self.data = {s: nodes[s].data for s in self.SERVERS}
        conf = Path(self.tmp) / "members.json"
        conf.write_text(json.dumps({s: {"data": self.data[s], "port": self.ports[s]} for s in self.SERVERS}))
        member = str(ROOT / "tests" / "support" / "pg_member.py")
        head = textwrap.dedent("""\
            apiVersion: overseer/v1
            kind: Service
            metadata: {name: pg}
            spec:
              mode: active-standby
              standby: warm
              candidates: [pg1, pg2]
            """)
        if actuator == "process":
            body = textwrap.dedent(f"""\
                  actuator:
                    type: process
                    command: [{sys.executable}, {member}, run, {conf}]
                    promote: [{sys.executable}, {member}, promote, {conf}]
                    stopSignal: SIGINT
                  checks:
                    - {{name: alive, type: process}}
                """)
        else:
            # pg_ctl's daemon, found through postmaster.pid (a path relative to
            # each agent's directory, where `pgdata` names its server's data);
            # the check keeps the product's default interval: the postmaster's
            # death is heard through a pidfd, not at the next probe
            body = textwrap.dedent(f"""\
                  actuator:
                    type: exec
                    start: [{sys.executable}, {member}, start, {conf}]
                    stop: [{sys.executable}, {member}, stop, {conf}]
                    promote: [{sys.executable}, {member}, promote, {conf}]
                  checks:
                    - {{name: alive, type: process, interval: 1s, failAfter: 3,
                       match: {{pidfile: pgdata/postmaster.pid}}}}
                """)
        service = head + textwrap.indent(body, "  ")
        self.cluster = Cluster(etcd_url, name, Path(self.tmp))
        self.cluster.apply(cluster_yaml(name, list(self.SERVERS), ttl=f"{ttl:g}s", extra=service))
        for s in self.SERVERS:
            if actuator == "process":
                self.cluster.start_agent(s)
            else:
                (Path(self.tmp) / s).mkdir(exist_ok=True)
                (Path(self.tmp) / s / "pgdata").symlink_to(self.data[s])
                start_agent_in_its_dir(self.cluster, s)
        self.cluster.wait_for(lambda snap: any(r.role == "active" for r in snap.reports.values()),
                              timeout=60, what="pg active")
        self.primary = next(s for s in self.SERVERS
                            if (r := self.cluster.snapshot().reports.get((s, "pg"))) and r.role == "active")
        create_table(self.ports[self.primary])
        wait(lambda: streaming(self.ports[self.primary]), 60, "replica streaming")
        replica = next(s for s in self.SERVERS if s != self.primary)
        wait(lambda: has_table(self.ports[replica]), 60, "the bench table on the replica")

    def processes(self, server: str) -> list[psutil.Process]:
        agent = psutil.Process(self.cluster.agents[server].pid)
        return [agent] + [c for c in agent.children() if "fencer" in " ".join(c.cmdline())]

    def close(self) -> None:
        self.cluster.stop()
        self._kill_postmasters()
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


class PatroniPair(_Pair):
    """Two Patroni members bootstrapping their own cluster on loopback."""

    def __init__(self, etcd_url: str, ttl: int, loop_wait: int, retry_timeout: int, scope: str):
        self.base = tempfile.mkdtemp(prefix="patroni-pgbench-")
        _chown_postgres(self.base)
        self.ports = {s: free_port() for s in self.SERVERS}
        self.api = {s: free_port() for s in self.SERVERS}
        self.data = {s: f"{self.base}/{s}" for s in self.SERVERS}
        self.procs: dict[str, subprocess.Popen] = {}
        host = etcd_url.split("//", 1)[1]
        exe = patroni_binary()
        for s in self.SERVERS:
            conf = Path(self.base) / f"{s}.yml"
            conf.write_text(textwrap.dedent(f"""\
                scope: {scope}
                namespace: /patroni-bench/
                name: {s}
                restapi: {{listen: "127.0.0.1:{self.api[s]}", connect_address: "127.0.0.1:{self.api[s]}"}}
                etcd3: {{hosts: "{host}"}}
                log: {{level: WARNING}}
                bootstrap:
                  dcs:
                    ttl: {ttl}
                    loop_wait: {loop_wait}
                    retry_timeout: {retry_timeout}
                    postgresql:
                      use_pg_rewind: false
                      parameters: {{fsync: "off", synchronous_commit: "off", full_page_writes: "off",
                                    wal_receiver_status_interval: 1s, wal_retrieve_retry_interval: 500ms}}
                  initdb: [{{encoding: UTF8}}]
                postgresql:
                  listen: "127.0.0.1:{self.ports[s]}"
                  connect_address: "127.0.0.1:{self.ports[s]}"
                  data_dir: {self.data[s]}
                  bin_dir: {BIN}
                  pgpass: {self.base}/pgpass-{s}
                  authentication:
                    superuser: {{username: postgres, password: pw}}
                    replication: {{username: replicator, password: rep}}
                  parameters: {{unix_socket_directories: "{self.base}"}}
                  pg_hba: [local all all trust, host all all 127.0.0.1/32 trust,
                           host replication all 127.0.0.1/32 trust]
                """))
            _chown_postgres(str(conf))
            argv = [exe, str(conf)]
            if os.geteuid() == 0:
                argv = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]
            log = open(Path(self.base) / f"{s}.log", "w")
            self.procs[s] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.base)
            if s == "pg1":   # let pg1 bootstrap first, as an operator would
                wait(lambda: self.role("pg1") == "primary", 90, "patroni pg1 primary")
        # pg_basebackup's own walsender shows as "streaming" too: wait for
        # pg2's Patroni to run a replica, and its walreceiver to stream
        wait(lambda: self.state("pg2") == ("replica", "running")
             and streaming(self.ports["pg1"], "pg2"), 120, "patroni replica pg2 streaming")
        self.primary = "pg1"
        create_table(self.ports["pg1"])
        wait(lambda: has_table(self.ports["pg2"]), 60, "the bench table on the replica")

    def state(self, s: str) -> tuple[str, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.api[s]}/patroni", timeout=1) as r:
                body = json.load(r)
                return body.get("role", ""), body.get("state", "")
        except Exception:
            return "", ""

    def role(self, s: str) -> str:
        return self.state(s)[0] if self.state(s)[1] == "running" else ""

    def processes(self, server: str) -> list[psutil.Process]:
        # setpriv execs patroni: the Popen pid is patroni itself
        return [psutil.Process(self.procs[server].pid)]

    def close(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
            p.wait()
        self._kill_postmasters()
        shutil.rmtree(self.base, ignore_errors=True)
