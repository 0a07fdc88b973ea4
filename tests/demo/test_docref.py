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
