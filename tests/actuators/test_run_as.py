"""`user:` on the process and exec actuators: real children as `nobody`, with
no capability and no way to gain one; an unknown user fails the start by name."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest

from overseer.actuators import ActuatorError, build_actuator
from overseer.actuators.child import supervised_argv
from overseer.desired.child_user import resolve
from overseer.desired.models import ExecActuator, ProcessActuator
from overseer.desired.run_as import RunAs
from tests.support.run_as import NOBODY, needs_root, powerless, read_whoami, shared_dir, status_of, whoami_argv
from tests.support.waiting import poll_until

from .conftest import wait_file, wait_gone

pytestmark = pytest.mark.usefixtures("root")


@pytest.fixture
def root():
    needs_root()


def process(**fields) -> ProcessActuator:
    return ProcessActuator.model_validate({"type": "process", **fields})


def execed(pid: int, name: str) -> psutil.Process:
    """The child once it is `name`: before, it may still be setpriv, not yet switched."""
    proc = psutil.Process(pid)
    poll_until(lambda: proc.name() == name, 5, f"{pid} to exec {name}")
    return proc


def exec_spec(**fields) -> ExecActuator:
    return ExecActuator.model_validate({"type": "exec", "start": ["true"], "stop": ["true"], **fields})


async def test_a_supervised_child_runs_as_its_user_without_any_capability(ctx, tmp_path):
    logs = tmp_path / "logs"
    act = build_actuator("pbx", process(command=["sh", "-c", "echo started as $(id -u); exec sleep 120"],
                                        user="nobody"), log_dir=str(logs))
    await act.start(ctx)
    try:
        pid = act.child_pid()
        text = await asyncio.to_thread(wait_file, logs / "pbx.log")
        assert text.strip() == f"started as {NOBODY.pw_uid}"
        proc = psutil.Process(pid)
        assert tuple(proc.uids()) == (NOBODY.pw_uid,) * 3
        assert tuple(proc.gids()) == (NOBODY.pw_gid,) * 3
        status = status_of(pid)
        assert status["Groups"].split() == [str(g) for g in os.getgrouplist("nobody", NOBODY.pw_gid)]
        assert powerless(status), status
        env = proc.environ()
        assert (env["USER"], env["LOGNAME"], env["HOME"]) == ("nobody", "nobody", NOBODY.pw_dir)
        assert os.getpgid(pid) == pid, "still the leader of its own process group"
    finally:
        await act.close()
    assert wait_gone(pid, 5)


async def test_group_and_groups_are_the_ones_given(ctx, tmp_path):
    act = build_actuator("pbx", process(command=["sleep", "120"], user="nobody", group="daemon",
                                        groups=["adm", "4242"]))
    await act.start(ctx)
    try:
        status = status_of(execed(act.child_pid(), "sleep").pid)
        assert status["Gid"].split()[:3] == ["1"] * 3   # daemon
        assert status["Groups"].split() == ["4", "4242"]   # adm, and an id with no group
    finally:
        await act.close()


async def test_the_service_env_wins_over_the_users_home(ctx, tmp_path):
    with shared_dir() as shared:
        out = shared / "env"
        act = build_actuator("pbx", process(
            command=["sh", "-c", 'echo "$HOME $USER" > "$0"; exec sleep 120', str(out)],
            user="nobody", env={"HOME": "/srv/pbx"}))
        await act.start(ctx)
        try:
            assert (await asyncio.to_thread(wait_file, out)).strip() == "/srv/pbx nobody"
        finally:
            await act.close()


async def test_a_user_this_server_does_not_know_fails_the_start_by_name(ctx, tmp_path):
    act = build_actuator("pbx", process(command=["sleep", "120"], user="no-such-user-here"))
    with pytest.raises(ActuatorError) as caught:
        await act.start(ctx)
    assert str(caught.value) == ("pbx: start: spec.actuator.user: user 'no-such-user-here'"
                                 " does not exist on this server")
    assert act.child_pid() is None
    act = build_actuator("pbx", process(command=["sleep", "120"], user="nobody", groups=["nogroup", "no-such-g"]))
    with pytest.raises(ActuatorError, match=r"spec\.actuator\.groups\[1\]: group 'no-such-g' does not exist"):
        await act.start(ctx)


async def test_a_child_as_nobody_dies_with_its_agent():
    # setpriv sets the parent-death signal after the switch (a switch clears it)
    parent = subprocess.Popen([sys.executable, "-c", """
import asyncio
from overseer.actuators import ActionContext, build_actuator
from overseer.desired.models import ProcessActuator

