"""`threads`: thread count of the matched processes, summed, against count limits."""
from __future__ import annotations

from ._common import ProbeContext, ProbeResult, classify, failed, fmt_count, with_timeout
from ._procs import find, plural, sum_over


@with_timeout(lambda check: "counting threads")
async def probe(check, ctx: ProbeContext) -> ProbeResult:
    found = await find(check.match, ctx.child_pid)
    count, seen = sum_over(found.processes, lambda proc: proc.num_threads())
    if not seen:
        return failed(found.problem or f"{found.what} exited before it could be measured")
    return classify(count, check.limits(), "Threads", fmt_count, plural(found))
