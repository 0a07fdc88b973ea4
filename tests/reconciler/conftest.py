import pytest

from tests.support.cluster import Cluster


@pytest.fixture
def cluster(etcd_url, cluster_name, tmp_path):
    c = Cluster(etcd_url, cluster_name, tmp_path)
    yield c
    c.stop()
