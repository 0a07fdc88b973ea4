"""What a tile says (ui/tiles.py): its state, and in one line what is wrong and since when."""
from __future__ import annotations

from dataclasses import replace

from overseer.desired.state import HistoryEntry, ServiceReport, SwitchoverRequest
from overseer.reconciler.status_view import build_status
from overseer.ui import tiles
from overseer.ui.ages import Since, text
from overseer.ui.presence import Sightings, seen_map
from tests.ui.snapshots import make_snapshot, with_failover

NOW = 1_800_000_000.0
SERVERS = {"pbx1": "a", "pbx2": "b"}


def board(snap, sightings=None, now=NOW):
    status = build_status(snap)
    seen = seen_map(snap, sightings, now)
    return tiles.tiles(snap, status, seen, now)


def failed_over(now=NOW):
    """pbx1's agent killed: its lease gone, the master moved pbx to pbx2 at now-8."""
    snap = make_snapshot(SERVERS, {"pbx": ["pbx1", "pbx2"]}, now=now - 60)
    sightings = Sightings()
    sightings.saw(["pbx1", "pbx2"], now - 30)
    sightings.saw(["pbx2"], now - 12)            # the read that found pbx1's lease gone
    moved = with_failover(snap, "pbx", "pbx2", "pbx1: down (no lease); pbx2 chosen: next candidate", now=now - 8)
    moved = replace(moved, servers={"pbx2": snap.servers["pbx2"]},
                    assignments={**moved.assignments, "pbx": replace(moved.assignments["pbx"], standby=())})
    return moved, sightings


def test_a_failed_over_tile_says_who_is_down_since_when_and_where_it_moved():
    snap, sightings = failed_over()
    pbx = board(snap, sightings)["pbx"]
    assert pbx.state == "warn"
    line = text(pbx.headline, NOW)
    assert line.startswith("no standby for 8 s; pbx1 down 12 s; moved to pbx2 at "), line
    assert "(failover, 8 s ago)" in line
    # the age is a moment the page counts, not a number frozen into it
    assert Since(NOW - 12) in pbx.headline


def test_a_green_tile_says_only_its_recent_move_and_forgets_it_after_an_hour():
    snap = make_snapshot(SERVERS, {"pbx": ["pbx1", "pbx2"]}, now=NOW - 100)
    snap = with_failover(snap, "pbx", "pbx2", "pbx1: alive failed 3/3", now=NOW - 100)
    snap = replace(snap, assignments={**snap.assignments, "pbx": replace(snap.assignments["pbx"], standby=("pbx1",))})
    pbx = board(snap)["pbx"]
    assert pbx.state == "ok" and pbx.problem == ()
    assert text(pbx.headline, NOW).startswith("moved to pbx2 at ")
    assert pbx.moved_until == NOW - 100 + tiles.RECENT_MOVE
    assert board(snap, now=NOW + tiles.RECENT_MOVE)["pbx"].headline == ()


def test_an_active_whose_lease_is_gone_is_down_and_its_checks_are_not_listed_as_live():
    snap = make_snapshot(SERVERS, {"pbx": ["pbx1", "pbx2"]}, up=["pbx2"], now=NOW - 5)
    sightings = Sightings()
    sightings.saw(["pbx1", "pbx2"], NOW - 20)
    sightings.saw(["pbx2"], NOW - 3)
    pbx = board(snap, sightings)["pbx"]
    assert pbx.state == "fail" and pbx.down_actives == ("pbx1",) and "pbx1" in pbx.quiet
    assert text(pbx.problem, NOW) == "pbx1 down 3 s (its last reports are stale)"


def test_a_board_started_after_the_death_falls_back_to_the_newest_record():
    snap = make_snapshot(SERVERS, {"pbx": ["pbx1", "pbx2"]}, up=["pbx2"], now=NOW - 40)
    pbx = board(snap)["pbx"]     # no sightings: the board never saw pbx1 alive
    assert text(pbx.problem, NOW) == "pbx1 down 40 s (its last reports are stale)"


def test_a_paused_service_whose_child_was_killed_says_so_not_the_cold_check():
    snap = make_snapshot(SERVERS, {"pbx": ["pbx2", "pbx1"]}, paused=["pbx"],
                         statuses={("pbx2", "pbx", "alive"): "unknown"},
                         messages={("pbx2", "pbx", "alive"): "not running here (cold standby)"}, now=NOW - 60)
    killed = ServiceReport("pbx2", "pbx", "stopped", 7, "failed", "process exited while active: killed by SIGKILL",
                           NOW - 12)
    snap = replace(snap, reports={("pbx2", "pbx"): killed})
    pbx = board(snap)["pbx"]
    assert pbx.state == "fail" and "pbx2" in pbx.quiet   # the cold check line is left out
    assert text(pbx.problem, NOW) == ("pbx2: process exited while active: killed by SIGKILL (12 s ago); "
                                      "paused: nothing moves it")


