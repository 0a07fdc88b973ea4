"""examples/nginx-board.conf, run: nginx with TLS and a login in front of the
board, as operations.md tells operators to share it. Without the password
nothing of the cluster is shown; another TLS name gets no handshake; a write
is refused by nginx; the board behind it checks the forwarded Host."""
from __future__ import annotations

import base64
import http.client
import os
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from overseer.desired.store.local_etcd import free_port
from overseer.ui.app import create_app
from overseer.ui.hosts import AllowedHosts
from overseer.ui.server import BackgroundServer
from tests.support.waiting import poll_until
from tests.ui.snapshots import FakeSource, make_snapshot

pytestmark = pytest.mark.slow

RECIPE = Path(__file__).resolve().parents[2] / "examples" / "nginx-board.conf"
NAME = "board.example.com"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class Named(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1:port, presenting `sni` as the server name."""

    def __init__(self, port: int, context: ssl.SSLContext, sni: str = NAME):
        super().__init__(sni, port, context=context, timeout=5)
        self.sni = sni

    def connect(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.sni)


def _substitute(text: str, swaps: dict[str, str]) -> str:
    for old, new in swaps.items():
        assert old in text, f"examples/nginx-board.conf no longer has {old!r}: update this test with it"
        text = text.replace(old, new)
    return text


@pytest.fixture
def proxied(tmp_path):
    if not os.path.exists(NGINX):
        pytest.fail("nginx is not installed (apt-get install -y nginx-light)")
    cert, key = tmp_path / "board.crt", tmp_path / "board.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={NAME}",
                    "-addext", f"subjectAltName=DNS:{NAME}"], check=True, capture_output=True)
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input="s3cret\n", check=True,
                            capture_output=True, text=True).stdout.strip()
    (tmp_path / "htpasswd").write_text(f"alice:{hashed}\n")
    snap = make_snapshot({"pbx1": "", "pbx2": ""}, {"asterisk": ["pbx1", "pbx2"]})
    board = BackgroundServer(create_app(FakeSource(snap), hosts=AllowedHosts("127.0.0.1", [NAME]))).start()
    port = free_port()
    server_blocks = _substitute(RECIPE.read_text(), {
        "listen 443 ssl default_server;": f"listen 127.0.0.1:{port} ssl default_server;",
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "/etc/ssl/overseer/board.crt": str(cert), "/etc/ssl/overseer/board.key": str(key),
        "/etc/nginx/overseer-board.htpasswd": str(tmp_path / "htpasswd"),
        "http://127.0.0.1:8080": f"http://127.0.0.1:{board.port}"})
    temp = "\n".join(f"    {kind}_temp_path {tmp_path}/{kind};" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(
        f"{'user root;' if os.geteuid() == 0 else ''}\nworker_processes 1;\npid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n    access_log off;\n{temp}\n{server_blocks}\n}}\n")
    nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                              "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
                             stderr=subprocess.PIPE, text=True)
    context = ssl.create_default_context(cafile=str(cert))
    try:
        poll_until(lambda: _answers(port, context) or nginx.poll() is not None, 10, "nginx to answer")
        assert nginx.poll() is None, nginx.stderr.read()
        yield port, context
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        board.stop()


def _answers(port: int, context: ssl.SSLContext) -> bool:
    try:
        request(port, context, "GET", "/healthz")
        return True
    except OSError:
        return False


def request(port, context, method, path, password=None, sni=NAME, host=NAME) -> tuple[int, bytes]:
    conn = Named(port, context, sni)
    headers = {"Host": host}
    if password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_without_the_password_nothing_is_shown(proxied):
    port, context = proxied
    for password in (None, "wrong"):
        status, body = request(port, context, "GET", "/api/v1/status", password)
        assert status == 401 and b"asterisk" not in body


def test_with_the_password_the_board_answers_over_tls(proxied):
    port, context = proxied
    status, body = request(port, context, "GET", "/api/v1/status", "s3cret")
    assert status == 200 and b'"asterisk"' in body
    status, body = request(port, context, "GET", "/", "s3cret")
    assert status == 200 and b'data-service="asterisk"' in body


def test_a_write_is_refused_by_the_proxy(proxied):
    port, context = proxied
    assert request(port, context, "POST", "/api/v1/status", "s3cret")[0] == 403


def test_another_name_gets_no_handshake_and_a_rebound_host_no_board(proxied):
    port, context = proxied
    with pytest.raises(ssl.SSLError):
        request(port, context, "GET", "/api/v1/status", "s3cret", sni="evil.example", host="evil.example")
    # the board's certificate name, then another Host: the default server's 421
    status, body = request(port, context, "GET", "/api/v1/status", "s3cret", host="evil.example")
    assert status == 421 and b"asterisk" not in body
