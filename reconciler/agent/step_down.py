"""Taking an active down, whatever its steps do.

A self-fence and the retreat after a failed move to active run the same
kind of sequence: demote (and stop where a standby does not run, or where no
command demotes). A step may fail having done its work or not, so a failed
demote is followed by a stop: a warm active whose demote failed may still
act as active. Counting it as done left a cut-off server's pbx promoted
beside its successor (fault suite seed 339: a link cut while demote commands
failed) and a promoted warm standby beside the master's next choice
(simulator seed 216: a hung promote, then a hung demote).
"""
from __future__ import annotations

import logging
from typing import Awaitable, Callable, Optional

from .roles import DEMOTE, STOP

log = logging.getLogger("overseer.reconciler.agent.service_worker")   # one log for the worker


def after_failed_step(steps: list[str], step: str) -> list[str]:
    """The steps still to run once `step` failed: a failed demote adds a stop."""
    return steps + [STOP] if step == DEMOTE and STOP not in steps else steps


async def run_down(run: Callable[[str], Awaitable[None]], steps: list[str], service: str, during: str,
                   stepped: Optional[Callable[[str, bool], None]] = None) -> bool:
    """Run `steps` with `run`, each whatever the one before did; `stepped(step,
    ok)` hears of each as it ends. False if any failed."""
    ok, i = True, 0
    while i < len(steps):   # may grow while it runs
        step = steps[i]
        i += 1
        try:
            await run(step)
        except Exception as exc:  # whatever demote did, still try to stop
            log.error("%s: %s %s failed: %s", service, step, during, exc)
            ok, steps = False, after_failed_step(steps, step)
            if stepped is not None:
                stepped(step, False)
            continue
        if stepped is not None:
            stepped(step, True)
    return ok
