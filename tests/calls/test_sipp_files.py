"""SIPp's statistics files read into the call lab's numbers (tests/calls/sipp.py).

Files shaped as SIPp 3.6 writes them (`date<TAB>time<TAB>epoch` times, `;`
separated, a trailing `;`), with only the columns the reader uses.
"""
from pathlib import Path

import pytest

from tests.calls.sipp import SippFilesMissing, read

T0 = 1796664000.0


def _when(t: float) -> str:
    return f"2026-12-07\t17:00:00.000000\t{t:.6f}"


def _write(directory: Path, stat: dict, counts: list[dict], rtt_ms: list[float]) -> None:
    head = ["StartTime", *stat]
    (directory / "uac_1_.csv").write_text(";".join(head) + ";\n"
                                          + ";".join([_when(T0), *map(str, stat.values())]) + ";\n")
    keys = ["CurrentTime", *counts[0]]
    lines = [";".join(keys) + ";"] + [";".join([_when(T0 + i + 1), *map(str, row.values())]) + ";"
                                      for i, row in enumerate(counts)]
    (directory / "uac_1_counts.csv").write_text("\n".join(lines) + "\n")
    (directory / "uac_1_rtt.csv").write_text("Date_ms;response_time_ms;rtd_no\n"
                                             + "".join(f"{ms};3;1\n" for ms in rtt_ms))


def test_answered_calls_that_did_not_end_well_are_dropped_the_rest_failed(tmp_path):
    stat = {"OutgoingCall(C)": 100, "SuccessfulCall(C)": 80, "FailedCall(C)": 20, "CurrentCall": 0,
            "Retransmissions(C)": 41, "FailedUnexpectedMessage(C)": 1, "OutOfCallMsgs(C)": 2, "DeadCallMsgs(C)": 0}
    counts = [{"4_200_Recv": 50, "0_INVITE_Timeout": 0, "7_BYE_Timeout": 0},
              {"4_200_Recv": 90, "0_INVITE_Timeout": 10, "7_BYE_Timeout": 9}]
    _write(tmp_path, stat, counts, [1000, 1500, 9500, 9600])
    s = read(tmp_path)
    assert (s.attempts, s.successful, s.answered) == (100, 80, 90)
    assert (s.failed, s.dropped) == (10, 10)   # 100 placed = 80 + 10 never answered + 10 answered, not ended
    assert (s.retransmissions, s.unexpected, s.invite_timeouts, s.bye_timeouts) == (41, 3, 10, 9)
    assert (s.longest_gap_s, s.longest_gap_at) == (8.0, 1.5)
    assert s.answered_per_s == [(1.0, 50), (2.0, 40)]


def test_a_directory_without_sipp_files_says_so(tmp_path):
    with pytest.raises(SippFilesMissing, match="did SIPp start"):
        read(tmp_path)