def test_a_failing_check_on_the_active_names_server_check_and_since():
    snap = make_snapshot(SERVERS, {"pbx": ["pbx1", "pbx2"]}, statuses={("pbx1", "pbx", "alive"): "fail"},
                         messages={("pbx1", "pbx", "alive"): "process gone"}, now=NOW)
    assert text(board(snap)["pbx"].problem, NOW) == "pbx1/alive FAIL for 1 min: process gone"


def switching_over(now=NOW):
    """An operator's switchover pbx1 -> pbx2, in its demote phase: nobody active."""
    snap = make_snapshot(SERVERS, {"pbx": ["pbx1", "pbx2"]}, now=now - 60)
    reason = "switchover requested: pbx1 → pbx2 → demoting; pbx2 will take over once pbx1 reports demoted"
    entry = HistoryEntry("pbx", now - 0.4, "switchover", reason, "pbx1", 7)
    demoting = replace(snap.assignments["pbx"], active=(), standby=("pbx2",), reason=reason, time=now - 0.4, epoch=8)
    return replace(snap, assignments={"pbx": demoting}, history={"pbx": (entry,)},
                   switchovers={"pbx": SwitchoverRequest("pbx", "pbx2", now - 0.5)})


def test_a_switchover_in_progress_is_switching_not_red():
    snap = switching_over()
    assert build_status(snap)["services"]["pbx"]["status"] == "fail"   # what the status view says
    pbx = board(snap)["pbx"]
    assert pbx.state == "switching" and pbx.label == "SWITCHING OVER"
    assert text(pbx.headline, NOW) == "switching over to pbx2 (planned), started 0 s ago"


def test_a_handover_s_demote_step_is_not_a_move_to_the_server_it_demotes():
    snap = switching_over()
    line, _ = tiles.last_move(snap, "pbx", NOW)
    assert text(line, NOW).startswith("demoting pbx1 at "), line


def test_a_switchover_is_over_once_the_new_active_reports_and_a_failed_promote_is_red():
    snap = switching_over()
    reason = "switchover requested: pbx1 → pbx2; pbx2 chosen: next candidate"
    promoted = replace(snap.assignments["pbx"], active=("pbx2",), standby=("pbx1",), reason=reason, time=NOW)
    cold = {k: replace(o, status="unknown") if k[0] == "pbx2" else o for k, o in snap.observations.items()}
    snap = replace(snap, assignments={"pbx": promoted}, switchovers={}, observations=cold, reports={})
    assert board(snap)["pbx"].state == "switching"     # promoting: no report under this assignment yet
    served = ServiceReport("pbx2", "pbx", "active", 8, "ok", "promote done", NOW + 1, assigned=NOW)
    assert board(replace(snap, reports={("pbx2", "pbx"): served}))["pbx"].state == "unknown"
    failed = ServiceReport("pbx2", "pbx", "stopped", 8, "failed", "promote failed: exit 1", NOW + 1, assigned=NOW)
    assert board(replace(snap, reports={("pbx2", "pbx"): failed}))["pbx"].state == "fail"


def test_no_active_says_so_and_names_the_candidates_that_are_down():
    snap = make_snapshot(SERVERS, {"pbx": ["pbx1", "pbx2"]}, up=[], now=NOW - 30)
    snap = replace(snap, assignments={"pbx": replace(snap.assignments["pbx"], active=(), standby=(), time=NOW - 10)})
    line = text(board(snap)["pbx"].problem, NOW)
    assert line == "no active for 10 s; pbx1 down 30 s, pbx2 down 30 s", line


def test_the_header_counts_say_what_they_count():
    snap = make_snapshot(SERVERS, {"a": ["pbx1", "pbx2"], "b": ["pbx1", "pbx2"], "c": ["pbx2", "pbx1"]},
                         statuses={("pbx2", "c", "alive"): "fail"})
    counted = tiles.counts(board(snap))
    assert [(n, words) for _, n, words in counted] == [(2, "healthy"), (0, "degraded"), (1, "failing")]
    with_switch = {**board(snap), "d": tiles.Tile("switching")}
    assert (1, "switching over") in [(n, w) for _, n, w in tiles.counts(with_switch)]
