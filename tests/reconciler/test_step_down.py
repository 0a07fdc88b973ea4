"""Taking an active down (reconciler/agent/step_down.py): every step runs
whatever the one before did, and a failed demote is followed by a stop."""
import asyncio

from overseer.reconciler.agent.roles import DEMOTE, STOP
from overseer.reconciler.agent.step_down import run_down


def _run(steps, failing):
    ran, heard = [], []

    async def run(step: str) -> None:
        ran.append(step)
        if step in failing:
            raise RuntimeError(f"{step} exited 1")
    ok = asyncio.run(run_down(run, steps, "pbx", "during self-fencing", lambda step, ok: heard.append((step, ok))))
    return ok, ran, heard


def test_a_demote_that_works_is_all():
    assert _run([DEMOTE], set()) == (True, [DEMOTE], [(DEMOTE, True)])


def test_a_failed_demote_is_followed_by_a_stop():
    assert _run([DEMOTE], {DEMOTE}) == (False, [DEMOTE, STOP], [(DEMOTE, False), (STOP, True)])


def test_a_stop_already_planned_is_not_run_twice():
    assert _run([DEMOTE, STOP], {DEMOTE}) == (False, [DEMOTE, STOP], [(DEMOTE, False), (STOP, True)])


def test_a_failed_stop_is_reported_and_ends_the_sequence():
    assert _run([DEMOTE, STOP], {STOP}) == (False, [DEMOTE, STOP], [(DEMOTE, True), (STOP, False)])
