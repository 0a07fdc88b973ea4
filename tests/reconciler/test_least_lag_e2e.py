"""Least lag with real agents on real PostgreSQL 15: a primary and two
streaming replicas under an `exec` service, one replica held back with
pg_wal_replay_pause(). The primary's postmaster is killed; the master
promotes the replica that replayed everything, never the held one (the first
candidate after the primary, which candidates order alone would pick), and
no committed row is lost.

Each agent runs in its own directory, where `pgdata` names its server's data
directory (the `process` check's pidfile is relative) and PGPORT names its
server's port (the replication check's DSN leaves the port out; libpq reads
it from the environment).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from overseer.desired.checks import pid_in_pidfile
from tests.support.cluster import cluster_yaml
from tests.support.exec_daemon import start_agent_in_its_dir
from tests.support.peers.postgres import BIN, _run, add_replica, start_pair
from tests.support.waiting import poll_until

pytestmark = pytest.mark.slow
SERVERS = ["db1", "held", "keen"]
MEMBER = Path(__file__).resolve().parents[1] / "support" / "pg_member.py"
LIMIT_BYTES = 64 * 1024


def _service(conf: Path) -> str:
    run = f"[{sys.executable}, {MEMBER}"
    return textwrap.dedent(f"""\
        apiVersion: overseer/v1
        kind: Service
        metadata: {{name: pg}}
        spec:
          standby: warm
          candidates: [{", ".join(SERVERS)}]
          actuator:
            type: exec
            start: {run}, start, {conf}]
            stop: {run}, stop, {conf}]
            promote: {run}, promote, {conf}]
            timeout: 40s
          checks:
            - {{name: alive, type: process, match: {{pidfile: pgdata/postmaster.pid}}}}
            - {{name: replication, type: postgres-replication, critical: false, maxLagOnFailover: 64kB,
               dsn: "host=127.0.0.1 user=postgres dbname=postgres"}}
        """)


def _start_agent(cluster, server: str, node) -> None:
    (cluster.workdir / server).mkdir(exist_ok=True)
    (cluster.workdir / server / "pgdata").symlink_to(node.data)
    start_agent_in_its_dir(cluster, server, PGPORT=str(node.port))


def _rows(node):
    try:
        return int(node.sql("SELECT count(*) FROM t"))
    except RuntimeError:       # not accepting connections, or the table not replayed yet
        return None


def _role(snap, server: str):
    report = snap.reports.get((server, "pg"))
    return report.role if report and report.outcome == "ok" else None


def _lag(snap, server: str):
    obs = snap.observations.get((server, "pg", "replication"))
    return obs.value if obs else None


def _kill_postmaster(node) -> None:
    try:
        pid = pid_in_pidfile(Path(node.data, "postmaster.pid").read_text())
    except OSError:
        return
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_failover_promotes_the_replica_that_replayed_everything(cluster):
    pair = start_pair()
    nodes = {"db1": pair.primary, "held": pair.replica}
    try:
        nodes["keen"] = add_replica(pair)
        pair.primary.sql("CREATE TABLE t (x text)")
        pair.primary.sql("INSERT INTO t VALUES ('before')")
        poll_until(lambda: all(_rows(nodes[s]) == 1 for s in ("held", "keen")), 20, "both replicas to replay")
        for node in nodes.values():
            node.stop()
        # db1, started again as a standby after the failover, follows keen
        with open(f"{nodes['db1'].data}/postgresql.auto.conf", "a") as fh:
            fh.write(f"primary_conninfo = 'host=127.0.0.1 port={nodes['keen'].port} user=postgres'\n")
        conf = cluster.workdir / "members.json"
        conf.write_text(json.dumps({s: {"data": n.data, "port": n.port} for s, n in nodes.items()}))

        cluster.apply(cluster_yaml(cluster.name, SERVERS, extra=_service(conf)))
        _start_agent(cluster, "db1", nodes["db1"])
        cluster.wait_for(lambda s: _role(s, "db1") == "active", timeout=60, what="db1 promoted")
        for server in ("held", "keen"):
            _start_agent(cluster, server, nodes[server])
        cluster.wait_for(lambda s: all(_role(s, x) == "standby" and _lag(s, x) == 0 for x in ("held", "keen")),
                         timeout=60, what="two warm standbys, each reporting no lag")

        nodes["held"].sql("SELECT pg_wal_replay_pause()")
        pair.primary.sql("INSERT INTO t SELECT repeat('x', 1000) FROM generate_series(1, 2000)")
        committed = _rows(pair.primary)
        poll_until(lambda: _rows(nodes["keen"]) == committed, 30, "keen to replay every row")
        end = pair.primary.sql("SELECT pg_current_wal_lsn()")
        poll_until(lambda: nodes["held"].sql(f"SELECT pg_last_wal_receive_lsn() >= '{end}'") == "t", 30,
                   "held to receive the WAL it does not replay")
        cluster.wait_for(lambda s: (_lag(s, "held") or 0) > LIMIT_BYTES and _lag(s, "keen") == 0, timeout=30,
                         what="the agents to report held's lag and keen's none")

        _kill_postmaster(nodes["db1"])
        snap = cluster.wait_for(lambda s: _role(s, "keen") == "active", timeout=60, what="keen promoted")
        assert _role(snap, "held") != "active"
        assert snap.assignments["pg"].active == ("keen",)
        poll_until(lambda: nodes["keen"].sql("SELECT pg_is_in_recovery()") == "f", 30, "keen writable")
        assert _rows(nodes["keen"]) == committed          # no committed row lost
        assert _rows(nodes["held"]) < committed           # what promoting held would have served
        moves = [h.message for h in snap.history.get("pg", ()) if "keen" in h.message]
        assert moves, [h.message for h in snap.history.get("pg", ())]
    finally:
        cluster.stop()
        for node in nodes.values():
            _kill_postmaster(node)
        pair.close()
