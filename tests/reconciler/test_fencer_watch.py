"""The fencer's decisions (fencer_watch.Watch) on a clock the test moves, and
the fencer process staying a bare script: the same Watch runs in the real
process and in the simulator, so what is checked here is what both enforce."""
import subprocess
import sys
from pathlib import Path

from overseer.reconciler.agent import fencer
from overseer.reconciler.agent.fencer_watch import BYE, Watch, add_line, split_line, vouch_line


class Clock:
    def __init__(self):
        self.now = 50.0

    def __call__(self):
        return self.now


def test_lines_read_back_as_written():
    assert split_line(vouch_line(2.3456, [7, 8], ["10.0.0.5/24@eth0"]).rstrip()) == (
        2.346, [7, 8], ["10.0.0.5/24@eth0"])
    assert split_line(add_line([9]).rstrip()) == (None, [9], [])


def test_nothing_expires_before_the_deadline_and_everything_at_it():
    clock = Clock()
    watch = Watch(clock)
    assert watch.expired() is None and watch.wait() is None   # never vouched: nothing to guard
    watch.feed(vouch_line(1.0, [41], ["10.0.0.5/24@eth0"]))
    clock.now += 0.999
    assert watch.expired() is None
    clock.now += 0.001
    assert watch.expired() == ([41], ["10.0.0.5/24@eth0"])
    # fired: nothing left to kill, and no deadline until the next vouch
    assert watch.expired() is None and watch.wait() is None and watch.agent_gone() == ([], [])


def test_a_vouch_read_in_pieces_counts_once_whole():
    clock = Clock()
    watch = Watch(clock)
    line = vouch_line(3.0, [41, 42])
    assert watch.feed(line[:4]) == [] and watch.wait() is None
    assert watch.feed(line[4:]) == [line.rstrip()]
    assert watch.wait() == 3.0


def test_a_dead_agent_leaves_its_vouched_actives_to_be_killed_unless_it_said_bye():
    watch = Watch(Clock())
    watch.feed(vouch_line(60, [41], ["10.0.0.5/24@eth0"]))
    assert watch.agent_gone() == ([41], ["10.0.0.5/24@eth0"])
    watch = Watch(Clock())
    watch.feed(vouch_line(60, [41], ["10.0.0.5/24@eth0"]) + BYE + b"\n")
    assert watch.agent_gone() == ([], [])


def test_the_fencer_process_imports_only_what_it_needs():
    """It lives as long as its server: no site, no overseer package, none of
    the heavier stdlib modules (subprocess alone is a sixth of its memory)."""
    here = Path(fencer.__file__).parent
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); before = set(sys.modules); import fencer; "
             "print(' '.join(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-S", "-E", "-c", probe, str(here)], capture_output=True,
                         text=True, check=True, timeout=30).stdout.split()
    assert "fencer_watch" in out
    assert not [m for m in out if m.startswith("overseer") or m in ("subprocess", "enum", "typing", "ctypes",
                                                                    "asyncio", "logging", "collections")], out
