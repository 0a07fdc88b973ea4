"""SIPp as caller and callee, and what its own statistics files say.

The caller runs tests/calls/uac.xml (SIPp's built-in uac with calls held
10-15 s) towards the floating address; the callee runs the built-in `uas`.
Each runs in its own directory with `-trace_stat -fd 1` (the `*_.csv`
statistics, a line a second), `-trace_counts` (`*_counts.csv`: per scenario
message, sent / retransmitted / timed out / unexpected), `-trace_rtt` (the
caller's `*_rtt.csv`: one line per call answered, when, relative to its
start) and `-trace_err` (`*_errors.log`).

`read(directory)` turns those files into the numbers the lab reports; none
comes from Overseer:

- attempts: `OutgoingCall(C)` (caller) - calls SIPp placed;
- successful: `SuccessfulCall(C)` - calls that ended with the BYE's 200;
- dropped: calls answered (`4_200_Recv`, the INVITE's 200) that did not end
  successfully: an established call whose BYE went unanswered, or was
  answered by something that knew nothing of the call;
- failed: calls placed and never answered (attempts minus answered): the
  INVITE timed out, was refused, or got no final response at all;
  attempts = successful + failed + dropped;
- retransmissions: `Retransmissions(C)`;
- unexpected: `FailedUnexpectedMessage(C)` + `OutOfCallMsgs(C)` +
  `DeadCallMsgs(C)`: messages SIPp did not expect where they came;
- longest_gap_s: the longest time between two consecutive calls answered
  (from `*_rtt.csv`): the longest time without a successful new call.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
CALLER_SCENARIO = HERE / "uac.xml"
SIP_PORT = 5060
CALL_SECONDS = (10.0, 15.0)   # uac.xml's pause: uniform
# SIPp's retransmissions over UDP: T1 = 0.5 s doubling. Five of them give up
# after 0.5 x (2^6 - 1) = 31.5 s, about 64 x T1 = 32 s: a phone's Timer B
# (INVITE) and Timer F (BYE). SIPp's own default for a BYE is seven (63.5 s),
# more patient than any phone; the lab holds both to five.
RETRANSMISSIONS = 5
TIMER_B = 32.0


class SippFilesMissing(Exception):
    """SIPp left no statistics where it ran: names the directory and what is missing."""


def unavailable() -> Optional[str]:
    for program in ("sipp", "kamailio"):
        if shutil.which(program) is None and not Path(f"/usr/sbin/{program}").exists():
            package = {"sipp": "sip-tester"}.get(program, program)
            return f"{program} is not installed (apt-get install {package}; make test's system-deps does it)"
    return None


@dataclass(frozen=True)
class Load:
    rate: float = 20.0       # calls per second
    seconds: float = 45.0    # calls are started for this long

    @property
    def calls(self) -> int:
        return int(self.rate * self.seconds)

    def bound(self) -> float:
        """Seconds the caller can run at most: the last call placed, held, its
        BYE retransmitted to the end, and the INVITE's timer before that."""
        return self.seconds + CALL_SECONDS[1] + 2 * TIMER_B + 5


def _stats_flags() -> list[str]:
    return ["-nostdin", "-trace_stat", "-fd", "1", "-trace_err", "-trace_counts"]


def callee_argv(address: str) -> list[str]:
    return ["sipp", "-sn", "uas", "-i", address, "-p", str(SIP_PORT), *_stats_flags()]


def caller_argv(target: str, address: str, load: Load) -> list[str]:
    return ["sipp", f"{target}:{SIP_PORT}", "-sf", str(CALLER_SCENARIO), "-s", "lab",
            "-i", address, "-p", str(SIP_PORT), "-r", f"{load.rate:g}", "-m", str(load.calls),
            "-timeout", f"{load.bound():.0f}s", "-max_invite_retrans", str(RETRANSMISSIONS),
            "-max_non_invite_retrans", str(RETRANSMISSIONS), *_stats_flags(), "-trace_rtt", "-rtt_freq", "1"]


def _epoch(cell: str) -> float:
    """SIPp writes a time as `date<TAB>time<TAB>epoch`."""
    return float(cell.split("\t")[-1])


def _rows(path: Path) -> list[dict[str, str]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0].rstrip(";").split(";")
    return [dict(zip(header, line.rstrip(";").split(";"))) for line in lines[1:]]


def _one(directory: Path, pattern: str) -> Path:
    found = sorted(directory.glob(pattern))
    if not found:
        raise SippFilesMissing(f"no {pattern} in {directory} (did SIPp start? see its stderr there)")
    return found[-1]


@dataclass
class Stats:
    attempts: int
    successful: int
    answered: int
    failed: int
    dropped: int
    in_progress: int
    retransmissions: int
    unexpected: int
    invite_timeouts: int
    bye_timeouts: int
    started: float                  # epoch of SIPp's start
    longest_gap_s: Optional[float]  # None: the callee's statistics carry no answered calls
    longest_gap_at: Optional[float]  # seconds after the start the longest gap began
    answered_per_s: list[tuple[float, int]] = field(default_factory=list)  # (s after start, calls answered)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def read(directory: Path, caller: bool = True) -> Stats:
    """SIPp's own files in `directory` (see the module doc)."""
    stat = _rows(_one(directory, "*_.csv"))
    counts = _rows(_one(directory, "*_counts.csv"))
    if not stat or not counts:
        raise SippFilesMissing(f"SIPp's statistics in {directory} are empty")
    last, last_counts = stat[-1], counts[-1]
    num = lambda row, key: int(float(row.get(key) or 0))  # noqa: E731
    started = _epoch(last["StartTime"])
    answered_key = "4_200_Recv" if caller else "0_INVITE_Recv"
    answered = num(last_counts, answered_key)
    successful = num(last, "SuccessfulCall(C)")
    attempts = num(last, "OutgoingCall(C)" if caller else "IncomingCall(C)")
    dropped = max(0, answered - successful) if caller else 0
    per_s, before = [], 0
    for row in counts:
        now = num(row, answered_key)
        per_s.append((round(_epoch(row["CurrentTime"]) - started, 3), now - before))
        before = now
    gap = gap_at = None
    if caller:
        times = [float(r["Date_ms"]) / 1000 for r in _rows(_one(directory, "*_rtt.csv"))]
        times.sort()
        if len(times) >= 2:
            gap, gap_at = max((b - a, a) for a, b in zip(times, times[1:]))
            gap, gap_at = round(gap, 3), round(gap_at, 3)
    return Stats(
        attempts=attempts, successful=successful, answered=answered,
        failed=attempts - answered if caller else num(last, "FailedCall(C)"), dropped=dropped,
        in_progress=num(last, "CurrentCall"),
        retransmissions=num(last, "Retransmissions(C)"),
        unexpected=sum(num(last, k) for k in ("FailedUnexpectedMessage(C)", "OutOfCallMsgs(C)", "DeadCallMsgs(C)")),
        invite_timeouts=num(last_counts, "0_INVITE_Timeout"), bye_timeouts=num(last_counts, "7_BYE_Timeout"),
        started=started, longest_gap_s=gap, longest_gap_at=gap_at, answered_per_s=per_s)
