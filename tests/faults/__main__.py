"""`make faults N=200 SEED=1`: run N seeded schedules on real processes, print the table.

    python -m tests.faults --n 200 --seed 1      schedules with seeds 1..200
    python -m tests.faults --n 1 --seed 37       rerun exactly the schedule of seed 37
    python -m tests.faults --label two-warm-actives --n 5   a labelled family, jittered by seed
    python -m tests.faults --label frozen-host --no-fence   the same without fence agents

Schedule i uses seed SEED+i, so a failing line's seed reruns alone. Failing
schedules keep their journal and logs under test-artifacts/faults/. Exit
status 1 when any schedule had a double active, a stale epoch, a stuck
service or a broken relationship (start order, colocation).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from .docs import Timing
from .lab import unavailable
from .runner import report, run
from .schedule import LABELLED, random_schedule
from .table import Table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--label", choices=sorted(LABELLED), default=None)
    parser.add_argument("--keep", action="store_true", help="keep artifacts of passing schedules too")
    parser.add_argument("--no-fence", dest="fence", action="store_false",
                        help="no fence agents on the Servers (what a frozen host does without them)")
    parser.add_argument("--budget", type=float, default=0.0,
                        help="stop starting new schedules after this many seconds (0: no limit)")
    args = parser.parse_args(argv)
    reason = unavailable()
    if reason:
        print(f"faults: cannot run: {reason}", file=sys.stderr)
        return 2
    timing = Timing()
    table = Table(timing.bound())
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="overseer-faults-"))
    make = (lambda seed: LABELLED[args.label](seed, timing)) if args.label else (
        lambda seed: random_schedule(seed, timing))
    schedules = [make(args.seed + i) for i in range(args.n)]
    for schedule in schedules:
        if args.budget and time.monotonic() - started > args.budget:
            table.note(f"budget of {args.budget:g}s spent: ran {table.count} of {len(schedules)} schedules")
            break
        result = run(schedule, root / f"seed-{schedule.seed}", timing, keep=args.keep, fence=args.fence)
        table.add(result)
        status = "ok" if result.verdict.ok else "FAILED"
        print(f"[{table.count}/{len(schedules)}] seed {schedule.seed} ({schedule.label}) {status} "
              f"in {result.seconds:.0f}s", flush=True)
        if not result.verdict.ok:
            print(schedule.describe())
            print(report(result.verdict).split("\n  active ")[0])
            print(f"kept: {result.kept}  (rerun: make faults N=1 SEED={schedule.seed}"
                  + (f" LABEL={args.label}" if args.label else "") + ("" if args.fence else " FENCE=0") + ")",
                  flush=True)
    print(table.render())
    return 0 if table.ok else 1


if __name__ == "__main__":
    sys.exit(main())
