"""What the demo reports as the PBX's pid: only one its agent reported for the
current assignment. The report a killed agent left behind still says "active,
pid N" when pbx moves back to that server, and a hint naming N was false."""
from overseer.desired.state import Assignment, ClusterSnapshot, MasterRecord, ServerRecord, ServiceReport
from overseer.reconciler.demo.session import where
from tests.reconciler.planner_world import desired, service


def snapshot(report: ServiceReport) -> ClusterSnapshot:
    state = desired({"pbx1": "", "pbx2": ""}, [service("pbx", ["pbx1", "pbx2"])])
    return ClusterSnapshot(cluster="demo", revision=10, desired=state,
                           servers={s: ServerRecord(name=s) for s in ("pbx1", "pbx2")},
                           master=MasterRecord(server="pbx2", epoch=7), observations={},
                           reports={("pbx1", "pbx"): report},
                           assignments={"pbx": Assignment("pbx", ("pbx1",), ("pbx2",), 7, "back", 200.0)})


def test_a_report_for_an_older_assignment_names_no_pid():
    stale = ServiceReport("pbx1", "pbx", role="active", epoch=3, pid=4242, assigned=100.0)
    assert where(snapshot(stale)).pid is None
    fresh = ServiceReport("pbx1", "pbx", role="active", epoch=7, pid=5151, assigned=200.0)
    assert where(snapshot(fresh)).pid == 5151
