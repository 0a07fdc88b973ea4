"""Hysteresis properties (hypothesis) and the documented edge rules."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from overseer.observers.hysteresis import Hysteresis

raw = st.sampled_from(["ok", "warn", "fail", "unknown"])
counts = st.integers(min_value=1, max_value=6)


def _run(h: Hysteresis, seq) -> list[str]:
    return [h.feed(s) for s in seq]


def _trailing(seq, status) -> int:
    """Consecutive `status` results at the end of seq, ignoring `unknown` (neutral)."""
    n = 0
    for s in reversed([s for s in seq if s != "unknown"]):
        if s != status:
            break
        n += 1
    return n


@given(st.lists(raw, max_size=60), counts, counts)
def test_never_fail_before_fail_after_consecutive_failures(seq, fail_after, recover_after):
    h = Hysteresis(fail_after, recover_after)
    previous = "unknown"
    for i, status in enumerate(_run(h, seq)):
        if status == "fail" and previous != "fail":
            assert _trailing(seq[: i + 1], "fail") >= fail_after
        previous = status


@given(st.lists(raw, max_size=40), counts, counts, st.integers(min_value=0, max_value=5))
def test_always_fail_after_fail_after_consecutive_failures(prefix, fail_after, recover_after, extra):
    h = Hysteresis(fail_after, recover_after)
    _run(h, prefix)
    assert _run(h, ["fail"] * (fail_after + extra))[-1] == "fail"


@given(st.integers(min_value=0, max_value=30), st.integers(min_value=0, max_value=30))
def test_single_blip_never_fails_with_defaults(before, after):
    h = Hysteresis(3, 2)
    statuses = _run(h, ["ok"] * before + ["fail"] + ["ok"] * after)
    assert "fail" not in statuses
    assert "warn" not in statuses


@given(st.lists(raw, max_size=60), counts, counts)
def test_leaving_fail_for_ok_needs_recover_after_oks(seq, fail_after, recover_after):
    h = Hysteresis(fail_after, recover_after)
    previous = "unknown"
    for i, status in enumerate(_run(h, seq)):
        if previous in ("fail", "warn") and status == "ok":
            assert _trailing(seq[: i + 1], "ok") >= recover_after
        previous = status


@settings(max_examples=200)
@given(st.lists(raw, max_size=60), counts, counts)
def test_warn_needs_fail_after_bad_results_from_ok(seq, fail_after, recover_after):
    h = Hysteresis(fail_after, recover_after)
    previous = "unknown"
    known = []
    for s, status in zip(seq, _run(h, seq)):
        if s != "unknown":
            known.append(s)
        if status == "warn" and previous in ("ok", "unknown"):
            bad = 0
            for k in reversed(known):
                if k == "ok":
                    break
                bad += 1
            assert bad >= fail_after
        previous = status


def test_fresh_check_turns_ok_at_once_and_bad_news_waits():
    assert Hysteresis(3, 2).feed("ok") == "ok"
    h = Hysteresis(3, 2)
    assert _run(h, ["fail", "fail", "fail"]) == ["unknown", "unknown", "fail"]


def test_recovery_from_fail_goes_through_warn_when_results_warn():
    h = Hysteresis(2, 2)
    _run(h, ["fail", "fail"])
    assert _run(h, ["warn", "warn"]) == ["fail", "warn"]
    assert _run(h, ["ok", "ok"]) == ["warn", "ok"]


def test_force_fail_is_immediate_and_results_are_bounded():
    h = Hysteresis(3, 2, kept=5)
    _run(h, ["ok"] * 10)
    h.force_fail()
    assert h.status == "fail"
    assert len(h.results) == 5
    assert h.feed("ok") == "fail"
    assert h.pending().target == "ok"
    assert h.feed("ok") == "ok"
