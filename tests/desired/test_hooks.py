"""`spec.on` as written in YAML: defaults, a command given as a string, a
Service turning one of the Cluster's hooks off with null (desired/hooks.py);
a webhook's URL never quoted whole in a message; `headersFile`."""
from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from overseer.desired.hooks import Hook, effective_hook, endpoint
from overseer.desired.models import ClusterDoc
from overseer.desired.state import HistoryEntry
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


TOKEN = "T0SECRET/B0SECRET/xoxbSECRETTOKEN"
SECRET_URLS = [f"https://ops:hunter2@hooks.example/services/{TOKEN}",       # a password
               f"ftp://hooks.example/services/{TOKEN}",                     # not http
               f"hooks.example/services/{TOKEN}",                           # no scheme
               f"https://hooks.example/services/{TOKEN} ",                  # a space
               f"https://hooks.example:99999/services/{TOKEN}"]             # a bad port


@pytest.mark.parametrize("url", SECRET_URLS)
def test_a_refused_webhook_url_is_never_quoted(tmp_path, url):
    text = GOOD.replace("  hierarchy: [a, b]\n", f"  hierarchy: [a, b]\n  on:\n    promote: {{webhook: {url!r}}}\n", 1)
    path = tmp_path / "hooks.yaml"
    path.write_text(text)
    [error] = validate_paths([path]).errors
    assert error.path == "spec.on.promote.webhook", str(error)
    assert "SECRET" not in str(error) and "hunter2" not in str(error), str(error)


def test_a_validation_error_as_text_quotes_no_value():
    # what desired/store/snapshot.py logs for a stored document that no longer parses
    doc = {"apiVersion": "overseer/v1", "kind": "Cluster", "metadata": {"name": "lab"},
           "spec": {"hierarchy": ["a"], "on": {"promote": {
               "webhook": f"https://hooks.example/services/{TOKEN}?token=qSECRET", "user": "nobody"}}}}
    with pytest.raises(ValidationError) as caught:
        ClusterDoc.model_validate(doc)
    assert "user, group and groups are for the command" in str(caught.value)
    assert "SECRET" not in str(caught.value), str(caught.value)


@pytest.mark.parametrize("url, shown", [
    (f"https://hooks.example/services/{TOKEN}?token=qSECRET#x", "https://hooks.example/…"),
    ("https://ops:hunter2@Hooks.Example:8443/", "https://hooks.example:8443/…"),
    ("http://[::1]:8080/SECRET", "http://[::1]:8080/…"),
    ("http://hooks.example", "http://hooks.example/…"),
    ("http://hooks.example:SECRET/", "an unreadable URL"),
    ("not a url SECRET", "an unreadable URL"),
])
def test_endpoint_keeps_scheme_host_and_port_only(url, shown):
    assert endpoint(url) == shown


def test_hook_outcomes_in_history_show_no_url_path_whoever_wrote_them():
    # as recorded by a version that quoted the URL whole
    old = ("hook promote (webhook) on pbx1: failed after 3 attempts: cannot reach"
           f" https://hooks.example/services/{TOKEN}?token=qSECRET: <urlopen error [Errno 111] Connection refused>")
    entry = HistoryEntry.from_json(HistoryEntry("pbx", 1.0, "hook", old, "pbx1", 3).to_json())
    assert entry.message == ("hook promote (webhook) on pbx1: failed after 3 attempts: cannot reach"
                             " https://hooks.example/…: <urlopen error [Errno 111] Connection refused>")
    other = HistoryEntry("pbx", 1.0, "action", "fetched https://example/x", "pbx1", 3)
    assert other.message == "fetched https://example/x"     # only hook outcomes quote webhooks


def test_headers_file_is_for_a_webhook_and_absolute():
    hook = Hook(webhook="https://events.example/v2/enqueue", headersFile="/etc/overseer/pd.headers")
    assert hook.headersFile == "/etc/overseer/pd.headers"
    with pytest.raises(ValidationError, match="expected an absolute path"):
        Hook(webhook="https://events.example/v2/enqueue", headersFile="pd.headers")
    with pytest.raises(ValidationError, match="headersFile is for the webhook"):
        Hook(command=["/bin/true"], headersFile="/etc/overseer/pd.headers")
