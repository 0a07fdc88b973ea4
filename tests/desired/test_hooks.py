"""`spec.on` as written in YAML: defaults, a command given as a string, a
Service turning one of the Cluster's hooks off with null (desired/hooks.py)."""
from __future__ import annotations

from pathlib import Path

from overseer.desired.hooks import effective_hook
from overseer.desired.validate import build_state, validate_paths

GOOD = (Path(__file__).parent / "good.yaml").read_text()
CLUSTER_ON = """\
  on:
    promote: {webhook: "https://chat.example/hook", timeout: 500ms}
    failover: {command: "/usr/local/bin/page --team pbx", attempts: 1}
    masterChange: {webhook: "http://10.0.0.9:8080/overseer"}
"""
SERVICE_ON = """\
  on:
    promote: null
    demote: {command: [/usr/local/bin/notify, demote]}
"""


def test_cluster_and_service_hooks_parse_and_combine(tmp_path):
    text = GOOD.replace("  hierarchy: [a, b]\n", "  hierarchy: [a, b]\n" + CLUSTER_ON, 1)
    text = text.replace("  candidates: [a, b]\n", "  candidates: [a, b]\n" + SERVICE_ON, 1)
    path = tmp_path / "hooks.yaml"
    path.write_text(text)
    loaded = validate_paths([path])
    assert loaded.errors == (), [str(e) for e in loaded.errors]
    state = build_state(loaded.sources, generation=1)
    cluster_on, web_on = state.cluster.spec.on, state.services["web"].spec.on
    assert cluster_on.promote.timeout == 0.5 and cluster_on.promote.attempts == 3
    assert tuple(cluster_on.failover.command) == ("/usr/local/bin/page", "--team", "pbx")
    assert cluster_on.failover.timeout == 10.0 and cluster_on.failover.attempts == 1
    assert effective_hook(cluster_on, web_on, "promote") is None          # turned off for web
    assert tuple(effective_hook(cluster_on, web_on, "demote").command) == ("/usr/local/bin/notify", "demote")
    assert effective_hook(cluster_on, web_on, "failover") is cluster_on.failover   # inherited
    assert effective_hook(cluster_on, web_on, "fence") is None
