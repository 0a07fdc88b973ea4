"""A `command` check with `user:` runs as that user, without capabilities; an
unknown user fails the check with the field named, and runs nothing."""
from __future__ import annotations

import os

import pytest

from tests.support.run_as import NOBODY, needs_root, read_whoami, shared_dir, whoami_argv

from .conftest import make_check, run_probe


@pytest.fixture(autouse=True)
def root():
    needs_root()


async def test_a_command_check_runs_as_its_user():
    with shared_dir() as shared:
        res = await run_probe(make_check(type="command", command=whoami_argv(shared / "who"), user="nobody"))
        assert res.status == "ok", res
        seen = read_whoami(shared / "who")
        assert (seen["uid"], seen["gid"], seen["user"], seen["home"]) == (
            str(NOBODY.pw_uid), str(NOBODY.pw_gid), "nobody", NOBODY.pw_dir)
        assert (seen["CapEff"], seen["CapBnd"], seen["NoNewPrivs"]) == ("0" * 16, "0" * 16, "1")
    # its first line of output is still the message, exit codes still Nagios'
    res = await run_probe(make_check(type="command", command=["sh", "-c", "id -u; exit 1"], user="nobody",
                                     groups=[]))
    assert (res.status, res.message) == ("warn", str(NOBODY.pw_uid))
    res = await run_probe(make_check(type="command", command=["id", "-u"]))
    assert res.message == str(os.geteuid()), "without user: the agent's"


async def test_an_unknown_user_fails_the_check_and_runs_nothing():
    with shared_dir() as shared:
        marker = shared / "ran"
        res = await run_probe(make_check(type="command", command=["touch", str(marker)], user="no-such-user-here"))
        assert (res.status, res.message) == (
            "fail", "not run: user: user 'no-such-user-here' does not exist on this server")
        assert not marker.exists()
    res = await run_probe(make_check(type="command", command=["true"], user="nobody", group="no-such-group"))
    assert res.message == "not run: group: group 'no-such-group' does not exist on this server"


async def test_a_check_program_the_user_cannot_find_is_named():
    res = await run_probe(make_check(type="command", command="/no/such/check --x", user="nobody"))
    assert (res.status, res.message) == ("fail", "command not found: /no/such/check")
