"""Where etcd's password comes from and where it may go, with the real CLI
and a real auth-enabled etcd (desired/store/credentials.py).

The password from a file (`--password-file`, OVERSEER_ETCD_PASSWORD_FILE),
read once at start: an agent started that way has no password in its
/proc/PID/environ. A file its group or others may read is refused, as
PostgreSQL refuses such a .pgpass, and so is one another user owns; the
same for the TLS client key (`--key`). Credentials over plain http to another
machine are refused unless --insecure-transport (or its variable) says the
network is trusted. Every refusal is one line, exit 2.
"""
from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Optional

import pytest

from overseer.desired.store import credentials
from overseer.desired.store.client import (
    DEFAULT_MAX_ANSWER, BadSetting, EtcdConfig, EtcdUnavailable, InsecureTransport, connect,
)
from tests.desired.test_etcd_security import (
    EXAMPLE, PASSWORD, _CLEAN_ENV, _environ, _wait, assert_applied, ok, one_line_failure, overseer,
)
from tests.support.cluster import OVERSEER, cluster_yaml
from tests.support.etcd_tls import SecuredEtcd
from tests.support.hostile_etcd import HostileEtcd
from tests.support.run_as import NOBODY, needs_root


@pytest.fixture(scope="module")
def auth_etcd():
    server = SecuredEtcd().start()
    try:
        server.etcdctl("user", "add", f"root:{PASSWORD}")
        server.etcdctl("user", "grant-role", "root", "root")
        server.etcdctl("auth", "enable")
        yield server
    finally:
        server.stop()


@pytest.fixture
def password_file(tmp_path) -> Path:
    path = tmp_path / "etcd.password"
    path.write_text(PASSWORD + "\n")
    path.chmod(0o600)
    return path


def _lan_address() -> Optional[str]:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))       # no packet leaves: it only picks a route
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


# --- the password from a file ------------------------------------------------------

def test_the_password_from_a_file_by_option_or_environment(auth_etcd, password_file):
    ok(overseer("apply", "-f", EXAMPLE, "--user", "root", "--password-file", str(password_file),
                OVERSEER_ETCD=auth_etcd.url))
    assert_applied(overseer("get", "cluster", "-o", "json", "--cluster", "qsuite", OVERSEER_ETCD=auth_etcd.url,
                            OVERSEER_ETCD_USER="root", OVERSEER_ETCD_PASSWORD_FILE=str(password_file)))


def test_a_password_file_others_may_read_is_refused(auth_etcd, password_file):
    password_file.chmod(0o644)
    line = one_line_failure(overseer("get", "cluster", "--user", "root", "--password-file", str(password_file),
                                     OVERSEER_ETCD=auth_etcd.url), codes=(2,))
    assert str(password_file) in line and "chmod 600" in line and "0644" in line


def test_a_password_file_of_another_user_is_refused(password_file):
    """Private to its owner is private to nobody if the owner is someone else:
    that user could chmod it or replace it at will."""
    needs_root()
    os.chown(password_file, NOBODY.pw_uid, NOBODY.pw_gid)
    line = one_line_failure(overseer("get", "cluster", "--etcd", "http://127.0.0.1:9", "--user", "root",
                                     "--password-file", str(password_file)), codes=(2,))
    assert str(password_file) in line and f"owned by uid {NOBODY.pw_uid}" in line and "root" in line


@pytest.mark.parametrize("content, says", [(b"", "empty"), (b"\n" + PASSWORD.encode(), "empty"),
                                           (b"\xff\xfe", "UTF-8")])
def test_a_password_file_without_a_password_is_refused(auth_etcd, tmp_path, content, says):
    path = tmp_path / "bad.password"
    path.write_bytes(content)
    path.chmod(0o600)
    line = one_line_failure(overseer("get", "cluster", OVERSEER_ETCD=auth_etcd.url, OVERSEER_ETCD_USER="root",
                                     OVERSEER_ETCD_PASSWORD_FILE=str(path)), codes=(2,))
    assert "OVERSEER_ETCD_PASSWORD_FILE" in line and says in line


def test_a_missing_password_file_is_named(auth_etcd, tmp_path):
    missing = tmp_path / "nowhere"
    line = one_line_failure(overseer("get", "cluster", "--user", "root", "--password-file", str(missing),
                                     OVERSEER_ETCD=auth_etcd.url), codes=(2,))
    assert str(missing) in line and "No such file" in line


def test_the_password_twice_in_the_environment_is_refused(auth_etcd, password_file):
    line = one_line_failure(overseer("get", "cluster", OVERSEER_ETCD=auth_etcd.url, OVERSEER_ETCD_USER="root",
                                     OVERSEER_ETCD_PASSWORD=PASSWORD,
                                     OVERSEER_ETCD_PASSWORD_FILE=str(password_file)), codes=(2,))
    assert "OVERSEER_ETCD_PASSWORD and OVERSEER_ETCD_PASSWORD_FILE" in line


