"""Helpers for real-browser tests: Debian's chromium via Playwright, the board on waitress.

`board_server(source)` serves any source (a FakeSource, or a SnapshotCache on
a real etcd: see `live_board`) on a free loopback port. `chromium_page()`
launches the system chromium (never a downloaded browser). `live_board` is
what the live-cluster test (real etcd, agents, a killed process) will use.
"""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Iterator

from overseer.desired.store.client import EtcdConfig
from overseer.desired.store.store import Store
from overseer.ui.app import create_app
from overseer.ui.live import SnapshotCache
from overseer.ui.server import BackgroundServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# Screenshots land here: $OVERSEER_ARTIFACTS if set, else test-artifacts/ in the checkout
ARTIFACTS = Path(os.environ.get("OVERSEER_ARTIFACTS") or Path(__file__).resolve().parents[2] / "test-artifacts")


def chromium_missing() -> str:
    """Why a browser test cannot run here, or "" when it can."""
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} not installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright python package is not installed"
    return ""


@contextlib.contextmanager
def board_server(source) -> Iterator[BackgroundServer]:
    server = BackgroundServer(create_app(source)).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def chromium_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.console_errors = errors  # CSP violations show up here
            yield page
        finally:
            browser.close()


@contextlib.contextmanager
def live_board(etcd_url: str, cluster: str, resync: float = 1.0) -> Iterator[BackgroundServer]:
    """The board of a real cluster: SnapshotCache on etcd, served on a free port."""
    cfg = EtcdConfig(endpoints=(etcd_url,), timeout=2.0)
    cache = SnapshotCache(lambda: Store(cfg, cluster), resync=resync).start()
    cache.wait_first(timeout=10)
    try:
        with board_server(cache) as server:
            yield server
    finally:
        cache.stop()


def tile_status(page, service: str) -> str:
    return page.get_attribute(f'li.tile[data-service="{service}"]', "data-status") or ""


def wait_tile(page, service: str, statuses: tuple[str, ...], timeout: float) -> str:
    """Wait (in the page, no reload) until the service's tile shows one of `statuses`."""
    wanted = " or ".join(f'@data-status="{s}"' for s in statuses)
    page.wait_for_selector(f'xpath=//li[@data-service="{service}"][{wanted}]',
                           timeout=timeout * 1000)
    return tile_status(page, service)


def screenshot(page, name: str) -> Path:
    """A full-page PNG kept as a test artifact: ARTIFACTS/name (name may hold a folder)."""
    path = ARTIFACTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


def elapsed_since(start: float) -> float:
    return time.monotonic() - start
