"""The board's waitress server in the background form (ui/server.py): it stops cleanly."""
from __future__ import annotations

import http.client

from overseer.ui.app import create_app
from overseer.ui.server import BackgroundServer
from tests.ui.snapshots import FakeSource, make_snapshot


def test_stopping_the_server_closes_kept_alive_connections_and_ends_its_thread():
    server = BackgroundServer(create_app(FakeSource(make_snapshot({"a": ""}, {"web": ["a"]})))).start()
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    conn.request("GET", "/healthz")
    assert conn.getresponse().read()            # HTTP/1.1: the connection stays open
    server.stop()
    assert not server._thread.is_alive()
    assert conn.sock.recv(1) == b""             # the board closed it
    conn.close()
