"""`python -m tests.planner_golden [--regenerate | --record]`

Without options: decide every stored input and print the unified diff of
each expected file that would change (exit 1 if any). `--regenerate` also
writes them. `--record` first records the inputs again (the simulator's
seeds in record.py and the hand-written cases), then regenerates; inputs
no longer produced are removed with their expected files.
"""
from __future__ import annotations

import argparse
import os
import sys

from . import cases


def _record() -> None:
    from .codec import dumps, encode_input
    from .handwritten import CASES
    from .record import record_all
    wanted = {r.name: r.data for r in record_all()}
    wanted.update({name: encode_input(*build()) for name, build in CASES.items()})
    cases.INPUTS.mkdir(exist_ok=True)
    for path in cases.INPUTS.glob("*.json"):
        if path.stem not in wanted:
            path.unlink()
            (cases.EXPECTED / path.name).unlink(missing_ok=True)
            print(f"removed {path.stem}")
    for name, data in wanted.items():
        (cases.INPUTS / f"{name}.json").write_text(dumps(data))
    print(f"recorded {len(wanted)} inputs")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.planner_golden")
    parser.add_argument("--regenerate", action="store_true", help="write the expected files anew")
    parser.add_argument("--record", action="store_true", help="record the inputs again, then regenerate")
    args = parser.parse_args(argv)
    if os.environ.get("PYTHONHASHSEED") != "0":
        # the simulator replays a seed exactly only so (set order of strings)
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, "-m", "tests.planner_golden", *sys.argv[1:]])
    if args.record:
        _record()
    cases.EXPECTED.mkdir(exist_ok=True)
    changed = 0
    for name in cases.names():
        old, new = cases.stored(name), cases.decided_for(name)
        if old != new:
            changed += 1
            print(cases.diff(name, old, new), end="")
            if args.regenerate or args.record:
                (cases.EXPECTED / f"{name}.json").write_text(new)
    total = len(cases.names())
    verb = "rewritten" if args.regenerate or args.record else "would change"
    print(f"{changed} of {total} expected files {verb}", file=sys.stderr)
    return 1 if changed and not (args.regenerate or args.record) else 0


if __name__ == "__main__":
    sys.exit(main())
