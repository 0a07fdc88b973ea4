"""Running mutants: one scratch copy and one child process each, then the table.

A mutant is caught when the simulator, run on its scratch copy from seed 1,
reports a violation of one of the mutant's invariants within its budget of
seeds. Each catching seed is then run on an unmutated copy (the control): if
the same invariant fails there too, the catch proves nothing and counts as a
failure. Mutants are independent, so `jobs` of them run at once; one by
default (the simulator is CPU-bound).
"""
from __future__ import annotations

import concurrent.futures
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from .catalogue import Mutant, budget
from .scratch import MutantDoesNotApply, MutatedFile, build

CHILD = Path(__file__).resolve().with_name("child.py")
PRISTINE = Mutant("control", "no mutation", (), ())
SECONDS_PER_SEED_LIMIT = 3.0   # a child running slower than this per seed is stuck, not slow


@dataclass
class Outcome:
    mutant: Mutant
    budget: int
    estimated: bool
    caught: Optional[int] = None      # the seed it was caught at
    tried: int = 0
    seconds: float = 0.0
    message: str = ""                 # the catching violation
    others: list = field(default_factory=list)   # [seed, invariant, message] of other violations
    reached: Optional[bool] = None    # did the mutated code run at all (in the first `reach_seeds`)
    reach_seeds: int = 0
    error: str = ""                   # the mutant did not apply, or the run broke
    control: str = ""                 # set when the unmutated code fails the catching seed too
    unknown: tuple[str, ...] = ()     # expected invariants this checker does not have
    catching: list = field(default_factory=list)  # every catching seed (all of them with every_seed)

    @property
    def passed(self) -> bool:
        return self.caught is not None and not self.error and not self.control


def run_child(scratch: Path, files: list[MutatedFile], seeds: list[int], catches: Iterable[str],
              pattern: str = "", every_seed: bool = False, path: Optional[str] = None) -> dict:
    """child.py's result for these seeds on the copy in `scratch` (`path`: what
    the child's PYTHONPATH is instead of `scratch`; the tests' wrong tree)."""
    job = {"scratch": str(scratch), "files": [f.__dict__ for f in files], "seeds": seeds,
           "catches": list(catches), "pattern": pattern, "every_seed": every_seed,
           "result": str(scratch / "result.json")}
    (scratch / "job.json").write_text(json.dumps(job))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONPATH=str(scratch) if path is None else path, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
    limit = 60 + SECONDS_PER_SEED_LIMIT * len(seeds)
    try:
        proc = subprocess.run([sys.executable, str(CHILD), str(scratch / "job.json")], env=env, cwd=scratch,
                              capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"error": f"the child ran longer than {limit:.0f}s for {len(seeds)} seeds: stuck"}
    result_file = scratch / "result.json"
    if proc.returncode != 0 or not result_file.exists():
        return {"error": f"child exited {proc.returncode}: {proc.stderr[-2000:]}"}
    return json.loads(result_file.read_text())


def run_mutant(mutant: Mutant, seeds: Optional[int] = None, first: int = 1, every_seed: bool = False) -> Outcome:
    """Run `mutant` over its budget (or `seeds`) from seed `first`, without the
    control; `every_seed`: past the first catch, to see how often it is caught."""
    n, estimated = budget(mutant)
    if seeds is not None:
        n = seeds
    outcome = Outcome(mutant, n, estimated and seeds is None)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"overseer-mutant-{mutant.name}-") as tmp:
        try:
            files = build(mutant, Path(tmp))
        except MutantDoesNotApply as exc:
            outcome.error = str(exc)
            return outcome
        result = run_child(Path(tmp), files, list(range(first, first + n)), mutant.catches, mutant.pattern,
                            every_seed)
    outcome.seconds = time.monotonic() - started
    outcome.error = result.get("error", "")
    outcome.caught, outcome.message = result.get("caught"), result.get("message", "")
    outcome.tried, outcome.others = result.get("tried", 0), result.get("others", [])
    outcome.catching = result.get("catching", [])
    outcome.reached, outcome.reach_seeds = result.get("reached"), result.get("reach_seeds", 0)
    known = result.get("invariants") or []
    outcome.unknown = tuple(i for i in mutant.catches if known and i not in known)
    return outcome


