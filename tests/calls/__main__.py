"""`make calls`: each fault under SIP load on a fresh call lab, and SIPp's table.

    python -m tests.calls                          every fault, 20 calls/s for 45 s each
    python -m tests.calls --faults kamailio-kill   one
    python -m tests.calls --json out.json          the results too (bench/calls.py writes its own)

Every number in the table is SIPp's own (tests/calls/sipp.py). Exit status:
0 when the lab worked, whatever the goals say (they are reported beside the
numbers, docs/call-centre.md); 1 when the lab could not fail (`no-takeover`
lost no call: it measures nothing) or broke; 2 when it cannot run here.
Each run keeps its directory (SIPp's files, Kamailio's and the agents'
logs) under test-artifacts/calls/.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from tests.faults.lab import unavailable as no_netns

from . import sipp
from .faults import FAULTS
from .run import run
from .table import met, render

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "calls"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.calls", description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated, of: " + ", ".join(FAULTS))
    parser.add_argument("--rate", type=float, default=sipp.Load.rate)
    parser.add_argument("--seconds", type=float, default=sipp.Load.seconds)
    parser.add_argument("--no-fence", dest="fence", action="store_false")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    reason = no_netns() or sipp.unavailable()
    if reason:
        print(f"calls: cannot run: {reason}", file=sys.stderr)
        return 2
    names = [n.strip() for n in args.faults.split(",") if n.strip()]
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        parser.error(f"unknown fault(s) {unknown}; known: {', '.join(FAULTS)}")
    load = sipp.Load(rate=args.rate, seconds=args.seconds)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    results = []
    for name in names:
        result = run(name, ARTIFACTS / name, load, fence=args.fence, log=lambda line: print(line, flush=True))
        results.append(result)
        print(f"  {name}: goal {'met' if met(result) else 'MISSED'}; kept in {ARTIFACTS / name}", flush=True)
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps({"results": results}, indent=1))
    control = [r for r in results if r["fault"] == "no-takeover"]
    if control and not met(control[0]):
        print("calls: no-takeover lost no call: the lab cannot see a failure and measures nothing",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
