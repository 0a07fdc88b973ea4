"""Services that depend on each other: start order (`requires`) and colocation (`colocateWith`).

What a relationship means to the plan (docs/reference.md, "Relationships"):

- A service that `requires` others gets no new active (no first placement,
  no promotion, no restart in place) while any of them has no active. One
  that is already active stays: a failover of what it requires would
  otherwise restart everything above it, and right after an etcd outage
  "no active" is often only "not reported again yet". The reason says what
  it waits for.
- A service `colocateWith` an anchor is active only where the anchor is
  headed in this very plan (its new active set, or the successor of a
  handover) and is promoted there only once the anchor is active there. It
  leaves any other server, and one where the anchor said it is not active
  (failed, stepped down, child gone), even when nobody can take over.
- The anchor's grade on a server includes its members' (a member failing
  there moves the whole group; failure memory of either ranks the server
  lower), and the anchor leaves a live server only once every member has
  left it: dependents stop first.

"Has an active" is read from reports: an assigned active, live, reporting
role active for the current assignment, written by the agent running now
(a report older than the agent's start is from before a restart). The plan
visits anchors and required services before their dependents, so a member
sees where its anchor is headed in the same pass.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Optional

from overseer.desired.models import ServiceDoc
from overseer.desired.relations import colocation_chain
from overseer.desired.state import Assignment, DesiredState, Outcome, Role, ServerRecord, ServiceReport

from .actions import Action, Assign, ClearSwitchover, Record, Refusal
from .failover import Decision
from .health import FAIL, MARKED, WARN, View
from .inputs import ActualState


def declared(desired: DesiredState) -> bool:
    return any(doc.spec.requires or doc.spec.colocateWith for doc in desired.services.values())


def reported_active(servers: Mapping[str, ServerRecord], reports: Mapping[tuple, ServiceReport],
                    assignment: Optional[Assignment], server: str, name: str) -> bool:
    """Whether live `server` reported `name` active for its current `assignment`,
    in a report written by the agent running there now. The agents read it so
    too (agent/waits.py): a worker holds what depends on `name` until then."""
    record = servers.get(server)
    report = reports.get((server, name))
    return (record is not None and report is not None and assignment is not None
            and report.role == Role.ACTIVE and report.outcome != Outcome.FAILED
            and report.assigned >= assignment.time and report.time >= record.started)


def planning_order(desired: DesiredState) -> list[str]:
    """Services with what they depend on first, then by name (validation refuses cycles; any left
    over are visited by name)."""
    services = desired.services
    done: dict[str, None] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done or name in visiting or name not in services:
            return
        visiting.add(name)
        spec = services[name].spec
        for other in sorted({*spec.requires, *([spec.colocateWith] if spec.colocateWith else [])}):
            visit(other)
        visiting.discard(name)
        done[name] = None

    for name in sorted(services):
        visit(name)
    return list(done)


def stop_order(desired: DesiredState, names: list[str]) -> list[str]:
    """`names` with dependents before what they depend on (drain moves them in this order)."""
    order = planning_order(desired)
    rank = {name: i for i, name in enumerate(reversed(order))}
    return sorted(names, key=lambda n: (rank.get(n, -1), n))


def followers(desired: DesiredState, names: list[str]) -> list[str]:
    """Those of `names` colocated with another service: they move with it, never on their own."""
    return [n for n in names if n in desired.services and desired.services[n].spec.colocateWith]


class Relations:
    """Who waits for whom in one plan, and where each service has an active."""

    def __init__(self, desired: DesiredState, actual: ActualState, assignments: Mapping[str, Assignment]):
        self.services = desired.services
        self.actual = actual
        self.assignments = assignments
        self.members: dict[str, list[str]] = {}
        for name, doc in sorted(self.services.items()):
            anchor = doc.spec.colocateWith
            if anchor in self.services and anchor != name:
                self.members.setdefault(anchor, []).append(name)
        self.heading: dict[str, tuple[str, ...]] = {}
        self._up: dict[str, tuple[str, ...]] = {}

    # --- what the snapshot says ----------------------------------------------------

    def current(self, name: str) -> tuple[str, ...]:
        a = self.assignments.get(name)
        return tuple(a.active) if a else ()

    def up(self, name: str) -> tuple[str, ...]:
        """Servers where `name` is active now, as its agents reported for its current assignment."""
        found = self._up.get(name)
        if found is None:
            found = self._up[name] = tuple(s for s in self.current(name) if self._reports_up(s, name))
        return found

    def _reports_up(self, server: str, name: str) -> bool:
        return reported_active(self.actual.servers, self.actual.reports, self.assignments.get(name), server, name)

    def stopped_here(self, name: str, server: str) -> bool:
        """`name` said it is not active on `server` under its current assignment
        (failed, stepped down, its child gone), or failed there: its followers leave."""
        report = self.actual.reports.get((server, name))
        assignment = self.assignments.get(name)
        if report is None or assignment is None or server not in self.actual.servers:
            return False
        if report.outcome == Outcome.PENDING:   # it waits to become active here (agent/waits.py)
            return False
        return report.outcome == Outcome.FAILED or (report.role != Role.ACTIVE and report.assigned >= assignment.time)

    def missing(self, name: str) -> list[str]:
        """Required services with no active now."""
        doc = self.services.get(name)
        if doc is None:
            return []
        return [r for r in doc.spec.requires if r in self.services and r != name and not self.up(r)]

    def anchor(self, name: str) -> Optional[str]:
        doc = self.services.get(name)
        anchor = doc.spec.colocateWith if doc else None
        return anchor if anchor in self.services and anchor != name else None

    def headed(self, name: str) -> tuple[str, ...]:
        """Where `name` is to be active after this plan (its assignment's actives until planned)."""
        return self.heading.get(name, self.current(name))

    def may_start(self, name: str, server: str) -> bool:
        """Whether `name` may be made (or made again) active on `server` now."""
        anchor = self.anchor(name)
        return not self.missing(name) and (anchor is None or server in self.up(anchor))

    def group(self, name: str) -> list[str]:
        """Every service colocated with `name`, directly or through another, nearest first."""
        out, todo = [], list(self.members.get(name, ()))
        while todo:
            member = todo.pop(0)
            if member not in out and member != name:
                out.append(member)
                todo.extend(self.members.get(member, ()))
        return out

    def member_on(self, name: str, server: str) -> Optional[str]:
        """A service colocated with `name` that may still run as active on live
        `server`: it reports active there, or is assigned there and has not said
        it stopped under that assignment. One that did has left, even if its
        assignment stays (a paused follower whose active fenced itself: holding
        its anchor there kept the anchor from moving until the resume)."""
        if server not in self.actual.servers:
            return None
        for member in self.members.get(name, ()):
            report = self.actual.reports.get((server, member))
            if report is not None and report.role == Role.ACTIVE:
                return member
            if server in self.current(member) and not self._stood_down(member, server):
                return member
        return None

    def _stood_down(self, name: str, server: str) -> bool:
        report = self.actual.reports.get((server, name))
        assignment = self.assignments.get(name)
        return (report is not None and assignment is not None and report.role != Role.ACTIVE
                and report.outcome != Outcome.PENDING and report.assigned >= assignment.time)

    # --- grades and words (RelatedView) ----------------------------------------------

    def floor(self, view: View, server: str, name: str, svc: ServiceDoc) -> tuple[int, str]:
        """The lowest grade the relationships allow `name` on `server`, and why."""
        anchor = self.anchor(name)
        if anchor is not None:
            if server not in self.headed(anchor):
                return FAIL, f"{anchor} is not to be active here (colocated with it)"
            if server not in self.current(name) and server not in self.up(anchor):
                return FAIL, f"waiting for {anchor} to be active here (colocated with it)"
            if self.stopped_here(anchor, server):
                return FAIL, f"{anchor} is not active here (colocated with it)"
        missing = self.missing(name)
        if missing and server not in self.current(name):
            return FAIL, waiting_words(missing)
        worst, words = 0, ""
        for member in self.group(name):
            doc = self.services[member]
            if server not in doc.spec.candidates:
                grade, why = MARKED, f"not a candidate of {member} (colocated with {name})"
            else:
                grade = min(View.grade(view, server, member, doc), FAIL)
                why = f"{member}: {View.why(view, server, member, doc)}" if grade >= WARN else ""
            if grade > worst:
                worst, words = grade, why
        return worst, words


def waiting_words(missing: list[str]) -> str:
    what = ", ".join(missing)
    return f"waiting for {what}: {'it has' if len(missing) == 1 else 'they have'} no active (required)"


class RelatedView(View):
    """A View whose grades and words include the relationships."""

    def __init__(self, desired: DesiredState, actual: ActualState, now: float, relations: Relations):
        super().__init__(desired, actual, now)
        self.relations = relations

    def grade(self, server: str, name: str, svc: ServiceDoc) -> int:
        own = super().grade(server, name, svc)
        floor, _ = self.relations.floor(self, server, name, svc)
        return max(own, floor)

    def why(self, server: str, name: str, svc: ServiceDoc) -> str:
        own = super().grade(server, name, svc)
        floor, words = self.relations.floor(self, server, name, svc)
        return words if floor > own and words else super().why(server, name, svc)


# --- the decision, adjusted ------------------------------------------------------------

def member_switchover(relations: Relations, name: str) -> Optional[Refusal]:
    anchor = relations.anchor(name)
    if anchor is None:
        return None
    return Refusal(f"{name} is colocated with {anchor}: switch {anchor} over, {name} moves with it")


def settle(view: View, relations: Relations, name: str, svc: ServiceDoc, current: Optional[Assignment],
           decision: Decision) -> Optional[Decision]:
    """The decision with the relationships applied, or None to write nothing yet (an anchor whose
    member still runs on a server it leaves). Records where `name` is headed."""
    cur = tuple(current.active) if current else ()
    known = set(cur) | set(current.standby if current else ())
    anchor = relations.anchor(name)
    if anchor is not None:
        headed = relations.headed(anchor)
        apart = [s for s in decision.active if s in view.live
                 and (s not in headed or relations.stopped_here(anchor, s))]
        if apart:   # kept only because nobody else could take over: colocation says leave
            active = tuple(s for s in decision.active if s not in apart)
            standby = decision.standby + tuple(s for s in apart if s in svc.spec.candidates
                                               and s not in decision.standby)
            decision = replace(decision, active=active, standby=standby,
                               removed=tuple(s for s in cur if s not in active),
                               retained=tuple(s for s in decision.retained if s not in apart))
    if relations.missing(name) or (anchor is not None and not relations.up(anchor)):
        # nothing is started while it waits: no standby joins either
        decision = replace(decision, standby=tuple(s for s in decision.standby if s in known))
    relations.heading[name] = decision.active + decision.pending
    leaving = [s for s in (*cur, *decision.demoting) if s not in decision.active]
    if any(relations.member_on(name, s) for s in leaving):
        return None
    return decision


def annotate(relations: Relations, name: str, actions: list[Action]) -> list[Action]:
    """Say in the reason what the service waits for, when it waits."""
    missing = relations.missing(name)
    anchor = relations.anchor(name)
    if not missing and anchor is not None and relations.up(anchor):
        added = [s for a in actions if isinstance(a, Assign) for s in a.active if s not in relations.current(name)]
        return [_following(anchor, added, a) for a in actions] if added else actions
    if missing:
        note = waiting_words(missing) + "; placed and promoted once it has one"
    elif anchor is not None and not relations.up(anchor):
        note = f"colocated with {anchor}, which has no active yet; it follows once {anchor} is active"
    else:
        return actions
    out: list[Action] = []
    for action in actions:
        if isinstance(action, Assign) and not set(action.active) - set(relations.current(name)):
            action = replace(action, reason=f"{note}; {action.reason}")
        elif isinstance(action, Record):
            action = replace(action, message=f"{note}; {action.message}")
        out.append(action)
    return out


def _following(anchor: str, added: list[str], action: Action) -> Action:
    """A follower made active: it follows its anchor (not a handover of its own)."""
    if isinstance(action, Assign):
        return replace(action, reason=_follow_words(anchor, added, action.reason))
    if isinstance(action, Record) and action.server in added:
        return replace(action, message=_follow_words(anchor, added, action.message))
    return action


def _follow_words(anchor: str, added: list[str], text: str) -> str:
    return f"following {anchor}, active on {', '.join(added)}; " + text.removeprefix("handover: previous active demoted; ")


def refuse_member_switchover(relations: Relations, name: str, request) -> tuple[list[Action], object]:
    """A switchover asked of a colocated service is refused: its anchor decides where it runs."""
    refusal = member_switchover(relations, name) if request is not None else None
    if refusal is None:
        return [], request
    return [ClearSwitchover(name, refusal)], None


def unadoptable(desired: DesiredState, actual: ActualState, assignments: Mapping[str, Assignment]) -> set[str]:
    """Services whose assignment a new master must not re-issue yet: an active
    it names may not start now (what it requires, or its anchor there, has no
    active). Re-issued together after a whole-cluster restart, every service
    started at once; held back, each starts after what it depends on."""
    if not declared(desired):
        return set()
    rel = Relations(desired, actual, assignments)
    return {name for name, a in assignments.items() if name in desired.services
            and not all(rel.may_start(name, s) for s in a.active)}