def test_a_password_file_only_its_first_line_counts(tmp_path):
    path = tmp_path / "p"
    path.write_bytes(b"s3cret\r\nsecond line\n")
    path.chmod(0o600)
    assert credentials.read_password_file(str(path), "here") == "s3cret"
    path.write_bytes(b" spaced out ")      # nothing but the line end is stripped
    assert credentials.read_password_file(str(path), "here") == " spaced out "


def test_an_agent_with_a_password_file_has_no_password_in_its_environment(auth_etcd, password_file, tmp_path):
    from overseer.desired.store.store import Store
    docs = tmp_path / "agent.yaml"
    docs.write_text(cluster_yaml("pwfile", ["pbx1"]))
    env = dict(OVERSEER_ETCD=auth_etcd.url, OVERSEER_ETCD_USER="root",
               OVERSEER_ETCD_PASSWORD_FILE=str(password_file), OVERSEER_CLUSTER="pwfile")
    ok(overseer("apply", "-f", str(docs), **env))
    log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen([OVERSEER, "agent", "--server", "pbx1", "--state-dir", str(tmp_path / "st")],
                             env={**_CLEAN_ENV, **env, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=log,
                             start_new_session=True)
    store = Store(EtcdConfig(endpoints=(auth_etcd.url,), user="root", password=PASSWORD), "pwfile")
    try:
        snap = _wait(store, lambda s: "pbx1" in s.servers, timeout=15)
        assert "pbx1" in snap.servers, (tmp_path / "agent.log").read_text()[-2000:]
        environ = _environ(agent.pid)
        assert environ["OVERSEER_ETCD_PASSWORD_FILE"] == str(password_file)
        assert PASSWORD not in Path(f"/proc/{agent.pid}/environ").read_text(errors="replace")
    finally:
        os.killpg(agent.pid, signal.SIGKILL)
        agent.wait(10)
        log.close()
        store.close()


# --- the TLS client key -------------------------------------------------------------

@pytest.fixture
def client_key(tmp_path) -> Path:
    """A key file (its content is never read by the refusals below)."""
    path = tmp_path / "etcd-client.key"
    path.write_text("-----BEGIN PRIVATE KEY-----\n")
    path.chmod(0o600)
    return path


def _with_key(key: Path, *more: str, **env: str) -> subprocess.CompletedProcess:
    # port 9: nothing answers; every refusal here comes before any connection
    return overseer("get", "cluster", "--etcd", "https://127.0.0.1:9", "--cacert", "/nonexistent/ca.pem",
                    "--cert", "/nonexistent/cert.pem", "--key", str(key), *more, **env)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644], ids=["0640", "0604", "0644"])
def test_a_tls_key_its_group_or_others_may_read_is_refused(client_key, mode):
    client_key.chmod(mode)
    line = one_line_failure(_with_key(client_key), codes=(2,))
    assert str(client_key) in line and f"mode {mode:04o}" in line and f"chmod 600 {client_key}" in line


def test_a_tls_key_of_another_user_is_refused(client_key):
    needs_root()
    os.chown(client_key, NOBODY.pw_uid, NOBODY.pw_gid)
    line = one_line_failure(_with_key(client_key), codes=(2,))
    assert str(client_key) in line and f"owned by uid {NOBODY.pw_uid}" in line


def test_a_private_tls_key_passes_the_check_and_reaches_tls(client_key):
    """The check refuses only what others may read: a private key goes on to
    TLS (which here fails on the CA that does not exist, exit 3)."""
    proc = _with_key(client_key)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr, proc.stderr
    assert "TLS" in proc.stderr and "mode" not in proc.stderr, proc.stderr


def test_an_agent_with_a_loose_tls_key_stops_at_once(client_key, tmp_path):
    client_key.chmod(0o644)
    proc = subprocess.run([OVERSEER, "agent", "--server", "pbx1", "--state-dir", str(tmp_path / "st"),
                           "--etcd", "https://127.0.0.1:9", "--cacert", "/nonexistent/ca.pem",
                           "--cert", "/nonexistent/cert.pem", "--key", str(client_key)],
                          env=_CLEAN_ENV, capture_output=True, text=True, timeout=30)
    line = one_line_failure(proc, codes=(2,))
    assert str(client_key) in line and "chmod 600" in line


# --- no credentials in clear text to another machine ---------------------------------

