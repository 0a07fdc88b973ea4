"""The simulator draws start-up graces, runs them through the real documents,
and gives the deadlines a grace can delay that much more time."""
from overseer.reconciler.sim import bounds
from overseer.reconciler.sim.run import run
from overseer.reconciler.sim.schedule import EXTRAS, Fault, Schedule, ServicePlan, draw


def _schedule(*faults, grace=0.0, on_check=False):
    return Schedule(seed=1, ttl=3.0, interval=0.5, fail_after=2, margin=0.5, campaign_delay=1.0,
                    actuator_timeout=1.0, faults=tuple(faults),
                    services=(ServicePlan("pbx", "warm", ("s2", "s1", "s3"), 1, True, grace=grace,
                                          grace_on_check=on_check),))


def _after(s: Schedule, fault: Fault) -> list[float]:
    sit = bounds.Situation(s, "s1", {"pbx": ("s2", "s1", "s3")})
    return [round(d.at - fault.at, 3) for d in bounds.deadlines(fault, sit)]


def test_the_grace_is_added_where_it_can_delay_a_move():
    crash = Fault("proc_crash", 10.0, server="s2", service="pbx")
    flap = Fault("flap", 10.0, 4.0, server="s2", service="pbx")
    assert _after(_schedule(grace=5.0), crash) == [1 + 5 + 2 + 1]
    assert _after(_schedule(grace=5.0), flap) == [4 + 1 + 5 + 2 + 2 + 1]
    assert _after(_schedule(), flap) == [4 + 1 + 2 + 2 + 1]
    resumed = bounds.resumed(_schedule(grace=2.0), "pbx", 10.0)
    assert round(resumed.at - 10.0, 3) == 1 + 2 + 2 + 1 and "startupGrace 2" in resumed.why
    # a server lost is not judged by a check: no grace there
    cut = Fault("cut", 10.0, 20.0, server="s2", etcd=True)
    assert _after(_schedule(grace=5.0), cut) == _after(_schedule(), cut)


def test_graces_come_from_a_generator_of_their_own():
    drawn = [draw(seed) for seed in range(1, 300)]
    graced = [s for s in drawn if any(p.grace for p in s.services)]
    assert graced
    assert {p.grace_on_check for s in graced for p in s.services if p.grace} == {True, False}
    for s in graced[:10]:
        before = draw(s.seed, extras=tuple(e for e in EXTRAS if e != "startup_grace"))
        assert not any(p.grace for p in before.services)
        assert before.faults == s.faults


def test_a_flap_on_a_server_just_promoted_rides_out_its_grace():
    # s1 is promoted by the switchover at t=10 and its check fails until t=13:
    # inside its 5 s grace that is `starting`, never a move (nor a violation)
    flap = Fault("flap", 10.0, 3.0, server="s1", service="pbx")
    switch = Fault("switchover", 10.0, service="pbx", to="s1")
    for on_check in (False, True):
        result = run(_schedule(switch, flap, grace=5.0, on_check=on_check))
        assert result.violations == [], result.violations
        assert "alive failed" not in result.trace
    plain = run(_schedule(switch, flap))
    assert plain.violations == []
    assert "alive failed" in plain.trace     # without a grace the same flap moves it
