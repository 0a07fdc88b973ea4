"""`overseer sync DIR`: apply on change, keep the last good generation on errors."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from overseer.desired.store import documents
from overseer.desired.store.client import EtcdConfig, connect
from overseer.desired.sync import DirectorySync
from tests.support.waiting import holds_for, poll_until

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "qsuite.yaml"


@pytest.fixture
def running(tmp_path, etcd_url, cluster_name):
    folder = tmp_path / "desired"
    folder.mkdir()
    (folder / "all.yaml").write_text(EXAMPLE.read_text().replace("{name: qsuite}", "{name: %s}" % cluster_name))
    syncer = DirectorySync(str(folder), EtcdConfig(endpoints=(etcd_url,)), debounce=0.1)
    stop = threading.Event()
    thread = threading.Thread(target=syncer.run, args=(stop,), daemon=True)
    thread.start()
    yield folder, syncer
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_sync_applies_changes_and_keeps_last_good_on_errors(running, etcd_url, cluster_name, caplog):
    caplog.set_level(logging.INFO, logger="overseer.sync")
    folder, syncer = running
    client = connect(EtcdConfig(endpoints=(etcd_url,)))
    generation = lambda: documents.read(client, cluster_name).generation  # noqa: E731
    poll_until(lambda: generation() == 1, 10, "generation 1")

    path = folder / "all.yaml"
    good = path.read_text()
    path.write_text(good.replace("failAfter: 10", "failAfer: 10"))
    poll_until(lambda: "failAfer" in caplog.text, 10, "the typo to be logged")
    assert f"{path}:" in caplog.text and "spec.checks[1].failAfer: unknown field" in caplog.text
    assert generation() == 1

    path.write_text(good.replace("failAfter: 10", "failAfter: 20"))
    # the syncer's own record of the pass, not etcd's generation: etcd has
    # generation 2 a moment before the pass logs what it changed (CI, 2026-12-05)
    poll_until(lambda: syncer.last_generation == 2, 10, "the pass that applied generation 2")
    assert generation() == 2
    assert "service.overseer/asterisk configured" in caplog.text
    assert documents.load_desired(client, cluster_name).services["asterisk"].spec.checks[1].failAfter == 20
    # reading the folder must not wake the watcher again (inotify reports opens too)
    passes = syncer.applies
    holds_for(lambda: syncer.applies == passes, 1.0, "no further apply")
    client.close()


def test_sync_retries_while_etcd_is_unreachable(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="overseer.sync")
    (tmp_path / "all.yaml").write_text(EXAMPLE.read_text())
    syncer = DirectorySync(str(tmp_path), EtcdConfig(endpoints=("http://127.0.0.1:1",), timeout=0.5))
    assert syncer.sync_once() is False
    assert "etcd unreachable" in caplog.text and "retrying" in caplog.text


@pytest.mark.parametrize("breakage", ["dangling", "loop", "not-utf8"])
def test_prune_never_deletes_documents_of_a_file_that_became_unreadable(tmp_path, etcd_url, cluster_name,
                                                                         caplog, breakage):
    caplog.set_level(logging.INFO, logger="overseer.sync")
    *base, service = (Path(__file__).parent / "good.yaml").read_text().replace(
        "{name: lab}", "{name: %s}" % cluster_name).split("---\n")
    (tmp_path / "base.yaml").write_text("---\n".join(base))
    web = tmp_path / "web.yaml"
    web.write_text(service)
    syncer = DirectorySync(str(tmp_path), EtcdConfig(endpoints=(etcd_url,)), prune=True)
    assert syncer.sync_once()
    client = connect(EtcdConfig(endpoints=(etcd_url,)))
    try:
        assert "web" in documents.load_desired(client, cluster_name).services
        web.unlink()
        if breakage == "dangling":
            web.symlink_to(tmp_path / "moved-away.yaml")
        elif breakage == "loop":
            web.symlink_to(web)
        else:
            web.write_bytes(service.encode().replace(b"web", b"w\xe9b"))
        assert syncer.sync_once()
        assert "web" in documents.load_desired(client, cluster_name).services
        assert documents.read(client, cluster_name).generation == 1
        assert f"{web}" in caplog.text and "cannot read" in caplog.text and "not applied" in caplog.text
    finally:
        client.close()
