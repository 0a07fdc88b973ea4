"""The layers go one way (ui -> reconciler -> observers/actuators -> desired)
and only desired/store/ talks to etcd. Checked on the source's imports,
including those inside functions."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "desired": ("overseer.observers", "overseer.reconciler", "overseer.actuators", "overseer.ui"),
    "observers": ("overseer.reconciler", "overseer.actuators", "overseer.ui", "overseer.desired.store"),
    "actuators": ("overseer.reconciler", "overseer.observers", "overseer.ui", "overseer.desired.store"),
    "reconciler": ("overseer.ui",),
    "ui": (),
}
# `overseer ui`, `overseer demo` and `overseer agent --ui` start the board: their
# imports are lazy, inside the command, so nothing else in reconciler loads Flask.
ALLOWED = {("reconciler/cli/serve.py", "overseer.ui"), ("reconciler/cli/demo.py", "overseer.ui"),
           ("reconciler/cli/agent.py", "overseer.ui")}


def _imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    package = "overseer." + ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                yield node.lineno, ".".join(base + ([node.module] if node.module else []))
            else:
                yield node.lineno, node.module or ""


def _sources(layer):
    return sorted((ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_one_way(layer):
    bad = []
    for path in _sources(layer):
        rel = str(path.relative_to(ROOT))
        for line, name in _imports(path):
            for banned in FORBIDDEN[layer]:
                if (name == banned or name.startswith(banned + ".")) and (rel, banned) not in ALLOWED:
                    bad.append(f"{rel}:{line}: imports {name}")
    assert not bad, "\n".join(bad)


WIRE = ("overseer.desired.store.etcd_http", "overseer.desired.store.etcd_types", "http.client")


def test_only_the_store_touches_etcd():
    """etcd's wire (the JSON gateway client, its types) is known to
    desired/store/ alone; the board's HTTP server is Flask's business."""
    bad = []
    for layer in FORBIDDEN:
        for path in _sources(layer):
            rel = str(path.relative_to(ROOT))
            for line, name in _imports(path):
                if name.split(".")[0] in ("etcd3", "grpc"):
                    bad.append(f"{rel}:{line}: imports {name} (Overseer talks to etcd over HTTP, etcd_http.py)")
                elif name in WIRE and not rel.startswith("desired/store/"):
                    bad.append(f"{rel}:{line}: imports {name}")
    assert not bad, "\n".join(bad)
    store = {name for p in _sources("desired/store") for _, name in _imports(p)}
    assert "overseer.desired.http11.blocking" in store and "overseer.desired.store.etcd_http" in store
    # http.client would load `email` and its header parsing into every agent
    # (docs/design-choices.md, "The HTTP client layer")
    assert "http.client" not in store


# Every HTTP client of Overseer's reads answers through desired/http11/ (one
# parser, one set of limits). urllib.request only where a throw-away etcd
# started for a test or the demo is asked whether it is up.
CLIENTS = ("desired/store/etcd_http.py", "reconciler/agent/peer_client.py", "observers/probes/http.py",
           "reconciler/hooks/webhook.py")
URLLIB_ALLOWED = ("desired/store/local_etcd.py", "reconciler/demo/processes.py")


def test_every_http_client_goes_through_the_layer():
    for rel in CLIENTS:
        names = {name for _, name in _imports(ROOT / rel)}
        assert any(name.startswith("overseer.desired.http11") for name in names), rel
    bad = []
    for layer in FORBIDDEN:
        for path in _sources(layer):
            rel = str(path.relative_to(ROOT))
            for line, name in _imports(path):
                if name.split(".")[0] in ("h11", "urllib3", "requests", "httpx", "aiohttp") or name == "http.client":
                    bad.append(f"{rel}:{line}: imports {name}")
                elif name == "urllib.request" and rel not in URLLIB_ALLOWED:
                    bad.append(f"{rel}:{line}: imports {name}")
    assert not bad, "\n".join(bad)
