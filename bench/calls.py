"""Call survival through every failover, counted by SIPp (tests/calls/).

    python bench/calls.py      every fault of tests/calls/faults.py, ~80 s each

Runs the call lab (SIPp caller and callee, Kamailio as a warm
active-standby service with a floating address on two servers) once per
fault at 20 calls/s of 10-15 s, and writes bench/results/calls-udp.json
(every number SIPp's own, with date, commit and machine) and, when
matplotlib is installed, bench/results/calls-udp.png: calls answered per
second with the fault marked. bench/report.py renders the table. Root and
network namespaces are needed; without them it says so and writes nothing.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.calls
sys.path.insert(0, str(Path(__file__).resolve().parent))

import provenance  # noqa: E402
import report  # noqa: E402
from tests.calls import sipp  # noqa: E402
from tests.calls.__main__ import ARTIFACTS  # noqa: E402
from tests.calls.faults import FAULTS  # noqa: E402
from tests.calls.run import run  # noqa: E402
from tests.faults.lab import unavailable  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "calls-udp.json"


def main() -> int:
    reason = unavailable() or sipp.unavailable()
    if reason:
        print(f"bench/calls.py: cannot run: {reason}", file=sys.stderr)
        return 0 if os.environ.get("BENCH_CALLS_OPTIONAL") else 2
    load = sipp.Load()
    results = [run(name, ARTIFACTS / name, load, log=lambda line: print(line, flush=True)) for name in FAULTS]
    doc = {**provenance.stamp(), "transport": "udp", "results": results}
    RESULTS.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    plot(doc, RESULTS / "calls-udp.png")
    print(report.calls_table(doc))
    return 0


def plot(doc: dict, path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (make bench installs it): no plot", file=sys.stderr)
        return
    results = doc["results"]
    fig, axes = plt.subplots(len(results), 1, figsize=(9, 1.6 * len(results)), sharex=True)
    for ax, r in zip(axes, results):
        series = r["caller"]["answered_per_s"]
        ax.step([t for t, _ in series], [n for _, n in series], where="post")
        ax.axvline(r["fault_at_s"], color="red", linestyle="--", linewidth=1)
        ax.set_ylabel("answered/s", fontsize=7)
        ax.set_title(f"{r['fault']}: {r['caller']['failed']} failed, {r['caller']['dropped']} dropped "
                     f"(fault at the red line)", fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("seconds since SIPp's caller started (its *_counts.csv, a line a second)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
