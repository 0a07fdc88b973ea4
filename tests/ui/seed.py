"""Put a small cluster into a real etcd through the real store (docs, presence, master, assignment)."""
from __future__ import annotations

from overseer.desired.loader import load_text
from overseer.desired.state import Assignment, Observation, ServerRecord
from overseer.desired.store import documents
from overseer.desired.store.client import EtcdConfig
from overseer.desired.store.store import Store

DOCS = """
apiVersion: overseer/v1
kind: Cluster
metadata: {{name: {cluster}}}
spec: {{hierarchy: [a, b]}}
---
apiVersion: overseer/v1
kind: Server
metadata: {{name: a}}
spec: {{address: 10.0.0.1, failureDomain: sw1}}
---
apiVersion: overseer/v1
kind: Server
metadata: {{name: b}}
spec: {{address: 10.0.0.2, failureDomain: sw2}}
---
apiVersion: overseer/v1
kind: Service
metadata: {{name: web}}
spec:
  candidates: [a, b]
  actuator: {{type: exec, start: "true", stop: "true"}}
  checks: [{{name: up, type: tcp, port: 80}}]
"""


def seed_cluster(etcd_url: str, cluster: str) -> Store:
    """Apply the docs, make `a` live and master, assign `web` to a (b standby),
    and report `a/web/up` failing. Returns the open store (caller closes it)."""
    store = Store(EtcdConfig(endpoints=(etcd_url,)), cluster=cluster)
    loaded = load_text(DOCS.format(cluster=cluster))
    documents.apply(store.client, cluster, loaded.sources, cfg=store.cfg)
    lease = store.grant_lease(10)
    store.put_server(ServerRecord(name="a", rank=0, health="ok"), lease)
    master = store.campaign("a", lease)
    store.write_decisions(master.epoch, [Assignment("web", ("a",), ("b",), master.epoch, "placed")])
    store.put_observation(Observation(server="a", service="web", check="up", status="fail",
                                      message="connection refused", time=1.0))
    return store
