"""A PostgreSQL member for the benches and tests, run by Overseer's process or exec actuator.

`pg_member.py run CONF` becomes this server's postmaster (exec, so the agent
supervises the postmaster itself and sees its death at once): the process
actuator's command. `start CONF` and `stop CONF` are the exec actuator's:
`pg_ctl start` leaves the postmaster behind as a daemon, and the agent
follows it through `postmaster.pid` (a `process` check's pidfile). It always
starts as a standby (standby.signal, primary_conninfo naming the peer): only
`pg_member.py promote CONF` makes it writable, so a restarted old primary can
never take writes beside the new one. CONF is JSON: {server: {data, port}}.
The server comes from OVERSEER_SERVER (the actuator environment). Postgres
refuses root, so both steps drop to the `postgres` user.
"""
from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time

BIN = "/usr/lib/postgresql/15/bin"


def _member(conf_path: str) -> dict:
    with open(conf_path) as fh:
        return json.load(fh)[os.environ["OVERSEER_SERVER"]]


def _drop_to_postgres() -> None:
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.setgroups([])
        os.setgid(pg.pw_gid)
        os.setuid(pg.pw_uid)
        os.environ["HOME"] = pg.pw_dir


def run(conf_path: str) -> None:
    me = _member(conf_path)
    _drop_to_postgres()
    open(os.path.join(me["data"], "standby.signal"), "w").close()
    os.execv(f"{BIN}/postgres", ["postgres", "-D", me["data"]])


def start(conf_path: str) -> int:
    """`pg_ctl start` as a standby, returning once it accepts connections.
    Idempotent, as an exec start must be: a running server is left as it is."""
    me = _member(conf_path)
    _drop_to_postgres()
    if subprocess.run([f"{BIN}/pg_ctl", "status", "-D", me["data"]], capture_output=True,
                      check=False).returncode == 0:
        return 0
    open(os.path.join(me["data"], "standby.signal"), "w").close()
    return subprocess.run([f"{BIN}/pg_ctl", "start", "-D", me["data"], "-w", "-t", "30",
                           "-l", os.path.join(me["data"], "member.log")], check=False).returncode


def stop(conf_path: str) -> int:
    me = _member(conf_path)
    _drop_to_postgres()
    if not os.path.exists(os.path.join(me["data"], "postmaster.pid")):
        return 0
    return subprocess.run([f"{BIN}/pg_ctl", "stop", "-D", me["data"], "-m", "fast", "-w", "-t", "30"],
                          check=False).returncode


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]
    return argv


def promote(conf_path: str) -> int:
    """Promote once the standby accepts connections (the actuator's start
    returns when the process is spawned, not when recovery is under way);
    a server that is already primary is left as it is."""
    me = _member(conf_path)
    deadline = time.monotonic() + 30
    while subprocess.run([f"{BIN}/pg_isready", "-q", "-h", "127.0.0.1", "-p", str(me["port"]), "-t", "1"],
                         check=False).returncode != 0:
        if time.monotonic() > deadline:
            print("standby not accepting connections after 30 s", file=sys.stderr)
            return 1
        time.sleep(0.05)
    in_recovery = subprocess.run(
        [f"{BIN}/psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(me["port"]), "-U", "postgres",
         "-d", "postgres", "-c", "SELECT pg_is_in_recovery()"], capture_output=True, text=True, check=False)
    if in_recovery.stdout.strip() == "f":
        return 0
    return subprocess.run(_as_postgres([f"{BIN}/pg_ctl", "promote", "-D", me["data"], "-w", "-t", "30"]),
                          check=False).returncode


if __name__ == "__main__":
    step, conf = sys.argv[1], sys.argv[2]
    if step == "run":
        run(conf)
    sys.exit({"start": start, "stop": stop, "promote": promote}[step](conf))
