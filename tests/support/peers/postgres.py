"""PostgreSQL 15 primary + streaming replica on loopback ports, data in a temp dir.

initdb a primary (trust for `postgres`, scram for an `overseer` role so
`passwordFile` is exercised), pg_basebackup -R a replica, pg_ctl both.
As root the server refuses to run, so every binary runs as `postgres`
through `runuser`; the data dir is a fresh /tmp dir owned by postgres.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

import pytest

from .local import free_port

BIN = "/usr/lib/postgresql/15/bin"
PASSWORD = "pg-secret-pw-42"


def _as_pg(argv: list[str]) -> list[str]:
    return (["runuser", "-u", "postgres", "--"] + argv) if os.geteuid() == 0 else argv


def _run(argv: list[str]) -> str:
    done = subprocess.run(_as_pg(argv), capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


@dataclass
class PgNode:
    data: str
    port: int

    def dsn(self, user: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={user} dbname=postgres"

    def start(self) -> None:
        _run([f"{BIN}/pg_ctl", "-D", self.data, "-l", f"{self.data}.log", "-w", "-t", "30",
              "start"])

    def stop(self) -> None:
        _run([f"{BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"])

    def sql(self, query: str) -> str:
        return _run([f"{BIN}/psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(self.port),
                     "-U", "postgres", "-d", "postgres", "-c", query]).strip()


@dataclass
class PgPair:
    primary: PgNode
    replica: PgNode
    base: str

    def wait_streaming(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.primary.sql("SELECT count(*) FROM pg_stat_replication "
                                "WHERE state = 'streaming'") == "1":
                return
            time.sleep(0.1)
        raise RuntimeError(f"replica not streaming after {timeout}s")

    def close(self) -> None:
        for node in (self.replica, self.primary):
            try:
                node.stop()
            except RuntimeError:
                pass            # already stopped by a test
        shutil.rmtree(self.base, ignore_errors=True)


HBA = """local all all trust
host all overseer 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
"""


def _conf(node: PgNode, base: str) -> None:
    with open(f"{node.data}/postgresql.conf", "a") as fh:
        fh.write(f"\nlisten_addresses = '127.0.0.1'\nport = {node.port}\n"
                 f"unix_socket_directories = '{base}'\nfsync = off\n"
                 "synchronous_commit = off\nfull_page_writes = off\n"
                 "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n"
                 "wal_receiver_status_interval = 1s\nwal_retrieve_retry_interval = 500ms\n")


def start_pair() -> PgPair:
    if not os.path.exists(f"{BIN}/initdb"):
        pytest.skip(f"PostgreSQL 15 is not installed ({BIN}; apt-get install -y postgresql)")
    base = tempfile.mkdtemp(prefix="overseer-pg-")
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(base, pg.pw_uid, pg.pw_gid)
    primary = PgNode(f"{base}/primary", free_port())
    replica = PgNode(f"{base}/replica", free_port())
    _run([f"{BIN}/initdb", "-D", primary.data, "-U", "postgres", "--auth=trust", "-N"])
    _conf(primary, base)
    with open(f"{primary.data}/pg_hba.conf", "w") as fh:
        fh.write(HBA)
    primary.start()
    primary.sql(f"CREATE ROLE overseer LOGIN PASSWORD '{PASSWORD}' IN ROLE pg_monitor")
    _run([f"{BIN}/pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
          "-D", replica.data, "-R", "-X", "stream", "-c", "fast"])
    with open(f"{replica.data}/postgresql.auto.conf", "a") as fh:
        fh.write(f"port = {replica.port}\n")
    pair = PgPair(primary, replica, base)
    replica.start()
    pair.wait_streaming()
    return pair


def add_replica(pair: PgPair, streaming: int = 2, timeout: float = 20) -> PgNode:
    """One more streaming replica of `pair.primary`; returns once `streaming` replicas stream."""
    node = PgNode(f"{pair.base}/replica{streaming}", free_port())
    _run([f"{BIN}/pg_basebackup", "-h", "127.0.0.1", "-p", str(pair.primary.port), "-U", "postgres",
          "-D", node.data, "-R", "-X", "stream", "-c", "fast"])
    with open(f"{node.data}/postgresql.auto.conf", "a") as fh:
        fh.write(f"port = {node.port}\n")
    node.start()
    deadline = time.monotonic() + timeout
    while pair.primary.sql("SELECT count(*) FROM pg_stat_replication "
                           "WHERE state = 'streaming'") != str(streaming):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{streaming} replicas not streaming after {timeout}s")
        time.sleep(0.1)
    return node
