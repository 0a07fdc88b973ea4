"""`memory`: resident set size of the matched processes, summed, against size limits."""
from __future__ import annotations

from ._common import ProbeContext, ProbeResult, classify, failed, fmt_bytes, with_timeout
from ._procs import find, plural, sum_over


@with_timeout(lambda check: "measuring memory")
async def probe(check, ctx: ProbeContext) -> ProbeResult:
    found = await find(check.match, ctx.child_pid)
    rss, seen = sum_over(found.processes, lambda proc: proc.memory_info().rss)
    if not seen:
        return failed(found.problem or f"{found.what} exited before it could be measured")
    return classify(rss, check.limits(), "RSS", fmt_bytes, plural(found))
