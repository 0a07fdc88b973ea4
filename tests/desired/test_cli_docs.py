"""The document commands end to end: exit codes and output of docs/interfaces.md."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from overseer.reconciler.cli.main import _register, cli

HERE = Path(__file__).parent
EXAMPLE = HERE.parent.parent / "examples" / "qsuite.yaml"
_register()


def run(*args: str, etcd: str | None = None, cluster: str | None = None):
    argv = (["--etcd", etcd] if etcd else []) + (["--cluster", cluster] if cluster else []) + list(args)
    return CliRunner().invoke(cli, argv, catch_exceptions=False)


@pytest.fixture
def example(tmp_path, cluster_name) -> Path:
    path = tmp_path / "qsuite.yaml"
    path.write_text(EXAMPLE.read_text().replace("{name: qsuite}", "{name: %s}" % cluster_name))
    return path


def test_validate_exit_codes(tmp_path):
    ok = run("validate", str(EXAMPLE))
    assert ok.exit_code == 0, ok.stderr
    path = tmp_path / "several.yaml"
    path.write_text((HERE / "good.yaml").read_text().replace("port: 80", "port: 80\n      failAfer: 3")
                    .replace("hierarchy: [a, b]", "hierarchy: [a, b, c]").replace("{address: 10.0.0.1}", "{}"))
    bad = run("validate", str(path))
    assert bad.exit_code == 1 and bad.stdout == ""
    assert bad.stderr.splitlines() == [
        f"{path}:5: spec.hierarchy[2]: server 'c' has no Server document",
        f"{path}:10: spec.address: required field address is missing",
        f"{path}:27: spec.checks[0].failAfer: unknown field 'failAfer'; did you mean failAfter?",
    ]


def test_apply_prints_kubectl_style_and_is_idempotent(etcd_url, example, cluster_name):
    first = run("apply", "-f", str(example), etcd=etcd_url)
    assert first.exit_code == 0, first.stderr
    # in the file's order: servers in the hierarchy's, services in start order
    assert first.stdout.splitlines() == [
        f"cluster.overseer/{cluster_name} created", "server.overseer/pbx1 created",
        "server.overseer/pbx2 created", "server.overseer/web1 created", "server.overseer/db1 created",
        "server.overseer/db2 created", "service.overseer/db created", "service.overseer/web created",
        "service.overseer/asterisk created", "service.overseer/dialer created", "generation 1"]
    second = run("apply", "-f", str(example), etcd=etcd_url)
    assert second.exit_code == 0
    assert second.stdout.splitlines()[-2:] == ["service.overseer/dialer unchanged", "generation 1"]


def test_round_trip_apply_then_get_yaml(etcd_url, example, cluster_name):
    assert run("apply", "-f", str(example), etcd=etcd_url).exit_code == 0
    got = run("get", "all", "-o", "yaml", etcd=etcd_url, cluster=cluster_name)
    assert got.exit_code == 0, got.stderr
    safe = YAML(typ="safe", pure=True)
    written = list(safe.load_all(example.read_text()))
    # `get` lists by kind, then name; the example is written in start order
    assert list(safe.load_all(got.stdout)) == sorted(written, key=lambda d: (d["kind"], d["metadata"]["name"]))
    one = run("get", "Services", "asterisk", "-o", "json", etcd=etcd_url, cluster=cluster_name)
    assert json.loads(one.stdout) == next(d for d in written if d["metadata"]["name"] == "asterisk")
    svc = run("get", "svc", etcd=etcd_url, cluster=cluster_name)
    assert "service/asterisk" in svc.stdout


def test_get_not_found_and_unknown_kind(etcd_url, example, cluster_name):
    run("apply", "-f", str(example), etcd=etcd_url)
    missing = run("get", "server", "pbx9", etcd=etcd_url, cluster=cluster_name)
    assert missing.exit_code == 1 and "not found" in missing.stderr
    kind = run("get", "pods", etcd=etcd_url, cluster=cluster_name)
    assert kind.exit_code == 1 and "unknown kind" in kind.stderr


def test_get_without_cluster_names_the_choices_when_several(etcd_url, example, cluster_name, tmp_path):
    run("apply", "-f", str(example), etcd=etcd_url)
    other = tmp_path / "other.yaml"
    other.write_text(example.read_text().replace(f"{{name: {cluster_name}}}", f"{{name: {cluster_name}-b}}"))
    run("apply", "-f", str(other), etcd=etcd_url)
    result = run("get", "svc", etcd=etcd_url)
    assert result.exit_code == 1
    assert "several clusters" in result.stderr and cluster_name in result.stderr


def test_rejected_apply_writes_nothing(etcd_url, example, cluster_name):
    from overseer.desired.store import documents
    from overseer.desired.store.client import EtcdConfig, connect

    client = connect(EtcdConfig(endpoints=(etcd_url,)))
    before = documents.revision(client)
    bad = example.parent / "bad.yaml"
    bad.write_text(example.read_text().replace("replicas: 1", "replicas: 3"))
    line = next(n for n, text in enumerate(bad.read_text().splitlines(), 1) if "replicas: 3" in text)
    result = run("apply", "-f", str(bad), etcd=etcd_url)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{bad}:{line}: spec.replicas: replicas (3) is larger than the number of candidates (2)"]
    assert documents.revision(client) == before
    client.close()


def test_apply_of_a_partial_file_merges_with_etcd(etcd_url, example, cluster_name, tmp_path):
    run("apply", "-f", str(example), etcd=etcd_url)
    extra = tmp_path / "web.yaml"
    extra.write_text("apiVersion: overseer/v1\nkind: Service\nmetadata: {name: nginx}\nspec:\n"
                     "  candidates: [web1, pbx9]\n  actuator: {type: systemd, unit: nginx}\n")
    bad = run("apply", "-f", str(extra), etcd=etcd_url, cluster=cluster_name)
    assert bad.exit_code == 1
    assert bad.stderr.strip() == f"{extra}:5: spec.candidates[1]: server 'pbx9' has no Server document"
    extra.write_text(extra.read_text().replace(", pbx9", ""))
    good = run("apply", "-f", str(extra), etcd=etcd_url, cluster=cluster_name)
    assert good.stdout.splitlines() == ["service.overseer/nginx created", "generation 2"]


def test_diff_exit_codes(etcd_url, example):
    run("apply", "-f", str(example), etcd=etcd_url)
    same = run("diff", "-f", str(example), etcd=etcd_url)
    assert same.exit_code == 0 and same.stdout == ""
    example.write_text(example.read_text().replace("leaseTTL: 5s", "leaseTTL: 4s"))
    changed = run("diff", "-f", str(example), etcd=etcd_url)
    assert changed.exit_code == 1
    assert "-  leaseTTL: 5s\n+  leaseTTL: 4s\n" in changed.stdout


def test_dry_run_says_so_and_writes_nothing(etcd_url, example, cluster_name):
    result = run("apply", "-f", str(example), "--dry-run", etcd=etcd_url)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == f"cluster.overseer/{cluster_name} created (dry run)"
    got = run("get", "all", etcd=etcd_url, cluster=cluster_name)   # not even the Cluster document
    assert got.exit_code == 1 and got.stderr.startswith(f"overseer: no cluster {cluster_name!r} in etcd")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_etcd_exits_3_quickly_with_one_line(example):
    start = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).parent / "overseer"), "--etcd",
                           f"http://127.0.0.1:{_closed_port()}", "apply", "-f", str(example)],
                          capture_output=True, text=True, timeout=30)
    elapsed = time.monotonic() - start
    assert proc.returncode == 3
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "etcd unreachable" in lines[0]
    assert proc.stdout == ""
    # a refused port fails at once, no retry loop (that would run into the 30 s
    # timeout above); how fast it is exactly is not this test's business
    assert elapsed < 20


def test_get_shows_a_server_s_fence_agent(etcd_url, cluster_name, tmp_path):
    path = tmp_path / "fenced.yaml"
    path.write_text((HERE / "good.yaml").read_text().replace("{name: lab}", "{name: %s}" % cluster_name)
                    .replace("{address: 10.0.0.1}", "{address: 10.0.0.1, fence: {command: "
                             "[fence_ipmilan, --ip=10.0.1.11, --action=off], timeout: 20s}}"))
    applied = run("apply", "-f", str(path), etcd=etcd_url)
    assert applied.exit_code == 0, applied.stderr
    table = run("get", "servers", etcd=etcd_url, cluster=cluster_name)
    assert "address=10.0.0.1 fence=fence_ipmilan" in table.stdout, table.stdout
    one = run("get", "server", "a", "-o", "json", etcd=etcd_url, cluster=cluster_name)
    assert json.loads(one.stdout)["spec"]["fence"] == {
        "command": ["fence_ipmilan", "--ip=10.0.1.11", "--action=off"], "timeout": "20s"}


def test_get_shows_relationships(etcd_url, cluster_name, tmp_path):
    path = tmp_path / "related.yaml"
    service = (HERE / "good.yaml").read_text().split("---\n")[-1]
    path.write_text((HERE / "good.yaml").read_text().replace("{name: lab}", "{name: %s}" % cluster_name)
                    + "---\n" + service.replace("{name: web}", "{name: dialer}")
                    .replace("  candidates: [a, b]\n", "  candidates: [a, b]\n  requires: [web]\n  colocateWith: web\n"))
    applied = run("apply", "-f", str(path), etcd=etcd_url)
    assert applied.exit_code == 0, applied.stderr
    table = run("get", "services", etcd=etcd_url, cluster=cluster_name)
    assert "service/dialer  mode=active-standby candidates=a,b requires=web colocateWith=web" in table.stdout, table.stdout
    assert "service/web     mode=active-standby candidates=a,b\n" in table.stdout, table.stdout
    one = run("get", "service", "dialer", "-o", "json", etcd=etcd_url, cluster=cluster_name)
    spec = json.loads(one.stdout)["spec"]
    assert spec["requires"] == ["web"] and spec["colocateWith"] == "web"
