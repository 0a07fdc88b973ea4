"""Every error class of docs/interfaces.md ("What `validate` and `apply` reject"),
one bad file each, with exact line and path.

Each file in `bad/` marks the offending line with `# ERROR <path>`; the test
reads the expected line number and field path from that marker, and the file
must produce exactly that error (and, being otherwise valid, no other).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from overseer.desired.validate import build_state, validate_paths

HERE = Path(__file__).parent
BAD = sorted((HERE / "bad").glob("*.yaml"))
MARK = re.compile(r"#\s*ERROR\s+(\S*)")


def expected(path: Path) -> tuple[int, str]:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        m = MARK.search(line)
        if m:
            target = m.group(1)
            return number, "" if target.startswith("(") else target
    raise AssertionError(f"{path} has no # ERROR marker")


def test_the_set_covers_every_class_of_the_spec():
    names = {p.stem for p in BAD}
    for required in ("syntax_error", "unknown_field", "missing_field", "wrong_type", "wrong_unit",
                     "warn_not_below_fail", "nonpositive_interval", "nonpositive_timeout",
                     "nonpositive_leasettl", "nonpositive_failafter", "nonpositive_recoverafter",
                     "duplicate_name", "hierarchy_unknown_server", "candidates_unknown_server",
                     "server_not_in_hierarchy", "replicas_too_many", "empty_candidates",
                     "missing_cluster", "second_cluster", "duplicate_check_name",
                     "process_check_without_match", "duplicate_key"):
        assert required in names


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_document_gives_its_line_and_path(path):
    line, field = expected(path)
    loaded = validate_paths([path])
    assert [(e.line, e.path) for e in loaded.errors] == [(line, field)], [str(e) for e in loaded.errors]
    error = loaded.errors[0]
    assert error.file == str(path)
    text = str(error)
    assert text.startswith(f"{path}:{line}: ")
    if field:
        assert text.startswith(f"{path}:{line}: {field}: ")


def test_good_document_is_valid_and_builds_state():
    loaded = validate_paths([HERE / "good.yaml"])
    assert loaded.errors == ()
    state = build_state(loaded.sources, generation=4)
    assert state.name == "lab"
    assert sorted(state.servers) == ["a", "b"]
    assert state.services["web"].spec.checks[0].port == 80
    assert state.generation == 4 and state.rank("b") == 1


def test_spec_example_is_valid():
    loaded = validate_paths([HERE.parent.parent / "examples" / "qsuite.yaml"])
    assert loaded.errors == ()
    assert [(s.kind, s.name) for s in loaded.sources] == [
        ("Cluster", "qsuite"), ("Server", "pbx1"), ("Server", "pbx2"), ("Server", "web1"),
        ("Server", "db1"), ("Server", "db2"), ("Service", "db"), ("Service", "web"), ("Service", "asterisk"),
        ("Service", "dialer")]


def test_several_errors_in_several_files_are_all_reported(tmp_path):
    good = (HERE / "good.yaml").read_text()
    (tmp_path / "a.yaml").write_text(good.replace("      port: 80\n", "      port: 80\n      failAfer: 3\n")
                                     .replace("  candidates: [a, b]\n", "  candidates: [a, b]\n  replicas: 3\n"))
    sub = tmp_path / "more"
    sub.mkdir()
    (sub / "b.yml").write_text("apiVersion: overseer/v1\nkind: Server\nmetadata: {name: c}\nspec: {adress: x}\n")
    (sub / "ignored.txt").write_text("not: [yaml")
    loaded = validate_paths([tmp_path])
    got = [(Path(e.file).name, e.line, e.path) for e in loaded.errors]
    assert ("a.yaml", 28, "spec.checks[0].failAfer") in got
    assert ("b.yml", 4, "spec.adress") in got
    assert ("b.yml", 4, "spec.address") in got
    assert ("a.yaml", 5, "spec.hierarchy") in got   # c is not in the hierarchy
    assert len(got) == 4  # replicas 3 is not checked: that Service failed its own model


def test_cross_rules_run_alongside_model_errors(tmp_path):
    good = (HERE / "good.yaml").read_text()
    (tmp_path / "x.yaml").write_text(good.replace("  candidates: [a, b]\n", "  candidates: [a, b]\n  replicas: 3\n")
                                     + "---\napiVersion: overseer/v1\nkind: Server\nmetadata: {name: a}\nspec: {address: 1}\n")
    loaded = validate_paths([tmp_path / "x.yaml"])
    assert [(e.line, e.path) for e in loaded.errors] == [(22, "spec.replicas"), (31, "metadata.name"),
                                                        (32, "spec.address")]


def test_process_check_without_match_is_fine_with_the_process_actuator(tmp_path):
    good = (HERE / "good.yaml").read_text()
    path = tmp_path / "p.yaml"
    path.write_text(good.replace('  actuator: {type: exec, start: "true", stop: "true"}',
                                 "  actuator: {type: process, command: [sleep, '1000']}")
                    + "    - {name: alive, type: process}\n")
    assert validate_paths([path]).errors == ()


@pytest.mark.parametrize("dsn", [
    "host=db user=overseer password=hunter2", "password = 'hunter 2' host=db",
    "host=db PASSWORD=hunter2", "postgresql://overseer:hunter2@db/postgres",
    "postgres://db/postgres?user=overseer&password=hunter2"])
def test_a_dsn_with_a_password_is_refused_without_repeating_it(tmp_path, dsn):
    text = (HERE / "bad" / "dsn_with_password.yaml").read_text().replace(
        '"host=127.0.0.1 user=overseer password=hunter2 dbname=postgres"', repr(dsn).replace("\\'", "''"))
    path = tmp_path / "d.yaml"
    path.write_text(text)
    [error] = validate_paths([path]).errors
    assert str(error).startswith(f"{path}:26: spec.checks[0].dsn: a dsn must not hold a password")
    assert "hunter" not in str(error) and "passwordFile" in str(error)


@pytest.mark.parametrize("dsn", ["host=db user=overseer passfile=/etc/pgpass dbname=postgres",
                                 "postgresql://overseer@db/postgres?sslmode=require"])
def test_a_dsn_without_a_password_is_fine(tmp_path, dsn):
    text = (HERE / "bad" / "dsn_with_password.yaml").read_text().replace(
        '"host=127.0.0.1 user=overseer password=hunter2 dbname=postgres"', f'"{dsn}"')
    path = tmp_path / "d.yaml"
    path.write_text(text)
    assert validate_paths([path]).errors == ()
