"""http/tcp against a real nginx; sip-options against a real Kamailio and a silent port."""
from __future__ import annotations

import pytest

from tests.observers.conftest import make_check, run_probe
from tests.support.peers.local import free_port
from tests.support.peers.web_sip import SilentUdp, start_kamailio, start_nginx, stop


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    server = start_nginx(str(tmp_path_factory.mktemp("nginx")))
    yield server
    stop(server.proc)


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory):
    server = start_kamailio(str(tmp_path_factory.mktemp("kamailio")))
    yield server
    stop(server.proc)


async def test_http_ok_and_response_time(nginx):
    # limits far above any loopback answer, so a busy machine cannot turn it into warn
    res = await run_probe(make_check(type="http", url=f"http://127.0.0.1:{nginx.port}/",
                                     warn="5s", fail="10s"))
    assert res.status == "ok" and res.message.startswith("HTTP 200 in ") and 0 < res.value < 5


async def test_http_404_is_not_the_expected_status(nginx):
    url = f"http://127.0.0.1:{nginx.port}/missing.html"
    res = await run_probe(make_check(type="http", url=url))
    assert res.status == "fail" and res.message == f"HTTP 404 from {url}, expected 200"
    res = await run_probe(make_check(type="http", url=url, expectStatus=[200, 404]))
    assert res.status == "ok"
    res = await run_probe(make_check(type="http", url=f"http://127.0.0.1:{nginx.port}/teapot",
                                     expectStatus=[418]))
    assert res.status == "ok" and res.message.startswith("HTTP 418")


async def test_http_refused_port_fails():
    port = free_port()
    res = await run_probe(make_check(type="http", url=f"http://127.0.0.1:{port}/"))
    assert res.status == "fail" and res.message == f"connection refused to 127.0.0.1:{port}"


async def test_tcp_against_nginx(nginx):
    res = await run_probe(make_check(type="tcp", port=nginx.port, warn="5s", fail="10s"))
    assert res.status == "ok" and res.message.startswith(f"Connect 127.0.0.1:{nginx.port} in")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_sip_options_answered_by_kamailio(kamailio, transport):
    check = make_check(type="sip-options", port=kamailio.port, transport=transport,
                       warn="5s", fail="10s")
    res = await run_probe(check)
    assert res.status == "ok", res.message
    assert res.message.startswith("SIP 200 OK in ") and 0 < res.value < 5


async def test_sip_options_silent_udp_port_fails():
    with SilentUdp() as port:
        res = await run_probe(make_check(type="sip-options", port=port), timeout=1.2)
    assert res.status == "fail"
    assert res.message == f"timed out after 1.2s: no SIP answer to OPTIONS from 127.0.0.1:{port}/udp"


async def test_sip_options_closed_ports_fail():
    port = free_port()
    res = await run_probe(make_check(type="sip-options", port=port, transport="tcp"))
    assert res.status == "fail" and "connection refused" in res.message
    with SilentUdp() as port:
        pass                                   # now certainly closed
    res = await run_probe(make_check(type="sip-options", port=port), timeout=1.5)
    assert res.status == "fail" and "port unreachable" in res.message
