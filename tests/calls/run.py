"""One fault under load on a fresh call lab, and what SIPp counted.

Steps: build the lab, wait until Kamailio runs on both proxies and the
floating address answers, start the callee then the caller, inject the
fault `fault_at` seconds into the load (after the longest call, so both new
INVITEs and the BYEs of established calls cross it), heal it when due, wait
for the caller to finish (bounded: `Load.bound()`), stop the callee and
read both sides' SIPp files (tests/calls/sipp.py). The result also records
the lab's own view (who held the address before and after, what the old
server's Kamailio relayed after a thaw) beside SIPp's numbers.
"""
from __future__ import annotations

import heapq
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path

from . import sipp
from .faults import FAULTS
from .lab import CallLab

FAULT_AT = sipp.CALL_SECONDS[1] + 5.0


def run(fault: str, workdir: Path, load: sipp.Load = sipp.Load(), fault_at: float = FAULT_AT,
        fence: bool = True, log=print) -> dict:
    workdir = Path(workdir)
    if workdir.exists():
        shutil.rmtree(workdir)     # an earlier run's etcd data names other addresses
    workdir.mkdir(parents=True)
    started = time.monotonic()
    with CallLab(workdir, fence=fence) as lab:
        before = lab.wait_ready()
        ready_s = time.monotonic() - started
        lab.start_callee()
        caller_dir = lab.start_caller(load)
        t0 = time.time()
        log(f"{fault}: {load.rate:g} calls/s for {load.seconds:g}s through {lab.vip} (active {before}); "
            f"fault at {fault_at:g}s")
        _sleep_until(t0 + fault_at, lab)
        injected = time.time()
        order = itertools.count()
        heals = [(injected + delay, next(order), action) for delay, action in FAULTS[fault](lab, before)]
        heapq.heapify(heals)
        caller = lab.sipp["uac"]
        deadline = t0 + load.bound() + 10
        while caller.poll() is None and time.time() < deadline:
            if heals and heals[0][0] <= time.time():
                heapq.heappop(heals)[2]()
            time.sleep(0.05)
        for _, _, action in sorted(heals):
            action()   # a heal not yet due when the caller finished
        cut_short = caller.poll() is None
        if cut_short:
            # its statistics (a line a second) stay: the calls it still had count as failed or dropped
            log(f"{fault}: SIPp's caller still ran {load.bound() + 10:.0f}s after it started: killed")
            caller.kill()
            caller.wait(10)
        time.sleep(1.5)   # the callee's last statistics line (-fd 1) after the last BYE
        lab.stop_callee()
        after = lab.holders()
        result = {
            "fault": fault, "fence": fence, "rate": load.rate, "seconds": load.seconds,
            "call_seconds": list(sipp.CALL_SECONDS), "lease_ttl_s": lab.lab.timing.lease_ttl,
            "fault_at_s": round(injected - t0, 3), "lab_ready_s": round(ready_s, 1),
            "active_before": before, "holders_after": after,
            "caller": sipp.read(caller_dir).as_dict(),
            "callee": sipp.read(workdir / "uas", caller=False).as_dict(),
            "caller_exit": caller.returncode, "caller_cut_short": cut_short,
            "powered_off": sorted(lab.powered_off()),
        }
        thaw = lab.thawed.get(before)
        if thaw is not None:
            result["thawed_at_s"] = round(thaw - t0, 3)
            result["relayed_by_old_after_thaw"] = lab.relayed_since(before, thaw)
        result["relayed_by_old_after_fault"] = lab.relayed_since(before, injected + 0.5)
        result["history"] = _history(lab)
    (workdir / "result.json").write_text(json.dumps(result, indent=1))
    return result


def _sleep_until(when: float, lab: CallLab) -> None:
    """The load's clock, not a wait on a condition: the fault lands at a set
    point of the load. Fails early if SIPp's caller died."""
    while time.time() < when:
        if lab.sipp["uac"].poll() is not None:
            raise AssertionError(f"SIPp's caller exited {lab.sipp['uac'].returncode} before the fault; "
                                 f"see {lab.workdir / 'uac'}")
        time.sleep(0.05)


def _history(lab: CallLab) -> str:
    try:
        proc = lab.lab.operator("status", check=False, timeout=20)
    except subprocess.TimeoutExpired:
        return "overseer status timed out"
    return proc.stdout[-3000:]
