"""The virtual loop's processes (reconciler/sim/loop.py): work a process never
began is discarded with it, killed or still due when the run ends; nothing of
it is left to warn "coroutine ... was never awaited" afterwards."""
import asyncio
import gc
import warnings

from overseer.reconciler.agent.failsafe import Peer
from overseer.reconciler.sim.loop import VirtualLoop
from overseer.reconciler.sim.run import draw
from overseer.reconciler.sim.world import Trace, World


def never_awaited(scenario) -> list[str]:
    """The "never awaited" warnings of what `scenario` left behind, once collected."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        scenario()
        gc.collect()
    return [str(w.message) for w in seen if "never awaited" in str(w.message)]


def run_in(loop: VirtualLoop, key: str, coro) -> None:
    loop.run_until_complete(loop.create_task(coro, context=loop.context_for(key)))


def test_a_task_of_a_process_killed_before_its_first_step_never_runs_and_is_closed():
    began: list[str] = []

    async def answer(how: str) -> None:
        began.append(how)

    def scenario():
        loop = VirtualLoop()
        peer = loop.context_for("s2#1")

        async def asker():
            loop.freeze("s2#1")
            loop.create_task(answer("held while frozen"), context=peer.copy())
            await asyncio.sleep(1)
            loop.kill("s2#1")                                    # its held steps go with it
            loop.create_task(answer("asked after the kill"), context=peer.copy())
            await asyncio.sleep(1)                               # dropped when its turn came
        run_in(loop, "s1#1", asker())

    assert never_awaited(scenario) == []
    assert began == []


def test_a_task_a_stopped_process_never_began_before_the_run_ended_is_closed_by_end():
    began: list[str] = []

    async def answer() -> None:
        began.append("answer")

    def scenario():
        loop = VirtualLoop()

        async def main():
            loop.freeze("s2#1")
            loop.create_task(answer(), context=loop.context_for("s2#1"))   # held: s2 is stopped
        run_in(loop, "s1#1", main())
        loop.end()

    assert never_awaited(scenario) == []
    assert began == []


def test_a_peer_stopped_while_the_question_travels_and_still_stopped_at_the_end_leaves_nothing():
    """The failsafe question reaches a peer SIGSTOPped after it was sent: its
    answer is held, and the run ends before the peer runs again."""
    schedule = draw(1)
    answers: list = []

    def scenario():
        world = World(schedule, Trace(keep_logs=False))
        at = schedule.end - 5

        def ask():
            async def asking():
                answers.append(await world.ask_peer("s1", Peer("s2", "s2", 8080), 10.0, {}))
            world.loop.create_task(asking(), context=world.contexts["s1"].copy())

        world.at(at, ask)
        world.at(at + 1e-6, world.stop, "s2", "pause")   # before the question arrives
        world.run()

    assert never_awaited(scenario) == []
    assert answers == []          # the asker waits out its timeout past the end of the run
