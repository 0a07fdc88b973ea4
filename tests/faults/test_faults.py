"""The fault suite's short batch for `make test` (the long one is `make faults`).

Real agents and a 3-member etcd, one per network namespace; the checker
judges what the services' processes really did (tests/faults/checker.py).
The calm family runs every labelled blip and real failure once (about 100 s)
and prints the confusion table. The random batch stops starting schedules
once FAULTS_BUDGET seconds (default 60) are spent, so a loaded machine runs fewer: the printed table says how
many ran. FAULTS_SEED picks the first seed (default 1). A failing schedule
keeps its journal and logs under test-artifacts/faults/.
"""
import os
import tempfile
import time
from pathlib import Path

import pytest

from tests.faults.docs import Timing
from tests.faults.lab import unavailable
from tests.faults.runner import report, run
from tests.faults.schedule import calm, calm_cases, random_schedule, two_warm_actives
from tests.faults.table import Table

pytestmark = pytest.mark.slow


@pytest.fixture
def root():
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with tempfile.TemporaryDirectory(prefix="overseer-faults-") as path:
        yield Path(path)


def _judge(results, timing):
    table = Table(timing.bound())
    failures = []
    for result in results:
        table.add(result)
        if not result.verdict.ok:
            failures.append(f"seed {result.schedule.seed} ({result.schedule.label}), kept in {result.kept}:\n"
                            f"{result.schedule.describe()}\n{report(result.verdict)}")
    print("\n" + table.render())
    assert not failures, "\n\n".join(failures)
    return table


def test_two_warm_actives_history_stays_safe(root):
    """Issue 13 item 7: pause the warm active's agent across a master death, etcd
    restarts and switchovers; there must never be two promoted children."""
    timing = Timing()
    seed = int(os.environ.get("FAULTS_SEED", "1"))
    _judge([run(two_warm_actives(seed, timing), root / "twa", timing)], timing)


def test_random_fault_schedules_short_batch(root):
    timing = Timing()
    first = int(os.environ.get("FAULTS_SEED", "1"))
    budget = float(os.environ.get("FAULTS_BUDGET", "60"))
    started = time.monotonic()
    results = []
    seed = first
    while not results or time.monotonic() - started < budget:
        results.append(run(random_schedule(seed, timing), root / f"seed-{seed}", timing))
        seed += 1
    print(f"\nshort batch: {len(results)} schedule(s) (seeds {first}..{seed - 1}) in "
          f"{time.monotonic() - started:.0f}s of a {budget:g}s budget; `make faults N=200` runs the long one")
    _judge(results, timing)


def test_calm_on_blips_and_moves_on_real_failures(root):
    """Issue 13 item 5: one failed probe, a link flap, an agent stopped for
    less than half a lease, a CPU burner on every core, an etcd leader change
    move nothing; a killed child, a killed agent, a cut host and a check that
    keeps failing move within the bound. The table counts each way."""
    timing = Timing()
    results = [run(calm(seed, timing), root / f"calm-{seed}", timing) for seed in range(len(calm_cases(timing)))]
    table = _judge(results, timing)
    assert table.confusion[("blip", "still")] == 5 and table.confusion[("real", "moved")] == 4, table.confusion
