"""`overseer switchover --force`: the request carries it to the planner (lag.py)."""
import time
from datetime import datetime, timezone

from tests.support.cluster import cluster_yaml, sleeper_service


def test_force_is_written_into_the_request(cluster):
    cluster.apply(cluster_yaml(cluster.name, ["pbx1", "pbx2"], extra=sleeper_service()))
    at = datetime.fromtimestamp(time.time() + 3600, timezone.utc).isoformat()
    cluster.cli("switchover", "pbx", "--to", "pbx2", "--at", at)
    assert cluster.snapshot().switchovers["pbx"].force is False
    cluster.cli("switchover", "pbx", "--to", "pbx2", "--force", "--at", at)
    assert cluster.snapshot().switchovers["pbx"].force is True
    refused = cluster.cli("switchover", "pbx", "--cancel", "--force", check=False)
    assert refused.returncode == 2 and "takes no --to, --at or --force" in refused.stderr, refused