def test_credentials_over_plain_http_to_another_machine_are_refused(password_file):
    line = one_line_failure(overseer("get", "cluster", "--etcd", "http://192.0.2.1:2379", "--user", "root",
                                     "--password-file", str(password_file)), codes=(2,))
    assert "http://192.0.2.1:2379" in line and "plain http" in line
    assert "https://" in line and "--insecure-transport" in line and "OVERSEER_ETCD_INSECURE_TRANSPORT=1" in line


def test_an_agent_refused_credentials_in_clear_text_stops_at_once(password_file, tmp_path):
    """A setting that cannot work is no etcd outage: the agent says why and
    exits (systemd shows it) rather than retrying forever."""
    proc = subprocess.run([OVERSEER, "agent", "--server", "pbx1", "--state-dir", str(tmp_path / "st"),
                           "--etcd", "http://192.0.2.1:2379", "--user", "root",
                           "--password-file", str(password_file)],
                          env=_CLEAN_ENV, capture_output=True, text=True, timeout=30)
    line = one_line_failure(proc, codes=(2,))
    assert "plain http" in line and "--insecure-transport" in line


def test_credentials_over_plain_http_to_another_machine_with_insecure_transport(auth_etcd, password_file):
    address = _lan_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    forwarder = HostileEtcd(auth_etcd.url, host=address)    # passes everything through
    try:
        flags = ["--etcd", forwarder.url, "--user", "root", "--password-file", str(password_file)]
        ok(overseer("apply", "-f", EXAMPLE, "--etcd", auth_etcd.url, *flags[2:]))
        assert "plain http" in one_line_failure(overseer("get", "cluster", *flags), codes=(2,))
        get = ["get", "cluster", "-o", "json", "--cluster", "qsuite", *flags]
        assert_applied(overseer(*get, "--insecure-transport"))
        assert_applied(overseer(*get, OVERSEER_ETCD_INSECURE_TRANSPORT="1"))
    finally:
        forwarder.close()


@pytest.mark.parametrize("url, refused", [
    ("http://10.0.0.31:9", True), ("http://etcd.example:9", True), ("http://[fd00::1234]:9", True),
    ("http://127.0.0.1:9", False), ("http://127.3.2.1:9", False), ("http://localhost:9", False),
    ("http://[::1]:9", False),
])
def test_which_endpoints_may_carry_credentials_in_clear_text(url, refused):
    """(Port 9: nothing answers there; a refusal comes before any connection.)"""
    cfg = EtcdConfig(endpoints=(url,), user="root", password="pw", timeout=0.2)
    if refused:
        with pytest.raises(InsecureTransport):
            connect(cfg)
    else:
        with pytest.raises(EtcdUnavailable) as raised:
            connect(cfg)
        assert not isinstance(raised.value, InsecureTransport)
    if "example" in url:
        return   # no name lookups from tests
    # without credentials, or with --insecure-transport, nothing is refused
    for relaxed in (EtcdConfig(endpoints=(url,), timeout=0.2),
                    EtcdConfig(endpoints=(url,), user="root", password="pw", timeout=0.2,
                               insecure_transport=True)):
        with pytest.raises(EtcdUnavailable) as raised:
            connect(relaxed)
        assert not isinstance(raised.value, InsecureTransport)


def test_tls_carries_credentials_anywhere():
    endpoints = [("https", "10.0.0.31", 2379)]
    credentials.refuse_clear_text(endpoints, ["https://10.0.0.31:2379"], secure=True, insecure_ok=False)
    with pytest.raises(InsecureTransport):
        credentials.refuse_clear_text(endpoints, ["http://10.0.0.31:2379"], secure=False, insecure_ok=False)


def test_an_insecure_transport_value_that_is_no_flag_is_refused():
    proc = overseer("get", "cluster", OVERSEER_ETCD_INSECURE_TRANSPORT="maybe")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "OVERSEER_ETCD_INSECURE_TRANSPORT" in proc.stderr and "'maybe'" in proc.stderr


# --- the answer limit -----------------------------------------------------------------

def test_max_answer_takes_a_size_and_refuses_nonsense(monkeypatch):
    monkeypatch.delenv("OVERSEER_ETCD_MAX_ANSWER", raising=False)
    assert EtcdConfig.from_options(max_answer="256MiB").max_answer == 256 * 2 ** 20
    assert EtcdConfig.from_options().max_answer == DEFAULT_MAX_ANSWER == 128 * 2 ** 20
    monkeypatch.setenv("OVERSEER_ETCD_MAX_ANSWER", "64MiB")
    assert EtcdConfig.from_options().max_answer == 64 * 2 ** 20
    for bad in ("lots", "1KiB"):
        with pytest.raises(BadSetting, match="--max-answer"):
            EtcdConfig.from_options(max_answer=bad)
    line = one_line_failure(overseer("status", "--max-answer", "lots"), codes=(2,))
    assert "--max-answer" in line and "512MiB" in line
