"""A new active between two keep-alives is told to the fencer as an addition
(`+ <pgid>...`), not by resending every group: the fencer keeps the deadline
it has, or kills at once when it has none. Vouching decides which line to send."""
import subprocess
import sys

from overseer.reconciler.agent.fencer import Fencer
from overseer.reconciler.agent.fencer_watch import Watch, split_line
from overseer.reconciler.agent.vouching import Vouching
from tests.support.waiting import poll_until


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_split_line_of_an_addition():
    assert split_line(b"+ 7 8 vip=10.0.0.5/24@eth0") == (None, [7, 8], ["10.0.0.5/24@eth0"])


def test_an_addition_keeps_the_deadline_and_a_full_line_replaces_the_list():
    clock = Clock()
    watch = Watch(clock)
    watch.feed(b"2.000 41\n")
    clock.now += 1.5
    watch.feed(b"+ 42 vip=10.0.0.5/24@eth0\n")
    assert (watch.groups, watch.vips) == ([41, 42], ["10.0.0.5/24@eth0"])
    assert watch.wait() == 0.5          # the deadline of the full line, not moved
    watch.feed(b"2.000 42\n")
    assert (watch.groups, watch.vips, watch.wait()) == ([42], [], 2.0)


def test_an_addition_with_no_deadline_set_is_killed_at_once():
    for before in (b"", b"1.000 41\nbye\n"):
        watch = Watch(Clock())
        watch.feed(before + b"+ 42\n")
        assert watch.groups == [42] and watch.wait() == 0.0


class Recorder:
    def __init__(self):
        self.lines = []

    def vouch(self, seconds, groups, vips=()):
        self.lines.append(("vouch", seconds, list(groups), list(vips)))

    def add(self, groups, vips=()):
        self.lines.append(("add", list(groups), list(vips)))


def test_vouching_sends_only_what_was_added_and_everything_after_a_removal():
    fencer = Recorder()
    vouching = Vouching(fencer)
    vouching.renew(4.75, [1, 2], [])
    vouching.changed(3.0, [1, 2, 3], ["v@eth0"])   # one more active
    vouching.changed(2.9, [1, 2, 3], ["v@eth0"])   # a change that added nothing: nothing to say
    vouching.changed(2.5, [1, 3], ["v@eth0"])      # one demoted: the whole list again
    vouching.changed(-1.0, [1, 3, 4], ["v@eth0"])
    assert fencer.lines == [("vouch", 4.75, [1, 2], []),
                            ("add", [3], ["v@eth0"]),
                            ("vouch", 2.5, [1, 3], ["v@eth0"]),
                            ("add", [4], [])]


def _sleeper():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)


def test_the_fencer_process_kills_an_added_group_with_the_vouched_ones():
    first, second = _sleeper(), _sleeper()
    fencer = Fencer()
    try:
        fencer.vouch(1.0, [first.pid])
        fencer.add([second.pid])
        poll_until(lambda: first.poll() is not None and second.poll() is not None, timeout=20,
                   what="the fencer killed both groups when the vouch ran out")
        assert first.returncode == second.returncode == -9
    finally:
        fencer.close()
        for proc in (first, second):
            proc.kill()
            proc.wait()
