"""Golden inputs recorded from the simulator: the master's passes that acted.

The simulator runs the real MasterLoop; `reconciler.master.PASS_LISTENERS`
hears each pass's input and outcome. Of a seed's passes whose actions are
not empty, each new *shape* is kept (the kinds of its actions and their
reasons with names and numbers blanked), so a handful of seeds give a few
distinct decisions each rather than a hundred placements. Every kept input
is replayed through the codec before it is written: the pass of the decoded
input must decide exactly what the live master decided.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from overseer.reconciler import master
from overseer.reconciler.planner.master_pass import master_pass
from overseer.reconciler.sim.run import run
from overseer.reconciler.sim.schedule import EXTRAS, draw

from .codec import decode_input, encode_input

# seed -> whether its services are drawn related (requires / colocateWith),
# each chosen for what its schedule exercises
SEEDS = {
    2: False,     # switchovers
    6: False,     # pause, switchover, a crashed child
    7: False,     # fence agents, a server lost
    13: False,    # short failure memory: failures expire, the service goes back
    17: False,    # cleanup, pause, an apply
    20: False,    # a master lost, fence agents, failure memory, a switchover
    27: False,    # fence agents, a failing failover, an apply
    3: True,      # relationships, an agent crashed
    9: True,      # relationships, a crashed child
    11: True,     # relationships, fence agents
    35: True,     # relationships, pause, fence agents
}
PER_SEED = 6

_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_NAMES = re.compile(r"\b(s[123]|pbx|web|db)\b")


@dataclass(frozen=True)
class Recorded:
    name: str
    data: dict          # the encoded input


def shape(actions) -> tuple:
    """What kind of decision a pass made, apart from names and numbers."""
    out = []
    for a in actions:
        words = getattr(a, "reason", "") or getattr(a, "message", "") or str(getattr(a, "refusal", ""))
        out.append((type(a).__name__, _NUMBER.sub("#", _NAMES.sub("X", words))))
    return tuple(sorted(set(out)))


# a case's name says what its pass decided: the first of these its actions' words show
_TAGS = (("may still run it as active", "fence-asked"), ("fenced by its fence agent", "fenced-failover"),
         ("adopted by epoch", "adopted"), ("switchover", "switchover"), ("(required)", "requires"),
         ("colocated with", "colocated"), ("following ", "colocated"), ("remembered", "failure-memory"),
         ("stepped down", "stepped-down"), ("actuator failed", "actuator-failed"), ("down (gone", "failover"),
         ("handover", "handover"), ("initial placement", "placement"), ("standby now", "standbys"),
         ("chosen", "move"))


def _tag(actions) -> str:
    words = " ".join(str(getattr(a, "reason", "") or getattr(a, "message", "")) for a in actions)
    return next((tag for needle, tag in _TAGS if needle in words), type(actions[0]).__name__.lower())


def record_seed(seed: int, related: bool, seen: set) -> list[Recorded]:
    passes = []

    def listen(snapshot, memory, now, vouched, outcome):
        if outcome.actions:
            passes.append((snapshot, memory, now, dict(vouched), outcome))

    master.PASS_LISTENERS.append(listen)
    try:
        run(draw(seed, extras=EXTRAS if related else tuple(e for e in EXTRAS if e != "relations")), keep_logs=False)
    finally:
        master.PASS_LISTENERS.remove(listen)
    kept = []
    for number, (snapshot, memory, now, vouched, outcome) in enumerate(passes):
        key = shape(outcome.actions)
        if key in seen:
            continue
        seen.add(key)
        data = encode_input(snapshot, memory, now, vouched)
        replayed = master_pass(*decode_input(data))
        if replayed != outcome:
            raise AssertionError(f"seed {seed} pass {number}: the decoded input decides otherwise:\n"
                                 f"live {outcome}\nreplayed {replayed}")
        kept.append(Recorded(f"sim-{seed:03d}-{number:03d}-{_tag(outcome.actions)}", data))
        if len(kept) == PER_SEED:
            break
    return kept


def record_all() -> list[Recorded]:
    seen: set = set()
    out = []
    for seed, related in SEEDS.items():
        out += record_seed(seed, related, seen)
    return out
