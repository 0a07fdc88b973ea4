"""Runs one schedule on a fresh lab and judges it.

Steps: build the lab (tests/faults/lab.py), wait until both services run,
fire the faults and their heals at their times, then watch until every
service has had its actives for `settle` seconds (or the bound has passed),
and hand the record to the checker. A failing schedule keeps its directory
(journal, agents' and etcd's logs, the schedule, the verdict) under
test-artifacts/faults/; a passing one is deleted.
"""
from __future__ import annotations

import heapq
import itertools
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .checker import ServiceSpec, Verdict, build_intervals, check, judge_calm, judge_server_loss
from .docs import Timing, specs_for
from .inject import Injector
from .lab import FaultLab
from .relations import judge_relations
from .sampler import Sampler
from .schedule import Schedule

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "faults"


@dataclass
class Result:
    schedule: Schedule
    verdict: Verdict
    injected: int
    kept: Optional[Path]
    seconds: float


def _healthy(sampler: Sampler, specs: dict[str, ServiceSpec]) -> bool:
    events, last_alive = sampler.snapshot()
    intervals, _, _ = build_intervals(events, last_alive, specs, sampler.stopped())
    return all(sum(1 for iv in intervals if iv.service == s and iv.end is None) == spec.replicas
               for s, spec in specs.items())


def _wait_converged(lab: FaultLab, sampler: Sampler, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    missing: list[str] = []
    while time.monotonic() < deadline:
        # warm standbys run too: every candidate of a warm service has a live child
        events, _ = sampler.snapshot()
        started = {(e["service"], e["server"]) for e in events if e["action"] == "start"}
        missing = [f"{s} on {c}" for s, spec in lab.specs.items() if spec.warm
                   for c in spec.candidates if (s, c) not in started]
        if _healthy(sampler, lab.specs) and not missing:
            return
        time.sleep(0.1)
    raise AssertionError(f"cluster not converged within {timeout}s (no child of {', '.join(missing) or '-'}); "
                         f"see {lab.workdir}")


def run(schedule: Schedule, workdir: Path, timing: Timing = Timing(), keep: bool = False,
        converge_timeout: float = 60.0, fence: bool = True) -> Result:
    """`fence`: every Server has the lab's power switch as its fence agent."""
    started = time.monotonic()
    workdir = Path(workdir)
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / "schedule.json").write_text(schedule.to_json())
    log_file = open(workdir / "faults.log", "a")

    def log(line: str) -> None:
        log_file.write(f"{time.time():.3f} {line}\n")
        log_file.flush()

    try:
        verdict, injected = _run_in_lab(schedule, workdir, timing, converge_timeout, log, fence)
    except BaseException:
        log_file.close()
        _keep(workdir, schedule, "error")   # a broken run keeps its logs too
        raise
    log_file.close()
    kept = _keep(workdir, schedule, "seed" if fence else "nofence-seed") if (not verdict.ok or keep) else None
    shutil.rmtree(workdir, ignore_errors=True)
    return Result(schedule, verdict, injected, kept, time.monotonic() - started)


def _keep(workdir: Path, schedule: Schedule, tag: str) -> Path:
    kept = ARTIFACTS / f"{schedule.label}-{tag}-{schedule.seed}"
    if kept.exists():
        shutil.rmtree(kept)
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(workdir, kept, ignore=shutil.ignore_patterns("etcd-s?", "state-*"))
    return kept


def _fire_all(schedule: Schedule, injector: Injector, begin: float) -> float:
    """Fire every fault and heal at its time; returns when the last heal ran.
    `injector.heals` gets each heal's time (a fault without one heals as it fires)."""
    order = itertools.count()
    queue = [(begin + f.at, next(order), "fire", f) for f in schedule.faults]
    heapq.heapify(queue)
    healed = begin
    while queue:
        when, _, what, item = heapq.heappop(queue)
        time.sleep(max(0.0, when - time.time()))
        if what == "fire":
            heals = injector.fire(item)
            for delay, action in heals:
                heapq.heappush(queue, (time.time() + delay, next(order), "heal", action))
            if not heals:
                injector.heals.append(time.time())
        else:
            item()
            injector.heals.append(time.time())
        healed = time.time()
    for thread in injector.operator_threads:   # a switchover counts as healed once it answered
        thread.join(15)
        healed = max(healed, time.time())
    return healed


def _run_in_lab(schedule: Schedule, workdir: Path, timing: Timing, converge_timeout: float,
                log, fence: bool = True) -> tuple[Verdict, int]:
    bound, settle = timing.bound(), timing.lease_ttl
    specs = specs_for(schedule.related)
    with FaultLab(workdir, timing=timing, fence=fence, specs=specs) as lab, Sampler(lab.journal) as sampler:
        _wait_converged(lab, sampler, converge_timeout)
        begin = time.time()
        log(f"converged; schedule {schedule.label} seed {schedule.seed}"
            f" ({'with' if fence else 'without'} fence agents"
            f"{', services with relationships' if schedule.related else ''}):\n{schedule.describe()}")
        injector = Injector(lab, sampler, log)
        healed = _fire_all(schedule, injector, begin)
        log("healed")
        # watch until every service has had its actives for `settle` seconds, or the bound passed
        calm_since: Optional[float] = None
        while True:
            now = time.time()
            if _healthy(sampler, specs):
                calm_since = calm_since or now
                if now - calm_since >= settle:
                    break
            else:
                calm_since = None
            if now > healed + bound + settle:
                break
            time.sleep(0.1)
        end = time.time()
        sampler.stop()
        events, last_alive = sampler.snapshot()
        verdict = check(events, last_alive, specs, begin=begin, healed=healed, end=end, bound=bound,
                        impaired=injector.impaired, blocked=injector.blocked, stopped=sampler.stopped())
        if schedule.label == "calm" or all(f.blip for f in schedule.faults):
            judge_calm(verdict, schedule.faults)
        for host, at, services in injector.losses:
            # when every fault hit the lost host alone, the others must take over within the bound
            if set(injector.targets) == {host}:
                judge_server_loss(verdict, specs, host, at, services, timing.server_loss_bound(), end)
        judge_relations(verdict, specs, timing, end=end, heals=injector.heals, blocked=injector.blocked)
        log(report(verdict))
    return verdict, injector.injected


def report(verdict: Verdict) -> str:
    lines = ["verdict: " + ("ok" if verdict.ok else "FAILED")]
    lines += [f"  double active: {d}" for d in verdict.doubles]
    lines += [f"  stale epoch: {d}" for d in verdict.stale_epochs]
    lines += [f"  stuck: {d}" for d in verdict.stuck]
    lines += [f"  calm: {d}" for d in verdict.calm]
    lines += [f"  late: {d}" for d in verdict.late]
    lines += [f"  relations: {d}" for d in verdict.relations]
    lines += [f"  anomaly: {d}" for d in verdict.anomalies]
    lines += [f"  recovery {s}: " + ("stuck" if r is None else f"{r:.2f}s") for s, r in verdict.recovery.items()]
    if verdict.judged_relations:
        lines.append(f"  relations judged: {verdict.judged_relations} (new actives and stretches apart)")
    lines.append(f"  worst outage while a candidate was healthy: {verdict.worst_outage:.2f}s "
                 f"({verdict.worst_outage_service or '-'})")
    for iv in verdict.intervals:
        end = f"{iv.end:.3f}" if iv.end is not None else "end"
        lines.append(f"  active {iv.service} on {iv.server} pid {iv.pid} epoch {iv.epoch}: {iv.start:.3f} .. {end}")
    return "\n".join(lines)
