"""A check in its start-up grace (`starting`) in the status view, the CLI's
labels, the metrics and the board's timeline: news, never trouble."""
from __future__ import annotations

from dataclasses import replace

from overseer.reconciler.cli.status import LABELS
from overseer.reconciler.planner.health import _index_bad_checks
from overseer.reconciler.status_view import build_status, worst
from overseer.ui import metrics, timeline
from tests.reconciler.test_status_view import snap
from tests.ui.snapshots import with_status


def test_a_starting_check_makes_the_service_starting_not_unknown_nor_red():
    s = with_status(snap(), "pbx1", "asterisk", "ami", "starting", "connection refused (starting, 18.2s of grace left)")
    assert build_status(s)["services"]["asterisk"]["status"] == "starting"
    assert worst(["ok", "starting"]) == "starting"
    assert worst(["starting", "unknown"]) == "unknown" and worst(["starting", "warn"]) == "warn"
    # a starting check on a warm standby does not degrade the service either
    s = with_status(snap(), "pbx2", "asterisk", "ami", "starting")
    assert build_status(s)["services"]["asterisk"]["status"] == "ok"


def test_the_planner_reads_starting_as_no_verdict():
    s = with_status(snap(), "pbx2", "asterisk", "ami", "starting")
    assert _index_bad_checks(s.observations) == {}


def test_cli_and_metrics_name_it():
    assert LABELS["starting"] == "STARTING"
    assert "starting" in metrics.STATUS_VALUES and metrics.CHECK_NUMBER["starting"] == -2


def test_the_timeline_draws_no_red_tick_for_a_starting_result():
    s = snap()
    key = ("pbx1", "asterisk", "ami")
    obs = s.observations[key]
    now = obs.time + 10
    results = ((now - 3, "starting", None), (now - 2, "starting", None), (now - 1, "ok", 1.0))
    s = replace(s, observations={**s.observations, key: replace(obs, results=results)})
    strips = timeline.strips(["asterisk"], s.history, s.observations, now)
    assert [m for strip in strips for m in strip.marks if m.category == "check"] == []
    failed = ((now - 1, "fail", None),)
    s = replace(s, observations={**s.observations, key: replace(obs, results=failed)})
    strips = timeline.strips(["asterisk"], s.history, s.observations, now)
    assert [m.category for strip in strips for m in strip.marks if m.category == "check"] == ["check"]
