"""One gauntlet run, in a process of its own: `python child.py <job.json>`.

Run as a script with `PYTHONPATH=<scratch dir>`, so `overseer` is the scratch
copy. Before any seed it checks that the mutated modules were imported from
the copy with the mutated text (their SHA-256), and after the last seed that
no `overseer` module came from anywhere else: a gauntlet that quietly ran the
working tree would report every mutant as "not caught" and prove nothing.
Then it runs the seeds in order, stopping at the first violation of an
expected invariant (or running them all, `every_seed`: the control, and
measuring how often a mutant is caught), and writes what it saw to the result
file named in the job.

While it runs it also notes whether the mutated code ran at all
(`sys.settrace` on calls, for the functions whose lines the mutant changed,
switched off once one ran, or after REACH_SEEDS seeds: tracing every call
costs about twice the run): a mutant whose code never runs cannot be caught,
whatever the checker. Standard library only until the checks have passed.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import re
import sys
import time
import traceback
from pathlib import Path


REACH_SEEDS = 20


class WrongTree(Exception):
    """An `overseer` module came from somewhere other than the scratch copy."""


def _under(path: str | None, scratch: Path) -> bool:
    return path is not None and Path(path).resolve().is_relative_to(scratch)


def check_mutated(scratch: Path, files: list[dict]) -> None:
    top = importlib.import_module("overseer")
    if not _under(getattr(top, "__file__", None), scratch):
        raise WrongTree(f"overseer was imported from {getattr(top, '__file__', None) or top.__path__}, "
                        f"not from the scratch copy {scratch}")
    for f in files:
        module = importlib.import_module(f["module"])
        if not _under(module.__file__, scratch):
            raise WrongTree(f"{f['module']} was imported from {module.__file__}, not from {scratch}")
        digest = hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest()
        if digest != f["sha256"]:
            raise WrongTree(f"{module.__file__} is not the mutated text (sha256 {digest})")


def check_all_from_scratch(scratch: Path) -> None:
    strays = [f"{name} ({getattr(m, '__file__', None)})" for name, m in list(sys.modules.items())
              if (name == "overseer" or name.startswith("overseer."))
              and getattr(m, "__file__", None) is not None and not _under(m.__file__, scratch)]
    if strays:
        raise WrongTree("imported from outside the scratch copy: " + ", ".join(sorted(strays)))


class Reach:
    """Has a mutated line run yet? Calls of the functions holding one are
    traced line by line; every other call costs one lookup."""

    def __init__(self, files: list[dict]):
        self.lines: dict[tuple, set[int]] = {}   # (file, first line, name) -> its mutated lines
        self.files: set[str] = set()
        self.reached = False
        for f in files:
            filename = sys.modules[f["module"]].__file__
            changed = set(f["lines"])
            code = compile(Path(filename).read_text(), filename, "exec")
            in_a_function = False
            for c in _all_codes(code):
                mine = {line for _, _, line in c.co_lines() if line is not None} & changed
                # module and class bodies ran at import; functions have CO_OPTIMIZED
                if c.co_flags & inspect.CO_OPTIMIZED and mine:
                    self.lines[(c.co_filename, c.co_firstlineno, c.co_name)] = mine
                    self.files.add(c.co_filename)
                    in_a_function = True
            if not in_a_function:
                self.reached = True   # a module- or class-level line: it ran at import
        if not self.reached:
            sys.settrace(self._call)

    def _call(self, frame, event, arg):
        code = frame.f_code
        if code.co_filename not in self.files:
            return None
        mine = self.lines.get((code.co_filename, code.co_firstlineno, code.co_name))
        if mine is None:
            return None

        def line(frame, event, arg):
            if event == "line" and frame.f_lineno in mine:
                self.reached = True
                sys.settrace(None)
                frame.f_trace = None
                return None
            return line
        return line


def _all_codes(code):
    yield code
    for const in code.co_consts:
        if hasattr(const, "co_lines"):
            yield from _all_codes(const)


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    scratch = Path(job["scratch"]).resolve()
    catches, pattern = set(job["catches"]), re.compile(job.get("pattern") or "")
    result: dict = {"caught": None, "message": "", "tried": 0, "others": [], "reached": None,
                    "error": "", "invariants": [], "by_seed": {}, "catching": []}
    started = time.monotonic()
    try:
        check_mutated(scratch, job["files"])
        from overseer.reconciler.sim.checker import INVARIANTS
        from overseer.reconciler.sim.run import run_seed
        result["invariants"] = list(INVARIANTS)
        reach = Reach(job["files"]) if job["files"] else None
        for seed in job["seeds"]:
            found = run_seed(seed, keep_logs=False).violations
            result["tried"] += 1
            if reach is not None and result["tried"] == REACH_SEEDS:
                sys.settrace(None)   # not reached so far: say so, and stop paying for the tracing
            if job.get("every_seed"):
                result["by_seed"][str(seed)] = [[inv, msg] for _, inv, msg in found]
            hits = [(inv, msg) for _, inv, msg in found if inv in catches and pattern.search(msg)]
            if hits:
                result["catching"].append(seed)
                if result["caught"] is None:
                    result["caught"], result["message"] = seed, f"{hits[0][0]}: {hits[0][1]}"
                if not job.get("every_seed"):
                    break
            if len(result["others"]) < 5:
                result["others"] += [[seed, inv, msg] for _, inv, msg in found][:5 - len(result["others"])]
        sys.settrace(None)
        result["reached"] = reach.reached if reach is not None else None
        result["reach_seeds"] = min(result["tried"], REACH_SEEDS)
        check_all_from_scratch(scratch)
    except Exception:  # the parent reports it; a run that broke proves nothing either way
        sys.settrace(None)
        result["error"] = traceback.format_exc()
    result["wall"] = time.monotonic() - started
    Path(job["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
