"""Webhooks against real local servers: a URL's secret in no message or log
line, no redirect followed, one deadline, a bounded answer, headers from a
file (reconciler/hooks/webhook.py, headers_file.py)."""
from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import threading
import time

import pytest

from overseer.desired.hooks import Hook
from overseer.desired.store.local_etcd import free_port
from overseer.reconciler.hooks import webhook
from overseer.reconciler.hooks.runner import HookRunner
from tests.reconciler.test_hooks_runner import EVENT, Outcomes
from tests.support.etcd_tls import Pki, PkiUnavailable, make_pki
from tests.support.webhook import RawAnswer, WebhookServer

SECRET = "/services/T0SECRET/B0SECRET/xoxbSECRETTOKEN?token=qSECRET&routing=rSECRET"


@pytest.fixture
def outcomes():
    return Outcomes()


@pytest.fixture
def runner(outcomes):
    r = HookRunner(outcomes, backoff=0.01)
    yield r
    r._stop.set()


def secret_url(base: str) -> str:
    return base.rsplit("/", 1)[0] + SECRET


def test_a_failing_webhook_names_its_host_only_in_outcomes_and_logs(runner, outcomes, caplog):
    caplog.set_level(logging.DEBUG)
    failing, hanging = WebhookServer(status=(500,)), WebhookServer(hang=True)
    refused = f"http://127.0.0.1:{free_port()}/hook"
    try:
        runner.submit(EVENT, Hook(webhook=secret_url(failing.url), attempts=2))
        runner.submit(EVENT, Hook(webhook=secret_url(refused), attempts=1))
        runner.submit(EVENT, Hook(webhook=secret_url(hanging.url), timeout="300ms", attempts=1))
        got = outcomes.wait(3, "three failed webhooks")
    finally:
        failing.close()
        hanging.close()
    details = sorted(o.detail for o in got)
    assert details == sorted(["HTTP 500 Internal Server Error", f"cannot reach {refused[:-len('hook')]}…:"
                              " Connection refused", "no answer within 0.3s"]), details
    assert failing.paths == [SECRET, SECRET]     # the secret went where it belongs, and only there
    text = caplog.text + "\n".join(o.message() for o in got)
    assert "SECRET" not in text, text
    assert "failed after 2 attempts: HTTP 500" in caplog.text


def test_a_redirect_to_another_host_is_not_followed(runner, outcomes):
    elsewhere = WebhookServer()
    target = f"http://localhost:{elsewhere.port}/collect?token=qSECRET"
    redirecting = WebhookServer(redirect=target)
    try:
        runner.submit(EVENT, Hook(webhook=redirecting.url, attempts=1))
        [outcome] = outcomes.wait()
        assert elsewhere.hits == 0 and redirecting.hits == 1
    finally:
        elsewhere.close()
        redirecting.close()
    assert outcome.outcome == "failed"
    assert outcome.detail == (f"HTTP 302 Found: redirects to http://localhost:{elsewhere.port}/…, not followed;"
                              " give the webhook's final URL"), outcome.detail


def test_a_redirect_to_the_same_host_is_not_followed_either(runner, outcomes):
    server = WebhookServer()
    server.redirect = "/elsewhere" + SECRET
    try:
        runner.submit(EVENT, Hook(webhook=server.url, attempts=1))
        [outcome] = outcomes.wait()
        assert server.hits == 1 and server.paths == ["/hook"]
    finally:
        server.close()
    assert outcome.detail.startswith(f"HTTP 302 Found: redirects to http://127.0.0.1:{server.port}/…, not followed")


def _drip(server: RawAnswer, conn: socket.socket) -> None:
    server.send(conn, b"HTTP/1.1 200 OK\r\nX-Drip: ")
    while not server.closed.wait(0.05):
        server.send(conn, b"a")


