"""The call lab's short run for `make test` (the long one is `make calls`).

One fault, kill -9 of the active Kamailio, under a light SIP load: the lab
works end to end (SIPp's caller and callee, Kamailio on both proxies, the
floating address) and calls placed after the failover are answered by the
other proxy. A functional check: the goals (no failed, no dropped call) are
measured and reported by `make calls` and `make bench`, not asserted here.
Skipped only without root, network namespaces, SIPp or Kamailio; the pytest
header says which (tests/conftest.py).
"""
import tempfile
from pathlib import Path

import pytest

from tests.calls import sipp
from tests.calls.run import run
from tests.faults.lab import unavailable

pytestmark = pytest.mark.slow


def why_not() -> str | None:
    return unavailable() or sipp.unavailable()


@pytest.fixture
def root():
    reason = why_not()
    if reason:
        pytest.skip(f"call lab: {reason}")
    with tempfile.TemporaryDirectory(prefix="overseer-calls-") as path:
        yield Path(path)


def test_calls_are_answered_through_the_other_proxy_after_kamailio_is_killed(root):
    fault_at = 6.0
    result = run("kamailio-kill", root / "lab", sipp.Load(rate=10, seconds=12), fault_at=fault_at,
                 log=lambda line: None)
    caller = result["caller"]
    assert result["caller_exit"] is not None and caller["attempts"] == 120, result
    assert result["holders_after"] == [next(s for s in ("s1", "s2") if s != result["active_before"])], result
    after = sum(n for t, n in caller["answered_per_s"] if t > result["fault_at_s"] + 1)
    assert after > 0, f"no call answered after the failover: {caller}"
    assert caller["successful"] > 0, caller
    print(f"\ncall lab (kamailio-kill, {caller['attempts']} calls): {caller['successful']} successful, "
          f"{caller['failed']} failed, {caller['dropped']} dropped, {caller['retransmissions']} retransmissions, "
          f"longest without a new call {caller['longest_gap_s']} s (goals: make calls)")
