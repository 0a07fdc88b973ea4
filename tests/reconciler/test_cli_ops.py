"""Operator commands on a real etcd (no agents): history, plan --what-if on
the master's own server, the refusal of a switchover decided before anything
is requested, pausing everything only when confirmed, and the usage errors."""
from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

from click.testing import CliRunner

from overseer.reconciler.cli import environment
from overseer.reconciler.cli.main import cli
from tests.reconciler.cli_world import run, seed

OVERSEER = os.path.join(os.path.dirname(sys.executable), "overseer")
CLI_SOURCES = os.path.join(os.path.dirname(__file__), "..", "..", "reconciler", "cli")


def test_history_of_one_service_or_all_since_a_duration_or_a_time(etcd_url, cluster_name):
    store = seed(etcd_url, cluster_name)
    try:
        everything = run(etcd_url, cluster_name, "history")
        assert everything.exit_code == 0, everything.output
        lines = everything.stdout.splitlines()
        assert lines[0].split()[:4] == ["TIME", "AGE", "SERVICE", "KIND"]
        # oldest first, every service merged
        assert [line.split()[4] for line in lines[1:]] == ["pbx", "recorder", "pbx", "pbx"]
        assert "pbx moved pbx2 -> pbx1: pbx2 sip failed" in everything.stdout

        recent = json.loads(run(etcd_url, cluster_name, "history", "pbx", "--since", "3m", "-o", "json").stdout)
        assert [e["kind"] for e in recent] == ["failover", "hook"]
        assert all(e["service"] == "pbx" for e in recent)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
        assert [e["kind"] for e in json.loads(
            run(etcd_url, cluster_name, "history", "--since", stamp, "-o", "json").stdout)] == ["hook"]
        assert "no history for recorder since 1m" in run(etcd_url, cluster_name, "history", "recorder",
                                                         "--since", "1m").stdout

        for bad in ("yesterday", "2026-05-01T10:00"):    # not a duration; a time without its zone
            refused = run(etcd_url, cluster_name, "history", "--since", bad)
            assert refused.exit_code == 2 and "--since" in refused.stderr, refused.output
        unknown = run(etcd_url, cluster_name, "history", "nosuch")
        assert unknown.exit_code == 1 and "no service 'nosuch'" in unknown.stderr
    finally:
        store.close()


def test_what_if_the_master_dies_names_its_successor_and_never_says_inf(etcd_url, cluster_name):
    store = seed(etcd_url, cluster_name)
    try:
        out = run(etcd_url, cluster_name, "plan", "--what-if", "down=pbx1")
        assert out.exit_code == 0, out.output
        assert "pbx1 is the master: a new master would be elected, pbx2" in out.stdout, out.stdout
        assert "pbx1, pbx2, web1" in out.stdout and "within 1s" in out.stdout
        assert "recorder: assign active=pbx2" in out.stdout
        assert "gone 0.5s ago" in out.stdout and "inf" not in out.stdout

        # web1 is already gone (no lease) when pbx2 is taken down: it reads "down", not "gone infs ago"
        store.revoke_lease(store.grant_lease(5))
        other = run(etcd_url, cluster_name, "plan", "--what-if", "down=pbx2")
        assert other.exit_code == 0 and "new master" not in other.stdout, other.output
        assert "inf" not in other.stdout
    finally:
        store.close()


def test_what_if_with_a_server_already_gone_says_down_not_infs(etcd_url, cluster_name):
    from overseer.desired.state import ServerRecord
    store = seed(etcd_url, cluster_name)
    try:
        # pbx2 registered only on a lease that is then revoked: gone before the plan
        lease = store.grant_lease(30)
        store.put_server(ServerRecord(name="pbx2", rank=1, health="ok"), lease)
        store.revoke_lease(lease)
        out = run(etcd_url, cluster_name, "plan", "--what-if", "down=web1")
        assert out.exit_code == 0, out.output
        assert "pbx2: down" in out.stdout and "inf" not in out.stdout, out.stdout
    finally:
        store.close()


