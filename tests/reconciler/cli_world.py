"""A three-server cluster put into a real etcd through the real store, for the
operator commands' tests: documents, leases, a master, assignments, history,
observations (one with a long message) and role reports. No agent runs."""
from __future__ import annotations

import time

from click.testing import CliRunner

from overseer.desired.loader import load_text
from overseer.desired.state import Assignment, HistoryEntry, Observation, ServerRecord, ServiceReport
from overseer.desired.store import documents
from overseer.desired.store.client import EtcdConfig
from overseer.desired.store.store import Store
from overseer.reconciler.cli.main import cli

DOCS = """
apiVersion: overseer/v1
kind: Cluster
metadata: {{name: {cluster}}}
spec: {{hierarchy: [pbx1, pbx2, web1], campaignDelay: 1s, failoverMargin: 500ms}}
---
apiVersion: overseer/v1
kind: Server
metadata: {{name: pbx1}}
spec: {{address: 10.0.0.1, failureDomain: sw1}}
---
apiVersion: overseer/v1
kind: Server
metadata: {{name: pbx2}}
spec: {{address: 10.0.0.2, failureDomain: sw2}}
---
apiVersion: overseer/v1
kind: Server
metadata: {{name: web1}}
spec: {{address: 10.0.0.3, failureDomain: sw2}}
---
apiVersion: overseer/v1
kind: Service
metadata: {{name: pbx}}
spec:
  candidates: [pbx1, pbx2]
  actuator: {{type: exec, start: "true", stop: "true"}}
  checks: [{{name: sip, type: tcp, port: 5060}}, {{name: ami, type: tcp, port: 5038}}]
---
apiVersion: overseer/v1
kind: Service
metadata: {{name: recorder}}
spec:
  mode: all-active
  candidates: [pbx1, pbx2]
  actuator: {{type: exec, start: "true", stop: "true"}}
"""

LONG = ("connection refused after 3 attempts to 10.0.0.1:5060 (the SIP listener did not answer OPTIONS; "
        "check that asterisk runs and that pjsip binds 0.0.0.0)")


def seed(etcd_url: str, cluster: str) -> Store:
    """pbx1 master, pbx active on pbx1 (standby pbx2) since a placement 10 min
    ago and a failover 2 min ago; its sip check failing on both with a long
    message. Returns the open store (the caller closes it)."""
    store = Store(EtcdConfig(endpoints=(etcd_url,)), cluster=cluster)
    documents.apply(store.client, cluster, load_text(DOCS.format(cluster=cluster)).sources, cfg=store.cfg)
    lease = store.grant_lease(60)
    for rank, name in enumerate(("pbx1", "pbx2", "web1")):
        store.put_server(ServerRecord(name=name, rank=rank, health="ok"), lease)
    master = store.campaign("pbx1", lease)
    now = time.time()
    store.write_decisions(
        master.epoch,
        [Assignment("pbx", ("pbx1",), ("pbx2",), master.epoch, "pbx1 chosen: first candidate", now - 120),
         Assignment("recorder", ("pbx1", "pbx2"), (), master.epoch, "every eligible candidate", now - 600)],
        [HistoryEntry("pbx", now - 600, "placement", "pbx placed on pbx2", "pbx2", master.epoch),
         HistoryEntry("pbx", now - 120, "failover", "pbx moved pbx2 -> pbx1: pbx2 sip failed", "pbx1",
                      master.epoch),
         HistoryEntry("recorder", now - 300, "placement", "recorder on pbx1, pbx2", "", master.epoch)])
    store.append_history(HistoryEntry("pbx", now - 30, "hook", "hook failover (exec) on pbx1: ok", "pbx1",
                                      master.epoch))
    for server in ("pbx1", "pbx2"):
        store.put_observation(Observation(server, "pbx", "sip", "fail", None, LONG, now - 5, now - 40))
        store.put_observation(Observation(server, "pbx", "ami", "ok", 1.0, "", now - 5, now - 500))
    store.put_report(ServiceReport("pbx1", "pbx", "active", master.epoch, "ok", "start + promote done", now - 100))
    store.put_report(ServiceReport("pbx2", "pbx", "standby", master.epoch, "ok", "start done", now - 100))
    return store


def run(etcd_url: str, cluster: str, *args: str, **kw):
    return CliRunner().invoke(cli, ["--etcd", etcd_url, "--cluster", cluster, *args], catch_exceptions=False, **kw)
