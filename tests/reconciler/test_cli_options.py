"""Global options: command line (either position) > environment > default;
a cluster that does not exist, a malformed cluster name and a malformed etcd
URL are each one line with the documented exit status (docs/interfaces.md)."""
from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from overseer.desired.store.client import EtcdConfig
from overseer.desired.store.store import Store
from overseer.reconciler.cli.common import global_options, settings
from overseer.reconciler.cli.main import _register, cli

GOOD = Path(__file__).parent.parent / "desired" / "good.yaml"
_register()

# option -> (its environment variable, a value given on the command line, another in the env)
OPTIONS = {
    "--etcd": ("OVERSEER_ETCD", "http://given.example:2379", "http://from-env.example:2379"),
    "--cluster": ("OVERSEER_CLUSTER", "given", "fromenv"),
    "--cacert": ("OVERSEER_ETCD_CACERT", "/given/ca.pem", "/env/ca.pem"),
    "--cert": ("OVERSEER_ETCD_CERT", "/given/cert.pem", "/env/cert.pem"),
    "--key": ("OVERSEER_ETCD_KEY", "/given/key.pem", "/env/key.pem"),
    "--user": ("OVERSEER_ETCD_USER", "given-user", "env-user"),
    "--password-file": ("OVERSEER_ETCD_PASSWORD_FILE", "/given/password", "/env/password"),
    "--max-answer": ("OVERSEER_ETCD_MAX_ANSWER", "64MiB", "256MiB"),
}


@click.group()
@global_options
def group() -> None:
    """Built like `overseer`: the group and its sub-command both take the globals."""


@group.command()
@global_options
def show() -> None:
    s = settings()
    click.echo(repr({"etcd": s.etcd, "cluster": s.cluster, "cacert": s.cacert,
                     "cert": s.cert, "key": s.key, "user": s.user, "password-file": s.password_file,
                     "max-answer": s.max_answer, "insecure-transport": s.insecure_transport}))


