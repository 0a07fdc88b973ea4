"""`python -m tests.mutants [--only NAMES] [--jobs N] [--seeds N]`: the mutation gauntlet.

Prints one line per mutant as it finishes, then the table. Exit status 1 if
any mutant survived its budget, did not apply, or was caught only on a seed
the unmutated code fails too; 2 for an unknown mutant name.
`make mutants ONLY=margin-0` runs one; names may be comma-separated patterns
(`ONLY='late-move-*'`).
"""
from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import time

from .catalogue import MUTANTS, budget
from .gauntlet import run_all, table, verdict


def select(only: str, short: bool) -> list:
    chosen = [m for m in MUTANTS if m.short] if short else list(MUTANTS)
    if not only:
        return chosen
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    unknown = [p for p in patterns if not any(fnmatch.fnmatchcase(m.name, p) for m in MUTANTS)]
    if unknown:
        raise SystemExit(f"no mutant named {', '.join(unknown)}; known: {', '.join(m.name for m in MUTANTS)}")
    return [m for m in chosen if any(fnmatch.fnmatchcase(m.name, p) for p in patterns)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutants")
    parser.add_argument("--only", default="", help="comma-separated mutant names or patterns (default: all)")
    parser.add_argument("--short", action="store_true", help="only the mutants `make test` runs")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds per mutant instead of its budget (to calibrate one)")
    parser.add_argument("--first", type=int, default=1, help="first seed (default 1)")
    parser.add_argument("--every-seed", action="store_true",
                        help="go on past the first catch: how many seeds catch each mutant (to calibrate)")
    parser.add_argument("--no-control", action="store_true", help="skip re-running catching seeds unmutated")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)
    try:
        mutants = select(args.only, args.short)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.list:
        for m in mutants:
            n, estimated = budget(m)
            print(f"{m.name:30} {'/'.join(m.catches):10} within {n}{' (estimate)' if estimated else ''}: {m.bug}")
            print(f"{'':30} {m.why}")
        return 0
    if os.environ.get("PYTHONHASHSEED") != "0":   # as the simulator's own entry point does
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, "-m", "tests.mutants", *sys.argv[1:]])
    started = time.monotonic()

    def done(o) -> None:
        print(f"{o.mutant.name}: {verdict(o)} ({o.tried} seeds, {o.seconds:.1f}s)", file=sys.stderr, flush=True)

    outcomes = run_all(mutants, jobs=args.jobs, seeds=args.seeds, first=args.first,
                       with_control=not args.no_control, every_seed=args.every_seed, on_done=done)
    print(table(outcomes, time.monotonic() - started))
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
