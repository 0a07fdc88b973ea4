"""The Host allow-list (ui/hosts.py): a DNS-rebinding page's requests carry
its own name in Host and are refused with 421 before anything is read, on
every path and method, through Flask and through the real waitress server."""
from __future__ import annotations

import http.client
import os
import subprocess
import sys

import pytest

from overseer.ui.app import create_app
from overseer.ui.hosts import AllowedHosts, HostError
from overseer.ui.server import BackgroundServer
from tests.ui.snapshots import FakeSource, make_snapshot

OVERSEER = os.path.join(os.path.dirname(sys.executable), "overseer")
PATHS = ["/", "/api/v1/status", "/api/v1/history", "/timeline", "/metrics", "/healthz", "/static/live.js",
         "/no/such/page"]


def source():
    return FakeSource(make_snapshot({"a": "", "b": ""}, {"web": ["a", "b"]}))


@pytest.mark.parametrize("path", PATHS)
def test_a_request_for_evil_example_is_refused_everywhere(path):
    client = create_app(source()).test_client()
    for method in ("GET", "HEAD", "POST"):
        got = client.open(path, method=method, headers={"Host": "evil.example"})
        assert got.status_code == 421, (method, path)
        assert b'"cluster"' not in got.data and b"web" not in got.data


@pytest.mark.parametrize("host", ["localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080",
                                  "LOCALHOST.", "[0:0:0:0:0:0:0:1]"])
def test_loopback_names_are_allowed_by_default(host):
    client = create_app(source()).test_client()
    assert client.get("/api/v1/status", headers={"Host": host}).status_code == 200, host


def test_the_listen_address_and_the_names_given_are_allowed_and_nothing_else():
    hosts = AllowedHosts("192.0.2.10", ["board.example.com", "2001:db8::1"])
    client = create_app(source(), hosts=hosts).test_client()
    for host in ("192.0.2.10:8080", "board.example.com", "Board.Example.Com:443", "[2001:db8::1]:80"):
        assert client.get("/", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "board.example.com.evil.example", "192.0.2.11", "example.com"):
        assert client.get("/", headers={"Host": host}).status_code == 421, host


def test_a_wildcard_listen_address_names_no_other_machine():
    hosts = AllowedHosts("0.0.0.0")
    assert hosts.only_loopback() and hosts.allows("0.0.0.0:8080") and not hosts.allows("192.0.2.10")
    assert not AllowedHosts("::", ["pbx1.example"]).only_loopback()


@pytest.mark.parametrize("bad", ["", "http://board", "a b", "x/y"])
def test_a_malformed_allow_host_is_refused(bad):
    with pytest.raises(HostError):
        AllowedHosts("127.0.0.1", [bad])


def _get(server: BackgroundServer, host: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.putrequest("GET", "/api/v1/status", skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_the_real_server_refuses_a_rebound_name():
    server = BackgroundServer(create_app(source())).start()
    try:
        status, body = _get(server, f"evil.example:{server.port}")
        assert status == 421 and b"web" not in body
        status, body = _get(server, f"127.0.0.1:{server.port}")
        assert status == 200 and b'"web"' in body
    finally:
        server.stop()


def test_the_command_refuses_a_malformed_allow_host_in_one_line():
    result = subprocess.run([OVERSEER, "ui", "--allow-host", "http://board.example.com/"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip() == ("overseer: --allow-host 'http://board.example.com/': "
                                     "give a host name or an address, e.g. board.example.com")

