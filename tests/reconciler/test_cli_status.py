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
