"""The fault suite's short batch for `make test` (the long one is `make faults`).

Real agents and a 3-member etcd, one per network namespace; the checker
judges what the services' processes really did (tests/faults/checker.py).
The calm family runs every labelled blip and real failure once (about 170 s)
and prints the confusion table. Half the random schedules run services
with relationships (seeds 1 and 2 do; tests/faults/relations.py judges
them). The random batch stops starting schedules
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
from tests.faults.lab import FaultLab, unavailable
from tests.faults.runner import report, run
from tests.faults.sampler import STOPPED, state
from tests.faults.schedule import calm, calm_cases, random_schedule, two_warm_actives
from tests.faults.table import Table
from tests.support.waiting import poll_until

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
    """Pause the warm active's agent across a master death, etcd
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
    """One failed probe, a link flap, an agent stopped for less than half a
    lease, a CPU burner on every core, an etcd leader change, and an etcd
    member, the etcd leader or the whole etcd stalled past the lease move
    nothing; a killed child, a killed agent, a cut host, a check that keeps
    failing, a host frozen past the lease and a server gone for good move
    within the bound, and a thawed host's child never acts beside its
    successor. The table counts each way."""
    timing = Timing()
    cases = calm_cases(timing)
    results = [run(calm(seed, timing), root / f"calm-{seed}", timing) for seed in range(len(cases))]
    table = _judge(results, timing)
    blips = sum(1 for f in cases if f.blip)
    unjudged = sum(1 for f in cases if f.blip is None)
    assert table.confusion[("blip", "still")] == blips, table.confusion
    assert table.confusion[("real", "moved")] == len(cases) - blips - unjudged, table.confusion


def test_the_lab_undoes_its_stops_and_leaves_nothing_stopped_after_a_failure(root):
    """Two faults stopping one etcd member: it runs again only when both
    healed. A schedule that breaks while a member and a whole host are
    stopped leaves no process of the lab behind, stopped or not."""
    left = []
    with pytest.raises(RuntimeError, match="broke"):
        with FaultLab(root / "teardown") as lab:
            member = lab.stop_member("s1")
            assert lab.stop_member("s1") == member and state(member) in STOPPED
            lab.release([member])
            assert state(member) in STOPPED, "one of two stops healed: still stopped"
            lab.release([member])
            assert state(member) not in STOPPED, "both healed: it runs"
            # the agent, its fencer and at least pbx's warm child
            poll_until(lambda: len(lab.host_pids("s2")) >= 3, 60, "s2's agent, fencer and a child")
            left = [lab.stop_member("s3"), *lab.freeze_host("s2")]
            assert len(left) >= 3, left
            # a short-lived command of the host (a check, a probe) may end as it
            # is listed; one inside a disk wait ("D") stops when the wait ends
            poll_until(lambda: all(state(pid) in (*STOPPED, "", "Z", "X") for pid in left), 20,
                       "every frozen pid stopped or gone")
            assert sum(state(pid) in STOPPED for pid in left) >= 3, [(pid, state(pid)) for pid in left]
            raise RuntimeError("a schedule broke mid-fault")
    assert [pid for pid in left if state(pid) not in ("", "Z")] == []


def test_the_power_switch_kills_everything_of_its_host_but_its_etcd_member(root):
    """The lab's fence agent (tests/faults/power.py), run from another host's
    namespace as a master runs it: the frozen host's agent, fencer and
    children die, stopped as they are; its etcd member lives on."""
    import subprocess
    import sys

    from tests.faults.docs import POWER

    with FaultLab(root / "power") as lab:
        poll_until(lambda: len(lab.host_pids("s2")) >= 3, 60, "s2's agent, fencer and a child")
        frozen = lab.freeze_host("s2")
        member = lab.etcd["s2"].pid
        env = dict(lab.env(), OVERSEER_FENCE_SERVER="s2", OVERSEER_SERVER="s1")
        proc = lab.net.run_in("s1", [sys.executable, POWER, str(lab.workdir / "hosts.json")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "s2: powered off" in out
        lab.agents["s2"].wait(10)
        assert [pid for pid in frozen if state(pid) not in ("", "Z")] == []
        assert lab.host_pids("s2") == [] and lab.member_running("s2")
        assert set(lab.powered_off()) == {"s2"}
        lab.release(frozen)
