"""The YAML loader: lines of keys and values, union tags, odd input, folders."""
from __future__ import annotations

from pathlib import Path

from overseer.desired.loader import DocumentError, load_paths, load_text
from overseer.desired.models import ServiceDoc

HERE = Path(__file__).parent


def errors(text: str) -> list[tuple[int, str]]:
    return [(e.line, e.path) for e in load_text(text, "f.yaml").errors]


SERVICE = """\
apiVersion: overseer/v1
kind: Service
metadata:
  name: web
spec:
  candidates: [a]
  actuator:
    type: process
    command: [sleep, "100"]
  checks:
    - name: up
      type: tcp
      port: 80
    - name: mem
      type: memory
      match: {name: nginx}
      warn: 1GiB
"""


def test_a_valid_document_gets_its_model():
    loaded = load_text(SERVICE, "f.yaml")
    assert loaded.errors == ()
    (source,) = loaded.sources
    assert isinstance(source.model, ServiceDoc)
    assert source.kind == "Service" and source.name == "web"
    assert source.data["spec"]["checks"][1]["warn"] == "1GiB"   # as written, for etcd


def test_line_of_a_nested_value_not_of_the_document_start():
    text = SERVICE.replace("      port: 80", "      port: eighty")
    assert errors(text) == [(13, "spec.checks[0].port")]


def test_discriminator_tag_is_skipped_in_the_path():
    # pydantic's loc is ('spec', 'checks', 1, 'memory', 'warn'); the tag is not a YAML key
    text = SERVICE.replace("      warn: 1GiB", "      warn: lots")
    assert errors(text) == [(17, "spec.checks[1].warn")]
    text = SERVICE.replace('    command: [sleep, "100"]', '    command: []')
    assert errors(text) == [(9, "spec.actuator.command")]


def test_a_check_of_type_command_whose_field_is_also_named_command():
    text = SERVICE.replace("      type: tcp\n      port: 80\n", "      type: command\n      command: 7\n")
    assert errors(text) == [(13, "spec.checks[0].command")]


def test_missing_field_points_at_its_parent():
    text = SERVICE.replace("      port: 80\n", "")
    assert errors(text) == [(11, "spec.checks[0].port")]


def test_message_format_and_hint_for_a_typo():
    text = SERVICE.replace("      port: 80\n", "      port: 80\n      recoverAftr: 2\n")
    (error,) = load_text(text, "f.yaml").errors
    assert str(error) == ("f.yaml:14: spec.checks[0].recoverAftr: unknown field 'recoverAftr';"
                          " did you mean recoverAfter?")


def test_duplicate_key_is_an_error_with_its_line():
    text = SERVICE.replace("  name: web\n", "  name: web\n  name: web2\n")
    (error,) = load_text(text, "f.yaml").errors
    assert error.line == 5 and "duplicate key" in error.message


def test_documents_that_are_not_mappings_or_empty():
    assert errors("--- 5\n") == [(1, "")]
    assert load_text("---\n---\n", "f.yaml").errors == ()   # empty documents are skipped
    assert errors("- a\n- b\n") == [(1, "")]


def test_kind_and_api_version_on_their_own_lines():
    text = SERVICE.replace("kind: Service", "kind: Job").replace("overseer/v1", "v1")
    assert errors(text) == [(1, "apiVersion"), (2, "kind")]
    assert errors("metadata: {name: x}\n") == [(1, "apiVersion"), (1, "kind")]


def test_odd_yaml_never_raises():
    for text in ["a: !!binary 'zz'\n", "a: &x [*x]\n", "? [a, b]\n: 1\n", "\x00", "a: 2024-01-01\n",
                 "kind: Server\nmetadata: {name: 2024-01-01}\nspec: {address: [1]}\n",
                 "apiVersion: overseer/v1\nkind: Server\nmetadata: {name: a}\nspec:\n  <<: {address: x}\n",
                 "%YAML 9.9\n---\na: 1\n", "a: *nope\n", "[" * 50 + "\n"]:
        loaded = load_text(text, "f.yaml")
        assert all(isinstance(e, DocumentError) and e.line >= 1 for e in loaded.errors), text
        assert loaded.errors or loaded.sources


def test_folders_are_read_recursively_in_sorted_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.yml").write_text("apiVersion: overseer/v1\nkind: Server\nmetadata: {name: two}\nspec: {address: x}\n")
    (tmp_path / "1.yaml").write_text("apiVersion: overseer/v1\nkind: Server\nmetadata: {name: one}\nspec: {address: x}\n")
    (tmp_path / "notes.md").write_text("# not yaml: [")
    loaded = load_paths([tmp_path])
    assert loaded.errors == ()
    assert [s.name for s in loaded.sources] == ["one", "two"]


def test_missing_path_and_empty_folder(tmp_path):
    loaded = load_paths([tmp_path / "nope.yaml", tmp_path])
    assert [(Path(e.file).name, e.message) for e in loaded.errors] == [
        (tmp_path.name, "folder holds no .yaml or .yml file"), ("nope.yaml", "no such file or folder")]


def test_nan_and_infinity_are_not_numbers_here():
    text = ("apiVersion: overseer/v1\nkind: Cluster\nmetadata: {name: x}\nspec:\n  hierarchy: [a]\n"
            "  serverHealth:\n    load1PerCPU: {warn: .nan, fail: 4}\n")
    assert errors(text) == [(7, "spec.serverHealth.load1PerCPU.warn")]


def test_a_nul_character_is_one_line_at_its_own_line_and_column():
    text = SERVICE.replace("name: web", "name: w\x00b")
    [error] = load_text(text, "f.yaml").errors
    assert str(error) == ("f.yaml:4: YAML: character #x0000 at column 10 is not allowed"
                          " (special characters are not allowed); remove it")


def test_control_characters_in_keys_and_values_never_split_an_error():
    text = SERVICE.replace("  candidates: [a]\n", '  candidates: [a]\n  replicas: "2\\r\\nx"\n  "x\\ry": 1\n')
    shown = [str(e) for e in load_text(text, "f.yaml").errors]
    assert all(len(line.splitlines()) == 1 for line in shown), shown
    assert any("spec.x\\ry: unknown field" in line for line in shown), shown
    assert any("'2\\r\\nx'" in line for line in shown), shown
