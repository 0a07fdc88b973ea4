"""`asterisk-ami`: log in to the manager and time a Ping round trip; no login fails."""
from __future__ import annotations

from ._ami import AmiError, connect
from ._common import (
    ProbeContext, ProbeResult, Stopwatch, classify, failed, fmt_seconds, with_timeout,
)


@with_timeout(lambda check: f"AMI at {check.host}:{check.port} did not answer")
async def probe(check, ctx: ProbeContext) -> ProbeResult:
    try:
        client = await connect(check)
    except (AmiError, OSError) as exc:
        return failed(str(exc))
    try:
        watch = Stopwatch()
        answer = await client.reply(await client.send("Ping"))
        elapsed = watch.elapsed()
    except (AmiError, OSError) as exc:
        return failed(f"AMI Ping failed: {exc}")
    finally:
        await client.close()
    if answer.get("response", "").lower() != "success":
        return failed(f"AMI Ping answered {answer.get('response')}: {answer.get('message', '')}")
    return classify(elapsed, check.limits(), "Ping", fmt_seconds)
