"""`memory`: resident set size of the matched processes, summed, against size limits."""
from __future__ import annotations

import psutil

from ._common import ProbeContext, ProbeResult, classify, failed, fmt_bytes, with_timeout
from ._procs import find, plural


def _rss(processes) -> tuple[float, int]:
    total, seen = 0.0, 0
    for proc in processes:
        try:
            total += proc.memory_info().rss
            seen += 1
        except psutil.Error:
            continue        # exited between matching and measuring
    return total, seen


@with_timeout(lambda check: "measuring memory")
async def probe(check, ctx: ProbeContext) -> ProbeResult:
    found = await find(check.match, ctx.child_pid)
    rss, seen = _rss(found.processes)
    if not seen:
        return failed(found.problem or f"{found.what} exited before it could be measured")
    return classify(rss, check.limits(), "RSS", fmt_bytes, plural(found))
