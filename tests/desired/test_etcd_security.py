"""The global etcd options against a real TLS etcd and a real auth-enabled etcd.

Certificates come from `openssl` (a throw-away CA per module); etcd runs with
client-certificate auth, or plain http with `etcdctl auth enable`. Every
command is the real `overseer` CLI in a subprocess; failures must be one line
on stderr with the documented exit status and no traceback.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import socket
import struct
import threading

import pytest

from overseer.desired.state import ClusterSnapshot
from overseer.desired.store.client import EtcdConfig
from overseer.desired.store.store import Store
from tests.support.cluster import OVERSEER, cluster_yaml
from tests.support.etcd_tls import PkiUnavailable, Pki, SecuredEtcd, make_pki

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "qsuite.yaml")
PASSWORD = "s3cret-for-tests"
# the caller's OVERSEER_* must not leak into these runs: they test exactly those variables
_CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("OVERSEER_")}


def overseer(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([OVERSEER, *args], env={**_CLEAN_ENV, **env},
                          capture_output=True, text=True, timeout=30)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def one_line_failure(proc: subprocess.CompletedProcess, codes=(3,)) -> str:
    """The failure contract: listed exit status, exactly one stderr line, no traceback."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode in codes, f"exit {proc.returncode}, wanted {codes}: {proc.stderr}"
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("overseer: "), lines[0]
    return lines[0]


def assert_applied(get_json: subprocess.CompletedProcess) -> None:
    body = json.loads(ok(get_json).stdout)
    [cluster] = body["items"]
    assert cluster["kind"] == "Cluster" and cluster["metadata"]["name"] == "qsuite"
    assert cluster["spec"]["hierarchy"] == ["pbx1", "pbx2", "web1", "db1", "db2"]


# --- TLS -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    try:
        return make_pki(tmp_path_factory.mktemp("pki"))
    except PkiUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def tls_etcd(pki):
    server = SecuredEtcd(pki).start()
    try:
        yield server
    finally:
        server.stop()


def tls_flags(pki: Pki, url: str) -> list[str]:
    return ["--etcd", url, "--cacert", str(pki.ca), "--cert", str(pki.client_cert),
            "--key", str(pki.client_key)]


def test_apply_and_get_over_mutual_tls_with_flags(tls_etcd, pki):
    applied = ok(overseer("apply", "-f", EXAMPLE, *tls_flags(pki, tls_etcd.url)))
    assert "cluster.overseer/qsuite" in applied.stdout and "generation" in applied.stdout
    assert_applied(overseer("get", "cluster", "-o", "json", *tls_flags(pki, tls_etcd.url)))


def test_apply_and_get_over_mutual_tls_with_environment(tls_etcd, pki):
    env = dict(OVERSEER_ETCD=tls_etcd.url, OVERSEER_ETCD_CACERT=str(pki.ca),
               OVERSEER_ETCD_CERT=str(pki.client_cert), OVERSEER_ETCD_KEY=str(pki.client_key))
    applied = ok(overseer("apply", "-f", EXAMPLE, **env))
    assert "service.overseer/asterisk" in applied.stdout
    assert_applied(overseer("get", "cluster", "-o", "json", **env))


def test_https_without_cacert_says_to_give_it(tls_etcd):
    line = one_line_failure(overseer("get", "cluster", "--etcd", tls_etcd.url))
    assert "--cacert" in line and "OVERSEER_ETCD_CACERT" in line


def test_wrong_ca_names_the_ca_option(tls_etcd, pki):
    flags = tls_flags(pki, tls_etcd.url)
    flags[flags.index("--cacert") + 1] = str(pki.other_ca)
    line = one_line_failure(overseer("get", "cluster", *flags))
    assert "TLS handshake failed" in line and "--cacert" in line


def test_missing_client_certificate_is_named(tls_etcd, pki):
    line = one_line_failure(overseer("get", "cluster", "--etcd", tls_etcd.url, "--cacert", str(pki.ca)))
    assert "client certificate" in line and "--cert" in line and "--key" in line


def test_cert_without_key_names_the_fix(tls_etcd, pki):
    line = one_line_failure(overseer("get", "cluster", "--etcd", tls_etcd.url, "--cacert", str(pki.ca),
                                     "--cert", str(pki.client_cert)))
    assert "--cert needs --key" in line


