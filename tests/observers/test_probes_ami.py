"""asterisk-ami and asterisk-channels against the AMI speaker in tests/support/peers."""
from __future__ import annotations

import os
import re

import pytest

from overseer.observers.probes._common import SecretFileError, read_secret
from tests.observers.conftest import make_check, run_probe
from tests.support.peers.ami_server import AmiServer
from tests.support.peers.local import free_port
from tests.support.run_as import NOBODY
from tests.support.secrets import write_secret


@pytest.fixture(scope="module")
def ami():
    server = AmiServer(username="overseer", secret="s3cret", channels=3).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _reset(ami):
    ami.channels, ami.delay, ami.hung = 3, 0.0, False
    ami.echo_secret = ami.refuse_after_login = False


def _ami(ami, secret_file, kind="asterisk-ami", **limits):
    return make_check(type=kind, port=ami.port, username="overseer", secretFile=secret_file,
                      **limits)


async def test_ping_round_trip(ami, secret_file):
    # limits far above a loopback round trip: a busy machine cannot turn it into warn
    res = await run_probe(_ami(ami, secret_file, warn="5s", fail="10s"))
    assert res.status == "ok" and 0 < res.value < 5 and res.message.startswith("Ping ")
    assert ami.logins[-1] == ("overseer", "ok")


async def test_slow_ping_warns(ami, secret_file):
    ami.delay = 0.1
    res = await run_probe(_ami(ami, secret_file, warn="50ms", fail="10s"))  # the delay is a floor
    assert res.status == "warn" and "≥ warn 50 ms" in res.message


async def test_wrong_secret_fails_without_showing_it(ami, tmp_path):
    bad = tmp_path / "bad"
    write_secret(bad, "not-the-secret-123\n")
    res = await run_probe(_ami(ami, str(bad)))
    assert res.status == "fail"
    assert res.message == "AMI login as overseer refused: Authentication failed"
    assert "not-the-secret-123" not in repr(res)


@pytest.mark.parametrize("kind", ["asterisk-ami", "asterisk-channels"])
async def test_a_manager_quoting_the_secret_in_its_refusal_never_shows_it(ami, tmp_path, kind):
    ami.echo_secret = True
    bad = tmp_path / "bad"
    write_secret(bad, "not-the-secret-123\n")
    res = await run_probe(_ami(ami, str(bad), kind=kind))
    assert res.status == "fail"
    assert res.message == "AMI login as overseer refused: Authentication failed for overseer/***"


@pytest.mark.parametrize("kind, what", [("asterisk-ami", "AMI Ping answered Error"),
                                        ("asterisk-channels", "AMI CoreShowChannels failed")])
async def test_a_refusal_after_login_quoting_the_secret_never_shows_it(ami, secret_file, kind, what):
    ami.echo_secret = ami.refuse_after_login = True
    res = await run_probe(_ami(ami, secret_file, kind=kind))
    assert res.status == "fail" and res.message.startswith(what), res.message
    assert "s3cret" not in res.message and "secret ***" in res.message


async def test_missing_secret_file_names_the_field(ami, tmp_path):
    res = await run_probe(_ami(ami, str(tmp_path / "nope")))
    assert res.status == "fail" and res.message.startswith("cannot read secretFile ")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
async def test_a_secret_file_others_may_read_or_write_is_refused_with_the_fix(ami, secret_file, mode):
    os.chmod(secret_file, mode)
    res = await run_probe(_ami(ami, secret_file))
    assert (res.status, res.message) == ("fail", f"cannot read secretFile {secret_file}: mode {mode:04o} lets"
                                                 f" its group or others read or write it; chmod 600 {secret_file}")
    os.chmod(secret_file, 0o400)
    assert (await run_probe(_ami(ami, secret_file))).status == "ok"


async def test_a_secret_file_owned_by_another_user_is_refused(ami, secret_file):
    if os.geteuid() != 0:
        pytest.skip("giving a file away needs root")
    os.chown(secret_file, NOBODY.pw_uid, -1)
    res = await run_probe(_ami(ami, secret_file))
    assert (res.status, res.message) == ("fail", f"cannot read secretFile {secret_file}: owned by uid"
                                                 f" {NOBODY.pw_uid}, who may let anyone read it; it must belong"
                                                 " to root or to uid 0")


def test_a_password_file_follows_the_same_rule(tmp_path):
    path = write_secret(tmp_path / "pg.password", "hunter2\n")
    assert read_secret(str(path), "passwordFile") == "hunter2"
    path.chmod(0o644)
    with pytest.raises(SecretFileError, match=re.escape(f"cannot read passwordFile {path}: mode 0644")):
        read_secret(str(path), "passwordFile")
    big = write_secret(tmp_path / "big", "x" * 5000)
    with pytest.raises(SecretFileError, match="longer than 4096 bytes"):
        read_secret(str(big), "passwordFile")


async def test_hung_manager_times_out(ami, secret_file):
    ami.hung = True
    res = await run_probe(_ami(ami, secret_file), timeout=0.3)
    assert res.status == "fail"
    assert res.message == f"timed out after 300ms: AMI at 127.0.0.1:{ami.port} did not answer"


async def test_refused_port(secret_file):
    port = free_port()
    res = await run_probe(make_check(type="asterisk-ami", port=port, username="u",
                                     secretFile=secret_file))
    assert res.message == f"connection refused to 127.0.0.1:{port}"


async def test_channel_count_against_limits(ami, secret_file):
    check = _ami(ami, secret_file, "asterisk-channels", warn=5, fail=10)
    res = await run_probe(check)
    assert (res.status, res.value, res.message) == ("ok", 3, "Channels 3")
    ami.channels = 7
    assert (await run_probe(check)).status == "warn"
    ami.channels = 12
    res = await run_probe(check)
    assert (res.status, res.value, res.message) == ("fail", 12, "Channels 12 ≥ fail 10")
    ami.channels = 0
    assert (await run_probe(check)).value == 0
