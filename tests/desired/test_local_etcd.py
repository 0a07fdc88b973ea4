"""The throw-away etcd (desired/store/local_etcd.py): a start that fails leaves no etcd behind."""
from __future__ import annotations

import pytest

from overseer.desired.store.local_etcd import LocalEtcd, LocalEtcdError


def test_an_etcd_not_healthy_in_time_is_ended_before_the_error_is_raised():
    etcd = LocalEtcd(health_timeout=0.0)    # the deadline passes before the first look: etcd still starting
    with pytest.raises(LocalEtcdError, match="not healthy"):
        etcd.start()
    try:
        assert etcd.proc is not None and etcd.proc.poll() is not None, "etcd left running"
    finally:
        etcd.stop()
