"""The demo's early "is the board's port free?" check: it must agree with the
board's own server (waitress binds with SO_REUSEADDR), so a second `make demo`
right after Ctrl-C starts even though the last board's connections linger in
TIME-WAIT, while a port something listens on is still refused."""
import socket

import psutil
import pytest

from overseer.reconciler.demo.processes import DemoError
from overseer.reconciler.demo.session import check_free
from tests.support.waiting import poll_until


def _time_wait_on_a_port() -> int:
    """A port whose listener is closed but whose server-side connection is in
    TIME-WAIT: what a board leaves after Ctrl-C with a browser tab open."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = listener.accept()
    conn.close()          # the server closes first, so its side goes to TIME-WAIT
    client.recv(1)        # the FIN arrives
    client.close()
    listener.close()
    poll_until(lambda: any(c.laddr and c.laddr.port == port and c.status == psutil.CONN_TIME_WAIT
                           for c in psutil.net_connections("tcp4")), 5, f"TIME-WAIT on port {port}")
    return port


def test_a_port_with_only_time_wait_connections_is_free():
    port = _time_wait_on_a_port()
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))   # the check this replaced: refused the port
    check_free("127.0.0.1", port)


def test_a_port_something_listens_on_is_refused():
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(DemoError, match=f"127.0.0.1:{port}: cannot listen"):
            check_free("127.0.0.1", port)
