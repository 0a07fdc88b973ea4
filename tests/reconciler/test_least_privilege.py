"""A service running as its own user cannot take the agent's powers.

A real agent holds an etcd password in its environment. Its `spy` service
runs as `nobody` and tries what a compromised service would: read the
agent's /proc/<pid>/environ, SIGSTOP the agent, SIGKILL the fencer. All
three fail, and the agent and fencer go on. The `own` service, without
`user:`, runs as the agent and shows the same three would work (it only asks,
with signal 0): the test can tell the difference.
"""
import json
import os
import signal
import textwrap
from pathlib import Path

import psutil
import pytest

from overseer.reconciler.agent.fencer import FENCER_ENV, Fencer
from tests.support.cluster import cluster_yaml, running_pid
from tests.support.run_as import NOBODY, needs_root
from tests.support.waiting import holds_for, poll_until

# run by the system python: the agent's may sit where nobody cannot read it
PYTHON = "/usr/bin/python3"
PASSWORD = "etcd-password-a-service-must-never-see"

ATTACK = textwrap.dedent("""\
    import errno, json, os, signal, sys, time
    harm = sys.argv[1] == "harm"      # else only ask whether it may (signal 0)
    agent = os.getppid()

    def fencer_of(agent):
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = open(f"/proc/{pid}/stat").read()
                cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == agent and b"fencer.py" in cmdline:
                return int(pid)

    def attempt(act):
        try:
            return act() or "done"
        except OSError as exc:
            return errno.errorcode[exc.errno]

    def environ():
        text = open(f"/proc/{agent}/environ", "rb").read()
        return "holds the password" if b"OVERSEER_ETCD_PASSWORD=" in text else "read"

    fencer = fencer_of(agent)
    print(json.dumps({
        "uid": os.getuid(), "agent": agent, "fencer": fencer,
        "read environ": attempt(environ),
        "stop agent": attempt(lambda: os.kill(agent, signal.SIGSTOP if harm else 0)),
        "kill fencer": attempt(lambda: os.kill(fencer, signal.SIGKILL if harm else 0)),
    }), flush=True)
    time.sleep(100000)
    """)


def service(name: str, mode: str, user: str = "") -> str:
    command = json.dumps([PYTHON, "-c", ATTACK, mode])
    return textwrap.dedent(f"""\
        apiVersion: overseer/v1
        kind: Service
        metadata: {{name: {name}}}
        spec:
          candidates: [pbx1]
          actuator: {{type: process, command: {command}, timeout: 2s{user}}}
          checks:
            - {{name: alive, type: process}}
        """)


def report(log: Path):
    try:
        return json.loads(log.read_text().splitlines()[0])
    except (OSError, IndexError, ValueError):
        return None


def test_a_service_as_nobody_cannot_read_stop_or_kill_the_agent_and_its_fencer(cluster):
    needs_root()
    if not os.access(PYTHON, os.X_OK):
        pytest.skip(f"{PYTHON} is needed to run the service as nobody")
    cluster.env["OVERSEER_ETCD_PASSWORD"] = PASSWORD
    cluster.apply(cluster_yaml(cluster.name, ["pbx1"], ttl="2s", extra=(
        service("spy", "harm", ", user: nobody") + "---\n" + service("own", "ask"))))
    agent = cluster.start_agent("pbx1")
    logs = cluster.workdir / "pbx1" / "logs"
    spy = poll_until(lambda: report(logs / "spy.log"), 30, f"the spy's report\n{cluster.logs()}")
    own = poll_until(lambda: report(logs / "own.log"), 30, f"the control's report\n{cluster.logs()}")

    assert spy["uid"] == NOBODY.pw_uid and spy["agent"] == agent.pid and spy["fencer"]
    assert (spy["read environ"], spy["stop agent"], spy["kill fencer"]) == ("EACCES", "EPERM", "EPERM")
    # the same three as the agent's own user: all allowed
    assert own["agent"] == agent.pid and own["fencer"] == spy["fencer"]
    assert (own["read environ"], own["stop agent"], own["kill fencer"]) == ("holds the password", "done", "done")

    agent_proc, fencer = psutil.Process(agent.pid), psutil.Process(spy["fencer"])
    spy_pid = running_pid(cluster.snapshot(), "pbx1", "spy")
    assert spy_pid is not None

    def unharmed():
        return (agent_proc.status() not in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE)
                and fencer.is_running() and fencer.status() != psutil.STATUS_ZOMBIE
                and running_pid(cluster.snapshot(), "pbx1", "spy") == spy_pid)
    # a lease and a half (ttl 2 s): a stopped agent would have lost it, and its fencer killed the spy
    holds_for(unharmed, 3.0, "the agent, its fencer and the spy's active role", interval=0.2)


def test_the_fencer_gets_none_of_the_agents_environment_but_path_and_its_settings(monkeypatch):
    monkeypatch.setenv("OVERSEER_ETCD_PASSWORD", PASSWORD)
    monkeypatch.setenv("OVERSEER_ETCD_PASSWORD_FILE", "/etc/overseer/etcd-password")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", "/run/credentials/overseer-agent@pbx1.service")
    monkeypatch.setenv("OVERSEER_IP_COMMAND", "/usr/sbin/ip")
    fencer = Fencer()
    try:
        raw = Path(f"/proc/{fencer.proc.pid}/environ").read_bytes()
        env = dict(item.decode().split("=", 1) for item in raw.split(b"\0") if item)
        assert set(env) <= set(FENCER_ENV) and env["PATH"] == os.environ["PATH"], sorted(env)
        assert env["OVERSEER_IP_COMMAND"] == "/usr/sbin/ip"
        assert PASSWORD.encode() not in raw
    finally:
        fencer.close()
    assert fencer.proc.returncode == 0, "the fencer did not start cleanly with that environment"