def test_a_switchover_the_master_would_refuse_is_refused_before_it_is_requested(etcd_url, cluster_name):
    store = seed(etcd_url, cluster_name)
    try:
        out = run(etcd_url, cluster_name, "switchover", "recorder")
        assert out.exit_code == 1
        assert "requested" not in out.stdout, out.stdout
        assert "refused: recorder is all-active" in out.stderr
        assert "recorder" not in store.snapshot().switchovers      # no request was written
        assert store.history("recorder")[-1].kind == "switchover-refused"   # but the refusal is on record
        # the planner's own judgement: pbx2's critical check fails, so it cannot take over
        out = run(etcd_url, cluster_name, "switchover", "pbx", "--to", "pbx2")
        assert out.exit_code == 1 and "requested" not in out.stdout and "refused: pbx2 is in fail" in out.stderr
        assert store.snapshot().switchovers == {}
    finally:
        store.close()


def test_pausing_every_service_needs_force_or_a_yes_at_a_terminal(etcd_url, cluster_name):
    store = seed(etcd_url, cluster_name)
    try:
        refused = run(etcd_url, cluster_name, "pause")
        assert refused.exit_code == 2 and "--force" in refused.stderr
        assert store.snapshot().paused == frozenset()
        assert run(etcd_url, cluster_name, "pause", "pbx").exit_code == 0      # one service: no question
        assert store.snapshot().paused == frozenset({"pbx"})
        assert run(etcd_url, cluster_name, "resume").exit_code == 0

        assert _at_a_terminal(etcd_url, cluster_name, "n\n")[0] == 1
        assert store.snapshot().paused == frozenset()
        code, seen = _at_a_terminal(etcd_url, cluster_name, "y\n")
        assert code == 0 and "Go ahead? [y/N]" in seen, seen
        assert store.snapshot().paused == frozenset({"*"})
        assert run(etcd_url, cluster_name, "resume").exit_code == 0
        assert run(etcd_url, cluster_name, "pause", "--force").exit_code == 0
        assert store.snapshot().paused == frozenset({"*"})
    finally:
        store.close()


def _at_a_terminal(etcd_url: str, cluster: str, answer: str) -> tuple[int, str]:
    """`overseer pause` with a pseudo-terminal as stdin and stdout; `answer` typed at the question."""
    main, side = pty.openpty()
    proc = subprocess.Popen([OVERSEER, "--etcd", etcd_url, "--cluster", cluster, "pause"],
                            stdin=side, stdout=side, stderr=side, close_fds=True)
    os.close(side)
    seen, answered, deadline = b"", False, time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:   # the other side closed: the command ended
                    break
                if not chunk:
                    break
                seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(main, answer.encode())
                answered = True
            if proc.poll() is not None and not ready:
                break
        return proc.wait(timeout=30), seen.decode(errors="replace")
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()


def test_a_mistyped_command_names_the_closest_and_exits_2():
    out = CliRunner().invoke(cli, ["staus"])
    assert out.exit_code == 2
    assert "No such command 'staus'" in out.output and "Did you mean 'status'" in out.output
    nothing_close = CliRunner().invoke(cli, ["xyzzy"])
    assert nothing_close.exit_code == 2 and "Did you mean" not in nothing_close.output


def test_help_names_every_environment_variable_the_cli_reads():
    text = CliRunner().invoke(cli, ["--help"]).output
    assert "Environment:" in text
    listed = {name for name, _ in environment.variables()}
    for name in listed:
        assert name in text, name
    named = set()
    for root, _, files in os.walk(CLI_SOURCES):
        for f in files:
            if f.endswith(".py"):
                named |= set(re.findall(r"OVERSEER_[A-Z_]*[A-Z]", open(os.path.join(root, f)).read()))
    from overseer.desired.store import credentials
    named.add(credentials.PASSWORD_ENV)
    assert named <= listed, named - listed


def test_usage_errors_exit_2():
    for argv in (["plan", "--what-if", "pbx1"], ["--cluster", "../x", "status"],
                 ["status", "pbx", "--watch"], ["history", "--since", "soon"],
                 ["switchover", "pbx", "--at", "tomorrow"], ["pause", "--nope"]):
        out = CliRunner().invoke(cli, ["--etcd", "http://127.0.0.1:9", *argv])
        assert out.exit_code == 2, (argv, out.output)
