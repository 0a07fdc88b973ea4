"""`python -m overseer.reconciler.sim [--n N] [--seed S]`: run N schedules from seed S.

Prints the summary table; for the first failing seed, replays it with the
agents' log lines and prints its shrunk, minimal trace. Exit status 1 if any
invariant was violated. Set PYTHONHASHSEED=0 (the Makefile does) so a seed
replays exactly across processes: set iteration order of strings depends on it.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from .run import run_many, run_seed
from .shrink import shrink


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m overseer.reconciler.sim")
    parser.add_argument("--n", type=int, default=100, help="how many schedules (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    parser.add_argument("--trace", action="store_true", help="print the full trace of each seed")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="processes to run schedules in (default: one per CPU)")
    args = parser.parse_args(argv)
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, "-m", "overseer.reconciler.sim", *sys.argv[1:]])
    if args.trace:
        for seed in range(args.seed, args.seed + args.n):
            result = run_seed(seed)
            print(f"=== seed {seed}\n" + "\n".join(f.describe() for f in result.schedule.faults))
            print(result.trace)
        return 0
    started = time.monotonic()
    summary = run_many(range(args.seed, args.seed + args.n), args.jobs)
    print(summary.table(time.monotonic() - started))
    if summary.failing:
        seed = summary.failing[0]
        result = run_seed(seed)
        print(f"\nfirst failing seed {seed}; replay: make sim N=1 SEED={seed}")
        for t, invariant, message in result.violations:
            print(f"  {t:8.3f} {invariant}: {message}")
        print(shrink(result.schedule).report())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
