"""Where a lease is granted: on the shared connection, not the lease channel.

On the simulated etcd (its fsync model: a raft write waits for the next
save). The lease channel's short timeout is for keep-alives, which do not
wait for the disk; a grant does.
"""
from overseer.desired.store.client import EtcdConfig
from overseer.desired.store.sim_client import SimClient, SimWatcher
from overseer.desired.store.store import Store
from tests.sim.test_etcd_model import Rig


def test_a_grant_waits_for_a_slow_save_past_the_lease_channels_timeout():
    """An etcd that resumed from a stall with every lease expired, on a slow
    disk: a grant given up at the lease channel's timeout (a quarter lease)
    never committed in time, and the agent fenced (simulator seed 2718)."""
    rig = Rig(timeout=3.0)
    connector = SimClient.connector(rig.cluster, "s1")
    cfg = EtcdConfig(endpoints=("http://m1:2379",), timeout=3.0)

    async def scenario():
        store = await rig.call(lambda: Store(cfg, "sim", client=connector(cfg), watcher=SimWatcher,
                                             connector=connector))
        await rig.call(store.dedicate_lease_channel, 0.5)
        rig.cluster.set_fsync(0.6)
        started = rig.now()
        lease = await rig.call(store.grant_lease, 2)
        took = rig.now() - started
        return lease, took, await rig.call(store.keepalive, lease)

    lease, took, ttl = rig.run(scenario())
    assert 0.6 <= took < 1.3
    assert ttl == 2
