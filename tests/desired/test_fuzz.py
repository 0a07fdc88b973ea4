"""Mutated documents never crash `validate`: exit 0, or exit 1 with file:line lines.

Hypothesis drops, renames and retypes fields of the spec's example, puts
random scalars anywhere, and damages the raw text; `validate` runs in-process
through click so an exception would fail the test instead of becoming exit 1.
"""
from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st
from ruamel.yaml import YAML

from overseer.reconciler.cli.main import _register, cli

_register()
EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "qsuite.yaml"
SAFE = YAML(typ="safe", pure=True)
DOCS = list(SAFE.load_all(EXAMPLE.read_text()))
LINE = re.compile(r"^[^:]+:\d+: ")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**12), st.floats(allow_nan=True),
    st.text(max_size=12), st.sampled_from(["0s", "-1s", "1.5GiB", "85%", "101%", "yes", "", "pbx9",
                                           "process", "exec", "10ms", "3", "[", "a/b"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=6), scalars, max_size=2))


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


def _parent(doc, path):
    node = doc
    for part in path[:-1]:
        node = node[part]
    return node


@st.composite
def mutated(draw):
    docs = [__import__("copy").deepcopy(d) for d in DOCS]
    for _ in range(draw(st.integers(1, 4))):
        doc = docs[draw(st.integers(0, len(docs) - 1))]
        path = draw(st.sampled_from([p for p in _paths(doc) if p]))
        parent, key = _parent(doc, path), path[-1]
        action = draw(st.sampled_from(["drop", "rename", "retype", "scalar"]))
        if action == "drop":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            parent[key + draw(st.sampled_from(["x", "_", "s"]))] = parent.pop(key)
        elif action == "retype":
            old = parent[key]
            parent[key] = [old] if not isinstance(old, list) else {"k": old}
        else:
            parent[key] = draw(values)
    if draw(st.booleans()):
        docs.append(draw(values))
    buf = io.StringIO()
    SAFE.dump_all(docs, buf)
    return buf.getvalue()


@st.composite
def damaged_text(draw):
    lines = EXAMPLE.read_text().splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["delete", "indent", "dedent", "insert"]))
        if how == "delete":
            del lines[i]
        elif how == "indent":
            lines[i] = " " + lines[i]
        elif how == "dedent":
            lines[i] = lines[i][1:]
        else:
            j = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + draw(st.sampled_from(list(":{}[]-,&*!|>'\"%@`#\t"))) + lines[i][j:]
        if not lines:
            break
    return "".join(lines)


def check_validate(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "docs.yaml"
        path.write_text(text)
        result = CliRunner().invoke(cli, ["validate", str(path)], catch_exceptions=False)
    assert result.exit_code in (0, 1), (result.exit_code, result.output)
    if result.exit_code == 1:
        lines = result.stderr.splitlines()
        assert lines, text
        for line in lines:
            assert LINE.match(line), line
            assert "Traceback" not in line


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_documents_never_crash_validate(text):
    check_validate(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_text())
def test_damaged_text_never_crashes_validate(text):
    check_validate(text)


def test_the_unmutated_example_is_valid():
    check_validate(EXAMPLE.read_text())
    result = CliRunner().invoke(cli, ["validate", str(EXAMPLE)])
    assert result.exit_code == 0
