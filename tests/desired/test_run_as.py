"""`user`, `group`, `groups`: looking the names up (on this machine, at each
spawn), `overseer validate --check-users`, what a switching agent must hold,
and the environment a child gets."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from overseer.desired.child_env import child_environment
from overseer.desired.child_user import RunAsError, credentials, resolve
from overseer.desired.run_as import RunAs
from overseer.desired.validate import validate_paths
from overseer.reconciler.cli.main import cli
from tests.support.run_as import NOBODY

DOCS = textwrap.dedent("""\
    apiVersion: overseer/v1
    kind: Cluster
    metadata: {name: lab}
    spec:
      hierarchy: [a]
      on:
        masterChange: {command: "true", user: nobody, groups: [nogroup, no-such-group-x]}
    ---
    apiVersion: overseer/v1
    kind: Server
    metadata: {name: a}
    spec: {address: 10.0.0.1}
    ---
    apiVersion: overseer/v1
    kind: Service
    metadata: {name: pbx}
    spec:
      candidates: [a]
      actuator: {type: process, command: [asterisk, -f], user: no-such-user-x}
      checks:
        - {name: a, type: command, command: "true", user: 4321}
        - {name: b, type: command, command: "true", user: nobody, group: "77777"}
      on:
        promote: {command: "true", user: nobody}
    """)


def test_validate_check_users_names_each_unknown_one_at_its_line(tmp_path):
    path = tmp_path / "docs.yaml"
    path.write_text(DOCS)
    assert validate_paths([path]).valid, "a name unknown here is no error without --check-users"
    result = CliRunner().invoke(cli, ["validate", "--check-users", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:7: spec.on.masterChange.groups[1]: group 'no-such-group-x' does not exist on this machine",
        f"{path}:19: spec.actuator.user: user 'no-such-user-x' does not exist on this machine",
        f"{path}:21: spec.checks[0].group: uid 4321 has no account on this machine to take a primary"
        " group from; give group",
    ]
    path.write_text(DOCS.replace("no-such-group-x", "nogroup").replace("no-such-user-x", "nobody")
                    .replace("user: 4321", "user: 4321, group: 4321"))
    result = CliRunner().invoke(cli, ["validate", "--check-users", str(path)])
    assert (result.exit_code, result.stdout) == (0, "3 documents valid\n"), result.stderr


def test_a_user_is_looked_up_with_its_groups():
    found = resolve(RunAs(user="nobody"))
    assert (found.uid, found.gid, found.name, found.home) == (NOBODY.pw_uid, NOBODY.pw_gid, "nobody", NOBODY.pw_dir)
    assert found.groups == tuple(dict.fromkeys(os.getgrouplist("nobody", NOBODY.pw_gid)))
    assert found.env() == {"USER": "nobody", "LOGNAME": "nobody", "HOME": NOBODY.pw_dir, "SHELL": NOBODY.pw_shell}
    # numbers need no account; then the environment has nothing to say about it
    found = resolve(RunAs(user="4321", group="4321", groups=["0", "adm", "0"]))
    assert (found.uid, found.gid, found.groups, found.env()) == (4321, 4321, (0, 4), {})
    assert "--clear-groups" in resolve(RunAs(user="nobody", groups=[])).setpriv_options()
    assert resolve(RunAs()) is None


def test_an_agent_that_may_not_switch_users_says_so_before_any_spawn():
    # root, but without some capabilities: as an agent run by a User= without them
    code = ("from overseer.desired.child_user import credentials, RunAsError\n"
            "from overseer.desired.run_as import RunAs\n"
            "try:\n    credentials(RunAs(user='nobody'))\n"
            "except RunAsError as exc:\n    print(exc.where('spec.actuator'), exc.reason)\n")
    def lacking(caps: str) -> str:
        proc = subprocess.run(["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--",
                               sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()
    said = f"spec.actuator.user the agent (uid {os.geteuid()}) may not run commands as user 'nobody': it lacks"
    assert lacking("-setuid,-setgid,-kill") == f"{said} CAP_SETUID, CAP_SETGID and CAP_KILL"
    # without CAP_KILL it could never stop (nor fence) what it started
    assert lacking("-kill") == f"{said} CAP_KILL"
    if os.geteuid() == 0:
        assert credentials(RunAs(user="nobody")).uid == NOBODY.pw_uid


def test_an_agent_without_a_listed_capability_says_so_before_any_spawn():
    code = ("from overseer.desired.child_user import credentials, RunAsError\n"
            "from overseer.desired.run_as import RunAs\n"
            "try:\n    credentials(RunAs(user='nobody', capabilities=['CAP_NET_BIND_SERVICE']))\n"
            "except RunAsError as exc:\n    print(exc.where('spec.actuator'), exc.reason)\n"
            "else:\n    print('allowed')\n")
    def lacking(caps: str) -> str:
        proc = subprocess.run(["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--",
                               sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()
    if os.geteuid() != 0:
        pytest.skip("needs root: an agent that may switch users at all")
    assert lacking("-net_bind_service") == (
        f"spec.actuator.capabilities the agent (uid 0) does not hold CAP_NET_BIND_SERVICE itself, so cannot"
        " keep it in the command; give the agent's unit that capability or drop it here")
    assert lacking("+net_bind_service") == "allowed"


def test_capabilities_become_setpriv_lists_of_exactly_those():
    found = resolve(RunAs(user="nobody", capabilities=["CAP_NET_BIND_SERVICE", "CAP_SYS_NICE",
                                                        "CAP_NET_BIND_SERVICE"]))
    assert found.capabilities == ("CAP_NET_BIND_SERVICE", "CAP_SYS_NICE")
    options = found.setpriv_options()
    assert "--inh-caps=-all,+net_bind_service,+sys_nice" in options
    assert "--ambient-caps=-all,+net_bind_service,+sys_nice" in options
    assert "--ambient-caps=-all" in resolve(RunAs(user="nobody")).setpriv_options()


@pytest.mark.parametrize(("given", "said"), [
    ("net_bind_service", "write CAP_NET_BIND_SERVICE, as systemd's AmbientCapabilities= does"),
    ("CAP_SETUID", "CAP_SETUID is refused: it could switch back to root; a service may keep only"),
    ("CAP_NET_ADMIN", "CAP_NET_ADMIN is refused: it could move or remove the floating address"),
    ("CAP_FLY", "'CAP_FLY' is not a capability a service may keep; use one of CAP_NET_BIND_SERVICE,"),
])
def test_a_capability_outside_the_list_is_refused_with_the_reason(given, said):
    with pytest.raises(ValueError, match=re.escape(said)):
        RunAs(user="nobody", capabilities=[given])


def test_unknown_names_are_typed_errors_that_name_the_field():
    with pytest.raises(RunAsError) as caught:
        resolve(RunAs(user="nobody", groups=["nogroup", "no-such-group-x"]))
    assert (caught.value.where("spec.checks[2]"), caught.value.reason) == (
        "spec.checks[2].groups[1]", "group 'no-such-group-x' does not exist on this server")


def test_children_never_get_what_is_the_agents_alone():
    agent = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "HOME": "/root", "USER": "root",
             "OVERSEER_ETCD": "https://10.0.0.31:2379", "OVERSEER_ETCD_USER": "overseer",
             "OVERSEER_ETCD_PASSWORD": "hunter2", "OVERSEER_ETCD_PASSWORD_FILE": "/etc/overseer/etcd-password",
             "OVERSEER_ETCD_KEY": "/etc/overseer/client.key", "OVERSEER_ETCD_CACERT": "/etc/overseer/ca.pem",
             "CREDENTIALS_DIRECTORY": "/run/credentials/overseer-agent@pbx1.service",
             "NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "15000000", "WATCHDOG_PID": "812"}
    env = child_environment({"OVERSEER_ROLE": "active"}, {"HOME": "/srv/pbx", "OVERSEER_ROLE": "forged"},
                            base=agent, account={"HOME": "/nonexistent", "USER": "nobody"})
    assert env == {"PATH": "/usr/bin", "LANG": "C.UTF-8", "HOME": "/srv/pbx", "USER": "nobody",
                   "OVERSEER_ROLE": "active"}
