"""Planner properties over random clusters, with a simulated loop of agents.

Each example builds servers, services and a random start, then runs events
(server death/return, health and check changes, actuator failures, agents
converging, time passing); after every event the master plans and applies.
Asserted at every step: never two actives for an active-standby service with
replicas 1 (counting a dead server as possibly active until its lease expiry
+ margin), a `fail` or dead server is never newly made active, and planning
again right after applying yields no Assign. Agents count a failure of a
check while active (failure memory) and a cold standby's checks go unknown.
At the end, with agents converged, the replicas are honoured when enough
eligible candidates exist.
"""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from tests.reconciler.planner_world import World, assigns, desired, service

SERVERS = ["s0", "s1", "s2", "s3", "s4"]
MARGIN = 0.5


@st.composite
def clusters(draw):
    n = draw(st.integers(2, 5))
    names = SERVERS[:n]
    domains = {s: draw(st.sampled_from(["a", "b", ""])) for s in names}
    services = []
    for i in range(draw(st.integers(1, 3))):
        cands = draw(st.permutations(names))[: draw(st.integers(1, n))]
        services.append(service(f"svc{i}", list(cands), replicas=draw(st.sampled_from([1, 1, 2])),
                                standby=draw(st.sampled_from(["warm", "cold"]))))
    return desired(domains, services, margin=MARGIN)


HEALTH = st.sampled_from(["ok", "ok", "warn", "fail", "unknown"])
CHECK = st.sampled_from(["ok", "ok", "warn", "fail", "unknown"])


class Sim:
    """The master's plan/apply plus a crude model of the agents."""

    def __init__(self, state, world: World):
        self.state, self.w, self.now = state, world, 0.0
        self.running: set[tuple[str, str]] = set()   # (server, service) actually acting as active
        self.counted: set[tuple[str, str]] = set()   # failures of the current active period, counted

    def possibly_active(self, svc: str) -> list[str]:
        out = []
        for server, name in self.running:
            if name != svc:
                continue
            since = self.w.down_since.get(server)
            if server in self.w.live or (since is not None and self.now < since + MARGIN):
                out.append(server)
        return out

    def converge(self, server: str, failing: frozenset = frozenset()) -> None:
        if server not in self.w.live:
            return
        for name, a in self.w.assignments.items():
            if server in a.active and name not in failing:
                self.running.add((server, name))
                self.w.report(server, name, "active")
            else:
                self.running.discard((server, name))
                outcome = "failed" if name in failing else "ok"
                self.w.report(server, name, "standby", outcome=outcome)
                if self.state.services[name].spec.standby == "cold" and (server, name, "alive") in self.w.checks:
                    self.w.check(server, name, "alive", "unknown")   # a cold standby runs no checks

    def count_failures(self) -> None:
        """What agents do: a check in fail while running as active is one more failure there."""
        for server, name in sorted(self.running):
            if self.w.checks.get((server, name, "alive"), ("ok",))[0] == "fail" and (server, name) not in self.counted:
                self.counted.add((server, name))
                old = self.w.failures.get((server, name))
                self.w.failed(server, name, self.now, (old.count if old else 0) + 1)

    def master(self) -> None:
        self.count_failures()
        self.counted &= self.running
        before = {n: set(a.active) for n, a in self.w.assignments.items()}
        actual = self.w.actual()
        actions = self.w.step(self.state, self.now)
        for a in assigns(actions):
            for server in set(a.active) - before.get(a.service, set()):
                rec = actual.servers.get(server)
                assert rec is not None, f"dead {server} made active: {a}"
                assert rec.health != "fail", f"fail server {server} made active: {a}"
        # Level-triggered: re-planning what was just applied reaches a fixed
        # point. One extra pass is allowed for one case only: an active that
        # stepped down under the current assignment is replaced, and is
        # eligible again only under the new decision, where it may take the
        # slot of an unhealthy active kept for want of a candidate (found by
        # Hypothesis: s0 stepped down while s1 was in fail).
        again = assigns(self.w.plan(self.state, self.now))
        if again:
            stepped = {s for a in assigns(actions) for s in before.get(a.service, set()) - set(a.active)
                       if actual.reports.get((s, a.service)) is not None
                       and actual.reports[(s, a.service)].role != "active"
                       and actual.reports[(s, a.service)].outcome == "ok"}
            assert stepped, f"plan after apply is not empty: {again}"
            self.w.step(self.state, self.now)
            assert not assigns(self.w.plan(self.state, self.now)), "plan after two applies is not empty"
        self.check_invariant()

    def check_invariant(self) -> None:
        for name, svc in self.state.services.items():
            if svc.spec.mode == "active-standby" and svc.spec.replicas == 1:
                assert len(self.possibly_active(name)) <= 1, (name, self.running, self.w.assignments)
                a = self.w.assignments.get(name)
                assert a is None or len(a.active) <= 1


def run_event(sim: Sim, data, names: list[str], services: list[str]) -> None:
    kind = data.draw(st.sampled_from(["kill", "revive", "health", "check", "agent", "agent",
                                      "actfail", "tick", "tick"]))
    server = data.draw(st.sampled_from(names))
    w = sim.w
    if kind == "kill" and server in w.live:
        w.kill(server, sim.now)
    elif kind == "revive" and server not in w.live:
        w.live[server] = data.draw(HEALTH)
        w.down_since.pop(server, None)
        sim.running = {(s, n) for s, n in sim.running if s != server}   # it self-fenced
        for name in services:
            w.report(server, name, "stopped")
    elif kind == "health" and server in w.live:
        w.live[server] = data.draw(HEALTH)
    elif kind == "check":
        w.check(server, data.draw(st.sampled_from(services)), "alive", data.draw(CHECK))
    elif kind == "agent":
        sim.converge(server)
    elif kind == "actfail":
        sim.converge(server, frozenset([data.draw(st.sampled_from(services))]))
    elif kind == "tick":
        sim.now += data.draw(st.sampled_from([0.1, 0.3, 1.0]))
    sim.master()


def eligible(sim: Sim, server: str, name: str, svc, active: tuple) -> bool:
    w = sim.w
    if w.live.get(server, "fail") == "fail":
        return False
    report = w.reports.get((server, name))
    if report is not None and report.outcome == "failed":
        return False
    if svc.spec.standby == "cold" and server not in active:
        return True   # a cold standby's checks do not run; failure memory only ranks it
    return w.checks.get((server, name, "alive"), ("unknown",))[0] != "fail"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=clusters(), data=st.data())
def test_random_loops_keep_the_invariants(state, data):
    names = list(state.servers)
    services = list(state.services)
    live = {s: data.draw(HEALTH) for s in names if data.draw(st.booleans()) or s == names[0]}
    sim = Sim(state, World(live=live))
    sim.master()
    for _ in range(data.draw(st.integers(1, 40))):
        run_event(sim, data, names, services)
    # calm: every agent converges, time passes; the plan settles
    for _ in range(8):
        for server in names:
            sim.converge(server)
        sim.now += 1.0
        sim.master()
    assert not sim.w.plan(state, sim.now)
    for name, svc in state.services.items():
        a = sim.w.assignments.get(name)
        active = a.active if a else ()
        able = [s for s in svc.spec.candidates if eligible(sim, s, name, svc, active)]
        placed = [s for s in active if eligible(sim, s, name, svc, active)]
        assert len(placed) == min(svc.spec.replicas, len(able)), (name, a, able)
