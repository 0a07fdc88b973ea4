"""The agent's write-behind sink (agent/sink.py): newest value per key, many per call."""
import asyncio

from overseer.desired.store.client import EtcdUnavailable
from overseer.desired.store.own_reports import ReportMoved
from overseer.reconciler.agent.sink import LatestSink


async def _direct(fn, *args):
    return fn(*args)


async def _until(predicate, what):
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_pending_values_go_in_one_call_and_only_the_newest_per_key():
    single, many = [], []
    sink = LatestSink(single.append, "reports", _direct, many.append)
    for i in range(250):
        sink.put((f"svc{i}",), f"v{i}")
    sink.put(("svc0",), "newest")
    task = asyncio.create_task(sink.run())
    await _until(lambda: not sink.pending, "the sink to drain")
    task.cancel()
    written = [v for call in many for v in call] + single
    assert sorted(written) == sorted(["newest"] + [f"v{i}" for i in range(1, 250)])
    assert len(many) == 3 and not single          # 100 + 100 + 50, never one call per value


async def test_an_etcd_outage_keeps_the_values_and_a_bad_value_is_dropped_alone():
    written = []
    down = True

    def write_many(values):
        if down:
            raise EtcdUnavailable("no answer")
        if "bad" in values:
            raise ValueError("cannot encode")
        written.extend(values)

    def write(value):
        if value == "bad":
            raise ValueError("cannot encode")
        written.append(value)

    sink = LatestSink(write, "reports", _direct, write_many)
    for key in ("a", "bad", "c"):
        sink.put((key,), key)
    task = asyncio.create_task(sink.run())
    await asyncio.sleep(0.05)
    assert written == [] and len(sink.pending) == 3   # kept while etcd is away
    down = False
    await _until(lambda: not sink.pending, "the sink to drain")
    task.cancel()
    assert written == ["a", "c"]


async def test_resend_gives_up_a_write_hung_on_a_dead_connection_and_sends_again():
    # A report sent into a cut link hangs until the client's timeout; once
    # etcd answers again (a new lease) it goes out on a new call at once.
    hung = asyncio.Event()
    written = []

    async def run(fn, value):
        if not written and not hung.is_set():
            hung.set()
            await asyncio.Event().wait()      # the dead connection: never answers
        fn(value)

    sink = LatestSink(written.append, "role reports", run)
    task = asyncio.create_task(sink.run())
    sink.put(("pbx",), "stepped down")
    await _until(hung.is_set, "the first write to hang")
    sink.resend()
    await _until(lambda: written == ["stepped down"] and not sink.pending, "the report sent again")
    task.cancel()


async def test_an_abandoned_write_that_lands_late_is_followed_by_the_newest_value():
    # The report given up on the dead connection lands after the newer one
    # sent on a new call: left there, it hid the newer answer from the master
    # for good (the agent had reported it, and reports only on a change).
    hung, land = asyncio.Event(), asyncio.Event()
    written = []

    async def run(fn, value):
        if not hung.is_set():
            hung.set()
            await land.wait()                 # the dead connection, answering late
        fn(value)

    sink = LatestSink(written.append, "role reports", run)
    task = asyncio.create_task(sink.run())
    sink.put(("db",), "standby for the old assignment")
    await _until(hung.is_set, "the first write to hang")
    sink.put(("db",), "standby for the new assignment")
    sink.resend()
    await _until(lambda: written == ["standby for the new assignment"] and not sink.pending, "the newer report")
    land.set()                                # the abandoned write lands now, over the newer one
    await _until(lambda: written[-1:] == ["standby for the new assignment"] and len(written) == 3,
                 "the newest sent again after the late landing")
    task.cancel()


async def test_a_report_that_lost_to_an_older_write_of_ours_is_sent_again_at_once():
    # The store learned what a late write left there (ReportMoved): the next
    # call compares with that, prepared anew, with no outage back-off.
    prepared, written = [], []
    known = {"v": "old"}

    def prepare(values):
        prepared.append(known["v"])
        return (known["v"], values)

    def write_many(call):
        was, values = call
        if was != "late":
            known["v"] = "late"       # what the failure branch read
            raise ReportMoved("another value there")
        written.extend(values)

    sink = LatestSink(None, "role reports", _direct, write_many, prepare=prepare)
    sink.put(("svc",), "newest")
    task = asyncio.create_task(sink.run())
    await _until(lambda: not sink.pending, "the sink to drain")
    task.cancel()
    assert prepared == ["old", "late"] and written == ["newest"]
    assert not sink._failing
