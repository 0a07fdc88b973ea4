"""The stored golden cases: read an input, decide, compare with the expected file."""
from __future__ import annotations

import difflib
import json
from pathlib import Path

from overseer.reconciler.planner.master_pass import master_pass, writes

from .codec import decode_input, dumps, encode_outcome

HERE = Path(__file__).resolve().parent
INPUTS = HERE / "inputs"
EXPECTED = HERE / "expected"
REGENERATE = "make golden   (python -m tests.planner_golden --regenerate), then review: git diff tests/planner_golden/expected"


def names() -> list[str]:
    return sorted(p.stem for p in INPUTS.glob("*.json"))


def decided(data: dict) -> str:
    """The expected file's text for this input, as the code decides now."""
    snapshot, memory, now, vouched = decode_input(data)
    outcome = master_pass(snapshot, memory, now, vouched)
    return dumps(encode_outcome(outcome, writes(snapshot, list(outcome.actions), memory.epoch, now)))


def decided_for(name: str) -> str:
    return decided(json.loads((INPUTS / f"{name}.json").read_text()))


def stored(name: str) -> str:
    path = EXPECTED / f"{name}.json"
    return path.read_text() if path.exists() else ""


def diff(name: str, old: str, new: str) -> str:
    rel = f"tests/planner_golden/expected/{name}.json"
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"a/{rel}", tofile=f"b/{rel}"))
