"""One service on this server: the shell around its state machine.

Each worker owns its actuator and its observers and runs its own task, so a
slow promote of one service never delays another. What the worker may do is
decided by the pure state machine (service_state.py): the worker feeds it
what happens (an assignment, a child's death, a fence, an operator's restart
in place, each step's result) and carries out the effects it returns. It
acts only after the store confirms, in a transaction, that the assignment's
epoch is still the master's (fencing), and reports every outcome in
`actual/<me>/<svc>/.role`.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Awaitable, Callable, Optional

from overseer.actuators.base import ActionContext, ActuatorError
from overseer.actuators.vip import VipActuator
from overseer.desired.models import ServiceDoc
from overseer.desired.state import Assignment, HistoryEntry, HistoryKind, RestartRequest, ServiceReport

from . import roles
from . import service_events as ev
from . import service_state as machine
from .edges import REAL, Edges
from .service_state import State
from .step_down import run_down

log = logging.getLogger(__name__)


class ServiceWorker:
    def __init__(self, *, cluster: str, server: str, doc: ServiceDoc,
                 still_current: Callable[[Assignment], Awaitable[bool]],
                 report: Callable[[ServiceReport], Awaitable[None]],
                 history: Callable[[HistoryEntry], Awaitable[None]],
                 monitor_factory: Callable[["ServiceWorker"], object],
                 log_dir: Optional[str] = None, edges: Edges = REAL):
        self.cluster, self.server, self.doc = cluster, server, doc
        self.edges = edges
        self.name = doc.metadata.name
        self.still_current, self.report, self.history = still_current, report, history
        self.actuator = edges.actuator(self.name, doc.spec.actuator, log_dir=log_dir)
        if doc.spec.vip is not None:   # the floating IP rides on the same fenced steps
            self.actuator = VipActuator(self.actuator, doc.spec.vip, self.name, edges.addresses)
        self.actuator.on_exit = self._child_exited
        self.actuator.follow(doc.spec.checks)   # an exec/systemd main process is found by its checks
        self.monitor = monitor_factory(self)
        # standby mode and demote command never change under a worker (can_update)
        self.state = State(server, doc.spec.standby, doc.spec.actuator.demote is not None)
        self.on_role_change: Callable[[], None] = lambda: None   # the fencer must learn of new actives at once
        self.on_failure: Callable[[str, str], None] = lambda service, why: None  # counts a fail count
        # (event, from role, to role, assignment, reason): role-change hooks, after the fact
        self.notify: Callable[..., None] = lambda event, was, now, assignment, reason: None
        # False once our lease's legitimacy ran out, before the deadline guard
        # had its turn (e.g. right after a pause): never finish becoming active then
        self.legitimate: Callable[[], bool] = lambda: True
        # set by LocalServices: delete a restart request and record its outcome (Store.finish_restart)
        self.finish_restart: Optional[Callable[[RestartRequest, HistoryEntry], Awaitable[None]]] = None
        # One actuator sequence at a time: a self-fence waits for a step in
        # flight (bounded by the actuator's timeout) instead of interleaving
        # its demote with a promote, so `role` always says what really ran.
        self._acting = asyncio.Lock()
        # converge step slots shared by the agent's workers (local.STEP_SLOTS,
        # docs/design-choices.md); fences never wait for one
        self.steps: Optional[asyncio.Semaphore] = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._side_tasks: set[asyncio.Task] = set()

    # --- what others read ----------------------------------------------------------

    @property
    def role(self) -> str:
        return self.state.role

    @property
    def promoting(self) -> bool:
        """A promote step is running: the fencer counts its child already."""
        return self.state.promoting

    @property
    def assignment(self) -> Optional[Assignment]:
        return self.state.assignment

    def epoch(self) -> int:
        return self.assignment.epoch if self.assignment else 0

    # --- the machine and its effects -------------------------------------------------

    def _apply(self, event) -> list:
        """Take the next state, carry out the effects that need no waiting, and
        return those that do (a report), in order, for the caller to await."""
        self.state, effects = machine.transition(self.state, event)
        return self._do(effects)

    def _do(self, effects: list) -> list:
        later = []
        for effect in effects:
            if isinstance(effect, ev.Wake):
                if effect.delay:
                    asyncio.get_running_loop().call_later(effect.delay, self._wake.set)
                else:
                    self._wake.set()
            elif isinstance(effect, ev.CountFailure):
                self.on_failure(self.name, effect.why)
            elif isinstance(effect, ev.Notify):
                self.notify(effect.event, effect.was, effect.now, effect.assignment, effect.reason)
            elif isinstance(effect, ev.MonitorRole):
                if hasattr(self.monitor, "set_role"):
                    self.monitor.set_role(effect.role)
            elif isinstance(effect, ev.BeginGrace):
                if hasattr(self.monitor, "begin_grace"):
                    self.monitor.begin_grace()
            elif isinstance(effect, ev.ChildDied):
                if hasattr(self.monitor, "child_died"):
                    self.monitor.child_died(effect.message, self.actuator.followed)
            elif isinstance(effect, ev.RoleChanged):
                self.on_role_change()
            elif isinstance(effect, ev.AfterExit):
                self._spawn(self._after_exit(effect.was, effect.message))
            elif isinstance(effect, ev.BeginRestart):
                self._spawn(self._restart(effect.request))
            else:   # Report, Interrupted: the caller's to await or act on
                later.append(effect)
        return later

    async def _carry_out(self, effects: list) -> None:
        for effect in effects:
            if isinstance(effect, ev.Report):
                await self._report(effect.outcome, effect.message, effect.about)

    def _spawn(self, coro) -> None:
        # keep a reference: a task nobody holds may be collected mid-flight
        task = asyncio.create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _step(self, step: str, ctx: ActionContext) -> None:
        await getattr(self.actuator, step)(ctx)

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._loop(), name=f"converge {self.name}"))
        self._start_monitor()

    def _start_monitor(self) -> None:
        self._monitor_task = None
        if hasattr(self.monitor, "run"):
            self._monitor_task = asyncio.create_task(self.monitor.run(), name=f"observe {self.name}")
            self._tasks.append(self._monitor_task)

    def can_update(self, doc: ServiceDoc) -> bool:
        """A new document that runs the service the same way needs no restart."""
        return (doc.spec.actuator == self.doc.spec.actuator and doc.spec.standby == self.doc.spec.standby
                and doc.spec.vip == self.doc.spec.vip)

    def update(self, doc: ServiceDoc, monitor_factory: Callable[["ServiceWorker"], object]) -> None:
        """Take a changed document live: candidates, replicas and mode matter only
        to the master; changed checks get fresh observers; the process stays up."""
        checks_changed = doc.spec.checks != self.doc.spec.checks
        self.doc = doc
        if checks_changed:
            self.actuator.follow(doc.spec.checks)   # used from the next step on
            if self._monitor_task is not None:
                self._monitor_task.cancel()
                self._tasks.remove(self._monitor_task)
            self.monitor = monitor_factory(self)
            self._start_monitor()
            self._do([machine.monitor_role(self.state)])

    async def close(self, stop: bool) -> None:
        for task in self._tasks:
            task.cancel()
        if stop:
            await self.actuator.close()

    # --- what happens to the service ---------------------------------------------------

    def remember(self, report, assignment: Optional[Assignment]) -> None:
        """A new worker takes up its predecessor's block (answers.stood_down_under)."""
        self._apply(ev.Inherited(report, assignment))

    def assign(self, assignment: Optional[Assignment]) -> None:
        self._apply(ev.Assigned(assignment))

    def wait_for(self, words: str) -> None:
        """The hold as of the latest snapshot (waits.waiting_for): a pass runs when it changes."""
        self._apply(ev.WaitsFor(words))

    def check_failed(self, check: str, message: str) -> None:
        """A critical check went to `fail` (after failAfter); a failure only while active."""
        self._apply(ev.CheckFailed(check, message))

    def restart_requested(self, request: Optional[RestartRequest]) -> None:
        """Called with every snapshot (level-triggered): act on a request for us."""
        self._apply(ev.RestartRequested(request))

    def poke(self) -> None:
        """Run a converge pass soon (after a step that left the role uncertain)."""
        self._wake.set()

    def unfence(self) -> None:
        self._apply(ev.Unfenced())

    def _child_exited(self, service: str, code: Optional[int], message: str) -> None:
        # the child (or a watched main process, actuators/death_watch.py) died unasked
        was = self.role
        self._apply(ev.ChildExited(message, self.edges.monotonic()))
        log.error("%s: child exited (%s) while %s", self.name, message, was)

    async def _after_exit(self, was: str, message: str) -> None:
        await self._report("failed", f"process exited while {was}: {message}")
        await self.history(HistoryEntry(self.name, self.edges.wall(), HistoryKind.ROLE,
                                        f"{self.server}: process exited while {was}: {message}",
                                        self.server, self.epoch()))
        # A warm standby comes back on its own after a pause; an active waits for the master.
        asyncio.get_running_loop().call_later(self.state.retry_delay, self._wake.set)

    # --- converging ------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                retry = await self.converge()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in one service must not stop the agent
                log.exception("%s: converge failed unexpectedly", self.name)
                retry = True
            if retry:
                asyncio.get_running_loop().call_later(self.state.retry_delay, self._wake.set)
                self._apply(ev.Retried())

    async def converge(self) -> bool:
        """One pass toward the target role. Returns True if it should be retried."""
        async with self._acting:
            return await self._converge()

    async def _converge(self) -> bool:
        # The pass works toward this assignment; one arriving meanwhile gets its
        # own pass. Reports name the assignment the pass acted on: a "standby"
        # written for a newer one that makes us active would tell the master we
        # stepped down from it while we are about to promote (found by the
        # simulator: a switchover raced a second assignment to two actives).
        about, was = self.assignment, self.role
        target = machine.target(self.state)
        if machine.held(self.state, target):
            later = self._apply(ev.Held(about))
            if later:   # said once per role, assignment and words
                log.info("%s: %s; not made active here until then", self.name, self.state.waiting)
            await self._carry_out(later)
            return False
        plan = machine.plan(self.state, target)
        if not plan:
            await self._carry_out(self._apply(ev.Settled(target)))
            return False
        epoch = self.epoch()
        if target == "active":
            current = await self.still_current(self.assignment)
            if current is None:  # etcd did not answer: ask again later, never act blind
                return True
            if not current:
                # a newer assignment is on its way through the watch
                log.warning("%s: assignment (epoch %d) is no longer current in etcd; not promoting",
                            self.name, epoch)
                return False
        ctx = ActionContext(self.cluster, self.name, self.server,
                            "active" if target == "active" else "standby", epoch)
        exits = self.state.exits
        # One step slot for the whole sequence, not per step: with hundreds
        # starting at once (a failover), every start queued before any
        # promote and no service was up until all had started.
        async with (self.steps or contextlib.nullcontext()):
            for step in plan:
                if machine.cut_off(self.state, target, self.legitimate):
                    break  # fenced while on the way: go no further towards active
                self._apply(ev.StepStarting(step))
                try:
                    await self._step(step, ctx)
                except ActuatorError as exc:
                    self._apply(ev.StepEnded())
                    await self._failed(step, target, ctx, exc, about)
                    return True
                finally:
                    self._apply(ev.StepEnded())
                if self._apply(ev.Stepped(step, target, exits)):   # Interrupted: the child died meanwhile
                    return False
        if machine.cut_off(self.state, target, self.legitimate):
            # The fence came (or is due: found by the simulator, a promote
            # finishing right after a pause longer than the lease) while a step
            # was running; fence() is waiting for this sequence to end and then
            # undoes whatever made us active.
            self._do([machine.monitor_role(self.state)])
            return True
        later = self._apply(ev.Arrived(tuple(plan), was, about, self.edges.monotonic(), self.edges.wall()))
        log.info("%s: now %s (epoch %d)", self.name, self.role, epoch)
        await self._carry_out(later)
        return False

    async def _failed(self, step: str, target: str, ctx: ActionContext, exc: ActuatorError,
                      about: Optional[Assignment] = None) -> None:
        log.error("%s: %s failed (epoch %d): %s", self.name, step, ctx.epoch, exc)
        if target == "active":
            self._apply(ev.FailedAsActive(f"{step} failed: {exc}", self.edges.monotonic()))
            await self._retreat(ctx)
        elif step == roles.DEMOTE:
            # It may have done its work or not: "active" is a guess either way,
            # and one that a next assignment naming us active never promoted
            # again (simulator seed 604). Stopping makes the state known, as a
            # self-fence does; the next pass starts a warm standby again.
            await self._retreat(ctx, steps=[roles.STOP])
        await self._report("failed", str(exc), about)
        await self.history(HistoryEntry(self.name, self.edges.wall(), HistoryKind.ACTION,
                                        f"{self.server}: {step} failed: {exc}", self.server, ctx.epoch))

    async def _retreat(self, ctx: ActionContext, steps: Optional[list] = None) -> None:
        """After a failed move to active: make sure we are not half-active.
        The failed step may have done its work before it failed (a promote
        command that made the service active, then exited non-zero or hung)."""
        only_stop = steps is not None
        if not await run_down(lambda step: self._step(step, ctx), steps or machine.retreat_steps(self.state),
                              self.name, "while retreating") and only_stop:
            return   # after a failed demote: still active as far as we know
        self._apply(ev.Retreated(await self._running(ctx)))

    async def _running(self, ctx: ActionContext) -> bool:
        try:
            return bool(await self.actuator.running(ctx))
        except Exception:  # cannot tell: assume the safer "stopped" bookkeeping
            return False

    async def _report(self, outcome: str, message: str, about: Optional[Assignment] = None) -> None:
        about = about or self.assignment   # the assignment this report answers
        pid = self.actuator.child_pid()
        report = ServiceReport(self.server, self.name, self.role, about.epoch if about else 0,
                               outcome, message, self.edges.wall(), pid, about.time if about else 0.0)
        self._apply(ev.Reported(report, about))
        await self.report(report)

    # --- self-fencing ------------------------------------------------------------------

    async def fence(self, why: str, event: str = "fence") -> None:
        """Self-fencing: stop acting as active without asking etcd."""
        fenced_for = self.assignment
        self._apply(ev.Fencing())
        async with self._acting:
            await self._fence(why, fenced_for, event)

    async def _fence(self, why: str, fenced_for: Optional[Assignment] = None, event: str = "fence") -> None:
        if self.role != "active":
            return
        ctx = ActionContext(self.cluster, self.name, self.server, "standby", self.epoch())
        log.error("%s: self-fencing (%s, epoch %d): demoting local active", self.name, why, ctx.epoch)
        exits = self.state.exits
        await run_down(lambda step: self._step(step, ctx), machine.retreat_steps(self.state), self.name,
                       "during self-fencing", lambda step, ok: self._apply(ev.FenceStepped(step, ok, exits)))
        await self._carry_out(self._apply(ev.Fenced(why, event, fenced_for)))

    # --- restart in place ------------------------------------------------------------

    async def _restart(self, request: RestartRequest) -> None:
        try:
            async with self._acting:
                outcome = await self._restart_locked(request)
            if outcome is None:
                async with self._acting:
                    await self._converge()
                outcome = (f"{self.server}: restarted in place (overseer restart)" if self.role == "active"
                           else f"{self.server}: restart in place: stopped, but not active again "
                                f"(now {self.role}; see its report)")
            await self.finish_restart(request, HistoryEntry(self.name, self.edges.wall(), HistoryKind.RESTART,
                                                            outcome, self.server, self.epoch()))
        finally:
            self._apply(ev.RestartFinished())

    async def _restart_locked(self, request: RestartRequest) -> Optional[str]:
        """Stop the active; None when stopped (start it again next), else why nothing was done."""
        refusal = machine.restart_refusal(self.state, request, self.name)
        if refusal is not None:
            return refusal
        ctx = ActionContext(self.cluster, self.name, self.server, "standby", self.epoch())
        exits = self.state.exits
        log.warning("%s: restart in place asked by an operator: stopping the active (epoch %d)",
                    self.name, ctx.epoch)
        for step in machine.restart_steps(self.state):
            try:
                await self._step(step, ctx)
            except ActuatorError as exc:
                # still active as far as we know: leave it so and say why
                log.error("%s: %s for a restart in place failed: %s", self.name, step, exc)
                self.poke()   # whatever that step left, the next converge pass takes it back to the assignment
                return f"{self.server}: restart in place failed at {step}: {exc}; left as it was"
            self._apply(ev.RestartStepped(step, exits))
        self._apply(ev.RestartStopped())
        return None
