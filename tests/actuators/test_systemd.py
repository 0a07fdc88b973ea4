"""systemd actuator against a fake `systemctl` on PATH (a real process)."""
from __future__ import annotations

import json
import sys

import pytest

from overseer.actuators import ActuatorError, build_actuator
from overseer.desired.models import SystemdActuator

FAKE = """#!{py}
# Fake systemctl: records argv and OVERSEER_ROLE, keeps unit state in a file.
import json, os, sys
state = {state!r}
with open({calls!r}, "a") as f:
    f.write(json.dumps([sys.argv[1:], os.environ.get("OVERSEER_ROLE")]) + "\\n")
verb, unit = sys.argv[1], sys.argv[-1]
if unit == "broken.service":
    sys.stderr.write("Job for broken.service failed.\\n"); sys.exit(1)
if verb == "start": open(state, "w").write("active")
elif verb == "stop": open(state, "w").write("inactive")
elif verb == "is-active":
    sys.exit(0 if os.path.exists(state) and open(state).read() == "active" else 3)
"""


@pytest.fixture
def fake_systemctl(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "calls.jsonl"
    script = bindir / "systemctl"
    script.write_text(FAKE.format(py=sys.executable, state=str(tmp_path / "state"),
                                  calls=str(calls)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    return calls


def recorded(calls) -> list:
    """The steps' calls; `show -p MainPID`, asked after each step to watch the
    unit's main process (test_death_watch.py), is left out."""
    return [call for call in map(json.loads, calls.read_text().splitlines()) if call[0][0] != "show"]


async def test_start_stop_and_is_active(ctx, fake_systemctl):
    spec = SystemdActuator.model_validate({"type": "systemd", "unit": "asterisk.service"})
    act = build_actuator("asterisk", spec)
    assert await act.running(ctx) is False
    await act.start(ctx)
    assert await act.running(ctx) is True
    await act.stop(ctx)
    assert await act.running(ctx) is False
    assert recorded(fake_systemctl) == [
        [["is-active", "--quiet", "asterisk.service"], "active"],
        [["start", "asterisk.service"], "active"],
        [["is-active", "--quiet", "asterisk.service"], "active"],
        [["stop", "asterisk.service"], "active"],
        [["is-active", "--quiet", "asterisk.service"], "active"],
    ]


async def test_failed_start_reports_systemctl_stderr(ctx, fake_systemctl):
    spec = SystemdActuator.model_validate({"type": "systemd", "unit": "broken.service"})
    with pytest.raises(ActuatorError) as caught:
        await build_actuator("pbx", spec).start(ctx)
    assert caught.value.reason == "exited 1: Job for broken.service failed."
    assert "pbx: start: systemctl start broken.service" in str(caught.value)


async def test_promote_command_and_injected_systemctl_path(ctx, tmp_path, fake_systemctl,
                                                           monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # the fake is reachable only by its path
    out = tmp_path / "promoted"
    spec = SystemdActuator.model_validate({
        "type": "systemd", "unit": "pg.service",
        "promote": [sys.executable, "-c", "import os,sys; open(sys.argv[1],'w')"
                    ".write(os.environ['OVERSEER_EPOCH'])", str(out)]})
    fake_path = str(fake_systemctl.parent / "bin" / "systemctl")
    act = build_actuator("pg", spec, systemctl=fake_path)
    await act.promote(ctx)
    await act.demote(ctx)  # no demote command: no-op
    await act.start(ctx)
    assert out.read_text() == "7"
    assert recorded(fake_systemctl) == [[["start", "pg.service"], "active"]]
