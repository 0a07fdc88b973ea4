"""`/metrics`: Prometheus families derived from the current snapshot.

A custom collector reads the UI's memoised status view at scrape time, so a
scrape costs no etcd round trip and always agrees with the board. Statuses
are numeric where one series per object reads best in Grafana (checks) and
one-hot where alert rules want `== 1` (services).
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from overseer.reconciler.metrics import INSTRUMENTS

from .state import UiState

STATUS_VALUES = ("ok", "warn", "fail", "unknown", "starting")
CHECK_NUMBER = {"ok": 0, "warn": 1, "fail": 2, "unknown": -1, "starting": -2}
FAILOVER_KINDS = ("failover", "switchover")


class SnapshotCollector:
    def __init__(self, state: UiState):
        self.state = state

    def collect(self):
        view = self.state.view()
        stale = GaugeMetricFamily("overseer_view_stale", "1 when the UI's etcd view is stale.")
        stale.add_metric([], 1.0 if view.freshness.stale(view.now) else 0.0)
        yield stale
        age = view.freshness.age(view.now)
        if age is not None:
            yield GaugeMetricFamily("overseer_view_age_seconds",
                                    "Seconds since the last successful etcd read.", value=age)
        if view.status is None:
            return
        yield from self._services(view.status)
        yield from self._actives(view)
        yield from self._checks(view.status)
        yield from self._servers(view.status)
        yield from self._failovers(view)

    def _services(self, status):
        fam = GaugeMetricFamily("overseer_service_status",
                                "1 for the service's current status, 0 for the others.",
                                labels=["service", "status"])
        paused = GaugeMetricFamily("overseer_service_paused", "1 when automatic failover is paused.",
                                   labels=["service"])
        for name, svc in status["services"].items():
            for value in STATUS_VALUES:
                fam.add_metric([name, value], 1.0 if svc["status"] == value else 0.0)
            paused.add_metric([name], 1.0 if svc["paused"] else 0.0)
        yield fam
        yield paused

    def _actives(self, view):
        # What examples/alerts.yaml compares: servers holding a live lease whose
        # agent reports the service active, against how many may be.
        status, desired = view.status, view.snapshot.desired
        running = GaugeMetricFamily("overseer_service_active_servers",
                                    "Live servers whose agent reports the service active.", labels=["service"])
        wanted = GaugeMetricFamily("overseer_service_replicas",
                                   "Actives allowed: replicas (active-standby) or candidates (all-active).",
                                   labels=["service"])
        for name, svc in status["services"].items():
            live = [s for s, r in svc["roles"].items()
                    if r["role"] == "active" and status["servers"].get(s, {}).get("up")]
            running.add_metric([name], float(len(live)))
            doc = desired.services.get(name)
            if doc is not None:
                allowed = doc.spec.replicas if doc.spec.mode == "active-standby" else len(doc.spec.candidates)
                wanted.add_metric([name], float(allowed))
        yield running
        yield wanted

    def _checks(self, status):
        fam = GaugeMetricFamily("overseer_check_status",
                                "Check status: 0 ok, 1 warn, 2 fail, -1 unknown, -2 starting (start-up grace).",
                                labels=["server", "service", "check"])
        values = GaugeMetricFamily("overseer_check_value", "Last measured value of a check.",
                                   labels=["server", "service", "check"])
        for service, svc in status["services"].items():
            for server, checks in svc["checks"].items():
                for check, row in checks.items():
                    fam.add_metric([server, service, check], CHECK_NUMBER.get(row["status"], -1))
                    if isinstance(row.get("value"), (int, float)):
                        values.add_metric([server, service, check], float(row["value"]))
        yield fam
        yield values

    def _servers(self, status):
        up = GaugeMetricFamily("overseer_agent_up", "1 when the server's agent holds its lease.",
                               labels=["server"])
        health = GaugeMetricFamily("overseer_server_health",
                                   "Server-wide health: 0 ok, 1 warn, 2 fail, -1 unknown (no live lease).",
                                   labels=["server"])
        for name, server in status["servers"].items():
            up.add_metric([name], 1.0 if server["up"] else 0.0)
            health.add_metric([name], CHECK_NUMBER.get(server["health"], -1))
        yield up
        yield health
        master = status["master"]
        epoch = GaugeMetricFamily("overseer_master_epoch",
                                  "Epoch (create revision) of the current master; 0 without one.")
        epoch.add_metric([], float(master["epoch"]) if master else 0.0)
        yield epoch
        who = GaugeMetricFamily("overseer_master", "1 for the server that is master.",
                                labels=["server"])
        if master:
            who.add_metric([master["server"]], 1.0)
        yield who

    def _failovers(self, view):
        # Counted from the retained (bounded) history in etcd, so it can only
        # see as far back as `historyLimit`, and it drops when an old move is
        # trimmed, which Prometheus takes for a counter reset. Alerts use the
        # newest move's time instead: trimming never changes that.
        fam = CounterMetricFamily("overseer_failovers",
                                  "Failovers and switchovers found in the retained history.",
                                  labels=["service"])
        last = GaugeMetricFamily("overseer_service_last_failover_timestamp_seconds",
                                 "Unix time of the newest failover or switchover in the retained history.",
                                 labels=["service"])
        history = view.snapshot.history
        for service in view.status["services"]:
            moves = [e.time for e in history.get(service, ()) if e.kind in FAILOVER_KINDS]
            fam.add_metric([service], float(len(moves)))
            if moves:
                last.add_metric([service], max(moves))
        yield fam
        yield last


def make_registry(state: UiState) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(state))
    for instrument in INSTRUMENTS:
        registry.register(instrument)
    return registry