def control(outcomes: list[Outcome]) -> None:
    """Run every catching seed on the unmutated tree; a seed that fails the
    same invariant there proves nothing about the mutant."""
    caught = [o for o in outcomes if o.caught is not None and not o.error]
    if not caught:
        return
    seeds = sorted({o.caught for o in caught})
    with tempfile.TemporaryDirectory(prefix="overseer-mutant-control-") as tmp:
        build(PRISTINE, Path(tmp))
        result = run_child(Path(tmp), [], seeds, (), every_seed=True)
    if result.get("error"):
        for o in caught:
            o.control = "the control run broke: " + result["error"].strip().splitlines()[-1]
        return
    for o in caught:
        same = [msg for inv, msg in result["by_seed"].get(str(o.caught), []) if inv in o.mutant.catches]
        if same:
            o.control = f"seed {o.caught} fails {same[0]!r} without the mutant too"


def run_all(mutants: list[Mutant], jobs: int = 1, seeds: Optional[int] = None, first: int = 1,
            with_control: bool = True, every_seed: bool = False,
            on_done: Callable[[Outcome], None] = lambda o: None) -> list[Outcome]:
    """Every mutant (in `jobs` processes at once), then the control; in catalogue order."""
    outcomes: dict[str, Outcome] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(run_mutant, m, seeds, first, every_seed): m for m in mutants}
        for future in concurrent.futures.as_completed(futures):
            outcome = future.result()
            outcomes[outcome.mutant.name] = outcome
            on_done(outcome)
    ordered = [outcomes[m.name] for m in mutants]
    if with_control:
        control(ordered)
    return ordered


def suggested(hits: int, tried: int, miss: float = 0.001) -> int:
    """Seeds within which a mutant caught by `hits` of `tried` seeds is missed
    with probability `miss` (seeds taken as independent draws)."""
    rate = hits / tried
    return 1 if rate >= 1 else math.ceil(math.log(miss) / math.log(1 - rate))


def verdict(o: Outcome) -> str:
    if o.error:
        return "ERROR"
    if o.caught is not None:
        rate = f" ({len(o.catching)} of {o.tried} seeds)" if len(o.catching) > 1 else ""
        return f"caught at seed {o.caught}{rate}" + (" (CONTROL FAILS)" if o.control else "")
    return "NOT CAUGHT"


def table(outcomes: list[Outcome], wall: Optional[float] = None) -> str:
    header = ("mutant", "expected", "result", "seeds tried", "time", "code ran")
    rows = []
    for o in outcomes:
        seeds = f"{o.tried}/{o.budget}" + ("*" if o.estimated else "")
        ran = "-" if o.reached is None else ("yes" if o.reached else f"not in first {o.reach_seeds}")
        rows.append((o.mutant.name, "/".join(o.mutant.catches), verdict(o), seeds, f"{o.seconds:.1f}s", ran))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in (header, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = []
    if any(o.estimated for o in outcomes):
        notes.append("* budget is an estimate (catalogue.ESTIMATED), not yet measured")
    for o in outcomes:
        if o.error:
            notes.append(f"{o.mutant.name}: {o.error.strip().splitlines()[-1]}")
        if o.control:
            notes.append(f"{o.mutant.name}: control: {o.control}")
        if o.unknown:
            notes.append(f"{o.mutant.name}: this checker has no invariant {', '.join(o.unknown)}")
        if o.caught is None and o.others:
            seed, inv, msg = o.others[0]
            notes.append(f"{o.mutant.name}: not the expected invariant, but seed {seed}: {inv}: {msg}")
        if o.caught is not None:
            notes.append(f"{o.mutant.name}: {o.message}")
        if len(o.catching) > 1:
            notes.append(f"{o.mutant.name}: caught by {len(o.catching)} of {o.tried} seeds; "
                         f"within {suggested(len(o.catching), o.tried)} seeds misses it 1 time in 1,000")
    survived = sum(not o.passed for o in outcomes)
    summary = f"{len(outcomes) - survived} of {len(outcomes)} mutants caught"
    if wall is not None:
        summary += f" in {wall:.0f}s"
    return "\n".join([*lines, "", summary, *(f"  {n}" for n in notes)])

