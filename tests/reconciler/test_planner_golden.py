"""Golden files of the master's pass (tests/planner_golden/): every recorded
input decides exactly what its expected file says, as Pacemaker's
cts-scheduler replays its scheduler inputs. A change of decision is a
reviewed diff: regenerate with `make golden` and read `git diff`."""
from __future__ import annotations

import json

import pytest

from tests.planner_golden import cases
from tests.planner_golden.codec import decode_input, dumps, encode_input

NAMES = cases.names()


def test_there_are_enough_cases_of_both_sources():
    assert len(NAMES) >= 50, NAMES
    assert sum(n.startswith("sim-") for n in NAMES) >= 20 and sum(n.startswith("hand-") for n in NAMES) >= 20
    assert sorted(p.stem for p in cases.EXPECTED.glob("*.json")) == NAMES, "an input without expected file, or the reverse"


@pytest.mark.parametrize("name", NAMES)
def test_the_pass_decides_what_the_golden_file_says(name):
    old, new = cases.stored(name), cases.decided_for(name)
    if old != new:
        pytest.fail(f"the master's pass for {name} decides otherwise now:\n{cases.diff(name, old, new)}\n"
                    f"If the change is meant: {cases.REGENERATE}", pytrace=False)


@pytest.mark.parametrize("name", NAMES)
def test_an_input_reads_back_to_what_it_says(name):
    """The codec loses nothing the file holds: decoding and encoding again gives the same text."""
    text = (cases.INPUTS / f"{name}.json").read_text()
    assert dumps(encode_input(*decode_input(json.loads(text)))) == text
