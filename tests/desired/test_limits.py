"""Hostile and oversized input is refused while reading, cheaply, as file:line
errors: alias bombs, files and documents etcd could not take, NUL
characters, broken symlinks, unreadable files."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from overseer.desired import limits, models
from overseer.desired.loader import load_paths, load_text
from overseer.desired.validate import validate_paths
from overseer.reconciler.cli.main import _register, cli

HERE = Path(__file__).parent
GOOD = (HERE / "good.yaml").read_text()
OVERSEER = os.path.join(os.path.dirname(sys.executable), "overseer")
_register()


def billion_laughs(levels: int = 9) -> str:
    """The classic: ten aliases of ten aliases ... of a string, 10**levels copies."""
    lines = ['  l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]")
    return ("apiVersion: overseer/v1\nkind: Server\nmetadata: {name: c}\n"
            "spec:\n  address: 10.0.0.3\n  labels:\n" + "\n".join("  " + line for line in lines) + "\n")


def test_a_billion_laughs_is_refused_at_its_line_with_bounded_memory():
    text = GOOD + "---\n" + billion_laughs()
    start_line = GOOD.count("\n") + 2
    tracemalloc.start()
    try:
        loaded = load_text(text, "bomb.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    bombs = [e for e in loaded.errors if "alias" in e.message]
    assert [(e.file, e.line) for e in bombs] == [("bomb.yaml", start_line)]
    assert bombs[0].message.startswith("YAML aliases expand this document to 12,345,679,035 values")
    assert peak < 20 * 1024 * 1024, f"peak {peak} bytes: the bomb was expanded"
    # the other documents of the file are still read
    assert {s.name for s in loaded.sources} == {"lab", "a", "b", "web"}


@pytest.mark.parametrize("command", ["validate", "apply"])
def test_validate_and_apply_refuse_a_bomb_with_exit_1(tmp_path, command):
    path = tmp_path / "bomb.yaml"
    path.write_text(GOOD + "---\n" + billion_laughs())
    argv = ["validate", str(path)] if command == "validate" else \
        ["--etcd", "http://127.0.0.1:9", "apply", "-f", str(path)]   # never reaches etcd
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}:{GOOD.count(chr(10)) + 2}: YAML aliases expand")


def test_aliases_within_the_budget_are_fine():
    reused = GOOD.replace("  candidates: [a, b]\n", "  candidates: &both [a, b]\n", 1)
    assert load_text(reused, "f.yaml").errors == ()
    over = limits.MAX_ALIAS_VALUES + 10
    text = "base: &b [" + ", ".join(["x"] * 10) + "]\nmany: [" + ", ".join(["*b"] * (over // 10)) + "]\n"
    assert "alias bomb" in str(load_text(text, "f.yaml").errors[0])


def test_a_20_mb_document_is_refused_before_parsing(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text(GOOD + "---\napiVersion: overseer/v1\nkind: Server\nmetadata: {name: c}\n"
                    "spec:\n  address: 10.0.0.3\n  labels: {blob: '" + "x" * 20_000_000 + "'}\n")
    [error] = load_paths([path]).errors
    assert str(error) == f"{path}: file is 19.1 MiB; at most 4.0 MiB per file (split the documents over several files)"


def test_a_document_etcd_could_not_store_is_refused_at_its_line(tmp_path):
    path = tmp_path / "big.yaml"
    start = GOOD.count("\n") + 2
    path.write_text(GOOD + "---\napiVersion: overseer/v1\nkind: Server\nmetadata: {name: c}\n"
                    "spec:\n  address: 10.0.0.3\n  labels: {blob: '" + "x" * limits.MAX_DOCUMENT_BYTES + "'}\n")
    errors = [str(e) for e in validate_paths([path]).errors]
    assert f"{path}:{start}: document is 879 KiB as stored; at most 879 KiB" \
           " (etcd takes at most 1.5 MiB per request)" in errors


def test_the_document_limit_fits_one_of_applys_transactions():
    from overseer.desired.store.chunks import MAX_BYTES, op_size

    class Put:  # what chunks.op_size measures: the key and the value
        key = "/overseer/" + "c" * 63 + "/desired/Service/" + "s" * 63
        value = "x" * limits.MAX_DOCUMENT_BYTES
    assert op_size(Put()) < MAX_BYTES <= limits.ETCD_MAX_REQUEST_BYTES


def test_a_history_limit_above_the_bound_is_refused_at_its_line(tmp_path):
    # status and the board read every kept entry of every service (docs/etcd-production.md)
    assert models.MAX_HISTORY_LIMIT == 300
    at_bound = GOOD.replace("  hierarchy: [a, b]\n", "  hierarchy: [a, b]\n  historyLimit: 300\n", 1)
    path = tmp_path / "cluster.yaml"
    path.write_text(at_bound)
    assert not validate_paths([path]).errors
    path.write_text(at_bound.replace("historyLimit: 300", "historyLimit: 100000"))
    errors = [str(e) for e in validate_paths([path]).errors]
    assert errors == [f"{path}:6: spec.historyLimit: Input should be less than or equal to 300 (got 100000)"]


def test_apply_of_an_oversized_document_exits_1_not_3(tmp_path, etcd_url, cluster_name):
    path = tmp_path / "big.yaml"
    path.write_text(GOOD.replace("{name: lab}", "{name: %s}" % cluster_name).replace(
        "{address: 10.0.0.1}", "{address: 10.0.0.1, labels: {blob: '%s'}}" % ("x" * 1_200_000)))
    result = CliRunner().invoke(cli, ["--etcd", etcd_url, "apply", "-f", str(path)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "document is 1.1 MiB as stored" in result.stderr


# --- files that cannot be read ----------------------------------------------------

def test_dangling_and_looping_symlinks_are_named(tmp_path):
    (tmp_path / "docs.yaml").write_text(GOOD)
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    loaded = load_paths([tmp_path])
    assert [str(e) for e in loaded.errors] == [
        f"{tmp_path}/gone.yaml: cannot read: dangling symlink to {tmp_path}/nowhere.yaml",
        f"{tmp_path}/loop.yaml: cannot read: symlink loop"]
    assert not loaded.complete
    assert [str(e) for e in load_paths([tmp_path / "loop.yaml"]).errors] == [
        f"{tmp_path}/loop.yaml: cannot read: symlink loop"]


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(GOOD.replace("{name: lab}", "{name: l\xe4b}").encode("latin-1"))
    assert [str(e) for e in load_paths([path]).errors] == [
        f"{path}:3: cannot read: not UTF-8 text (byte 0xe4)"]


def _as_nobody(fn) -> str:
    """fn() in a forked child without root's right to read everything (the
    interpreter lives under /root, so the child cannot exec a new one)."""
    if os.geteuid() != 0:
        return fn()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, run, report, and leave without cleanup
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(write, fn().encode())
        except BaseException as exc:  # say what went wrong instead of an empty answer
            os.write(write, f"child failed: {exc!r}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        out = pipe.read()
    os.waitpid(pid, 0)
    return out


@pytest.fixture
def open_dir():
    """A folder nobody may enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="overseer-unreadable-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_an_unreadable_file_says_cannot_read_and_why(open_dir):
    folder = open_dir / "docs"
    folder.mkdir()
    folder.chmod(0o755)
    path = folder / "secret.yaml"
    path.write_text(GOOD)
    path.chmod(0)
    for where in (path, folder):
        shown = _as_nobody(lambda: "\n".join(str(e) for e in validate_paths([where]).errors))
        assert shown == f"{path}: cannot read: Permission denied"
