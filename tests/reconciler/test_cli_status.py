"""`overseer status` for people: the default table fits 80 columns, `--wide`
shows every cell whole with when the active set began and changed, and
`status SERVICE` shows what the board's service page shows (real etcd)."""
from __future__ import annotations

import json

from tests.reconciler.cli_world import LONG, run, seed


def test_the_default_table_fits_80_columns_and_wide_shows_everything(etcd_url, cluster_name):
    store = seed(etcd_url, cluster_name)
    try:
        narrow = run(etcd_url, cluster_name, "status")
        assert narrow.exit_code == 0, narrow.output
        lines = narrow.stdout.splitlines()[1:]   # the first names the cluster (a test's long name)
        assert max(len(line) for line in lines) <= 80, "\n".join(l for l in lines if len(l) > 80)
        header = next(line for line in lines if line.startswith("SERVICE"))
        assert "FAIL COUNTS" in header and "FAILING CHECKS" in header
        assert "…" in narrow.stdout and "--wide" in narrow.stdout   # cut, and says how to see all
        assert "pbx1/sip: FAIL" in narrow.stdout   # which check fails is kept, its message goes first

        wide = run(etcd_url, cluster_name, "status", "--wide")
        assert wide.exit_code == 0, wide.output
        assert LONG in wide.stdout and "…" not in wide.stdout
        header = next(line for line in wide.stdout.splitlines() if line.startswith("SERVICE"))
        assert "ACTIVE SINCE" in header and "LAST CHANGE" in header
        pbx = next(line for line in wide.stdout.splitlines() if line.startswith("pbx "))
        assert "2m00s ago" in pbx or "2m01s ago" in pbx, pbx    # the failover two minutes ago
        assert "inf" not in wide.stdout
    finally:
        store.close()


def test_status_of_one_service_shows_what_its_board_page_shows(etcd_url, cluster_name):
    store = seed(etcd_url, cluster_name)
    try:
        out = run(etcd_url, cluster_name, "status", "pbx")
        assert out.exit_code == 0, out.output
        text = out.stdout
        for expected in ("Service:       pbx", "Active:        pbx1", "Standby:       pbx2",
                         "Last decision: pbx1 chosen: first candidate", "Last hook:     hook failover",
                         "pbx moved pbx2 -> pbx1", "pbx placed on pbx2", LONG):
            assert expected in text, (expected, text)
        since = next(line for line in text.splitlines() if line.startswith("Active since:"))
        assert "(2m00s ago)" in since or "(2m01s ago)" in since, since
        assert "(30s ago)" in next(line for line in text.splitlines() if line.startswith("Last change:"))
        servers = text[text.index("SERVERS"):text.index("CHECKS")].splitlines()
        pbx1 = next(line for line in servers if line.strip().startswith("pbx1"))
        assert pbx1.split()[:6] == ["pbx1", "active", "active", "ok", "1m40s", "ago"], pbx1
        assert "up" in pbx1 and "OK" in pbx1
        checks = text[text.index("CHECKS"):text.index("HISTORY")]
        assert "sip" in checks and "FAIL" in checks and "40s ago" in checks
        # newest first
        assert text.index("hook failover") < text.index("pbx moved") < text.index("pbx placed")

        as_json = json.loads(run(etcd_url, cluster_name, "status", "pbx", "--json").stdout)
        assert as_json["active"] == ["pbx1"] and as_json["activeSince"] < as_json["lastChange"]

        missing = run(etcd_url, cluster_name, "status", "nosuch")
        assert missing.exit_code == 1 and "no service 'nosuch'" in missing.stderr and "pbx" in missing.stderr
        assert run(etcd_url, cluster_name, "status", "pbx", "--watch").exit_code == 2
    finally:
        store.close()


def test_watch_says_its_view_is_stale_while_etcd_stalls_and_fresh_again_after(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import threading

    from overseer.desired.store.local_etcd import LocalEtcd
    from tests.support.waiting import poll_until

    etcd = LocalEtcd(data_dir=str(tmp_path / "etcd")).start()
    store = seed(etcd.url, "stall")
    store.close()
    overseer = os.path.join(os.path.dirname(sys.executable), "overseer")
    proc = subprocess.Popen([overseer, "--etcd", etcd.url, "--cluster", "stall", "status", "--watch"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    threading.Thread(target=lambda: seen.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    try:
        poll_until(lambda: any("(updated" in line for line in seen), timeout=30, what="a first frame")
        assert not any("STALE" in line for line in seen)
        os.kill(etcd.proc.pid, signal.SIGSTOP)
        poll_until(lambda: any(line.startswith("STALE: data as of") for line in seen), timeout=30,
                   what="a STALE line while etcd is stopped")
        stale = next(line for line in seen if line.startswith("STALE"))
        assert "ago" in stale and "retrying" in stale, stale
        assert any(line.startswith("pbx ") for line in seen[seen.index(stale):]), "the last data stays shown"
        count = len(seen)
        os.kill(etcd.proc.pid, signal.SIGCONT)
        poll_until(lambda: any("(updated" in line for line in seen[count:]), timeout=30,
                   what="a fresh frame once etcd answers again")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        try:
            os.kill(etcd.proc.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        if proc.poll() is None:
            proc.kill()
        etcd.stop()
