"""The mutation gauntlet's short version, and what keeps the gauntlet honest.

`make mutants` runs every mutant. Here: the `short` ones (caught within a few
seeds), every mutant still applying to the code as it is now, an edit that no
longer matches failing loudly, and a child that did not import its scratch
copy saying so instead of running seeds on the working tree.
"""
from pathlib import Path

import pytest

from overseer.reconciler.sim.checker import INVARIANTS
from tests.mutants.catalogue import ESTIMATED, MUTANTS, Edit, Mutant, by_name
from tests.mutants.gauntlet import control, run_child, run_mutant, table
from tests.mutants.scratch import MutantDoesNotApply, build, mutated_texts

SHORT = [m for m in MUTANTS if m.short]


@pytest.mark.parametrize("mutant", SHORT, ids=lambda m: m.name)
def test_the_simulator_catches_a_planted_bug(mutant):
    outcome = run_mutant(mutant)
    control([outcome])
    assert outcome.passed, table([outcome])
    assert outcome.reached, "caught, yet the mutated lines never ran: the catch is not this mutant's"


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_every_mutant_applies_to_the_code_as_it_is(mutant):
    for path, (original, mutated) in mutated_texts(mutant).items():
        assert mutated != original, path


def test_every_budget_is_stated_once_and_short_ones_are_measured():
    names = [m.name for m in MUTANTS]
    assert len(names) == len(set(names))
    assert set(ESTIMATED) <= set(names), "an estimate for a mutant that does not exist"
    for m in MUTANTS:
        assert (m.within is None) == (m.name in ESTIMATED), f"{m.name}: a measured `within` or an estimate, not both"
        if m.within is not None:
            assert set(m.catches) <= set(INVARIANTS), f"{m.name}: measured against an invariant the checker lacks"
        assert not (m.short and m.within is None), f"{m.name}: in `make test` on an estimated budget"
    assert SHORT, "make test runs no mutant: the checker's teeth go unchecked"


def test_an_edit_that_no_longer_matches_fails_loudly():
    gone = Mutant("gone", "", (Edit("reconciler/planner/health.py", "text the file does not have", "x"),), ("safety",))
    with pytest.raises(MutantDoesNotApply, match="there 0 times, not once"):
        mutated_texts(gone)
    twice = Mutant("twice", "", (Edit("reconciler/planner/health.py", "        return ", "        return  "),),
                   ("safety",))
    with pytest.raises(MutantDoesNotApply, match="not once"):
        mutated_texts(twice)


def test_the_child_refuses_a_tree_other_than_its_scratch_copy(tmp_path):
    """Without the scratch copy on its path the child would import the working
    tree (the editable install) and test an unmutated tree: it must refuse."""
    mutant = by_name()["margin-0"]
    files = build(mutant, tmp_path)
    result = run_child(tmp_path, files, [1], mutant.catches, path=str(tmp_path / "nothing-here"))
    assert "not from the scratch copy" in result["error"] and result["tried"] == 0, result


def test_the_child_refuses_a_scratch_file_that_is_not_the_mutant(tmp_path):
    mutant = by_name()["margin-0"]
    files = build(mutant, tmp_path)
    target = Path(files[0].path)
    target.write_text(target.read_text() + "\n")
    result = run_child(tmp_path, files, [1], mutant.catches)
    assert "is not the mutated text" in result["error"] and result["tried"] == 0, result


def test_a_mutant_whose_code_never_runs_is_reported_so():
    """The fencer process's own kill (fencer.py, run as a script) never runs
    in the simulator: its stand-in kills through the world."""
    never = Mutant("fencer-process-kills-nothing", "the real fencer process kills nothing",
                   (Edit("reconciler/agent/fencer.py", "            os.killpg(pgid, signal.SIGKILL)\n",
                         "            pass\n"),), ("safety",), within=2)
    outcome = run_mutant(never, seeds=2)
    assert not outcome.error and outcome.caught is None and outcome.reached is False, table([outcome])
