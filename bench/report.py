"""Regenerate the results tables of docs/benchmarks.md from bench/results/*.json.

`make bench` runs it last; each bench script writes its JSON, and this is the
only writer of the text between the `<!-- bench:results begin -->` and
`<!-- bench:results end -->` markers (and of docs/call-centre.md's between
`<!-- calls:table begin -->` and `<!-- calls:table end -->`), so the table
always says what the files say. Numbers live here and in the JSON, never in test assertions.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.calls.table renders the call lab's rows

RESULTS = Path(__file__).resolve().parent / "results"
DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:results begin -->", "<!-- bench:results end -->"
# the call lab's table is also the operators' ("Call survival")
CALLS_DOC = DOC.with_name("call-centre.md")
CALLS_BEGIN, CALLS_END = "<!-- calls:table begin -->", "<!-- calls:table end -->"


def _load(name: str):
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def measured(r: dict) -> str:
    """When, on which code and on which machine (bench/provenance.py)."""
    return (f"{r.get('date', 'date not recorded')}, commit {r.get('commit', 'not recorded')}, "
            f"{r.get('machine', 'machine not recorded')}")


def pg_table(r: dict) -> str:
    counts = sorted({len(row[s]["runs"]) for row in r["rows"] for s in ("postmaster", "server") if s in row})
    per_cell = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}" if counts else "0"
    lines = [f"PostgreSQL 15 pair, same machine and etcd ({measured(r)}; "
             f"{per_cell} runs per cell; plot: `bench/results/pg-failover.png`):", "",
             "| row | postmaster kill -9 → first INSERT: p50 / max | whole server lost → first INSERT: p50 / max "
             "| two writers | idle CPU of a core, per member | RSS per member | etcd writes/s per member |",
             "|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        pm, sv, idle = row.get("postmaster", {}), row.get("server", {}), row.get("idle", {})
        two = pm.get("two_writers", 0) + sv.get("two_writers", 0)
        runs = len(pm.get("runs", [])) + len(sv.get("runs", []))
        lines.append(f"| {row['row']} | {_cell(pm)} | {_cell(sv)} | {two} of {runs} runs "
                     f"| {idle.get('cpu_percent_of_core', '-')} % | {idle.get('rss_mb', '-')} MB "
                     f"| {idle.get('etcd_writes_per_s', '-')} |")
    return "\n".join(lines)


def _cell(result: dict) -> str:
    if not result:
        return "-"
    text = f"{result['p50']} s / {result['max']} s" if result.get("p50") is not None else "no write"
    if result.get("timed_out"):
        limit = next(r["timed_out_after"] for r in result["runs"] if r["seconds"] is None)
        text += f" ({result['timed_out']} run(s): no write within {limit:g} s)"
    return text


def idle_table(rows: list[dict]) -> str:
    lines = ["One agent, `bench/idle.py`:", "",
             "| case | CPU of one core | RSS (agent + fencer) | etcd writes/s | measured |", "|---|---|---|---|---|"]
    for r in rows:
        case = f"{r['checks']} checks at 1 s, leaseTTL {r['lease_ttl']}" if r["checks"] else \
            f"no checks, leaseTTL {r['lease_ttl']}"
        lines.append(f"| {case} | {r['cpu_percent_of_core']} % | {r['rss_mb_agent']} + {r['rss_mb_fencer']} = "
                     f"{r['rss_mb_total']} MB | {r['etcd_writes_per_s']} | {measured(r)} |")
    return "\n".join(lines)


def scale_table(r: dict) -> str:
    lines = [f"Scale, `bench/scale.py` ({measured(r)}; plot: `bench/results/scale-failover.png`):", ""]
    if "many" in r:
        m = r["many"]
        lines += ["| services / agents | placed in | stable window | lease losses | services moved or restarted "
                  "| CPU per agent | RSS per agent (max) | etcd writes/s |", "|---|---|---|---|---|---|---|---|",
                  f"| {m['services']} / {m['agents']} | {m['placed_s']} s | {m['stable_window_s']} s "
                  f"| {m['lease_losses']} | {m['services_moved_or_restarted']} | {m['cpu_percent_of_core_per_agent']} % "
                  f"| {m['rss_mb_per_agent_max']} MB | {m['etcd_writes_per_s']} |", ""]
    if "lost" in r:
        lo = r["lost"]
        lines += ["| actives lost with one agent (kill -9) | leaseTTL | p50 | p99 | max | within leaseTTL + 2 s |",
                  "|---|---|---|---|---|---|",
                  f"| {lo['services']} | {lo['lease_ttl_s']:g} s | {lo['p50_s']} s | {lo['p99_s']} s | {lo['max_s']} s "
                  f"| {lo['within_bound']} of {lo['services']} |"]
        ph = lo.get("phases_s")
        if ph:
            master = (f"new master {ph['new_master']}" if ph.get("new_master") is not None
                      else "no new master (a survivor already was)")
            lines += ["", f"Where that time went, seconds after the kill (the survivors' logs): {master}, "
                      f"moves decided {ph['first_move_decided']}, first service up "
                      f"{ph['first_started']}, last up {ph['last_started']}."]
    return "\n".join(lines)


def calls_table(r: dict) -> str:
    """bench/calls.py: per fault, SIPp's own counts (tests/calls/table.py renders the rows)."""
    from tests.calls.table import render as rows  # noqa: PLC0415
    first = r["results"][0] if r.get("results") else {}
    return (f"Call survival, `bench/calls.py` ({measured(r)}; SIP over {r.get('transport', 'udp').upper()}, "
            f"{first.get('rate', 20):g} calls/s of {first.get('call_seconds', [10, 15])[0]:g}-"
            f"{first.get('call_seconds', [10, 15])[1]:g} s for {first.get('seconds', 45):g} s per fault, "
            f"leaseTTL {first.get('lease_ttl_s', 3):g} s; every count is SIPp's own"
            + ("; plot: `bench/results/calls-udp.png`" if (RESULTS / "calls-udp.png").exists() else
               "; no plot: matplotlib was not installed") + "):\n\n" + rows(r["results"]))


def render() -> str:
    parts = []
    pg = _load("pg-side-by-side.json")
    if pg:
        parts.append(pg_table(pg))
    idle = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("idle-*.json"))]
    if idle:
        parts.append(idle_table(idle))
    scale = _load("scale.json")
    if scale:
        parts.append(scale_table(scale))
    calls = _load("calls-udp.json")
    if calls:
        parts.append(calls_table(calls))
    return "\n\n".join(parts)


def _replace(doc: Path, begin: str, end: str, body: str) -> None:
    text = doc.read_text()
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{begin}\n{body}\n{end}{tail}")
    print(f"{doc}: results regenerated from {RESULTS}")


def main() -> None:
    _replace(DOC, BEGIN, END, render())
    calls = _load("calls-udp.json")
    if calls:
        _replace(CALLS_DOC, CALLS_BEGIN, CALLS_END, calls_table(calls))


if __name__ == "__main__":
    main()
