"""docs/reference.md is the generator's output for the current models, so it cannot drift."""
from pathlib import Path

from overseer.desired import checks, models
from overseer.reconciler.demo import docref

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def test_committed_reference_matches_the_models():
    assert REFERENCE.read_text() == docref.generate(), (
        "docs/reference.md is out of date: run "
        "`.venv/bin/python -m overseer.reconciler.demo.docref > docs/reference.md`")


def test_every_check_type_and_field_is_documented():
    text = docref.generate()
    for check in checks.CHECK_TYPES:
        assert f"| `type` | `{check}` |" in text, check
    for name in models.ClusterSpec.model_fields:
        assert f"| `{name}` |" in text, name
    assert "| `leaseTTL` | duration | `5s` |" in text
    assert "| `historyLimit` | positive integer ≤ 300 | `200` | history entries kept per service, at most 300" in text


def test_the_agents_options_are_documented():
    text = docref.generate()
    assert "| `--peer-key-file PATH` | `OVERSEER_PEER_KEY_FILE` | none |" in text
    assert "| `--metrics [HOST:]PORT` | `OVERSEER_AGENT_METRICS` | none |" in text
    assert "| `--ui-allow-host NAME` | `OVERSEER_UI_ALLOW_HOST` | none |" in text
    assert "`--etcd" not in text   # the shared etcd options live in etcd-production.md


def test_every_field_has_a_note():
    rows = [line for line in docref.generate().splitlines() if line.startswith("| `")]
    empty = [row for row in rows if row.rstrip().endswith("|  |") or row.rstrip().endswith("| |")]
    assert not empty, "fields without a note (add a comment beside the field, or an entry in " \
                      "reconciler/demo/docnotes.py):\n" + "\n".join(empty)


def test_every_entry_of_the_notes_table_is_shown():
    """An entry for a field that is gone, or that a source comment now covers, is dead text."""
    from overseer.desired import hooks, run_as
    from overseer.reconciler.demo import docnotes
    classes = {c.__name__: c for module in (models, checks, hooks, run_as) for c in vars(module).values()
               if isinstance(c, type) and hasattr(c, "model_fields")}
    text = docref.generate()
    for key, note in docnotes.NOTES.items():
        owner, field = key.split(".")
        assert owner in classes, f"docnotes: no model {owner}"
        assert any(field in c.model_fields for c in classes.values() if issubclass(c, classes[owner])), \
            f"docnotes: no field {key}"
        assert f"| {note} |" in text, f"docnotes: {key} is never shown (a source comment wins?)"
    for field, note in docnotes.BY_FIELD.items():
        assert f"| {note} |" in text, f"docnotes: {field} is never shown"