def test_agent_registers_over_tls(tls_etcd, pki, tmp_path):
    docs = tmp_path / "agent.yaml"
    docs.write_text(cluster_yaml("tlsagent", ["pbx1"]))
    flags = tls_flags(pki, tls_etcd.url) + ["--cluster", "tlsagent"]
    ok(overseer("apply", "-f", str(docs), *flags))
    log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen([OVERSEER, "agent", "--server", "pbx1", "--state-dir", str(tmp_path / "st"), *flags],
                             env={**_CLEAN_ENV, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=log,
                             start_new_session=True)
    store = Store(EtcdConfig(endpoints=(tls_etcd.url,), cacert=str(pki.ca), cert=str(pki.client_cert),
                             key=str(pki.client_key)), "tlsagent")
    try:
        snap = _wait(store, lambda s: "pbx1" in s.servers, timeout=10)
        assert "pbx1" in snap.servers, (tmp_path / "agent.log").read_text()[-2000:]
    finally:
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        log.close()
        store.client.close()


def _wait(store: Store, predicate, timeout: float) -> ClusterSnapshot:
    deadline = time.monotonic() + timeout
    snap = store.snapshot()
    while not predicate(snap) and time.monotonic() < deadline:
        time.sleep(0.05)
        snap = store.snapshot()
    return snap


# --- user and password -----------------------------------------------------------

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


def test_apply_and_get_with_user_and_password(auth_etcd):
    env = dict(OVERSEER_ETCD=auth_etcd.url, OVERSEER_ETCD_USER="root", OVERSEER_ETCD_PASSWORD=PASSWORD)
    ok(overseer("apply", "-f", EXAMPLE, **env))
    assert_applied(overseer("get", "cluster", "-o", "json", **env))
    # the --user flag with the password from the environment works the same
    assert_applied(overseer("get", "cluster", "-o", "json", "--user", "root",
                            OVERSEER_ETCD=auth_etcd.url, OVERSEER_ETCD_PASSWORD=PASSWORD))


def test_wrong_password_mentions_the_credentials(auth_etcd):
    line = one_line_failure(overseer("get", "cluster", OVERSEER_ETCD=auth_etcd.url,
                                     OVERSEER_ETCD_USER="root", OVERSEER_ETCD_PASSWORD="wrong"), codes=(1, 3))
    assert "credentials" in line and "OVERSEER_ETCD_PASSWORD" in line


def test_no_user_on_an_auth_etcd_mentions_the_credentials(auth_etcd):
    line = one_line_failure(overseer("get", "cluster", OVERSEER_ETCD=auth_etcd.url), codes=(1, 3))
    assert auth_etcd.url in line and "credentials" in line and "--user" in line


def test_user_without_password_says_to_set_it(auth_etcd):
    line = one_line_failure(overseer("get", "cluster", "--user", "root", OVERSEER_ETCD=auth_etcd.url),
                            codes=(1, 3))
    assert "OVERSEER_ETCD_PASSWORD" in line and "root" in line



def _json_or_none(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # not written yet, or caught mid-write


def _environ(pid: int) -> dict:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if item)


def test_supervised_children_and_checks_never_see_the_etcd_password(auth_etcd, tmp_path):
    """A real agent with user and password: its supervised child's
    /proc/PID/environ and a `command` check's environment hold the documented
    OVERSEER_* variables and the agent's environment, but no OVERSEER_ETCD*."""
    import sys

    from tests.support.cluster import SLEEPER, running_pid

    env = dict(OVERSEER_ETCD=auth_etcd.url, OVERSEER_ETCD_USER="root", OVERSEER_ETCD_PASSWORD=PASSWORD,
               OVERSEER_CLUSTER="envsafe", AGENT_SITE="paris")
    dump = tmp_path / "check-env.json"
    check = [sys.executable, "-c", "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))",
             str(dump)]
    docs = tmp_path / "envsafe.yaml"
    docs.write_text(cluster_yaml("envsafe", ["pbx1"]) + "---\n" + f"""\
apiVersion: overseer/v1
kind: Service
metadata: {{name: pbx}}
spec:
  candidates: [pbx1]
  actuator: {{type: process, command: {SLEEPER}, timeout: 2s}}
  checks:
    - {{name: alive, type: process}}
    - {{name: env, type: command, command: {json.dumps(check)}}}
""")
    ok(overseer("apply", "-f", str(docs), **env))
    log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen([OVERSEER, "agent", "--server", "pbx1", "--state-dir", str(tmp_path / "st")],
                             env={**_CLEAN_ENV, **env, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=log,
                             start_new_session=True)
    store = Store(EtcdConfig(endpoints=(auth_etcd.url,), user="root", password=PASSWORD), "envsafe")
    try:
        snap = _wait(store, lambda s: running_pid(s, "pbx1") is not None and _json_or_none(dump),
                     timeout=20)
        pid = running_pid(snap, "pbx1")
        assert pid is not None, (tmp_path / "agent.log").read_text()[-2000:]
        documented = {"OVERSEER_CLUSTER": "envsafe", "OVERSEER_SERVICE": "pbx", "OVERSEER_SERVER": "pbx1",
                      "OVERSEER_ROLE": "active"}
        for seen in (_environ(pid), _json_or_none(dump)):
            assert not [k for k in seen if k.startswith("OVERSEER_ETCD")], sorted(seen)
            assert PASSWORD not in json.dumps(seen)
            assert {k: seen[k] for k in documented} == documented and seen["OVERSEER_EPOCH"].isdigit()
            assert seen["AGENT_SITE"] == "paris"
    finally:
        os.killpg(agent.pid, signal.SIGKILL)
        agent.wait(10)
        log.close()
        store.close()


def test_an_expired_auth_token_is_renewed(cluster_name):
    """etcd drops a simple token after --auth-token-ttl idle seconds; the store
    authenticates again instead of failing every call from then on."""
    import time

    from overseer.desired.state import ServerRecord
    from overseer.desired.store.client import EtcdConfig

    server = SecuredEtcd(extra_args=("--auth-token-ttl", "1")).start()
    try:
        server.etcdctl("user", "add", f"root:{PASSWORD}")
        server.etcdctl("user", "grant-role", "root", "root")
        server.etcdctl("auth", "enable")
        store = Store(EtcdConfig(endpoints=(server.url,), user="root", password=PASSWORD), cluster_name)
        lease = store.grant_lease(5)
        time.sleep(3)  # idle past the token's TTL
        store.put_server(ServerRecord("pbx1", address="10.0.0.1"), lease)
        assert store.snapshot().servers["pbx1"].address == "10.0.0.1"
        store.close()
    finally:
        server.stop()


def _resetting_server(after_first_bytes: bool = False) -> tuple[socket.socket, int]:
    """A port that accepts and at once resets the connection (a link that just
    came back, an etcd dying mid-connection); or, `after_first_bytes`, resets
    once the client has sent something (a plain-http etcd given a TLS hello)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
                if after_first_bytes:
                    conn.recv(1)      # the rest stays unread: close then sends a reset
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()[1]


def test_a_reset_on_plain_http_is_not_called_a_tls_failure():
    """Found by the fault suite: `overseer resume` over http, right after a
    link came back, said "TLS handshake failed: check --cacert"."""
    from overseer.desired.store.client import EtcdUnavailable, connect
    listener, port = _resetting_server()
    try:
        with pytest.raises(EtcdUnavailable) as plain:
            connect(EtcdConfig(endpoints=(f"http://127.0.0.1:{port}",), timeout=2))
    finally:
        listener.close()
    assert "TLS" not in str(plain.value) and "etcd unreachable" in str(plain.value), plain.value


def test_https_to_a_plain_etcd_is_called_a_tls_failure(pki):
    """The reverse mistake: TLS options against an etcd that speaks plain http."""
    from overseer.desired.store.client import EtcdUnavailable, connect
    from overseer.desired.store.local_etcd import LocalEtcd
    with LocalEtcd() as etcd:
        url = etcd.url.replace("http://", "https://")
        with pytest.raises(EtcdUnavailable) as secure:
            connect(EtcdConfig(endpoints=(url,), cacert=str(pki.ca), timeout=2))
    assert "TLS handshake failed" in str(secure.value), secure.value


def test_https_reset_during_the_handshake_is_called_a_tls_failure(pki):
    """https to a plain-http etcd: etcd answers the ClientHello with HTTP 400
    and closes, and the reset that follows can overtake the 400 (seen in CI).
    A connection cut during the handshake says TLS, whichever came first."""
    from overseer.desired.store.client import EtcdUnavailable, connect
    listener, port = _resetting_server(after_first_bytes=True)
    try:
        with pytest.raises(EtcdUnavailable) as secure:
            connect(EtcdConfig(endpoints=(f"https://127.0.0.1:{port}",), cacert=str(pki.ca), timeout=2))
    finally:
        listener.close()
    assert "TLS handshake failed" in str(secure.value) and "URL scheme" in str(secure.value), secure.value
