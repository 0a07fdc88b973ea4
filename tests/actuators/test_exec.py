"""exec actuator and the command runner: env, literal argv, timeouts, errors."""
from __future__ import annotations

import json
import sys

import pytest

from overseer.actuators import ActuatorError, ActuatorTimeout, build_actuator
from overseer.desired.models import ExecActuator

from .conftest import gone, wait_file, wait_gone

PY = sys.executable


def exec_spec(**fields) -> ExecActuator:
    base = {"type": "exec", "start": ["true"], "stop": ["true"]}
    return ExecActuator.model_validate({**base, **fields})


async def test_env_reaches_commands(ctx, tmp_path):
    out = tmp_path / "env.json"
    dump = [PY, "-c", "import json,os,sys; json.dump({k: v for k, v in os.environ.items() "
            "if k.startswith('OVERSEER_')}, open(sys.argv[1], 'w'))", str(out)]
    act = build_actuator("pbx", exec_spec(start=dump))
    await act.start(ctx)
    assert json.loads(out.read_text()) == {
        "OVERSEER_CLUSTER": "lab", "OVERSEER_SERVICE": "pbx", "OVERSEER_SERVER": "pbx1",
        "OVERSEER_ROLE": "active", "OVERSEER_EPOCH": "7"}


async def test_argv_is_literal_never_a_shell(ctx, tmp_path):
    marker = tmp_path / "x"
    out = tmp_path / "argv.json"
    tricky = ["a b", "it's \"quoted\"", f"; touch {marker}", "$(touch {marker})", "*"]
    cmd = [PY, "-c", "import json,sys; json.dump(sys.argv[2:], open(sys.argv[1], 'w'))",
           str(out), *tricky]
    await build_actuator("pbx", exec_spec(start=cmd)).start(ctx)
    assert json.loads(out.read_text()) == tricky
    # The string form is split by shlex, then still passed without a shell.
    await build_actuator("pbx", exec_spec(start=f"echo ; touch {marker}")).start(ctx)
    assert not marker.exists()


async def test_timeout_kills_the_whole_group(ctx, tmp_path):
    pidfile = tmp_path / "grandchild"
    hung = ["sh", "-c", f"sleep 60 & echo $! > {pidfile}; sleep 60"]
    act = build_actuator("pbx", exec_spec(promote=hung, timeout="0.5s"))
    with pytest.raises(ActuatorTimeout) as caught:
        await act.promote(ctx)
    grandchild = int(wait_file(pidfile))
    assert wait_gone(grandchild, within=1.0), "the hung command's own child survived the timeout"
    err = caught.value
    assert (err.service, err.action) == ("pbx", "promote")
    assert "timed out after 0.5s" in str(err) and "sleep 60" in str(err)


async def test_nonzero_exit_names_status_and_stderr(ctx):
    failing = [PY, "-c", "import sys; sys.stderr.write('no trunk\\nmore\\n'); sys.exit(3)"]
    with pytest.raises(ActuatorError) as caught:
        await build_actuator("asterisk", exec_spec(stop=failing)).stop(ctx)
    err = caught.value
    assert not isinstance(err, ActuatorTimeout)
    assert (err.service, err.action) == ("asterisk", "stop")
    assert err.reason == "exited 3: no trunk"
    assert str(err).startswith(f"asterisk: stop: {PY} -c ")


async def test_missing_program_is_an_actuator_error(ctx):
    act = build_actuator("pbx", exec_spec(start=["/nonexistent/pbx-takeover", "now"]))
    with pytest.raises(ActuatorError, match="pbx: start: .*not found: /nonexistent/pbx-takeover"):
        await act.start(ctx)


async def test_background_daemon_does_not_block_start(ctx, tmp_path):
    # A start command that leaves a daemon holding our pipes must return at once.
    pidfile = tmp_path / "daemon"
    start = ["sh", "-c", f"sleep 30 & echo $! > {pidfile}"]
    act = build_actuator("pbx", exec_spec(start=start, timeout="5s"))
    await act.start(ctx)
    daemon = int(wait_file(pidfile))
    assert not gone(daemon), "a normal exit must not kill what start launched"
    await build_actuator("pbx", exec_spec(stop=["kill", str(daemon)])).stop(ctx)


async def test_status_command_and_optional_promote(ctx, tmp_path):
    assert await build_actuator("pbx", exec_spec()).running(ctx) is None
    assert await build_actuator("pbx", exec_spec(status=["true"])).running(ctx) is True
    assert await build_actuator("pbx", exec_spec(status=["false"])).running(ctx) is False
    act = build_actuator("pbx", exec_spec())
    await act.promote(ctx)  # no promote command: no-op, no error
    await act.demote(ctx)
    assert act.child_pid() is None


async def test_commands_never_see_the_agents_etcd_credentials(ctx, tmp_path, monkeypatch):
    monkeypatch.setenv("OVERSEER_ETCD_PASSWORD", "hunter2")
    monkeypatch.setenv("OVERSEER_ETCD_USER", "root")
    monkeypatch.setenv("OVERSEER_ETCD", "http://10.9.9.9:2379")
    out = tmp_path / "env.json"
    dump = [PY, "-c", "import json,os,sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))", str(out)]
    await build_actuator("pbx", exec_spec(start=dump)).start(ctx)
    seen = json.loads(out.read_text())
    assert not [k for k in seen if k.startswith("OVERSEER_ETCD")]
    assert seen["OVERSEER_ROLE"] == "active" and "PATH" in seen
