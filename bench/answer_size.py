"""How large etcd's answers to Overseer get: sizes the client's answer limit.

Fills a throw-away etcd with what a cluster of `--services` services keeps
there (default 1,000 services x 3 servers x 3 checks, 30 results kept per
check, a role report and a fail count per server, an assignment, and
`--history` history entries per service, default 200 = historyLimit), then
reads it as the agents do (`Store.snapshot(history=False)`) and as `status`
and the board do (`Store.snapshot()`), and prints the largest answer body of
each, as etcd's JSON gateway sent it (base64 values in JSON).

Run: .venv/bin/python bench/answer_size.py [--services 1000] [--history 200]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cluster import local_etcd  # noqa: E402

from overseer.desired.state import Assignment, FailCount, HistoryEntry, Observation, ServiceReport  # noqa: E402
from overseer.desired.store import documents  # noqa: E402
from overseer.desired.store.chunks import chunked  # noqa: E402
from overseer.desired.store.client import EtcdConfig, connect, parse_endpoint  # noqa: E402
from overseer.desired.store.etcd_http import HttpEtcd  # noqa: E402
from overseer.desired.store.store import Store  # noqa: E402
from overseer.desired.loader import load_text  # noqa: E402

CLUSTER = "sized"
SERVERS = ["srv1", "srv2", "srv3"]
CHECKS = ["alive", "sip", "ami"]
RESULTS_KEPT = 30


def documents_yaml(services: int) -> str:
    out = [f"apiVersion: overseer/v1\nkind: Cluster\nmetadata: {{name: {CLUSTER}}}\n"
           f"spec: {{hierarchy: [{', '.join(SERVERS)}]}}\n"]
    for i, s in enumerate(SERVERS):
        out.append(f"apiVersion: overseer/v1\nkind: Server\nmetadata: {{name: {s}}}\n"
                   f"spec: {{address: 10.0.0.{i + 1}, failureDomain: sw-{i}}}\n")
    for n in range(services):
        out.append(
            f"apiVersion: overseer/v1\nkind: Service\nmetadata: {{name: svc{n:04d}}}\n"
            f"spec:\n  candidates: [{', '.join(SERVERS)}]\n"
            "  actuator: {type: process, command: [/usr/sbin/asterisk, -f, -C, /etc/asterisk/asterisk.conf]}\n"
            "  checks:\n"
            "    - {name: alive, type: process}\n"
            "    - {name: sip, type: sip-options, host: 127.0.0.1, port: 5060}\n"
            "    - {name: ami, type: asterisk-ami, host: 127.0.0.1, port: 5038, username: overseer,"
            " secretFile: /etc/overseer/ami.secret}\n")
    return "---\n".join(out)


def records(services: int, history: int, now: float):
    for n in range(services):
        svc = f"svc{n:04d}"
        yield [Assignment(service=svc, active=(SERVERS[0],), standby=(SERVERS[1],), epoch=123456,
                          reason="initial placement: srv1 is first in the hierarchy", time=now,
                          generation=3, decision=n)]
        for server in SERVERS:
            group = [ServiceReport(server=server, service=svc, role="standby", epoch=123456,
                                   message="standby since the last switchover", time=now, pid=4242,
                                   assigned=now),
                     FailCount(server=server, service=svc, count=2, last=now,
                               message="sip: no answer to OPTIONS within 1s")]
            for check in CHECKS:
                group.append(Observation(
                    server=server, service=svc, check=check, status="ok", value=0.0123,
                    message="200 OK in 12 ms", time=now, since=now - 3600,
                    results=tuple((now - i, "ok", 0.0123) for i in range(RESULTS_KEPT))))
            yield group
        yield [HistoryEntry(service=svc, time=now - i, kind="failover",
                            message=f"{svc}: moved from srv1 to srv2: check sip failed 3 times",
                            server="srv2", epoch=123456) for i in range(history)]


class Measured(HttpEtcd):
    """The real client, noting the largest answer body it decoded."""
    largest = 0

    def _decode(self, data, status, stream):
        Measured.largest = max(Measured.largest, len(data))
        return super()._decode(data, status, stream)


def fill(url: str, services: int, history: int) -> None:
    cfg = EtcdConfig(endpoints=(url,), timeout=30)
    client = connect(cfg)
    loaded = load_text(documents_yaml(services), "bench.yaml")
    assert loaded.valid, loaded.errors[:3]
    documents.apply(client, CLUSTER, loaded.sources, cfg=cfg)
    store = Store(cfg, CLUSTER, client=client)
    now = time.time()
    tx = client.transactions
    for group in records(services, history, now):
        ops = []
        for r in group:
            if isinstance(r, HistoryEntry):
                key = store.keys.history(r.service, int(r.time * 1e9))
            elif isinstance(r, Assignment):
                key = store.keys.assign(r.service)
            else:
                key = store._own_key(r)
            ops.append(tx.put(key, r.to_json()))
        for chunk in chunked([[op] for op in ops]):
            client.transaction(compare=[], success=chunk, failure=[])
    client.close()


def measure(url: str, history: bool) -> tuple[int, float]:
    cfg = EtcdConfig(endpoints=(url,), timeout=30)
    client = Measured(cfg, [parse_endpoint(url)])
    store = Store(cfg, CLUSTER, client=client)
    Measured.largest = 0
    started = time.perf_counter()
    store.snapshot(history=history)
    elapsed = time.perf_counter() - started
    client.close()
    return Measured.largest, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--history", type=int, default=200)
    args = parser.parse_args()
    with local_etcd() as etcd:
        fill(etcd.url, args.services, args.history)
        for label, history in (("agent read (no history)", False), ("status / board read", True)):
            size, elapsed = measure(etcd.url, history)
            print(f"{label:28s} largest answer {size / 2**20:7.2f} MiB ({size} bytes), read in {elapsed:.2f}s")
    print(f"{args.services} services x {len(SERVERS)} servers x {len(CHECKS)} checks,"
          f" {RESULTS_KEPT} results kept, {args.history} history entries per service")
    return 0


if __name__ == "__main__":
    sys.exit(main())
