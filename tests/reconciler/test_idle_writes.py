"""An idle agent writes nothing to etcd besides lease keep-alives (which are
not writes): no server record rewritten for nothing, no observation refreshed
while its status holds."""
import time

from overseer.desired.store import documents
from tests.support.cluster import cluster_yaml, running_pid, sleeper_service

IDLE_WINDOW = 3.0   # ~6 keep-alive ticks at leaseTTL 2 s and ~15 probes at 200 ms


def test_an_idle_agent_writes_nothing(cluster):
    cluster.apply(cluster_yaml(cluster.name, ["pbx1"], extra=sleeper_service(candidates=("pbx1",))))
    cluster.start_agent("pbx1")
    cluster.wait_for(lambda s: running_pid(s, "pbx1") is not None
                     and s.observations.get(("pbx1", "pbx", "alive"))
                     and s.observations[("pbx1", "pbx", "alive")].status == "ok", what="pbx active and ok")
    store = cluster.store
    before = documents.revision(store)
    # a window, not a wait for a condition: what is measured is that nothing happens in it
    time.sleep(IDLE_WINDOW)
    response = store.client.get_prefix_response(store.keys.root, keys_only=True)
    rewritten = [kv.key.decode() for kv in response.kvs if kv.mod_revision > before]
    assert rewritten == []
