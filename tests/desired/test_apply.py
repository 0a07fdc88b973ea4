"""Applying documents to a real etcd: one transaction, generation, idempotence."""
from __future__ import annotations

from pathlib import Path

import pytest

from overseer.desired.loader import load_paths, load_text
from overseer.desired.store import documents
from overseer.desired.store.client import EtcdConfig, connect
from overseer.desired.store.keys import Keys

HERE = Path(__file__).parent
EXAMPLE = HERE.parent.parent / "examples" / "qsuite.yaml"


@pytest.fixture
def client(etcd_url):
    c = connect(EtcdConfig(endpoints=(etcd_url,)))
    yield c
    c.close()


def sources(text: str):
    loaded = load_text(text, "t.yaml")
    assert loaded.errors == ()
    return loaded.sources


def renamed(cluster: str):
    """The spec's example under this test's own cluster name."""
    return sources(EXAMPLE.read_text().replace("{name: qsuite}", "{name: %s}" % cluster))


def test_first_apply_creates_everything_in_one_revision(client, cluster_name):
    before = documents.revision(client)
    result = documents.apply(client, cluster_name, renamed(cluster_name))
    assert result.generation == 1 and result.changed
    assert {state for _, _, state in result.changes} == {"created"}
    assert documents.revision(client) == before + 1          # one transaction
    gen, _ = client.get(Keys(cluster_name).generation())
    assert gen == b"1"


def test_second_apply_is_all_unchanged_and_keeps_the_generation(client, cluster_name):
    documents.apply(client, cluster_name, renamed(cluster_name))
    before = documents.revision(client)
    again = documents.apply(client, cluster_name, renamed(cluster_name))
    assert [s for _, _, s in again.changes] == ["unchanged"] * len(renamed(cluster_name))
    assert again.generation == 1 and not again.changed
    assert documents.revision(client) == before


def test_a_change_configures_one_object_and_bumps_generation(client, cluster_name):
    documents.apply(client, cluster_name, renamed(cluster_name))
    text = EXAMPLE.read_text().replace("{name: qsuite}", "{name: %s}" % cluster_name)
    result = documents.apply(client, cluster_name, sources(text.replace("failAfter: 10", "failAfter: 12")))
    assert ("Service", "asterisk", "configured") in result.changes
    assert sum(s == "configured" for _, _, s in result.changes) == 1
    assert result.generation == 2
    assert documents.load_desired(client, cluster_name).services["asterisk"].spec.checks[1].failAfter == 12


def test_dry_run_writes_nothing(client, cluster_name):
    before = documents.revision(client)
    result = documents.apply(client, cluster_name, renamed(cluster_name), dry_run=True)
    assert result.dry_run and result.generation == 1
    assert documents.revision(client) == before
    assert documents.list_docs(client, cluster_name) == []


def test_round_trip_get_equals_input(client, cluster_name):
    docs = renamed(cluster_name)
    documents.apply(client, cluster_name, docs)
    # etcd lists by kind, then name; the example is written in start order
    assert documents.list_docs(client, cluster_name) == sorted(
        (s.data for s in docs), key=lambda d: (d["kind"], d["metadata"]["name"]))
    assert documents.get(client, cluster_name, "Server", "pbx2") == next(s.data for s in docs if s.name == "pbx2")


def test_load_desired_parses_back_through_the_models(client, cluster_name):
    documents.apply(client, cluster_name, renamed(cluster_name))
    state = documents.load_desired(client, cluster_name)
    assert state.name == cluster_name and state.generation == 1
    assert list(state.cluster.spec.hierarchy) == ["pbx1", "pbx2", "web1", "db1", "db2"]
    assert state.services["asterisk"].spec.checks[2].warn == 0.2


def test_prune_deletes_objects_not_in_the_files(client, cluster_name):
    docs = renamed(cluster_name)
    documents.apply(client, cluster_name, docs)
    kept = [s for s in docs if s.name != "asterisk"]
    plain = documents.apply(client, cluster_name, kept)
    assert not plain.changed                      # kubectl apply: absent is not deleted
    pruned = documents.apply(client, cluster_name, kept, prune=True)
    assert ("Service", "asterisk", "pruned") in pruned.changes and pruned.generation == 2
    assert documents.get(client, cluster_name, "Service", "asterisk") is None


def test_concurrent_generation_change_is_retried(client, cluster_name):
    documents.apply(client, cluster_name, renamed(cluster_name)[:1])
    # another writer bumps the generation between our read and our write:
    # the guarded transaction fails once, the retry re-reads and wins
    keys = Keys(cluster_name)
    real_read = documents.read
    bumped = []

    def read_then_race(c, cluster, cfg=None):
        snap = real_read(c, cluster, cfg)
        if not bumped:
            bumped.append(True)
            client.put(keys.generation(), "5")
        return snap

    documents.read = read_then_race
    try:
        result = documents.apply(client, cluster_name, renamed(cluster_name))
    finally:
        documents.read = real_read
    assert result.generation == 6


def test_discover_clusters_lists_names_with_a_cluster_document(client, cluster_name):
    documents.apply(client, cluster_name, renamed(cluster_name))
    client.put(f"/overseer/{cluster_name}x/servers/a", "{}")   # no Cluster document: not a cluster
    found = documents.discover_clusters(client)
    assert cluster_name in found and f"{cluster_name}x" not in found


def test_diff_shows_changed_fields_only(client, cluster_name):
    documents.apply(client, cluster_name, renamed(cluster_name))
    text = EXAMPLE.read_text().replace("{name: qsuite}", "{name: %s}" % cluster_name)
    snap = documents.read(client, cluster_name)
    assert documents.diff(snap, sources(text)) == ""
    out = documents.diff(snap, sources(text.replace("address: 10.0.0.12", "address: 10.0.0.99")))
    assert "-  address: 10.0.0.12\n+  address: 10.0.0.99\n" in out
    assert out.startswith("--- live/Server/pbx2\n+++ file/Server/pbx2\n")


def test_example_file_loads_from_disk():
    assert load_paths([EXAMPLE]).errors == ()


def test_a_stored_document_that_no_longer_validates_is_one_clear_error(client, cluster_name):
    from overseer.desired.store.client import StoreError

    documents.apply(client, cluster_name, renamed(cluster_name))
    client.put(Keys(cluster_name).desired("Server", "pbx1"), '{"kind": "Server", "spec": {}}')
    snap = documents.read(client, cluster_name)
    lenient = {s.name: s.model for s in documents.sources_from_store(snap, cluster_name)}
    assert lenient["pbx2"] is not None and "pbx1" not in lenient   # no name: unnamed source
    with pytest.raises(StoreError, match="stored Server 'pbx1' is not valid any more"):
        documents.load_desired(client, cluster_name)
