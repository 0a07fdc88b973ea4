"""`overseer plan`: the master's own decision pass, run on a snapshot, writing nothing.

It builds a MasterLoop as the elected master would have it and asks it for
`decisions()`: the same planner input (down tracking, failure memory), the
same settle hold and adoptions. Servers already gone count as gone long
enough for their failover margin to have passed (what a master that has been
running a while sees); `--what-if down=S` removes S's lease from the snapshot.
"""
from __future__ import annotations

from dataclasses import replace

from overseer.desired.state import ClusterSnapshot, MasterRecord

from .master import MasterLoop


def without_server(snapshot: ClusterSnapshot, server: str) -> ClusterSnapshot:
    """The snapshot as it would be once `server`'s lease expired."""
    return replace(snapshot, servers={k: v for k, v in snapshot.servers.items() if k != server})


def what_master_would_do(snapshot: ClusterSnapshot, now: float) -> list:
    master = snapshot.master or MasterRecord(server="", epoch=0)
    loop = MasterLoop(store=None, master=master, clock=lambda: now)
    loop.started = float("-inf")   # long past its settle time
    # missing servers: gone since "long ago", so their failover margin has passed
    loop.down_since = {s: float("-inf") for s in snapshot.desired.servers if s not in snapshot.servers}
    return loop.decisions(snapshot, now)
