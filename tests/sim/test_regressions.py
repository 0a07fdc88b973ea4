"""Schedules on which the simulator found a bug, kept so each fix stays fixed.

Each runs in a fresh process with PYTHONHASHSEED=0, exactly as `make sim N=1
SEED=<seed>` replays it (docs/testing.md, "Regression cases: the bugs it
found", names each case by its seed). Each failed before its fix. A seed
whose drawn schedule later changed (the generator learned something) keeps
its original schedule here, written out.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from overseer.reconciler.sim.schedule import (
    BLIPS_UPTO, BLIPS_UPTO_BEFORE, EXTRAS, EXTRAS_BEFORE_DEADLINES, EXTRAS_BEFORE_LAG, Fault, Schedule, ServicePlan,
    draw,
)
from tests.sim.test_simulator import _sim

FOUND = {
    43: "self-fenced report named a newer assignment than the one stood down for: two actives",
    57: "pause longer than half the lease: self-fenced, never took the active up again",
    91: "slow etcd: peers' timed-out probes read as 'etcd down', a cut server never fenced: two actives",
    97: "promote finished right after a pause longer than the lease, under a stale epoch",
    321: "standby report for an assignment that arrived mid-pass: switchover to two actives",
    890: "the generator labelled a cut and a pause back to back as blips: a rightful fence read as a calm violation",
    1515: "a resume that failed (etcd down) counted as done: the checker saw a paused service as an outage",
    2516: "pause in the middle of a promote: the fencer was told of the active only after it: two actives",
    4328: "a failure block lifted on a timer: promoted again under the same assignment as the master moved it",
    5093: "the same, found in the same run (block on a timer after an etcd outage): two actives",
    5877: "a record that only changed the standbys lifted a self-fence's step-down: two actives",
    6038: "a restarted agent promoted the assignment it had failed under while the master promoted another",
    6805: "a fenced worker restarted its killed child as standby, reported that for a newer assignment naming it active, then promoted once unfenced: three actives",
    9280: "the generator labelled two flaps of one check on consecutive probes as blips: failAfter reached, a rightful move read as a calm violation",
    9984: "a link cut of 0.3 x leaseTTL fenced: serial keep-alives, the one sent into the cut hung past its return (now overlapping rescues)",
    15997: "the same: a 0.29 x leaseTTL cut from etcd fenced and moved db",
    29671: "the same generator error (flaps 1.7 s apart at interval 1 s): a rightful move read as a calm violation",
    7029: "slow etcd: the master moved an active off a server it took for dead while that server registered again and took it up: two actives",
    7629: "slow etcd: the same standby report for an assignment naming the server active, then its promote: two actives",
    7352: "peers answering 'gone' on a timed-out probe (silent-etcd attempt) gave two actives on a slow etcd",
    10894: "an agent restarted during an etcd blip died with the blip's error instead of waiting it out",
    8366: "slow etcd: the same (a standby report for an assignment naming it active, then its promote)",
    604: "a demote that failed after doing its work kept the role 'active': switched back, never promoted again",
    1242: "a 'stepped down' report sent into a cut waited for the client's timeout after the link came back: late",
    3605: "the same (a report hung on the dead connection held the master's next decision): late",
    9131: "slow etcd: the same (a standby report for an assignment naming it active, then its promote)",
    15583: "slow etcd: the same (a standby report for an assignment naming it active, then its promote)",
    22747: "the same silent-etcd attempt: three actives of a replicas-2 service on a slow etcd",
    77798: "the fencer killed a warm active while its self-fence demoted it; the demote 'succeeding' left a standby with no process, never started: replicas 2 stuck at 1 active",
    680: "not a bug in Overseer: the relations check gave a follower left where its anchor died during an etcd outage"
         " no more time than a lease, though no master can move anything until etcd is back",
    2591: "not a bug in Overseer: the checker counted a thawed host's child, which acts until its fencer's overdue"
          " kill, as a second active the instant a successor was promoted, inside the grace it gives a thaw",
}
# Found by the simulator once commands ran as production runs them (a failing
# or hung command may have done its work) and a demote without a command did nothing.
FOUND_WITH_COMMANDS = {
    52: "a warm active without a demote command 'demoted' by doing nothing went on acting as active beside its successor",
    216: "a promote that timed out after making the service active, then a hung demote while retreating: three actives",
}

# Found once the simulator drew relationships (requires, colocateWith): with
# every generator of its own up to "relations", in this order.
FOUND_WITH_RELATIONS = {
    572: "a restarted agent with the anchor and its follower both assigned to it promoted the follower first",
    816: "the same after a reconnect: a re-issue taken up by the follower while its anchor had stepped down",
    870: "a dependent that stood down and was kept while waiting took a decision that dropped a dead co-active"
         " as its own and promoted before what it requires had an active",
    933: "a restarted agent with a dependent and what it requires both assigned to it promoted them at once",
    421: "a paused follower whose active had fenced itself still held its anchor's move until the resume: late",
}
# Found once the simulator drew a replicated database whose standbys' lag drifts
# (faultgen.replication_lag): with every generator up to it.
FOUND_WITH_LAG = {
    1019: "an abandoned 'standby' report that landed late over the newer one hid the agent's answer: the"
          " handover to the standby under the anchor waited for it until the end (never)",
    566: "the head of a standby list written while the database waited for what it requires (candidates"
         " order) was promoted as a named successor over a standby less behind",
}
_WITH_RELATIONS = ("silent_etcd", "master_loss", "cleanups", "failing_failover", "long_loss", "short_memory",
                   "etcd_members", "etcd_trouble", "slack_eaters", "server_loss", "one_way", "relations")

SCRIPTED = {
    # seed 234 as drawn before blips in calm schedules were spaced a lease apart
    "seed-234": ("failsafe query held back the keep-alive after a short etcd outage: fenced on blips",
                 Schedule(seed=234, ttl=3.0, interval=0.5, fail_after=3, margin=0.5, campaign_delay=1.0,
                          actuator_timeout=1.0,
                          services=(ServicePlan("pbx", "warm", ("s1", "s2", "s3"), 1, True),
                                    ServicePlan("web", "cold", ("s3", "s1", "s2"), 1, False)),
                          faults=(Fault("etcd_down", 15.03, 0.62, blip=True),
                                  Fault("agent_pause", 15.34, 0.61, server="s2", blip=True),
                                  Fault("cut", 32.95, 0.77, server="s1", blip=True)))),
    # fault suite seed 339 (real processes): s1, active, cut off from etcd and
    # its peers while its demote commands fail; the self-fence counted the
    # failed demote as done and the service stayed promoted beside s2's
    "fault-seed-339": ("a self-fence whose demote failed left a warm active promoted: two actives",
                       Schedule(seed=339, ttl=3.0, interval=0.5, fail_after=2, margin=0.5, campaign_delay=1.0,
                                actuator_timeout=2.0,
                                services=(ServicePlan("pbx", "warm", ("s1", "s2", "s3"), 1, True),),
                                faults=(Fault("cut", 15.0, 3.25, server="s1", peers=True),
                                        Fault("act_fail", 15.1, 5.5, server="s1", service="pbx")))),
}
# Seeds whose drawn schedule gained a fault drawn from a generator of its own
# (silent etcd, master loss, cleanup): the schedule that found the bug, as it was.
_EXTRAS_CAME_LATER = (57, 1515, 2516, 5877)
for _seed in _EXTRAS_CAME_LATER:
    SCRIPTED[f"seed-{_seed}-as-found"] = (FOUND[_seed], draw(_seed, extras=False, blips_upto=BLIPS_UPTO_BEFORE))
# All of FOUND was found while blips lasted at most 0.3 x leaseTTL, and before
# the failing failovers (generators.failing_failover) and the generators that
# came with per-fault deadlines (a long loss, a short failure memory); those
# of FOUND_WITH_COMMANDS before the latter two only. Where any of these
# changed a seed's schedule since, it also replays as it was; so does one
# whose servers gained fence agents since (sim/fence_agents.py).
_BEFORE_COMMANDS = tuple(name for name in EXTRAS_BEFORE_DEADLINES if name != "failing_failover")


def _as_found(seed: int) -> Schedule:
    if seed in FOUND_WITH_COMMANDS:
        schedule = draw(seed, extras=EXTRAS_BEFORE_DEADLINES, blips_upto=BLIPS_UPTO)
    else:
        schedule = draw(seed, extras=_BEFORE_COMMANDS, blips_upto=BLIPS_UPTO_BEFORE)
    return schedule.but(fence=None)


SCRIPTED["seed-2718-slower-disk"] = (
    "the same on a slower disk (0.45 s a save at leaseTTL 2 s): a grant given up at a quarter lease and sent"
    " again never committed in time, the peers were asked only between failed attempts, and a new lease's"
    " legitimacy dropped the peers' vouch: fenced on blips",
    draw(2718, extras=EXTRAS_BEFORE_LAG).but(faults=(Fault("etcd_stall", 33.31, 2.4, blip=True),
                                                      Fault("etcd_fsync", 34.81, 6.0, blip=True, latency=0.45))))
# Both as drawn before replicated databases (faultgen.replication_lag made 4742's db warm and replicated).
SCRIPTED["seed-4742-without-fence-agents"] = (
    "a promote that finished while its agent was paused, its child since killed by the fencer: on the resume the "
    "VIP actuator added the address after the child's exit had dropped it, beside the successor's",
    draw(4742, extras=EXTRAS_BEFORE_LAG).but(fence=None))
SCRIPTED["seed-3309-without-fence-agents"] = (
    "a warm active with no demote command counted as standby after a self-fence's demote, which ran no "
    "command: a vouch meanwhile dropped its group, and its hung stop ran it beside its successor: two actives",
    draw(3309, extras=EXTRAS_BEFORE_LAG).but(fence=None))
FOUND.update(FOUND_WITH_COMMANDS)
for _seed in sorted(set(FOUND) - set(_EXTRAS_CAME_LATER)):
    if _as_found(_seed) != draw(_seed, extras=EXTRAS):
        SCRIPTED[f"seed-{_seed}-as-found"] = (FOUND[_seed], _as_found(_seed))
for _seed, _what in FOUND_WITH_RELATIONS.items():
    if draw(_seed, extras=_WITH_RELATIONS) != draw(_seed, extras=EXTRAS):
        SCRIPTED[f"seed-{_seed}-as-found"] = (_what, draw(_seed, extras=_WITH_RELATIONS))
FOUND.update(FOUND_WITH_RELATIONS)
FOUND.update(FOUND_WITH_LAG)
# Found with every generator up to the etcd model's, before replicated
# databases: where the lag generator changed the schedule, it also replays as found.
FOUND_BEFORE_LAG = {
    2718: "an etcd stall longer than the lease, then slow fsync: peers whose reads worked again said they reached"
          " etcd though none could renew yet; the askers fenced and the service moved on blips",
    2168: "a slow etcd: an agent kept on its peers' word promoted a service and told its fencer nothing; paused"
          " past its lease, its active ran beside the successor the master promoted: two actives",
    4572: "a role report given up on during a silent etcd landed over the newer one: the master read a step-down"
          " from an older assignment, the agent waited for an answer to the newer one: never placed again",
    4112: "not a bug in Overseer: an actuator failing under a follower moved its anchor too, which the checker"
          " judged by a deadline that ignored the group: late",
    4981: "not a bug in Overseer: a switchover of an anchor moved its follower, judged by the follower's own"
          " older deadline: late",
    4742: "a promote finishing while its agent was paused put the floating address up after its child died;"
          " the simulated power-off then kept that server among the address's holders, beside the successor's",
}
for _seed, _what in FOUND_BEFORE_LAG.items():
    if draw(_seed, extras=EXTRAS_BEFORE_LAG) != draw(_seed, extras=EXTRAS):
        SCRIPTED[f"seed-{_seed}-as-found"] = (_what, draw(_seed, extras=EXTRAS_BEFORE_LAG))
FOUND.update(FOUND_BEFORE_LAG)
# Found with every generator of today (schedule.EXTRAS): each replays as drawn.
FOUND_AS_DRAWN = {
    5121: "a requirement that failed here during an etcd outage still read active in etcd; the agent here, which"
          " knew, promoted what requires it on that stale report",
    3353: "the same after a self-fence during an etcd outage: a dependent promoted on the server where what it"
          " requires had stood down",
    2682: "not a bug in Overseer: the relations check counted a requirement whose agent was killed as gone at"
          " once, though the master reads it active from its report until the server's lease expires",
    4538: "not a bug in Overseer: the same, the lease outliving an etcd outage and the agent restarted but not"
          " yet registered",
    5593: "not a bug in Overseer: the same (an agent killed during an etcd outage)",
}
FOUND.update(FOUND_AS_DRAWN)

_RUN_SCRIPTED = """
import sys
from tests.sim.test_regressions import SCRIPTED
from overseer.reconciler.sim.run import run
result = run(SCRIPTED[sys.argv[1]][1])
print("\\n".join(f"{t:8.3f} {inv}: {msg}" for t, inv, msg in result.violations))
print(result.trace[-6000:] if result.violations else "no violation")
sys.exit(1 if result.violations else 0)
"""


@pytest.mark.parametrize("seed", sorted(FOUND))
def test_seed_that_found_a_bug(seed):
    proc = _sim("--n", "1", "--seed", str(seed))
    assert proc.returncode == 0, f"{FOUND[seed]}\n{proc.stdout[-6000:]}"


@pytest.mark.parametrize("name", sorted(SCRIPTED))
def test_scripted_schedule_that_found_a_bug(name):
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", _RUN_SCRIPTED, name], cwd=root, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, PYTHONHASHSEED="0"))
    assert proc.returncode == 0, f"{SCRIPTED[name][0]}\n{proc.stdout}{proc.stderr[-3000:]}"
