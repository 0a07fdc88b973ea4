from overseer.desired.store.client import EtcdConfig, connect


def test_etcd_answers(etcd_url, cluster_name):
    client = connect(EtcdConfig(endpoints=(etcd_url,)))
    client.put(f"/overseer/{cluster_name}/x", "1")
    value, _ = client.get(f"/overseer/{cluster_name}/x")
    assert value == b"1"
