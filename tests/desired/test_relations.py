"""`requires` and `colocateWith`: references, cycles and colocations that could never run are refused.

Every error carries `file:line` and, for rules over several documents, names
each document involved with its own `file:line`.
"""
from __future__ import annotations

from pathlib import Path

from overseer.desired.validate import build_state, validate_paths

HEAD = """apiVersion: overseer/v1
kind: Cluster
metadata: {name: lab}
spec: {hierarchy: [a, b, c]}
---
apiVersion: overseer/v1
kind: Server
metadata: {name: a}
spec: {address: 10.0.0.1}
---
apiVersion: overseer/v1
kind: Server
metadata: {name: b}
spec: {address: 10.0.0.2}
---
apiVersion: overseer/v1
kind: Server
metadata: {name: c}
spec: {address: 10.0.0.3}
"""


def service(name: str, candidates: str = "[a, b]", extra: str = "") -> str:
    return (f"---\napiVersion: overseer/v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n"
            f"  candidates: {candidates}\n  actuator: {{type: exec, start: 'true', stop: 'true'}}\n{extra}")


def errors(tmp_path: Path, *docs: str, files: int = 1) -> list[str]:
    if files == 1:
        (tmp_path / "x.yaml").write_text(HEAD + "".join(docs))
    else:
        (tmp_path / "head.yaml").write_text(HEAD)
        for i, doc in enumerate(docs):
            (tmp_path / f"s{i}.yaml").write_text(doc.removeprefix("---\n"))
    return [str(e) for e in validate_paths([tmp_path]).errors]


def test_relationships_are_read_into_the_model(tmp_path):
    (tmp_path / "x.yaml").write_text(HEAD + service("db") + service("pbx")
                                     + service("web", extra="  requires: [db]\n")
                                     + service("dialer", extra="  colocateWith: pbx\n  requires: [db]\n"))
    loaded = validate_paths([tmp_path])
    assert loaded.errors == ()
    state = build_state(loaded.sources)
    assert state.services["web"].spec.requires == ["db"]
    assert state.services["dialer"].spec.colocateWith == "pbx"
    assert state.services["db"].spec.requires == [] and state.services["db"].spec.colocateWith is None


def test_unknown_field_next_to_them_is_refused(tmp_path):
    got = errors(tmp_path, service("web", extra="  requiers: [db]\n"))
    assert any("spec.requiers" in e for e in got), got


def test_a_service_that_requires_itself_is_refused_at_its_line(tmp_path):
    got = errors(tmp_path, service("web", extra="  requires: [web]\n"))
    assert got == [f"{tmp_path}/x.yaml:27: spec.requires[0]: requires names this service itself"]


def test_colocated_with_itself_is_refused(tmp_path):
    got = errors(tmp_path, service("web", extra="  colocateWith: web\n"))
    assert got == [f"{tmp_path}/x.yaml:27: spec.colocateWith: colocateWith names this service itself"]


def test_unknown_and_duplicate_references_are_refused(tmp_path):
    got = errors(tmp_path, service("db"), service("web", extra="  requires: [db, db, nosuch]\n  colocateWith: gone\n"))
    assert got == [
        f"{tmp_path}/x.yaml:34: spec.requires[1]: service 'db' is listed twice",
        f"{tmp_path}/x.yaml:34: spec.requires[2]: service 'nosuch' has no Service document",
        f"{tmp_path}/x.yaml:35: spec.colocateWith: service 'gone' has no Service document",
    ]


def test_a_cycle_across_files_names_every_document_in_it(tmp_path):
    got = errors(tmp_path, service("db", extra="  requires: [web]\n"),
                 service("web", extra="  requires: [app]\n"),
                 service("app", extra="  colocateWith: db\n"),
                 service("lone", extra="  requires: [db]\n"), files=4)
    assert len(got) == 3, got
    for name in ("app", "db", "web"):
        assert any(e.startswith(f"{tmp_path}/s") and f"{name} (" in e for e in got)
    for e in got:
        assert "a cycle of relationships" in e
        for i, name in ((0, "db"), (1, "web"), (2, "app")):
            assert f"{name} ({tmp_path}/s{i}.yaml:1)" in e, e
        assert "lone" not in e   # it waits on the cycle but is not part of it
    assert sorted(e.split(":")[0].rsplit("/", 1)[1] for e in got) == ["s0.yaml", "s1.yaml", "s2.yaml"]


def test_two_services_colocated_with_each_other_are_a_cycle(tmp_path):
    got = errors(tmp_path, service("a1", extra="  colocateWith: a2\n"), service("a2", extra="  colocateWith: a1\n"))
    assert len(got) == 2 and all("cycle" in e and "a1 (" in e and "a2 (" in e for e in got), got


def test_a_colocation_sharing_no_candidate_names_both_documents(tmp_path):
    got = errors(tmp_path, service("pbx", "[a, b]"), service("dialer", "[c]", "  colocateWith: pbx\n"))
    assert got == [f"{tmp_path}/x.yaml:34: spec.colocateWith: dialer is colocated with pbx but they share"
                   f" no candidate server: dialer ({tmp_path}/x.yaml:28), pbx ({tmp_path}/x.yaml:21)"]


def test_a_chain_of_colocations_must_share_a_candidate_all_along(tmp_path):
    got = errors(tmp_path, service("pbx", "[a, b]"), service("dialer", "[b, c]", "  colocateWith: pbx\n"),
                 service("recorder", "[a, c]", "  colocateWith: dialer\n"))
    assert len(got) == 1 and "recorder is colocated with dialer but they share no candidate" in got[0], got
    assert all(f"{n} (" in got[0] for n in ("recorder", "dialer", "pbx"))


def test_more_replicas_than_the_anchor_has_actives_is_refused(tmp_path):
    got = errors(tmp_path, service("pbx", "[a, b, c]"),
                 service("dialer", "[a, b, c]", "  replicas: 2\n  colocateWith: pbx\n"))
    assert len(got) == 1 and "spec.replicas" in got[0] and "1 server(s) at most" in got[0], got
