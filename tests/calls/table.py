"""The call lab's table: per fault, what SIPp counted, beside the goal.

The goal of every fault but `no-takeover` is 0 failed and 0 dropped calls
over UDP; `no-takeover` (no server can take over) must show failures, or the
lab measures nothing. A missed goal is printed, never hidden.
"""
from __future__ import annotations

from .faults import SURVIVABLE

HEADER = ("| fault | attempts | successful | failed | dropped | retransmissions | unexpected (caller / callee) "
          "| longest without a new call | goal | met |")


def goal(fault: str) -> str:
    return "0 failed, 0 dropped" if fault in SURVIVABLE else "failed and dropped > 0 (the lab can fail)"


def met(result: dict) -> bool:
    c = result["caller"]
    lost = c["failed"] + c["dropped"]
    return lost == 0 if result["fault"] in SURVIVABLE else (c["failed"] > 0 and c["dropped"] > 0)


def row(result: dict) -> str:
    c, e = result["caller"], result["callee"]
    gap = f"{c['longest_gap_s']:.2f} s" if c["longest_gap_s"] is not None else "-"
    return (f"| {result['fault']} | {c['attempts']} | {c['successful']} | {c['failed']} | {c['dropped']} "
            f"| {c['retransmissions']} | {c['unexpected']} / {e['unexpected']} | {gap} | {goal(result['fault'])} "
            f"| {'yes' if met(result) else 'NO'} |")


def render(results: list[dict]) -> str:
    lines = [HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
    lines += [row(r) for r in results]
    for r in results:
        if "relayed_by_old_after_thaw" in r:
            lines.append(f"\n{r['fault']}: the old active ({r['active_before']}) thawed {r['thawed_at_s']:.1f} s "
                         f"into the load; its Kamailio relayed {r['relayed_by_old_after_thaw']} request(s) "
                         f"after it thawed; powered off by its fence agent: "
                         f"{'yes' if r['active_before'] in r['powered_off'] else 'no'}; "
                         f"floating address on {', '.join(r['holders_after']) or 'none'} at the end")
    return "\n".join(lines)
