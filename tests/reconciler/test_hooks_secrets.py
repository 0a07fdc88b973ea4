"""A webhook URL that carries its secret (Slack's path, a token in the query),
failing in every way, on real agents and real etcd: the secret reaches the
webhook's server and nothing else: not the history, the agents' logs,
`overseer status` (text and JSON) or the board (HTML and JSON)."""
from __future__ import annotations

import json

from overseer.desired.store.local_etcd import free_port
from overseer.ui.app import create_app
from tests.support.cluster import cluster_yaml, running_pid
from tests.support.cluster import sleeper_service as service
from tests.support.webhook import WebhookServer
from tests.ui.snapshots import FakeSource

SECRET = "/services/T0SECRET/B0SECRET/xoxbSECRETTOKEN?token=qSECRET"
BOARD = ["/", "/partials/board", "/services/pbx", "/partials/services/pbx", "/services/web", "/api/v1/status",
         "/api/v1/services/pbx", "/api/v1/history", "/timeline", "/partials/timeline"]


def hooks(url: str, attempts: int = 1) -> str:
    return f"  on:\n    promote: {{webhook: '{url}', attempts: {attempts}, timeout: 2s}}\n"


def test_a_webhook_secret_reaches_no_history_log_status_or_board(cluster):
    failing, elsewhere = WebhookServer(status=(500,)), WebhookServer()
    redirecting = WebhookServer(redirect=f"http://localhost:{elsewhere.port}{SECRET}")
    refused = free_port()
    cluster_on = f"  on:\n    masterChange: {{webhook: 'http://127.0.0.1:{refused}{SECRET}', attempts: 1}}\n"
    try:
        text = cluster_yaml(cluster.name, ["pbx1", "pbx2"], extra=service(candidates=("pbx1",))
                            + hooks(f"http://127.0.0.1:{failing.port}{SECRET}")
                            + "---\n" + service("web", candidates=("pbx1",))
                            + hooks(f"http://127.0.0.1:{redirecting.port}{SECRET}"))
        cluster.apply(text.replace("spec:\n", "spec:\n" + cluster_on, 1))
        cluster.start_agent("pbx1")
        cluster.start_agent("pbx2")

        def outcomes(snap):
            return {e.message for name in ("pbx", "web") for e in snap.history.get(name, ()) if e.kind == "hook"}
        wanted = {f"cannot reach http://127.0.0.1:{refused}/…: Connection refused",
                  "HTTP 500 Internal Server Error",
                  f"HTTP 302 Found: redirects to http://localhost:{elsewhere.port}/…, not followed"}
        snap = cluster.wait_for(lambda s: running_pid(s, "pbx1") and running_pid(s, "pbx1", "web")
                                and all(any(w in m for m in outcomes(s)) for w in wanted),
                                timeout=30, what="the three failed webhooks in history")
        assert failing.paths == [SECRET] and elsewhere.hits == 0, (failing.paths, elsewhere.hits)
    finally:
        for server in (failing, elsewhere, redirecting):
            server.close()

    seen = {"history": "\n".join(outcomes(snap))}
    seen["status"] = cluster.cli("status").stdout
    seen["status --json"] = cluster.cli("status", "--json").stdout
    assert "LAST HOOK" in seen["status"] and json.loads(seen["status --json"])["services"]["pbx"]["lastHook"]
    for server in ("pbx1", "pbx2"):
        seen[f"{server}.log"] = (cluster.workdir / f"{server}.log").read_text()
    assert "hook promote (webhook) on pbx1: failed" in seen["pbx1.log"]
    board = create_app(FakeSource(snap)).test_client()
    for path in BOARD:
        got = board.get(path)
        assert got.status_code == 200, path
        seen[f"board {path}"] = got.get_data(as_text=True)
    assert any("HTTP 500 Internal Server Error" in text for where, text in seen.items() if where.startswith("board"))
    leaks = [where for where, text in seen.items() if "SECRET" in text]
    assert not leaks, {where: seen[where] for where in leaks}