def test_an_answer_dripping_a_byte_at_a_time_is_cut_at_the_deadline(runner, outcomes):
    # a timeout per socket read would wait for ever: every read gets a byte in time
    server = RawAnswer(_drip)
    try:
        start = time.monotonic()
        runner.submit(EVENT, Hook(webhook=server.url, timeout="1s", attempts=1))
        [outcome] = outcomes.wait(1, "the dripping answer's timeout")
        took = time.monotonic() - start
    finally:
        server.close()
    assert (outcome.outcome, outcome.detail) == ("timed out", "no answer within 1s")
    assert took < 2.5, took


def _endless_headers(server: RawAnswer, conn: socket.socket) -> None:
    server.send(conn, b"HTTP/1.1 200 OK\r\n")
    while not server.closed.is_set():
        server.send(conn, b"X-Pad: " + b"a" * 1000 + b"\r\n")


def test_endless_headers_are_cut_at_the_limit_long_before_the_deadline(runner, outcomes):
    server = RawAnswer(_endless_headers)
    try:
        start = time.monotonic()
        runner.submit(EVENT, Hook(webhook=server.url, timeout="30s", attempts=1))
        [outcome] = outcomes.wait(1, "the endless answer's failure")
        took = time.monotonic() - start
    finally:
        server.close()
    assert outcome.outcome == "failed"
    assert outcome.detail == (f"{server.url[:-len('hook')]}… answered with a status line and headers over"
                              " 64 KiB; read no further")
    assert took < 5, took


