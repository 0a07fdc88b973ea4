"""One service on this server: converge it to its assignment, watch its child.

Each worker owns its actuator and its observers and runs its own task, so a
slow promote of one service never delays another. It acts only after the
store confirms, in a transaction, that the assignment's epoch is still the
master's (fencing), and reports every outcome in `actual/<me>/<svc>/.role`.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Awaitable, Callable, Optional

from overseer.actuators.base import ActionContext, ActuatorError
from overseer.actuators.vip import VipActuator
from overseer.desired.models import ServiceDoc
from overseer.desired.state import Assignment, HistoryEntry, HistoryKind, ServiceReport

from . import roles
from .answers import decided_anew, epoch_of, stood_down_under
from .child_exits import ChildExits
from .restart_in_place import RestartInPlace
from .edges import REAL, Edges
from .waits import Waits

log = logging.getLogger(__name__)


RETRY_MIN, RETRY_MAX = 1.0, 30.0


class ServiceWorker(ChildExits, RestartInPlace, Waits):
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
        self.role = "stopped"
        self.assignment: Optional[Assignment] = None
        self.blocked: Optional[Assignment] = None   # an assignment we failed as active on
        self._reported: tuple = ()             # (role, outcome, assignment) last reported
        self.waiting, self._held_words = "", ""   # what a promote here waits for (waits.py)
        self.on_role_change: Callable[[], None] = lambda: None   # the fencer must learn of new actives at once
        self.on_failure: Callable[[str, str], None] = lambda service, why: None  # counts a fail count
        # (event, from role, to role, assignment, reason): role-change hooks, after the fact
        self.notify: Callable[..., None] = lambda event, was, now, assignment, reason: None
        # False once our lease's legitimacy ran out, before the deadline guard
        # had its turn (e.g. right after a pause): never finish becoming active then
        self.legitimate: Callable[[], bool] = lambda: True
        self._counted = True          # this active period's failure is counted (none yet: nothing to count)
        self._restarts = 0            # restarts in place in a row under one decision
        self._active_since = 0.0
        self.started_at = 0.0         # wall time we last became active (restart_in_place.py)
        self.fenced = False
        # A promote step is running: the fencer is told of the child before the
        # step, not after. A real promote command completes even while its agent
        # is stopped; vouching only afterwards left an active the fencer never
        # knew of beside the master's next choice (simulator seed 2516).
        self.promoting = False
        self._exits = 0   # children that died on their own so far (_child_exited)
        # The decision we fenced ourselves under (Assignment.decision): our "standby"
        # report for it may already have let the master promote someone else,
        # so we never become active under it again; a higher decision lifts it.
        self.stood_down: Optional[int] = None
        # One actuator sequence at a time: a self-fence waits for a step in
        # flight (bounded by the actuator's timeout) instead of interleaving
        # its demote with a promote, so `role` always says what really ran.
        self._acting = asyncio.Lock()
        # converge step slots shared by the agent's workers (local.STEP_SLOTS,
        # docs/design-choices.md); fences never wait for one
        self.steps: Optional[asyncio.Semaphore] = None
        self.retry_delay = RETRY_MIN
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._side_tasks: set[asyncio.Task] = set()

    @property
    def standby_mode(self) -> str:
        return self.doc.spec.standby

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
            self._set_monitor_role()

    def remember(self, report, assignment: Optional[Assignment]) -> None:
        """A new worker takes up its predecessor's block (answers.stood_down_under)."""
        if stood_down_under(report, assignment, self.server):
            self.blocked = assignment

    def assign(self, assignment: Optional[Assignment]) -> None:
        if assignment != self.assignment:
            delay = 0.0
            if decided_anew(assignment, self.blocked):
                if self.blocked is not None and assignment is not None \
                        and tuple(assignment.active) == tuple(self.blocked.active):
                    self._restarts += 1   # restart in place, backing off if it keeps failing
                    delay = roles.restart_delay(self._restarts, RETRY_MIN, RETRY_MAX)
                else:
                    self._restarts = 0
                self.blocked = None  # the master decided anew: the block has done its job
            self.assignment = assignment
            self.retry_delay = RETRY_MIN
            if delay:
                asyncio.get_running_loop().call_later(delay, self._wake.set)
            else:
                self._wake.set()

    def _failure(self, why: str) -> None:
        """Count one failure as active here (failure memory), once per time we became active."""
        if self._counted:
            return
        self._counted = True
        self.on_failure(self.name, why)

    def check_failed(self, check: str, message: str) -> None:
        """A critical check went to `fail` (after failAfter); a failure only while active."""
        if self.role == "active":
            self._failure(f"{check} failed" + (f": {message}" if message else ""))

    def poke(self) -> None:
        """Run a converge pass soon (after a step that left the role uncertain)."""
        self._wake.set()

    def epoch(self) -> int:
        return self.assignment.epoch if self.assignment else 0

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
                asyncio.get_running_loop().call_later(self.retry_delay, self._wake.set)
                self.retry_delay = min(self.retry_delay * 2, RETRY_MAX)

    def _block(self) -> None:
        # Remember the assignment we failed under; `decided_anew` says which
        # later assignments lift the block.
        self.blocked = self.assignment
        if self.edges.monotonic() - self._active_since > RETRY_MAX:
            self._restarts = 0   # it ran a good while: the next restart in place is immediate again

    def _blocked(self) -> bool:
        # We failed as active under this decision and reported it: the master
        # moves the service, or keeps us and re-issues the decision (which lifts
        # the block). Never on a timer: our "failed, standby" report let the
        # master promote elsewhere at once, and a block that expired by itself
        # promoted us again under the same assignment just as the master moved
        # it after an etcd outage: two actives (simulator seed 4328).
        return (self.assignment is not None and self.blocked is not None
                and tuple(self.assignment.active) == tuple(self.blocked.active)
                and self.server in self.assignment.active)

    def _target(self) -> str:
        target = roles.target_role(self.assignment, self.server)
        if target == "active" and (self.fenced or self._blocked()
                                   or (self.stood_down is not None
                                       and self.assignment.decision <= self.stood_down)):
            return "standby"
        return target

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
        target = self._target()
        if self._held(target):
            return await self._hold(about)
        plan = roles.steps(self.role, target, self.standby_mode, self.doc.spec.actuator.demote is not None)
        if not plan:
            # e.g. stopped -> cold standby: nothing to run, but say we are ready;
            # and a block that ended or a new assignment changes what we report.
            # The monitor must follow too: after a child exit it would otherwise
            # keep probing a dead child as active and its `fail` never clears.
            self.role = target
            self._set_monitor_role()
            if self.fenced and roles.target_role(self.assignment, self.server) == "active":
                # Not a step-down the master should act on: we are cut off and
                # converge again when the lease is renewed (unfence wakes us).
                return False
            outcome = self._outcome(f"{target}")
            if (self.role, outcome[0], epoch_of(self.assignment)) != self._reported:
                await self._report(*outcome)
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
        exits = self._exits
        # One step slot for the whole sequence, not per step: with hundreds
        # starting at once (a failover), every start queued before any
        # promote and no service was up until all had started.
        async with (self.steps or contextlib.nullcontext()):
            for step in plan:
                if target == "active" and (self.fenced or not self.legitimate()):
                    break  # fenced while on the way: go no further towards active
                if step == roles.PROMOTE:
                    self.promoting = True
                    self.on_role_change()
                try:
                    await getattr(self.actuator, step)(ctx)
                except ActuatorError as exc:
                    self.promoting = False
                    await self._failed(step, target, ctx, exc, about)
                    return True
                finally:
                    self.promoting = False
                if self._exits != exits:
                    # the child died while the step ran: _child_exited set
                    # "stopped", reported it, and wakes us to start again
                    self._set_monitor_role()
                    self.on_role_change()
                    return False
                self.role = roles.role_after(step, target, self.standby_mode)
        if target == "active" and (self.fenced or not self.legitimate()):
            # The fence came (or is due: found by the simulator, a promote
            # finishing right after a pause longer than the lease) while a step
            # was running; fence() is waiting for
            # this sequence to end and then undoes whatever made us active.
            self._set_monitor_role()
            return True
        self.retry_delay = RETRY_MIN
        if self.role == "active":
            self._counted, self._active_since, self.started_at = False, self.edges.monotonic(), self.edges.wall()
        self._set_monitor_role()
        if (roles.START in plan or roles.PROMOTE in plan) and hasattr(self.monitor, "begin_grace"):
            self.monitor.begin_grace()   # its checks' start-up grace counts from here
        self.on_role_change()
        log.info("%s: now %s (epoch %d)", self.name, self.role, epoch)
        if (was == "active") != (self.role == "active"):
            self.notify("promote" if self.role == "active" else "demote", was, self.role, about,
                        about.reason if about else "")
        await self._report(*self._outcome(f"{' + '.join(plan)} done"), about)
        return False

    def _outcome(self, message: str) -> tuple[str, str]:
        if self._blocked():
            # keep the failure visible so the master moves the active elsewhere
            return "failed", f"failed as active under this assignment; {message}; waiting for the master"
        return "ok", message

    async def _failed(self, step: str, target: str, ctx: ActionContext, exc: ActuatorError,
                      about: Optional[Assignment] = None) -> None:
        log.error("%s: %s failed (epoch %d): %s", self.name, step, ctx.epoch, exc)
        if target == "active":
            self._counted = False
            self._failure(f"{step} failed: {exc}")
            self._block()
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
        command that made the service active, then exited non-zero or hung):
        a demote that fails too is followed by a stop, as in a self-fence.
        Counting it as done left a promoted warm standby beside the master's
        next choice (simulator seed 216: a hung promote, then a hung demote)."""
        only_stop = steps is not None
        steps = steps or list(roles.fence_steps(self.doc.spec.actuator.demote is not None, self.standby_mode))
        for step in steps:   # may grow while it runs (below)
            try:
                await getattr(self.actuator, step)(ctx)
            except Exception as exc:  # whatever demote did, still try to stop
                log.error("%s: %s while retreating failed: %s", self.name, step, exc)
                if only_stop:
                    return   # after a failed demote: still active as far as we know
                if step == roles.DEMOTE and roles.STOP not in steps:
                    steps.append(roles.STOP)
        running = await self._running(ctx)
        self.role = "standby" if running and self.standby_mode == "warm" else "stopped"
        self._set_monitor_role()

    async def _running(self, ctx: ActionContext) -> bool:
        try:
            return bool(await self.actuator.running(ctx))
        except Exception:  # cannot tell: assume the safer "stopped" bookkeeping
            return False

    def _set_monitor_role(self) -> None:
        runs = roles.runs_as(self.role, self.standby_mode)
        if hasattr(self.monitor, "set_role"):
            self.monitor.set_role(self.role if runs else "stopped")

    async def _report(self, outcome: str, message: str, about: Optional[Assignment] = None) -> None:
        about = about or self.assignment   # the assignment this report answers
        self._reported = (self.role, outcome, epoch_of(about))
        pid = self.actuator.child_pid()
        report = ServiceReport(self.server, self.name, self.role, about.epoch if about else 0,
                               outcome, message, self.edges.wall(), pid, about.time if about else 0.0)
        if stood_down_under(report, about, self.server):
            # Whatever the path (a fence, a start while fenced, a failure), the
            # master may promote another server on this report: never become
            # active under this decision again (simulator seed 6805: a fenced
            # worker restarted its killed child as standby, reported it for a
            # newer assignment naming it active, then promoted once unfenced).
            self.stood_down = max(self.stood_down or 0, about.decision)
        await self.report(report)

    async def fence(self, why: str, event: str = "fence") -> None:
        """Self-fencing: stop acting as active without asking etcd."""
        self.fenced = True
        fenced_for = self.assignment
        if roles.target_role(fenced_for, self.server) == "active":
            self.stood_down = fenced_for.decision
        async with self._acting:
            await self._fence(why, fenced_for, event)

    async def _fence(self, why: str, fenced_for: Optional[Assignment] = None, event: str = "fence") -> None:
        if self.role != "active":
            return
        ctx = ActionContext(self.cluster, self.name, self.server, "standby", self.epoch())
        log.error("%s: self-fencing (%s, epoch %d): demoting local active", self.name, why, ctx.epoch)
        exits = self._exits
        steps = list(roles.fence_steps(self.doc.spec.actuator.demote is not None, self.standby_mode))
        for step in steps:   # may grow while it runs (below)
            try:
                await getattr(self.actuator, step)(ctx)
            except Exception as exc:  # a failed demote must not skip the stop
                log.error("%s: %s during self-fencing failed: %s", self.name, step, exc)
                # A warm active whose demote failed may still act as active:
                # stop it. Until a step succeeds the role stays "active", so
                # the fencer process (told at once, below) kills the group if
                # the stop fails too. Counting a failed demote as done left a
                # cut-off server's pbx promoted beside its successor (fault
                # suite seed 339: a link cut while demote commands failed).
                if step == roles.DEMOTE and roles.STOP not in steps:
                    steps.append(roles.STOP)
                if self._exits == exits:
                    continue
            if step == roles.DEMOTE and self.doc.spec.actuator.demote is None and self._exits == exits:
                # No command demoted it (the step only dropped its address): it
                # acts as active until the stop ends it, and the fencer must
                # keep its group. Counted as "standby", a vouch made meanwhile
                # dropped the group, and a stop that hung let it run beside its
                # successor (simulator seed 3309).
                continue
            self.role = self._role_after(step, "stopped", exits)
        self._set_monitor_role()
        self.on_role_change()
        self.notify(event, "active", self.role, fenced_for, why)
        # queued: reaches etcd when it answers again, so the master never trusts a stale "active".
        # It answers the assignment we stood down for: a newer one that arrived
        # while we demoted was not stood down for (we take it up once unfenced),
        # and the master must not read this report as our step-down from it.
        await self._report("ok", f"self-fenced: {why}", fenced_for)

    def unfence(self) -> None:
        self.fenced = False
        self._wake.set()

    async def close(self, stop: bool) -> None:
        for task in self._tasks:
            task.cancel()
        if stop:
            await self.actuator.close()
