"""`disk`: percent used of the filesystem holding `path`."""
from __future__ import annotations

import asyncio

import psutil

from ._common import (
    ProbeContext, ProbeResult, classify, failed, fmt_percent, os_error_text, with_timeout,
)


@with_timeout(lambda check: f"statvfs {check.path} (a hung mount?)")
async def probe(check, ctx: ProbeContext) -> ProbeResult:
    try:
        # statvfs can block on a dead network mount: keep it off the loop
        usage = await asyncio.to_thread(psutil.disk_usage, check.path)
    except OSError as exc:
        return failed(f"cannot stat {check.path}: {os_error_text(exc)}")
    return classify(usage.percent, check.limits(), f"Disk {check.path}", fmt_percent)