def test_at_most_the_limit_is_read_of_an_endless_answer():
    ours, theirs = socket.socketpair()
    total = 4 * webhook.MAX_ANSWER

    def write():
        with theirs:
            # lines of 1 KiB: the size limit strikes before the count (100 lines)
            theirs.sendall(b"HTTP/1.1 200 OK\r\n" + (b"X-Pad: " + b"a" * 1015 + b"\r\n") * (total // 1024))
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with ours:
        with pytest.raises(webhook.Failed, match="over 64 KiB"):
            webhook._headers(ours, webhook.Target.of("http://h/x"), time.monotonic() + 10, 10)
        left = 0
        ours.settimeout(10)
        while chunk := ours.recv(65536):
            left += len(chunk)
    writer.join(10)
    written = len(b"HTTP/1.1 200 OK\r\n") + 1024 * (total // 1024)
    assert written - left <= webhook.MAX_ANSWER


def _huge_body(server: RawAnswer, conn: socket.socket) -> None:
    server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n")
    while not server.closed.is_set():
        server.send(conn, b"x" * 65536)


def test_a_huge_body_is_never_read(runner, outcomes):
    server = RawAnswer(_huge_body)
    try:
        start = time.monotonic()
        runner.submit(EVENT, Hook(webhook=server.url, timeout="30s", attempts=1))
        [outcome] = outcomes.wait(1, "the huge answer's outcome")
        took = time.monotonic() - start
    finally:
        server.close()
    assert outcome.outcome == "ok" and took < 5, (outcome, took)


def headers_file(tmp_path, text: str, mode: int = 0o600):
    path = tmp_path / "pager.headers"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_headers_come_from_a_file_and_reach_the_server(runner, outcomes, tmp_path):
    path = headers_file(tmp_path, "# PagerDuty\nAuthorization: Bearer s3cr3t-TOKEN\n\nX-Routing-Key:  R0UT1NG \n")
    server = WebhookServer()
    try:
        runner.submit(EVENT, Hook(webhook=server.url, headersFile=str(path), attempts=1))
        [outcome] = outcomes.wait()
    finally:
        server.close()
    assert outcome.outcome == "ok", outcome
    [got] = server.headers
    assert (got["Authorization"], got["X-Routing-Key"]) == ("Bearer s3cr3t-TOKEN", "R0UT1NG")
    assert got["Content-Type"] == "application/json" and server.bodies[0]["epoch"] == 412


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660], ids=["0640", "0604", "0660"])
def test_a_headers_file_others_may_read_is_refused(runner, outcomes, tmp_path, mode):
    path = headers_file(tmp_path, "Authorization: Bearer s3cr3t-TOKEN\n", mode)
    server = WebhookServer()
    try:
        runner.submit(EVENT, Hook(webhook=server.url, headersFile=str(path), attempts=1))
        [outcome] = outcomes.wait()
    finally:
        server.close()
    assert server.hits == 0
    assert outcome.detail == (f"headersFile {path}: its group or others may read or write it"
                              f" (mode {mode:04o}); chmod 600 {path}")


@pytest.mark.parametrize("text, why", [
    ("Authorization: Bearer s3cr3t\nBearer s3cr3t-TOKEN\n", ":2: expected `Name: value`"),
    ("X-Key: s3cr3t\nHost: evil.example\n", ":2: Host is set by the agent itself"),
    ("X-Key: s3cr3t\nContent-Length: 0\n", ":2: Content-Length is set by the agent itself"),
    ("X-Empty:\n", ":1: X-Empty has an empty value or a control character"),
    ("X-Key: s3cr3t\x01\n", ":1: X-Key has an empty value or a control character"),
    ("X-Key: s3cr3t\nX-Name: Jos\u00e9\n", ":2: not ASCII"),
])
def test_a_malformed_headers_file_fails_naming_file_and_line_not_the_secret(runner, outcomes, tmp_path,
                                                                              text, why):
    path = headers_file(tmp_path, text)
    server = WebhookServer()
    try:
        runner.submit(EVENT, Hook(webhook=server.url, headersFile=str(path), attempts=1))
        [outcome] = outcomes.wait()
    finally:
        server.close()
    assert server.hits == 0
    assert outcome.detail.startswith(f"headersFile {path}{why}"), outcome.detail
    assert "s3cr3t" not in outcome.detail


def test_a_missing_headers_file_fails_with_its_path(runner, outcomes, tmp_path):
    server = WebhookServer()
    try:
        runner.submit(EVENT, Hook(webhook=server.url, headersFile=str(tmp_path / "none"), attempts=1))
        [outcome] = outcomes.wait()
    finally:
        server.close()
    assert outcome.detail == f"headersFile {tmp_path / 'none'}: cannot read: No such file or directory"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    try:
        return make_pki(tmp_path_factory.mktemp("pki"))
    except PkiUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def tls_server(pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    server = WebhookServer(tls=context)
    yield server
    server.close()


def trusting(monkeypatch, ca) -> None:
    """The system's CAs, as the agent's context reads them, are `ca` alone."""
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    monkeypatch.setattr(webhook, "_CONTEXT", None)


def test_https_checks_the_certificate_and_carries_the_headers(runner, outcomes, tmp_path, monkeypatch, pki,
                                                              tls_server):
    trusting(monkeypatch, pki.ca)
    path = headers_file(tmp_path, "Authorization: Bearer s3cr3t-TOKEN\n")
    runner.submit(EVENT, Hook(webhook=secret_url(tls_server.url), headersFile=str(path), attempts=1))
    [outcome] = outcomes.wait()
    assert outcome.outcome == "ok", outcome
    assert tls_server.paths == [SECRET] and tls_server.headers[0]["Authorization"] == "Bearer s3cr3t-TOKEN"


def test_an_untrusted_certificate_fails_naming_the_host_only(runner, outcomes, monkeypatch, pki, tls_server):
    trusting(monkeypatch, pki.other_ca)
    runner.submit(EVENT, Hook(webhook=secret_url(tls_server.url), attempts=1))
    [outcome] = outcomes.wait()
    assert tls_server.hits == 0
    assert outcome.detail.startswith(f"TLS with https://127.0.0.1:{tls_server.port}/…: "), outcome.detail
    assert "SECRET" not in outcome.detail


def test_https_to_a_plain_http_port_fails_naming_the_host_only(runner, outcomes):
    server = WebhookServer()
    try:
        runner.submit(EVENT, Hook(webhook=secret_url(server.url).replace("http:", "https:"), attempts=1,
                                  timeout="3s"))
        [outcome] = outcomes.wait()
    finally:
        server.close()
    assert outcome.detail.startswith(f"TLS with https://127.0.0.1:{server.port}/…: "), outcome.detail
    assert "SECRET" not in outcome.detail
