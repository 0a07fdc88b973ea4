"""reconciler/metrics.py: plain-Python instruments, rendered by prometheus_client
only when served; the text must be what a Prometheus Histogram/Counter gives."""
import subprocess
import sys

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from overseer.reconciler.metrics import Counter, Histogram


def _samples(*instruments) -> dict:
    registry = CollectorRegistry(auto_describe=False)
    for instrument in instruments:
        registry.register(instrument)
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_histogram_buckets_are_cumulative_and_le():
    h = Histogram("t_seconds", "test", buckets=(0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(v)
    s = _samples(h)
    assert s[("t_seconds_bucket", (("le", "0.1"),))] == 2       # 0.1 itself is "le 0.1"
    assert s[("t_seconds_bucket", (("le", "1.0"),))] == 3
    assert s[("t_seconds_bucket", (("le", "+Inf"),))] == 4
    assert s[("t_seconds_count", ())] == 4 and abs(s[("t_seconds_sum", ())] - 3.65) < 1e-9


def test_counter_by_labels_with_total_suffix():
    c = Counter("t_runs", "test", ("event", "outcome"))
    c.labels("promote", "failed").inc()
    c.labels("promote", "failed").inc()
    c.labels("demote", "ok").inc()
    s = _samples(c)
    assert s[("t_runs_total", (("event", "promote"), ("outcome", "failed")))] == 2
    assert s[("t_runs_total", (("event", "demote"), ("outcome", "ok")))] == 1


def test_recording_does_not_load_prometheus_client():
    code = ("import sys; from overseer.reconciler import metrics, master; "
            "metrics.RECONCILE_DURATION.observe(0.2); metrics.HOOK_RUNS.labels('a', 'ok').inc(); "
            "print('prometheus_client' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
