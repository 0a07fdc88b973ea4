"""examples/alerts.yaml: valid for Prometheus (`promtool check rules`, from
Debian's prometheus package, installed by scripts/system-deps.sh), and every
metric its expressions use is in the real /metrics of an agent serving the
board (`overseer agent --ui`) against real etcd."""
from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from prometheus_client.parser import text_string_to_metric_families

from overseer.desired.store.local_etcd import free_port
from tests.support.cluster import Cluster, cluster_yaml, running_pid, sleeper_service
from tests.support.waiting import poll_until

RULES = Path(__file__).resolve().parents[2] / "examples" / "alerts.yaml"
WANTED = {"OverseerServiceWithoutActive", "OverseerDoubleActive", "OverseerFailover", "OverseerServerInFail",
          "OverseerAgentWithoutLease", "OverseerEtcdUnreachable"}
# PromQL words that look like metric names: operators, modifiers, aggregations
KEYWORDS = {"and", "or", "unless", "on", "ignoring", "group_left", "group_right", "by", "without",
            "bool", "offset", "inf", "nan"}


@pytest.fixture
def cluster(etcd_url, cluster_name, tmp_path):
    c = Cluster(etcd_url, cluster_name, tmp_path)
    yield c
    c.stop()


def rules() -> list[dict]:
    return [rule for group in YAML(typ="safe").load(RULES.read_text())["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (not functions, labels or keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)           # string literals
    text = re.sub(r"\{[^}]*\}", "", text)                      # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)                     # ranges
    text = re.sub(r"\b(?:on|ignoring|by|without|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word, rest = match.group(0), text[match.end():].lstrip()
        if word.lower() in KEYWORDS or rest.startswith("(") or re.match(r"\d", word):
            continue
        names.add(word)
    return names


def test_metric_names_are_read_from_promql():
    assert metric_names('max_over_time(a_b{x="y"}[5m]) > on(service) c and sum by (s) (d) == bool 1') == {
        "a_b", "c", "d"}


def test_the_rules_cover_what_the_issue_asks():
    assert {r["alert"] for r in rules()} == WANTED
    assert all(r["labels"]["severity"] in ("warning", "critical") and r["annotations"]["summary"]
               for r in rules())


def test_promtool_accepts_the_rules():
    promtool = shutil.which("promtool")
    if promtool is None:
        # the metric names are still checked against a real /metrics below
        pytest.skip("promtool is not installed (apt-get install -y prometheus; scripts/system-deps.sh does)")
    out = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(WANTED)} rules found" in out.stdout


def test_every_metric_the_rules_use_is_in_a_real_metrics_page(cluster):
    port = free_port()
    cluster.apply(cluster_yaml(cluster.name, ["pbx1", "pbx2"], extra=sleeper_service()))
    cluster.start_agent("pbx1", "--ui", f"127.0.0.1:{port}")
    cluster.start_agent("pbx2")
    cluster.wait_for(lambda s: running_pid(s, "pbx1") is not None, what="pbx active on pbx1")

    def scrape():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return None
        # samples, not just declared families: each alert must have something to evaluate
        samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
        moved = any(s.name == "overseer_failovers_total" and s.value >= 1 for s in samples)
        return {s.name for s in samples} if moved else None

    # a move, so the failover alert has its series too
    cluster.cli("switchover", "pbx", "--to", "pbx2")
    samples = poll_until(scrape, 20, "the agent's board to serve /metrics after the switchover")
    used = {rule["alert"]: metric_names(rule["expr"]) for rule in rules()}
    missing = {alert: sorted(names - samples) for alert, names in used.items() if names - samples}
    assert not missing, f"metrics the alert rules use but /metrics lacks: {missing}"
    assert all(names for names in used.values())