async def main():
    spec = ProcessActuator.model_validate({"type": "process", "command": ["sleep", "120"], "user": "nobody"})
    act = build_actuator("pbx", spec)
    await act.start(ActionContext("lab", "pbx", "pbx1", "active", 1))
    print(act.child_pid(), flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert execed(child, "sleep").uids().real == NOBODY.pw_uid
        os.kill(parent.pid, signal.SIGKILL)
        assert wait_gone(child, within=2.0), "a child as nobody outlived its agent"
    finally:
        parent.kill()
        parent.wait()


async def test_every_exec_command_runs_as_the_user(ctx):
    with shared_dir() as shared:
        steps = ("start", "promote", "demote", "status", "stop")
        act = build_actuator("pbx", exec_spec(user="nobody", **{
            step: whoami_argv(shared / step) for step in steps}))
        await act.start(ctx)
        await act.promote(ctx)
        await act.demote(ctx)
        assert await act.running(ctx) is True
        await act.stop(ctx)
        for step in steps:
            seen = read_whoami(shared / step)
            assert (seen["uid"], seen["gid"], seen["user"], seen["home"]) == (
                str(NOBODY.pw_uid), str(NOBODY.pw_gid), "nobody", NOBODY.pw_dir), step
            assert (seen["CapEff"], seen["CapBnd"], seen["CapAmb"], seen["NoNewPrivs"]) == (
                "0" * 16, "0" * 16, "0" * 16, "1"), step


async def test_an_exec_command_the_user_may_not_run_says_why(ctx, tmp_path):
    script = tmp_path / "private"   # under pytest's root-only folder
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    act = build_actuator("pbx", exec_spec(start=[str(script)], user="nobody"))
    with pytest.raises(ActuatorError, match="Permission denied"):
        await act.start(ctx)
    await build_actuator("pbx", exec_spec(start=[str(script)])).start(ctx)   # the agent itself may


async def test_without_a_user_commands_still_run_as_the_agent(ctx):
    with shared_dir() as shared:
        await build_actuator("pbx", exec_spec(start=whoami_argv(shared / "start"))).start(ctx)
        assert read_whoami(shared / "start")["uid"] == str(os.geteuid())


async def test_a_stop_reaches_a_child_of_another_user(ctx):
    act = build_actuator("pbx", process(command=["sleep", "120"], user="nobody", timeout="5s"))
    await act.start(ctx)
    pid = act.child_pid()
    began = time.monotonic()
    await act.stop(ctx)
    assert wait_gone(pid, 1) and time.monotonic() - began < 5, "SIGTERM did not reach it"


# The capabilities operations.md lists for an agent run as a user of its own
# (User= in its unit, with AmbientCapabilities=): ambient ones survive every
# exec and, unlike root's, a switch between two ordinary users. Without
# setpriv's --inh-caps=-all / --ambient-caps=-all a `user: nobody` child
# would keep every one of them.
AGENT_CAPS = "cap_net_admin,cap_net_raw,cap_setuid,cap_setgid,cap_kill,cap_setpcap"


def _as_an_agent_of_its_own_user(argv: list[str]) -> dict[str, str]:
    """Run argv from a process of the `daemon` user holding AGENT_CAPS as
    ambient capabilities, as such an agent would; /proc/self/status's
    capability lines and NoNewPrivs that the command printed."""
    capsh = shutil.which("capsh")
    if capsh is None:
        pytest.skip("capsh (libcap2-bin) is needed to hold ambient capabilities as another user")
    outer = [capsh, "--keep=1", "--user=daemon", f"--inh={AGENT_CAPS}", f"--addamb={AGENT_CAPS}",
             "--", "-c", 'exec "$@"', "agent"]
    proc = subprocess.run([*outer, *argv], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return dict(line.replace("\t", "").split(":", 1) for line in proc.stdout.splitlines())


STATUS = ["grep", "-E", "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):", "/proc/self/status"]


@pytest.mark.parametrize("spawn", ["supervised", "command"])
def test_a_child_of_an_agent_with_ambient_capabilities_holds_none_of_them(spawn):
    nobody = resolve(RunAs(user="nobody"))
    # the outer process keeps its pid through capsh, bash and setpriv: our child
    argv = (supervised_argv(STATUS, os.getpid(), nobody) if spawn == "supervised" else nobody.wrap(STATUS))
    held = _as_an_agent_of_its_own_user(STATUS)
    assert int(held["CapAmb"], 16) != 0 and held["NoNewPrivs"] == "0", held   # the test can tell
    assert powerless(_as_an_agent_of_its_own_user(argv))
