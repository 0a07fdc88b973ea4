"""Seeds on which the simulator found a bug, kept so each fix stays fixed.

Each runs in a fresh process with PYTHONHASHSEED=0, exactly as `make sim N=1
SEED=<seed>` replays it (docs/testing.md, "Bugs it found"). Each failed
before its fix.
"""
import pytest

from tests.sim.test_simulator import _sim

FOUND = {
    43: "self-fenced report named a newer assignment than the one stood down for: two actives",
    57: "pause longer than half the lease: self-fenced, never took the active up again",
    91: "slow etcd: peers' timed-out probes read as 'etcd down', a cut server never fenced: two actives",
    97: "promote finished right after a pause longer than the lease, under a stale epoch",
    234: "failsafe query held back the keep-alive after a short etcd outage: fenced on blips",
    321: "standby report for an assignment that arrived mid-pass: switchover to two actives",
}


@pytest.mark.parametrize("seed", sorted(FOUND))
def test_seed_that_found_a_bug(seed):
    proc = _sim("--n", "1", "--seed", str(seed))
    assert proc.returncode == 0, f"{FOUND[seed]}\n{proc.stdout[-6000:]}"