def _seen(argv: list[str], env: dict) -> dict:
    result = CliRunner().invoke(group, argv, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return eval(result.stdout)  # noqa: S307 - our own repr of a dict of strings


@pytest.mark.parametrize("position", ["before", "after"])
@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_an_option_beats_the_environment_in_either_position(option, position):
    env_name, given, from_env = OPTIONS[option]
    argv = [option, given, "show"] if position == "before" else ["show", option, given]
    seen = _seen(argv, {env_name: from_env})
    assert seen[option.lstrip("-")] == given


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_the_environment_beats_the_default(option):
    env_name, _, from_env = OPTIONS[option]
    assert _seen(["show"], {env_name: from_env})[option.lstrip("-")] == from_env
    assert _seen(["show"], {env_name: None})[option.lstrip("-")] is None


@pytest.mark.parametrize("argv, env, expected", [
    (["show"], {}, None),
    (["--insecure-transport", "show"], {}, True),
    (["show", "--insecure-transport"], {}, True),
    (["show"], {"OVERSEER_ETCD_INSECURE_TRANSPORT": "1"}, True),
    (["show"], {"OVERSEER_ETCD_INSECURE_TRANSPORT": "0"}, False),
    (["--insecure-transport", "show"], {"OVERSEER_ETCD_INSECURE_TRANSPORT": "0"}, True),
])
def test_insecure_transport_is_a_flag_with_a_variable(argv, env, expected):
    assert _seen(argv, env)["insecure-transport"] is expected


def test_after_the_sub_command_wins_over_before():
    seen = _seen(["--cluster", "first", "show", "--cluster", "second"], {"OVERSEER_CLUSTER": "env"})
    assert seen["cluster"] == "second"


# --- end to end on a real etcd --------------------------------------------------

def overseer(*argv: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(argv), env=env or {}, catch_exceptions=False)


def _apply(tmp_path: Path, etcd_url: str, name: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(GOOD.read_text().replace("{name: lab}", "{name: %s}" % name))
    result = overseer("--etcd", etcd_url, "apply", "-f", str(path))
    assert result.exit_code == 0, result.stderr


@pytest.fixture
def two_clusters(tmp_path, etcd_url, cluster_name):
    first, second = f"{cluster_name}-a", f"{cluster_name}-b"
    _apply(tmp_path, etcd_url, first)
    _apply(tmp_path, etcd_url, second)
    return first, second


def _paused(etcd_url: str, cluster: str) -> frozenset:
    store = Store(EtcdConfig(endpoints=(etcd_url,)), cluster)
    try:
        return store.snapshot().paused
    finally:
        store.close()


@pytest.mark.parametrize("position", ["before", "after"])
def test_cluster_option_pauses_that_cluster_not_the_environments(etcd_url, two_clusters, position):
    mine, other = two_clusters
    argv = ["--cluster", mine, "pause", "--force"] if position == "before" else ["pause", "--force", "--cluster", mine]
    result = overseer("--etcd", etcd_url, *argv, env={"OVERSEER_CLUSTER": other})
    assert result.exit_code == 0, result.stderr
    assert _paused(etcd_url, mine) == {"*"}
    assert _paused(etcd_url, other) == frozenset()


@pytest.mark.parametrize("position", ["before", "after"])
def test_etcd_option_beats_overseer_etcd(etcd_url, two_clusters, position):
    mine, _ = two_clusters
    argv = ["--etcd", etcd_url, "status"] if position == "before" else ["status", "--etcd", etcd_url]
    result = overseer("--cluster", mine, *argv, env={"OVERSEER_ETCD": "http://127.0.0.1:9"})
    assert result.exit_code == 0, result.stderr
    assert f"cluster {mine}" in result.stdout


@pytest.mark.parametrize("command", [["status"], ["pause"], ["resume"], ["plan"], ["get", "all"],
                                     ["switchover", "web"], ["cleanup", "web"]])
def test_an_unknown_cluster_is_one_line_naming_those_that_exist(etcd_url, two_clusters, command):
    mine, other = two_clusters
    result = overseer("--etcd", etcd_url, "--cluster", "nope", *command)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "no cluster 'nope'" in lines[0]
    assert mine in lines[0] and other in lines[0]
    assert result.stdout == ""


def test_pause_of_an_unknown_cluster_writes_nothing(etcd_url, two_clusters):
    assert overseer("--etcd", etcd_url, "--cluster", "nope", "pause").exit_code == 1
    assert _paused(etcd_url, "nope") == frozenset()
    store = Store(EtcdConfig(endpoints=(etcd_url,)), two_clusters[0])
    try:
        assert list(store.client.get_prefix("/overseer/nope/", keys_only=True)) == []
    finally:
        store.close()


@pytest.mark.parametrize("name", ["../x", "a/desired", "-dash", "", "x" * 64, "sp ace"])
@pytest.mark.parametrize("how", ["option", "env"])
def test_a_malformed_cluster_name_is_refused_like_a_document_name(name, how):
    argv, env = (["--cluster", name, "status"], {}) if how == "option" else \
        (["status"], {"OVERSEER_CLUSTER": name})
    result = overseer("--etcd", "http://127.0.0.1:9", *argv, env=env)
    if how == "env" and name == "":
        return  # click treats an empty variable as unset
    assert result.exit_code == 2   # a usage error, like a malformed --etcd
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "not a valid cluster name" in lines[0]
    assert repr(name) in lines[0]
    assert ("--cluster" if how == "option" else "OVERSEER_CLUSTER") in lines[0]


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999", "127.0.0.1:notaport",
                                 "http://127.0.0.1:0", "ftp://127.0.0.1:2379", "http://:2379",
                                 "http://127.0.0.1:2379,http://[::1"])
@pytest.mark.parametrize("command", [["status"], ["apply", "-f", str(GOOD)], ["agent", "--server", "a"]])
def test_a_malformed_etcd_url_is_one_line_naming_option_and_value(url, command):
    result = overseer("--etcd", url, *command)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"overseer: --etcd {url!r}: "), lines
    from_env = overseer(*command, env={"OVERSEER_ETCD": url})
    assert from_env.exit_code == 2
    assert from_env.stderr.startswith(f"overseer: OVERSEER_ETCD={url!r}: ")
